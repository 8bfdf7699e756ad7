"""Docker images for flows: the runtime image, flow images, and the Docker backend.

Three layers of images:

* a **base image** with Python 3.11: an official ``python:3.11-slim`` for users,
  or one made locally from Debian packages by ``scripts/docker-engine.sh base-image``
  where no registry is reachable (CI);
* the **runtime image** (``docker/Dockerfile``): the base plus a venv holding
  lume-services and its pinned Prefect 1 stack, see :func:`build_runtime_image`;
* **flow images**: the runtime image (or an image built from it with your flow
  packages) plus one serialized flow, made by Prefect's own Docker storage, see
  :func:`build_flow_image`. Because the runtime image already holds Prefect,
  the storage installs nothing: a flow image adds a few kilobytes to its base.

Flow images carry labels naming the flow, its project, its version and the
hash of the serialized flow; building a flow whose image already exists with
the same hash reuses that image without building.

``import docker`` is slow, so the docker SDK is imported inside the functions
that need it; importing this module stays cheap.
"""

import contextlib
import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Iterable, List, Optional, Tuple, Union

from lume_services.errors import DockerEngineUnavailableError, ImageBuildError

if TYPE_CHECKING:  # pragma: no cover
    import docker
    import prefect
    from prefect.storage import Docker as DockerStorage

logger = logging.getLogger(__name__)

#: the local base image ``scripts/docker-engine.sh base-image`` makes
LOCAL_BASE_IMAGE = os.environ.get("LUME_DOCKER_BASE_IMAGE", "lume-services-base:bookworm")
#: the base image of the runtime image for users
DEFAULT_BASE_IMAGE = "python:3.11-slim"
#: the default tag of the runtime image
DEFAULT_RUNTIME_IMAGE = "lume-services:latest"
#: where Prefect's Docker storage keeps flows inside flow images
PREFECT_DIRECTORY = "/opt/prefect"

LABEL_PREFIX = "org.lume-services"
LABEL_ROLE = f"{LABEL_PREFIX}.role"
LABEL_FLOW_NAME = f"{LABEL_PREFIX}.flow-name"
LABEL_PROJECT = f"{LABEL_PREFIX}.project"
LABEL_VERSION = f"{LABEL_PREFIX}.flow-version"
LABEL_FLOW_HASH = f"{LABEL_PREFIX}.flow-hash"
LABEL_BASE_IMAGE = f"{LABEL_PREFIX}.base-image"
LABEL_BASE_IMAGE_ID = f"{LABEL_PREFIX}.base-image-id"

_DEFAULT_SOCKET = "unix:///var/run/docker.sock"


# --- the engine ----------------------------------------------------------------


def docker_base_url(base_url: Optional[str] = None) -> str:
    """The engine address: ``base_url``, else ``DOCKER_HOST``, else the default socket."""
    return base_url or os.environ.get("DOCKER_HOST") or _DEFAULT_SOCKET


def docker_client(base_url: Optional[str] = None, timeout: int = 300) -> "docker.DockerClient":
    """Connect to a Docker engine and check that it answers.

    Args:
        base_url: the engine's address; ``None`` uses ``DOCKER_HOST`` or the
            default socket.
        timeout: seconds an API call may take (builds stream, so this bounds
            the wait for one line of output, not the whole build).

    Returns:
        A ``docker.DockerClient`` whose engine answered a ping.

    Raises:
        DockerEngineUnavailableError: no engine answers there; the message says
            how to start one.
    """
    import docker  # lazy: slow to import
    import requests

    url = docker_base_url(base_url)
    try:
        client = docker.DockerClient(base_url=url, version="auto", timeout=timeout)
        client.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise DockerEngineUnavailableError(url, _short(exc)) from exc
    return client


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 300 else text[:300] + "..."


def image_exists(name: str, client: Optional["docker.DockerClient"] = None) -> bool:
    """Whether the engine has an image of this name (``name:tag``) or id."""
    import docker

    client = client or docker_client()
    try:
        client.images.get(name)
    except docker.errors.ImageNotFound:
        return False
    return True


def image_labels(name: str, client: Optional["docker.DockerClient"] = None) -> Dict[str, str]:
    """The labels of an image; an empty dict when there is no such image."""
    import docker

    client = client or docker_client()
    try:
        image = client.images.get(name)
    except docker.errors.ImageNotFound:
        return {}
    return dict(image.labels or {})


def image_size(name: str, client: Optional["docker.DockerClient"] = None) -> int:
    """The size in bytes of an image, all its layers included."""
    client = client or docker_client()
    return int(client.images.get(name).attrs["Size"])


