"""Read a model source, unpack it safely and install it offline; find the flow it declares.

A model source is a wheel (``.whl``), an sdist (a ``.tar.gz`` holding
``PKG-INFO``) or an archive of a source tree (``.tar.gz``, ``.tgz``, ``.tar``,
``.zip`` holding ``pyproject.toml`` or ``setup.cfg``/``setup.py``), on this
machine or as a GitHub release tarball URL (LUME-services' remote form; it is
downloaded when the source is made). An ``environment.yml`` at the top of an
sdist or archive lists the conda channels and dependencies and the pip
dependencies, as in LUME-services' model template.

Installing runs pip with ``--no-index``: everything comes from the source and
from folders given as ``find_links``, so it works without a network. Conda
dependencies, when a package lists any besides Python and pip, are installed
with ``conda`` into the active conda environment, as LUME-services did.

Archives are checked member by member before anything is unpacked: absolute
paths, ``..``, links that lead outside the target and device files are refused
with :class:`~lume_services.errors.UnsafeArchiveMemberError` (LUME-services
unpacked with a bare ``extractall``). Tar members are checked by the standard
library's ``tarfile.data_filter`` (the rules of Python's ``"data"`` extraction
filter); zip members by the same rules here, as ``zipfile`` has no such filter.

The flow of an installed package is the entry point ``<package>.flow`` in the
group ``orchestration`` (its model class ``<package>.model``); the object it
names is the flow, or a function returning it (the template's ``get_flow``).
"""

import email.parser
import hashlib
import logging
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path, PurePosixPath
from platform import python_version as current_python_version
from typing import Any, Dict, List, Literal, Optional, Sequence, Tuple, Union

import yaml
from pydantic import BaseModel, root_validator

from lume_services.errors import (
    MissingEnvironmentYamlError,
    ModelSourceNotFoundError,
    NoCondaEnvironmentFoundError,
    NoFlowFoundInPackageError,
    UnableToInstallCondaDependenciesError,
    UnableToInstallPipDependenciesError,
    UnsafeArchiveMemberError,
    UnsupportedModelSourceError,
    WritePermissionError,
)

logger = logging.getLogger(__name__)

#: The entry point group of model packages (LUME-services' template declares
#: ``<package>.flow`` and ``<package>.model`` in it).
ENTRY_POINT_GROUP = "orchestration"

#: The keys of an ``environment.yml`` that are read; others are dropped with a warning in the log.
VALID_KEYS = ("name", "dependencies", "prefix", "channels", "variables")

# https://github.com/{owner}/{repo}/releases/download/{tag}/{file}.tar.gz, LUME-services' remote form
_GITHUB_TARBALL_TEMPLATE = re.compile(
    r"^https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/releases/download/[A-Za-z0-9_.-]+/[A-Za-z0-9._-]+\.tar\.gz$"
)
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")


# --- environment.yml ---------------------------------------------------------------


