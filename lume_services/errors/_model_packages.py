"""Errors of model packages: reading, unpacking and installing a model's package (the environment solver)."""

from typing import Sequence

from lume_services.errors._base import LUMEServicesError, _names


class ModelPackageError(LUMEServicesError):
    """Base class of the errors of a model's package: it cannot be read, unpacked or installed.

    Raised by the environment solver (:mod:`lume_services.environment`): a
    source that is not there (:class:`ModelSourceNotFoundError`) or cannot be
    used (:class:`UnsupportedModelSourceError`), an archive member that would
    escape (:class:`UnsafeArchiveMemberError`), a target that cannot be written
    (:class:`WritePermissionError`), and LUME-services' names for what an
    install meets: :class:`NoPackagesToInstallError`,
    :class:`MissingEnvironmentYamlError`, :class:`NoCondaEnvironmentFoundError`,
    :class:`UnableToInstallCondaDependenciesError`,
    :class:`UnableToInstallPipDependenciesError`,
    :class:`UnableToIndexLocalChannelError`, :class:`NoFlowFoundInPackageError`.
    """


class ModelSourceNotFoundError(ModelPackageError):
    """A model source path does not exist.

    Args:
        path: the path given.
    """

    def __init__(self, path: str):
        self.path = str(path)
        super().__init__(
            f"model source {self.path!r} does not exist; give the path of a wheel (.whl), an sdist "
            "(.tar.gz) or a source archive (.tar.gz, .tgz, .tar, .zip)"
        )


class UnsupportedModelSourceError(ModelPackageError):
    """A model source is neither a wheel, an sdist nor a source archive, or lacks what names it.

    Args:
        path: the source.
        problem: what is wrong with it (e.g. ``"unknown file type"``, ``"no name in its metadata"``).
    """

    def __init__(self, path: str, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(
            f"model source {self.path!r} cannot be used: {problem}; a source is a wheel (.whl), "
            "an sdist or a source archive (.tar.gz, .tgz, .tar, .zip) whose PKG-INFO or pyproject.toml "
            "names the package and its version, or a GitHub release tarball URL"
        )


class UnsafeArchiveMemberError(ModelPackageError):
    """An archive member would be written outside the folder it is unpacked into.

    Nothing of the archive is unpacked when one member is refused.

    Args:
        archive: the archive.
        member: the member's name.
        reason: why it escapes (``"absolute path"``, ``"'..' in its path"``,
            ``"link to '/etc/passwd' outside the archive"``, ``"device or fifo"``).
    """

    def __init__(self, archive: str, member: str, reason: str):
        self.archive = str(archive)
        self.member = member
        self.reason = reason
        super().__init__(
            f"refusing to unpack {self.archive!r}: member {member!r} would escape the target folder "
            f"({reason}); only relative paths inside the archive and links to them are unpacked"
        )


class WritePermissionError(ModelPackageError):
    """The environment to install into cannot be written (LUME-services' name).

    Args:
        directory: the folder that cannot be written.
    """

    def __init__(self, directory: str):
        self.directory = str(directory)
        super().__init__(
            f"cannot write to {self.directory!r}: install into a folder you may write to "
            "(Source.install(target=...)) or a virtual environment you own"
        )


class NoPackagesToInstallError(ModelPackageError):
    """Resolving an environment gave nothing to install (LUME-services' name)."""

    def __init__(self) -> None:
        super().__init__("resolving the environment gave no packages to install")


class MissingEnvironmentYamlError(ModelPackageError):
    """A model package holds no ``environment.yml`` where one is required (LUME-services' name).

    Args:
        directory: the unpacked package folder (or archive) that lacks it.
    """

    def __init__(self, directory: str):
        self.directory = str(directory)
        super().__init__(
            f"the model package at {self.directory!r} has no environment.yml at its top folder; "
            "add one listing its conda and pip dependencies, or do not require it"
        )


class NoCondaEnvironmentFoundError(ModelPackageError):
    """Conda dependencies need an active conda environment and none is active (LUME-services' name).

    Args:
        conda_dependencies: the conda dependencies that would have been installed.
    """

    def __init__(self, conda_dependencies: Sequence[str] = ()):
        self.conda_dependencies = list(conda_dependencies)
        needed = f" to install {_names(self.conda_dependencies)}" if self.conda_dependencies else ""
        super().__init__(
            f"no conda environment is active (CONDA_PREFIX is not set){needed}; activate one, "
            "or install only pip packages"
        )


class UnableToInstallCondaDependenciesError(ModelPackageError):
    """conda could not install a package's conda dependencies (LUME-services' name).

    Args:
        conda_dependencies: the dependencies asked for.
        output: what conda printed, if known.
    """

    def __init__(self, conda_dependencies: Sequence[str], output: str = ""):
        self.deps = list(conda_dependencies)
        self.output = output
        tail = f": {output.strip()[-800:]}" if output.strip() else ""
        super().__init__(f"conda could not install {_names(self.deps)}{tail}")


class UnableToInstallPipDependenciesError(ModelPackageError):
    """pip could not install a package or its dependencies (LUME-services' name).

    Args:
        pip_dependencies: what pip was asked to install.
        python_version: the Python version installed for.
        platform: the platform installed for.
        e: the failure (pip's output, or the exception).
    """

    def __init__(self, pip_dependencies: Sequence[str], python_version: str, platform: str, e: object):
        self.deps = list(pip_dependencies)
        self.python_version = str(python_version)
        self.platform = platform
        self.error = e
        detail = str(e).strip()[-1500:]
        super().__init__(
            f"pip could not install {', '.join(self.deps)} for Python {self.python_version} on "
            f"{platform}: {detail} (installs are offline: put the wheels or sdists of missing "
            "dependencies in a folder given as find_links)"
        )


class UnableToIndexLocalChannelError(ModelPackageError):
    """conda could not index a local channel (LUME-services' name).

    Args:
        local_channel_directory: the channel folder.
        return_code: the exit code of the indexing command.
        output: what it printed.
    """

    def __init__(self, local_channel_directory: str, return_code: int, output: str):
        self.local_channel_directory = str(local_channel_directory)
        self.return_code = return_code
        self.output = output
        super().__init__(
            f"indexing the local conda channel {self.local_channel_directory!r} failed with exit code "
            f"{return_code}: {output.strip()[-800:]}"
        )


class NoFlowFoundInPackageError(ModelPackageError):
    """An installed model package declares no flow entry point (LUME-services' name).

    Args:
        source_path: the package (distribution name or source).
        entry_points: the ``orchestration`` entry points it does declare.
    """

    def __init__(self, source_path: str, entry_points: Sequence[str] = ()):
        self.source_path = str(source_path)
        self.entry_points = list(entry_points)
        super().__init__(
            f"the package {self.source_path!r} declares no flow: it needs an entry point "
            "'<package>.flow' in the group 'orchestration' (e.g. in pyproject.toml: "
            "[project.entry-points.orchestration] \"<package>.flow\" = \"<package>.flow:get_flow\"); "
            f"its orchestration entry points: {_names(self.entry_points)}"
        )