def split_image(image: str) -> Tuple[str, str]:
    """Split ``name[:tag]`` into name and tag (``latest`` when none); registry ports are kept."""
    name, sep, tag = image.rpartition(":")
    if not sep or not name or "/" in tag:  # no tag, or host:port/name without a tag
        return image, "latest"
    return name, tag


def build_image(
    context_dir: Union[str, Path],
    tag: str,
    dockerfile: str = "Dockerfile",
    buildargs: Optional[Dict[str, str]] = None,
    labels: Optional[Dict[str, str]] = None,
    pull: bool = False,
    client: Optional["docker.DockerClient"] = None,
) -> str:
    """Build an image from a directory and tag it.

    Intermediate containers are removed (``rm=True``; the SDK's default leaves
    them behind). The engine's layer cache is used, so an unchanged rebuild
    takes about a second.

    Args:
        context_dir: the build context.
        tag: ``name:tag`` of the image.
        dockerfile: the Dockerfile, relative to the context.
        buildargs: ``ARG`` values.
        labels: labels set on the image.
        pull: pull a newer base image first (needs a reachable registry).
        client: a connected client; ``None`` connects with :func:`docker_client`.

    Returns:
        The id of the image.

    Raises:
        DockerEngineUnavailableError: no engine answers.
        ImageBuildError: the build failed; the message ends with the last lines
            of the build log.
    """
    import docker

    client = client or docker_client()
    log: List[str] = []
    start = time.perf_counter()
    try:
        image, chunks = client.images.build(
            path=str(context_dir),
            dockerfile=dockerfile,
            tag=tag,
            buildargs=buildargs or {},
            labels=labels or {},
            pull=pull,
            rm=True,
            forcerm=True,
        )
        log = _log_lines(chunks)
    except docker.errors.BuildError as exc:
        raise ImageBuildError(tag, exc.msg, _log_lines(exc.build_log)) from exc
    except docker.errors.APIError as exc:
        # e.g. a Dockerfile the engine cannot parse, or a missing base image
        raise ImageBuildError(tag, _short(exc.explanation or exc), log) from exc
    logger.debug("built %s in %.1f s:\n%s", tag, time.perf_counter() - start, "\n".join(log))
    return image.id


def _log_lines(chunks: Iterable[dict]) -> List[str]:
    lines: List[str] = []
    for chunk in chunks:
        text = chunk.get("stream") or chunk.get("error") or chunk.get("status") or ""
        lines.extend(line for line in text.splitlines() if line.strip())
    return lines


# --- the runtime image ------------------------------------------------------------


def source_dir() -> Path:
    """The lume-services source tree (holding ``pyproject.toml`` and ``docker/``).

    Raises:
        FileNotFoundError: lume-services is installed without its source tree.
    """
    import lume_services

    root = Path(lume_services.__file__).resolve().parent.parent
    if not (root / "pyproject.toml").is_file() or not (root / "docker" / "Dockerfile").is_file():
        raise FileNotFoundError(
            f"no lume-services source tree at {root} (pyproject.toml and docker/Dockerfile); "
            "the runtime image is built from a checkout of lume-services: pass its path "
            "as source, or run docker build -f docker/Dockerfile . in it"
        )
    return root


def runtime_build_context(destination: Union[str, Path], source: Optional[Path] = None) -> Path:
    """Copy into ``destination`` what the runtime image is built from, and nothing else.

    The repository holds a virtualenv, caches and git history that must not be
    sent to the engine; the Dockerfile needs ``pyproject.toml``, ``README.md``,
    ``lume_services/`` and ``docker/``.
    """
    source = Path(source) if source is not None else source_dir()
    destination = Path(destination)
    (destination / "docker").mkdir(parents=True, exist_ok=True)
    shutil.copy2(source / "pyproject.toml", destination / "pyproject.toml")
    readme = source / "README.md"
    if readme.is_file():
        shutil.copy2(readme, destination / "README.md")
    else:  # pyproject.toml names it; the image does not need its text
        (destination / "README.md").write_text("# lume-services\n")
    shutil.copytree(
        source / "lume_services",
        destination / "lume_services",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        dirs_exist_ok=True,
    )
    for name in ("Dockerfile", "entrypoint.sh"):
        shutil.copy2(source / "docker" / name, destination / "docker" / name)
    return destination