def validate_keys(data: Optional[Dict[str, Any]], kwargs: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Return an ``environment.yml``'s data with only the known keys (:data:`VALID_KEYS`).

    Unknown keys are dropped and named in a warning in the log. A ``pip:``
    list without ``pip`` among the conda dependencies gets ``pip`` added first,
    so that conda installs the pip that installs them.

    Args:
        data: the parsed file.
        kwargs: ``filename`` names the file in the warning.
    """
    data = dict(data or {})
    unknown = [key for key in data if key not in VALID_KEYS]
    for key in unknown:
        data.pop(key)
    if unknown:
        logger.warning(
            "%s: ignoring the unknown environment.yml keys %s (known: %s)",
            (kwargs or {}).get("filename", "environment.yml"), unknown, list(VALID_KEYS),
        )
    dependencies = list(data.get("dependencies") or [])
    lists_pip = any(
        isinstance(dep, str) and re.split(r"[<>~=!\s]", dep)[0].split("::")[-1] == "pip" for dep in dependencies
    )
    if not lists_pip and any(isinstance(dep, dict) and "pip" in dep for dep in dependencies):
        dependencies.insert(0, "pip")
    if "dependencies" in data:
        data["dependencies"] = dependencies
    return data


def load_environment_yaml(environment_yaml_path: Union[str, Path]) -> Tuple[List[str], List[str], List[str]]:
    """Read the channels, conda dependencies and pip dependencies of an ``environment.yml``.

    Args:
        environment_yaml_path: the file.

    Returns:
        ``(channels, conda_dependencies, pip_dependencies)``.

    Raises:
        MissingEnvironmentYamlError: the file does not exist.
        UnsupportedModelSourceError: it is not a mapping, or lists a sub-list other than ``pip:``.
    """
    path = Path(environment_yaml_path)
    if not path.is_file():
        raise MissingEnvironmentYamlError(str(path.parent))
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise UnsupportedModelSourceError(str(path), problem="environment.yml is not a mapping")
    data = validate_keys(raw, {"filename": str(path)})
    conda: List[str] = []
    pip: List[str] = []
    for dep in data.get("dependencies") or []:
        if isinstance(dep, str):
            conda.append(dep)
        elif isinstance(dep, dict) and set(dep) == {"pip"}:
            pip.extend(str(d) for d in dep["pip"] or [])
        else:
            raise UnsupportedModelSourceError(
                str(path), problem=f"environment.yml lists {dep!r}; only strings and a 'pip:' list are read"
            )
    return [str(c) for c in data.get("channels") or []], conda, pip


# --- archives ------------------------------------------------------------------------


def _zip_member_problem(info: zipfile.ZipInfo, target: Path) -> Optional[str]:
    name = info.filename
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        return "'..' in its path"
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "symbolic link (zip archives unpack links as plain files)"
    if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return "device or fifo"
    if not (target / name).resolve().is_relative_to(target.resolve()):
        return "path outside the target"
    return None


def _tar_member_problem(member: tarfile.TarInfo, target: Path) -> Optional[str]:
    # the "data" filter would strip a leading "/" and unpack the member anyway: refuse it here
    if member.name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", member.name):
        return "absolute path"
    if ".." in PurePosixPath(member.name).parts:
        return "'..' in its path"
    try:
        tarfile.data_filter(member, str(target))
    except tarfile.AbsolutePathError:
        return "absolute path"
    except tarfile.AbsoluteLinkError:
        return f"link to absolute path {member.linkname!r}"
    except tarfile.LinkOutsideDestinationError:
        return f"link to {member.linkname!r} outside the archive"
    except tarfile.OutsideDestinationError:
        return "'..' in its path" if ".." in PurePosixPath(member.name).parts else "path outside the target"
    except tarfile.SpecialFileError:
        return "device or fifo"
    except tarfile.FilterError as exc:
        return str(exc)
    return None


def check_archive(archive: Union[str, Path], target: Union[str, Path] = ".") -> List[str]:
    """Check that every member of a tar or zip archive stays inside ``target``; return the member names.

    Args:
        archive: the archive.
        target: the folder it would be unpacked into.

    Raises:
        UnsafeArchiveMemberError: the first member that would escape, and why.
        UnsupportedModelSourceError: the file is not a tar or zip archive.
    """
    archive, target = Path(archive), Path(target)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                problem = _zip_member_problem(info, target)
                if problem:
                    raise UnsafeArchiveMemberError(str(archive), info.filename, reason=problem)
            return zf.namelist()
    try:
        with tarfile.open(archive) as tf:
            members = tf.getmembers()
    except (tarfile.TarError, OSError) as exc:
        raise UnsupportedModelSourceError(str(archive), problem=f"not a tar or zip archive ({exc})") from exc
    for member in members:
        problem = _tar_member_problem(member, target)
        if problem:
            raise UnsafeArchiveMemberError(str(archive), member.name, reason=problem)
    return [m.name for m in members]


def safe_extract(archive: Union[str, Path], target: Union[str, Path]) -> Path:
    """Unpack a tar or zip archive into ``target`` after checking every member (see :func:`check_archive`).

    Nothing is written when a member is refused.

    Args:
        archive: the archive.
        target: the folder to unpack into (made when missing).

    Returns:
        ``target``.
    """
    archive, target = Path(archive), Path(target)
    check_archive(archive, target)
    target.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(target)
    else:
        with tarfile.open(archive) as tf:
            tf.extractall(target, filter="data")
    return target


def _top_folder(root: Path) -> Path:
    """The folder a source archive's files are in: its one top folder, or the root."""
    entries = [p for p in root.iterdir()]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else root


def _metadata_from_tree(path: str, tree: Path) -> Tuple[str, str]:
    """Name and version of an unpacked sdist or source tree (PKG-INFO, pyproject.toml, setup.cfg)."""
    pkg_info = tree / "PKG-INFO"
    if pkg_info.is_file():
        msg = email.parser.Parser().parsestr(pkg_info.read_text(errors="replace"))
        if msg.get("Name") and msg.get("Version"):
            return msg["Name"], msg["Version"]
    pyproject = tree / "pyproject.toml"
    if pyproject.is_file():
        import tomllib

        project = tomllib.loads(pyproject.read_text()).get("project", {})
        if project.get("name") and project.get("version"):
            return project["name"], str(project["version"])
    setup_cfg = tree / "setup.cfg"
    if setup_cfg.is_file():
        import configparser

        cfg = configparser.ConfigParser()
        cfg.read(setup_cfg)
        if cfg.has_option("metadata", "name") and cfg.has_option("metadata", "version"):
            return cfg["metadata"]["name"], cfg["metadata"]["version"]
    raise UnsupportedModelSourceError(
        path, problem="no name and version in PKG-INFO, pyproject.toml [project] or setup.cfg [metadata]"
    )


def _wheel_metadata(path: Path) -> Tuple[str, str]:
    check_archive(path)
    with zipfile.ZipFile(path) as zf:
        names = [n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
        if not names:
            raise UnsupportedModelSourceError(str(path), problem="a wheel without .dist-info/METADATA")
        msg = email.parser.Parser().parsestr(zf.read(names[0]).decode("utf-8", "replace"))
    if not (msg.get("Name") and msg.get("Version")):
        raise UnsupportedModelSourceError(str(path), problem="no Name or Version in the wheel's METADATA")
    return msg["Name"], msg["Version"]


def normalize_name(name: str) -> str:
    """A distribution name as an import name: lower case, runs of ``-``, ``_``, ``.`` as ``_``."""
    return re.sub(r"[-_.]+", "_", name).lower()


# --- the source ------------------------------------------------------------------------


class Source(BaseModel):
    """A model's package, read from a local file or a GitHub release tarball.

    Made from ``path`` alone (``Source(path=...)``, as in LUME-services); the
    other fields are read from the source when it is made: its metadata names
    the package and its version, its ``environment.yml`` (when it has one) the
    dependencies, and the archive is checked before anything is read from it.

    Attributes:
        path: a wheel, sdist or source archive on this machine, or
            ``https://github.com/{owner}/{repo}/releases/download/{tag}/{file}.tar.gz``.
        source_type: ``"file"`` or ``"url"``.
        kind: ``"wheel"``, ``"sdist"`` (an archive holding ``PKG-INFO``) or ``"archive"`` (a source tree).
        name: the distribution name.
        version: its version.
        checksum: the SHA-256 of the file.
        local_path: the file on this machine (a URL's download).
        image: the package's image (``<package>._image.IMAGE``), known after installing.
        conda_dependencies: from ``environment.yml``.
        channels: from ``environment.yml``.
        pip_dependencies: from ``environment.yml``.
        has_environment_yaml: whether the source has an ``environment.yml``.

    Raises:
        ModelSourceNotFoundError: the path does not exist.
        UnsupportedModelSourceError: not a wheel, sdist or archive, or no name and version in it.
        UnsafeArchiveMemberError: a member of the archive would escape the folder it is unpacked into.
    """

    path: str
    source_type: Literal["file", "url"]
    kind: Literal["wheel", "sdist", "archive"]
    name: str
    version: str
    checksum: str
    local_path: str
    image: Optional[str] = None
    conda_dependencies: List[str] = []
    channels: List[str] = []
    pip_dependencies: List[str] = []
    has_environment_yaml: bool = False

    @root_validator(pre=True)
    def read_the_source(cls, values: Dict[str, Any]) -> Dict[str, Any]:
        if "name" in values and "version" in values and "local_path" in values:
            return values  # already read (a copy, or parse_obj of a dict())
        path = values.get("path")
        if path is None:
            raise ValueError("path is required: a wheel, sdist or source archive, or a GitHub release tarball URL")
        path = str(path)
        values["path"] = path
        if path.startswith(("http://", "https://")):
            if not _GITHUB_TARBALL_TEMPLATE.match(path):
                raise UnsupportedModelSourceError(path, problem="a URL that is not a GitHub release tarball")
            values["source_type"] = "url"
            local = _download(path)
        else:
            values["source_type"] = "file"
            local = Path(path).expanduser()
            if not local.exists():
                raise ModelSourceNotFoundError(path)
        values["local_path"] = str(local.resolve())
        values["checksum"] = hashlib.sha256(local.read_bytes()).hexdigest()
        if local.name.endswith(".whl"):
            values["kind"] = "wheel"
            values["name"], values["version"] = _wheel_metadata(local)
            return values
        if not local.name.endswith(_ARCHIVE_SUFFIXES):
            raise UnsupportedModelSourceError(
                path, problem=f"unknown file type {local.suffix or local.name!r}"
            )
        with tempfile.TemporaryDirectory(prefix="lume-source-") as tmp:
            tree = _top_folder(safe_extract(local, tmp))
            values["kind"] = "sdist" if (tree / "PKG-INFO").is_file() else "archive"
            values["name"], values["version"] = _metadata_from_tree(path, tree)
            env_yaml = tree / "environment.yml"
            values["has_environment_yaml"] = env_yaml.is_file()
            if env_yaml.is_file():
                channels, conda, pip = load_environment_yaml(env_yaml)
                values.update(channels=channels, conda_dependencies=conda, pip_dependencies=pip)
        return values

    @property
    def import_name(self) -> str:
        """The package's import name as the model template makes it (the normalized distribution name)."""
        return normalize_name(self.name)

    def require_environment_yaml(self) -> None:
        """Raise :class:`MissingEnvironmentYamlError` when the source has no ``environment.yml``.

        LUME-services required one in every model source; here a source
        without one installs with the dependencies its own metadata declares.
        """
        if not self.has_environment_yaml:
            raise MissingEnvironmentYamlError(self.path)

    def pip_command(
        self,
        target: Optional[Union[str, Path]] = None,
        python: Optional[str] = None,
        find_links: Sequence[Union[str, Path]] = (),
        no_deps: bool = False,
    ) -> List[str]:
        """The pip command :meth:`install` runs (offline: ``--no-index``).

        The ``lume-services`` pip dependency is left out (the environment has it).
        """
        cmd = [python or sys.executable, "-m", "pip", "install", "--no-index", "--disable-pip-version-check",
               "--no-input", "--no-build-isolation"]
        for link in find_links:
            cmd += ["--find-links", str(link)]
        if no_deps:
            cmd.append("--no-deps")
        if target is not None:
            cmd += ["--target", str(target), "--upgrade"]
        cmd += [dep for dep in self.pip_dependencies if normalize_name(re.split(r"[<>~=!;\[\s]", dep)[0])
                != "lume_services"]
        return cmd + [self.local_path]

    def conda_dependencies_to_install(self) -> List[str]:
        """The conda dependencies besides Python and pip (the environment has those)."""
        return [dep for dep in self.conda_dependencies
                if re.split(r"[<>~=!\s]", dep)[0].split("::")[-1] not in ("python", "pip")]

    def install(
        self,
        dry_run: bool = False,
        target: Optional[Union[str, Path]] = None,
        python: Optional[str] = None,
        find_links: Sequence[Union[str, Path]] = (),
        no_deps: bool = False,
    ) -> "Installation":
        """Install the package offline into a folder, a virtual environment or the running environment.

        Args:
            dry_run: log (and return) what would be installed, install nothing.
            target: a folder to install into (``pip --target``); made when missing.
            python: the interpreter of the environment to install into (a virtual
                environment's ``bin/python``); the running one by default.
            find_links: folders (or files) where pip finds the dependencies.
            no_deps: install the package alone.

        Returns:
            The installation, which finds and loads the package's flow.

        Raises:
            WritePermissionError: the target cannot be written.
            NoCondaEnvironmentFoundError: conda dependencies and no active conda environment.
            UnableToInstallCondaDependenciesError: conda failed.
            UnableToInstallPipDependenciesError: pip failed (its output is in the message).
        """
        target_path = Path(target).expanduser().resolve() if target is not None else None
        pip_cmd = self.pip_command(target_path, python, find_links, no_deps)
        conda = self.conda_dependencies_to_install()
        installation = Installation(name=self.name, version=self.version,
                                    target=str(target_path) if target_path else None,
                                    python=python or sys.executable, pip_command=pip_cmd)
        if dry_run:
            logger.info("would install conda dependencies %s and run %s", conda, " ".join(pip_cmd))
            return installation
        if target_path is not None:
            try:
                target_path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise WritePermissionError(str(target_path)) from exc
            if not os.access(target_path, os.W_OK):
                raise WritePermissionError(str(target_path))
        if conda:
            _conda_install(conda, self.channels)
        proc = subprocess.run(pip_cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise UnableToInstallPipDependenciesError(
                pip_cmd[pip_cmd.index("install") + 1:], python_version=installation.python_version(),
                platform=sys.platform, e=(proc.stderr or proc.stdout),
            )
        logger.info("installed %s %s: %s", self.name, self.version, " ".join(pip_cmd))
        self.image = installation.image()
        return installation


def _download(url: str) -> Path:
    from urllib.request import urlretrieve

    folder = Path(tempfile.mkdtemp(prefix="lume-source-"))
    local = folder / url.rsplit("/", 1)[-1]
    try:
        urlretrieve(url, filename=str(local))
    except OSError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise UnsupportedModelSourceError(url, problem=f"it cannot be downloaded ({exc})") from exc
    return local


def _conda_install(dependencies: List[str], channels: List[str]) -> None:
    if not os.environ.get("CONDA_PREFIX") or shutil.which("conda") is None:
        raise NoCondaEnvironmentFoundError(dependencies)
    cmd = ["conda", "install", "-y"]
    for channel in channels:
        cmd += ["-c", channel]
    proc = subprocess.run(cmd + dependencies, capture_output=True, text=True)
    if proc.returncode != 0:
        raise UnableToInstallCondaDependenciesError(dependencies, output=proc.stderr or proc.stdout)


# --- what was installed ----------------------------------------------------------------


class Installation(BaseModel):
    """An installed model package: where it is, and its flow.

    Attributes:
        name: the distribution name.
        version: its version.
        target: the folder it was installed into, or ``None`` for an environment.
        python: the interpreter of that environment.
        pip_command: the pip command that installed it.
    """

    name: str
    version: str
    target: Optional[str] = None
    python: str = sys.executable
    pip_command: List[str] = []

    def python_version(self) -> str:
        """The Python version of the environment installed into."""
        if Path(self.python).resolve() == Path(sys.executable).resolve():
            return current_python_version()
        proc = subprocess.run([self.python, "-c", "import platform; print(platform.python_version())"],
                              capture_output=True, text=True)
        return proc.stdout.strip() or "unknown"

    def site_paths(self) -> List[str]:
        """The folders the package is installed in (the target, or the environment's site-packages)."""
        if self.target:
            return [self.target]
        if Path(self.python).resolve() == Path(sys.executable).resolve():
            return list(sys.path)
        proc = subprocess.run(
            [self.python, "-c", "import sysconfig; p = sysconfig.get_paths(); print(p['purelib']); print(p['platlib'])"],
            capture_output=True, text=True, check=True,
        )
        return list(dict.fromkeys(proc.stdout.split()))

    def distribution(self) -> metadata.Distribution:
        """The installed distribution's metadata."""
        wanted = normalize_name(self.name)
        for dist in metadata.distributions(path=self.site_paths()):
            if normalize_name(dist.metadata["Name"] or "") == wanted:
                return dist
        raise NoFlowFoundInPackageError(self.name, entry_points=[])

    def entry_points(self, group: str = ENTRY_POINT_GROUP) -> Dict[str, str]:
        """The package's entry points of a group, by name (``{"pkg.flow": "pkg.flow:get_flow"}``)."""
        return {ep.name: ep.value for ep in self.distribution().entry_points if ep.group == group}

    def _entry_point(self, kind: str) -> Optional[metadata.EntryPoint]:
        points = [ep for ep in self.distribution().entry_points if ep.group == ENTRY_POINT_GROUP]
        wanted = f"{normalize_name(self.name)}.{kind}"
        of_kind = [ep for ep in points if ep.name.endswith(f".{kind}")]
        for ep in of_kind:
            if normalize_name(ep.name[: -len(kind) - 1]) + f".{kind}" == wanted:
                return ep
        return of_kind[0] if len(of_kind) == 1 else None

    def _load(self, ep: metadata.EntryPoint) -> Any:
        for path in reversed(self.site_paths()):
            if path not in sys.path:
                sys.path.insert(0, path)
        return ep.load()

    def load_flow(self) -> Any:
        """Import and return the package's flow (calling the entry point's function if it names one).

        The target folder (or environment) is put on ``sys.path`` first.

        Raises:
            NoFlowFoundInPackageError: the package declares no ``<package>.flow`` entry point.
        """
        ep = self._entry_point("flow")
        if ep is None:
            raise NoFlowFoundInPackageError(self.name, entry_points=sorted(self.entry_points()))
        obj = self._load(ep)
        from prefect import Flow as PrefectFlow

        from lume_services.flows.flow import Flow

        if callable(obj) and not isinstance(obj, (PrefectFlow, Flow)) and not isinstance(obj, type):
            obj = obj()
        return obj

    def load_model_type(self) -> Optional[Any]:
        """Import and return the package's model class (entry point ``<package>.model``), or ``None``."""
        ep = self._entry_point("model")
        return self._load(ep) if ep is not None else None

    def image(self) -> Optional[str]:
        """The package's image (``IMAGE`` of its ``_image`` module, as the model template writes it), or ``None``."""
        for path in self.site_paths():
            candidate = Path(path) / normalize_name(self.name) / "_image.py"
            if candidate.is_file():
                match = re.search(r"^IMAGE\s*=\s*['\"]([^'\"]*)['\"]", candidate.read_text(), re.M)
                return match.group(1) if match else None
        return None
