"""The errors of the Docker engine and of building images (``docker`` and ``kubernetes`` backends)."""

from typing import Optional, Sequence

from lume_services.errors._base import LUMEServicesError, _names


class DockerError(LUMEServicesError):
    """Base class of the errors of the Docker engine and of building images: no
    engine answers (:class:`DockerEngineUnavailableError`), an image does not
    build (:class:`ImageBuildError` and its subclasses)."""


class DockerEngineUnavailableError(DockerError):
    """No Docker engine answers where lume-services looks for one.

    Args:
        base_url: where the engine was looked for (``DOCKER_HOST`` or the default socket).
        reason: what the Docker client reported.
    """

    def __init__(self, base_url: str, reason: str):
        self.base_url = base_url
        self.reason = reason
        super().__init__(
            f"no Docker engine answers at {base_url} ({reason}); start one (as root on "
            "Debian: scripts/docker-engine.sh start, which installs docker.io if needed), "
            "or set DOCKER_HOST to the address of an engine that runs"
        )


class ImageBuildError(DockerError):
    """A Docker image failed to build; the message ends with the build log's last lines.

    The base of the build failures whose cause is known: a base image missing
    (:class:`BaseImageNotFoundError`), another Python in the base image
    (:class:`PythonVersionMismatchError`), flow code the image cannot import
    (:class:`FlowCodeNotImportableError`), a pull or push that failed
    (:class:`ImageTransferError`).

    Args:
        image: the image (``name:tag``) that was being built.
        reason: the error the engine reported.
        log_lines: the build log, line by line.
        tail: how many of the last log lines the message shows.
    """

    def __init__(self, image: str, reason: str, log_lines: Sequence[str], tail: int = 20):
        self.image = image
        self.reason = reason
        self.log_lines = list(log_lines)
        last = self.log_lines[-tail:]
        shown = "\n".join(f"  | {line}" for line in last) if last else "  | (no build output)"
        super().__init__(
            f"image {image!r} failed to build: {reason}\n"
            f"last {len(last)} lines of the build log:\n{shown}"
        )


class BaseImageNotFoundError(ImageBuildError):
    """The image an image is to be built on is not on the engine.

    Args:
        image: the image (``name:tag``) that was to be built.
        base_image: the missing base image.
        role: what ``image`` is: ``runtime`` (the lume-services runtime image,
            built on a Python image) or ``flow`` (a flow image, built on the
            runtime image or one made from it).
        pulled: whether a pull of the base image was tried.
        local_base_image: for ``runtime``, the base image that
            ``scripts/docker-engine.sh base-image`` makes.
        registry_base_image: for ``runtime``, the base image in a registry.
    """

    ROLES = ("runtime", "flow")

    def __init__(
        self,
        image: str,
        base_image: str,
        role: str,
        pulled: bool = False,
        local_base_image: Optional[str] = None,
        registry_base_image: Optional[str] = None,
    ):
        if role not in self.ROLES:
            raise KeyError(f"unknown image role {role!r}; roles: {_names(self.ROLES)}")
        self.base_image = base_image
        self.role = role
        self.pulled = pulled
        self.local_base_image = local_base_image
        self.registry_base_image = registry_base_image
        tried = "pulling it failed" if pulled else "it was not pulled"
        if role == "runtime":
            remedies = ["build the local one with scripts/docker-engine.sh base-image"
                        + (f" ({local_base_image})" if local_base_image else "")]
            if registry_base_image:
                remedies.append(f"pull {registry_base_image}")
            remedy = ", or ".join(remedies)
        else:
            remedy = (
                "build the runtime image first (lume_services.services.scheduling."
                "backends.docker.build_runtime_image, see docs/docker.md)"
            )
        super().__init__(
            image, f"base image {base_image!r} does not exist on the engine ({tried}); {remedy}", []
        )


class PythonVersionMismatchError(ImageBuildError):
    """A flow image's base runs another Python than the one that pickles the flow.

    Args:
        image: the flow image that was to be built.
        base_image: its base image.
        here: ``major.minor`` of the Python registering the flow.
        there: ``major.minor`` of the base image's Python.
    """

    def __init__(self, image: str, base_image: str, here: str, there: str):
        self.base_image = base_image
        self.here = here
        self.there = there
        super().__init__(
            image,
            f"the flow is pickled by Python {here} here, but base image {base_image!r} runs "
            f"Python {there}, where it cannot be loaded; build on an image with Python {here} "
            f"(docker/Dockerfile's BASE_IMAGE), or register from Python {there}",
            [],
        )


class FlowCodeNotImportableError(ImageBuildError):
    """A flow image's health check failed: the flow uses code its base image cannot import.

    Args:
        image: the flow image that was being built.
        base_image: its base image.
        engine_error: the error the engine reported for the build.
        log_lines: the build log.
        module: the module that could not be imported, where the log names it.
    """

    def __init__(
        self,
        image: str,
        base_image: str,
        engine_error: str,
        log_lines: Sequence[str],
        module: Optional[str] = None,
    ):
        self.base_image = base_image
        self.engine_error = engine_error
        self.module = module
        code = f"module {module!r}" if module else "code"
        super().__init__(
            image,
            f"{engine_error}; the flow uses {code} that {base_image!r} cannot import: build "
            "the flow image from an image with the flow's package installed (see docs/docker.md)",
            log_lines,
        )


class ImageTransferError(ImageBuildError):
    """Pulling a base image or pushing a built image failed.

    Args:
        image: the flow image being built.
        operation: ``pull`` or ``push``.
        transferred: the image pulled or pushed.
        error: what failed.
    """

    OPERATIONS = {"pull": "pulling", "push": "pushing"}

    def __init__(self, image: str, operation: str, transferred: str, error: object):
        self.operation = operation
        self.transferred = transferred
        self.error = error
        super().__init__(image, f"{self.OPERATIONS[operation]} {transferred} failed: {error}", [])