def build_runtime_image(
    tag: str = DEFAULT_RUNTIME_IMAGE,
    base_image: str = DEFAULT_BASE_IMAGE,
    source: Optional[Union[str, Path]] = None,
    pull: bool = False,
    client: Optional["docker.DockerClient"] = None,
) -> str:
    """Build the lume-services runtime image (``docker/Dockerfile``).

    Args:
        tag: ``name:tag`` of the image.
        base_image: a Python 3.11 image: ``python:3.11-slim``, or the local base
            image made by ``scripts/docker-engine.sh base-image``
            (:data:`LOCAL_BASE_IMAGE`) where no registry is reachable.
        source: the lume-services source tree; ``None`` uses the one this
            package was imported from.
        pull: pull the base image first (it must be in a reachable registry).
        client: a connected client; ``None`` connects with :func:`docker_client`.

    Returns:
        The id of the image.

    Raises:
        DockerEngineUnavailableError: no engine answers.
        ImageBuildError: the build failed (for example the base image does not exist).
    """
    client = client or docker_client()
    if not pull and not image_exists(base_image, client):
        raise ImageBuildError(
            tag,
            f"base image {base_image!r} does not exist on the engine and pull=False; "
            f"build the local one with scripts/docker-engine.sh base-image "
            f"({LOCAL_BASE_IMAGE}), or pull {DEFAULT_BASE_IMAGE}",
            [],
        )
    with tempfile.TemporaryDirectory(prefix="lume-runtime-") as tmp:
        context = runtime_build_context(tmp, Path(source) if source else None)
        return build_image(
            context,
            tag,
            dockerfile="docker/Dockerfile",
            buildargs={"BASE_IMAGE": base_image},
            labels={LABEL_ROLE: "runtime", LABEL_BASE_IMAGE: base_image},
            pull=pull,
            client=client,
        )


# --- flow images ---------------------------------------------------------------------


def flow_hash(flow: "prefect.Flow") -> str:
    """A hash of the serialized flow: equal hashes, equal flows (Prefect's own notion)."""
    return flow.serialized_hash()


def flow_image_labels(
    flow: "prefect.Flow",
    project_name: Optional[str] = None,
    version: Optional[str] = None,
    base_image: Optional[str] = None,
    base_image_id: Optional[str] = None,
) -> Dict[str, str]:
    """The labels of a flow image: flow name, project, version, flow hash and base image."""
    digest = flow_hash(flow)
    labels = {
        LABEL_ROLE: "flow",
        LABEL_FLOW_NAME: flow.name,
        LABEL_PROJECT: project_name or "",
        LABEL_VERSION: str(version) if version is not None else digest[:12],
        LABEL_FLOW_HASH: digest,
    }
    if base_image:
        labels[LABEL_BASE_IMAGE] = base_image
    if base_image_id:
        labels[LABEL_BASE_IMAGE_ID] = base_image_id
    return labels


def flow_image_name(flow_name: str, project_name: Optional[str] = None, prefix: str = "lume-flow") -> str:
    """A Docker-valid image name (no tag) for a flow: ``<prefix>-<project>-<flow>``."""
    parts = [prefix, project_name or "", flow_name]
    slug = "-".join(re.sub(r"[^a-z0-9]+", "-", p.lower()).strip("-") for p in parts if p)
    return re.sub(r"-{2,}", "-", slug)[:120]


def flow_storage(
    flow: "prefect.Flow",
    image_name: str,
    image_tag: str = "latest",
    base_image: str = DEFAULT_RUNTIME_IMAGE,
    local: bool = True,
    labels: Optional[Dict[str, str]] = None,
    base_url: Optional[str] = None,
) -> "DockerStorage":
    """Prefect Docker storage holding ``flow``, set up to build from ``base_image``.

    The base image must already hold Prefect (the runtime image does), so the
    Dockerfile Prefect writes installs nothing: without Prefect it would
    install Prefect from a git URL.

    Args:
        flow: the flow to store.
        image_name: name of the image (without tag).
        image_tag: its tag.
        base_image: the image to build from.
        local: use ``base_image`` as it is on the engine, without pulling.
        labels: image labels.
        base_url: the engine's address; ``None`` uses ``DOCKER_HOST`` or the
            default socket.
    """
    from prefect.storage import Docker

    storage = Docker(
        base_image=base_image,
        image_name=image_name,
        image_tag=image_tag,
        local_image=local,
        base_url=docker_base_url(base_url),
        build_kwargs={"labels": dict(labels or {})},
        prefect_directory=PREFECT_DIRECTORY,
    )
    storage.add_flow(flow)
    return storage


def build_flow_image(
    flow: "prefect.Flow",
    image_name: Optional[str] = None,
    image_tag: Optional[str] = None,
    base_image: str = DEFAULT_RUNTIME_IMAGE,
    local: bool = True,
    project_name: Optional[str] = None,
    version: Optional[str] = None,
    rebuild: bool = False,
    client: Optional["docker.DockerClient"] = None,
) -> "DockerStorage":
    """Build (or reuse) a Docker image holding ``flow`` and set it as the flow's storage.

    The image is built by Prefect's Docker storage from ``base_image`` (the
    Dockerfile Prefect writes, with its health check that loads the flow in
    the image), labelled with the flow's name, project, version and hash. When
    an image of that name and tag exists already with the same flow hash and
    base image, it is reused without building.

    Args:
        flow: the Prefect flow; its ``storage`` is set to the returned storage.
        image_name: image name; ``None`` gives ``lume-flow-<project>-<flow>``.
        image_tag: image tag; ``None`` uses the first 12 characters of the flow hash.
        base_image: the image to build from; it must hold Prefect (the runtime
            image does, see :func:`build_runtime_image`). When it is itself a
            flow image, the image that one was built from is used.
        local: build from ``base_image`` as it is on the engine, without pulling.
        project_name: project recorded in the image labels.
        version: version recorded in the labels; ``None`` records the flow hash.
        rebuild: build even when a matching image exists.
        client: a connected client; ``None`` connects with :func:`docker_client`.

    Returns:
        The Prefect ``Docker`` storage; its ``name`` is the image (``name:tag``).

    Raises:
        DockerEngineUnavailableError: no engine answers.
        ImageBuildError: the base image is missing (and ``local``), or the build
            failed; the message ends with the last lines of the build log.
    """
    import docker

    client = client or docker_client()
    base_image = _unwrap_flow_image(base_image, client)
    if local:
        try:
            base_id = client.images.get(base_image).id
        except docker.errors.ImageNotFound:
            raise ImageBuildError(
                f"{image_name or flow_image_name(flow.name, project_name)}:{image_tag or 'latest'}",
                f"base image {base_image!r} does not exist on the engine (local=True does "
                "not pull it); build it first, for example with "
                "lume_services.services.scheduling.backends.docker.build_runtime_image",
                [],
            ) from None
    else:
        base_id = None
    labels = flow_image_labels(flow, project_name, version, base_image, base_id)
    image_name = image_name or flow_image_name(flow.name, project_name)
    image_tag = image_tag or labels[LABEL_FLOW_HASH][:12]
    storage = flow_storage(
        flow, image_name, image_tag, base_image, local, labels, base_url=client.api.base_url
    )
    tag = storage.name
    if not rebuild and _is_current(tag, labels, client):
        logger.info("reusing image %s of flow %r (same flow, same base image)", tag, flow.name)
    else:
        _build_storage_image(storage, labels, client)
    flow.storage = storage
    return storage


def _unwrap_flow_image(base_image: str, client: "docker.DockerClient") -> str:
    """The image a flow image was built from; any other image as it is."""
    labels = image_labels(base_image, client)
    if labels.get(LABEL_ROLE) == "flow" and labels.get(LABEL_BASE_IMAGE):
        return labels[LABEL_BASE_IMAGE]
    return base_image


def _is_current(tag: str, labels: Dict[str, str], client: "docker.DockerClient") -> bool:
    existing = image_labels(tag, client)
    keys = (LABEL_FLOW_HASH, LABEL_FLOW_NAME, LABEL_PROJECT, LABEL_VERSION, LABEL_BASE_IMAGE_ID)
    return bool(existing) and all(existing.get(k) == labels.get(k) for k in keys)


def _build_storage_image(
    storage: "DockerStorage", labels: Dict[str, str], client: "docker.DockerClient"
) -> str:
    """Build the image of Prefect Docker storage from the Dockerfile Prefect writes.

    Prefect's own ``storage.build()`` prints the log to stdout and reports a
    failure only as "Your docker image failed to build!"; building the same
    Dockerfile here keeps the log for :class:`ImageBuildError`.
    """
    if not storage.local_image:
        with contextlib.redirect_stdout(_LogWriter()):  # Prefect prints pull progress
            try:
                storage.pull_image()
            except InterruptedError as exc:
                raise ImageBuildError(storage.name, f"pulling {storage.base_image} failed: {exc}", [])
    with tempfile.TemporaryDirectory(prefix="lume-flow-image-") as tmp:
        storage.create_dockerfile_object(directory=tmp)
        return build_image(tmp, storage.name, labels=labels, client=client)


class _LogWriter:
    """A file-like object that sends what is written to the module logger."""

    def write(self, text: str) -> int:
        if text.strip():
            logger.debug(text.strip())
        return len(text)

    def flush(self) -> None:
        pass
