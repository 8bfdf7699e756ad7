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
import gc
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
import uuid
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Iterable, List, Optional, Tuple, Union

from prefect.storage import Docker as _PrefectDocker  # does not import the docker SDK
from pydantic import SecretStr

from lume_services.errors import DockerEngineUnavailableError, ImageBuildError
from lume_services.services.scheduling.backends.backend import DockerRunConfig
from lume_services.services.scheduling.backends.server import ServerBackend

if TYPE_CHECKING:  # pragma: no cover
    import docker
    import prefect

    from lume_services.config import LUMEServicesSettings

logger = logging.getLogger(__name__)

#: the local base image ``scripts/docker-engine.sh base-image`` makes
LOCAL_BASE_IMAGE = os.environ.get("LUME_DOCKER_BASE_IMAGE", "lume-services-base:bookworm")
#: the base image of the runtime image for users
DEFAULT_BASE_IMAGE = "python:3.11-slim"
#: the default tag of the runtime image
DEFAULT_RUNTIME_IMAGE = "lume-services:latest"
#: where Prefect's Docker storage keeps flows inside flow images
PREFECT_DIRECTORY = "/opt/prefect"
#: where run containers see the folder of the embedded (SQLite) results database
CONTAINER_RESULTS_DB_DIR = "/lume/results-db"

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
    if url.startswith("unix://"):
        path = "/" + url[len("unix://"):].lstrip("/")
        if not os.path.exists(path):
            raise DockerEngineUnavailableError(url, f"there is no socket {path}")
    failure = None
    try:
        client = docker.DockerClient(base_url=url, version="auto", timeout=timeout)
        client.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        failure = _short(exc)
    if failure is None:
        return client
    # the SDK leaves the socket of a refused connection open; close it now, quietly
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    raise DockerEngineUnavailableError(url, failure)


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


def build_image(
    context_dir: Union[str, Path],
    tag: str,
    dockerfile: str = "Dockerfile",
    buildargs: Optional[Dict[str, str]] = None,
    labels: Optional[Dict[str, str]] = None,
    pull: bool = False,
    nocache: bool = False,
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
        nocache: build every step again, without the layer cache.
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
            nocache=nocache,
            rm=True,
            forcerm=True,
        )
        log = _log_lines(chunks)
    except docker.errors.BuildError as exc:
        log = _log_lines(exc.build_log)
        if log and log[-1] == exc.msg.strip():  # the engine streams its error last
            log.pop()
        raise ImageBuildError(tag, exc.msg, log) from exc
    except docker.errors.APIError as exc:
        # e.g. a Dockerfile the engine cannot parse, or a missing base image
        raise ImageBuildError(tag, _short(exc.explanation or exc), log) from exc
    logger.debug("built %s in %.1f s:\n%s", tag, time.perf_counter() - start, "\n".join(log))
    return image.id


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_NOISE = re.compile(r"^\s*(---> |Removing intermediate container )")


def _log_lines(chunks: Iterable[dict]) -> List[str]:
    """The readable lines of a build log: no colour codes, no layer bookkeeping."""
    lines: List[str] = []
    for chunk in chunks:
        text = chunk.get("stream") or chunk.get("error") or chunk.get("status") or ""
        for line in _ANSI.sub("", text).splitlines():
            if line.strip() and not _NOISE.match(line):
                lines.append(line.rstrip())
    if len(lines) > 1 and lines[-1] == lines[-2]:  # the error is streamed twice
        lines.pop()
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
    nocache: bool = False,
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
        nocache: build every step again, without the layer cache.
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
            nocache=nocache,
            client=client,
        )


# --- flow images ---------------------------------------------------------------------


def flow_hash(flow: "prefect.Flow") -> str:
    """A digest of what defines the flow: its serialized structure and its tasks' code.

    Storage and run config are left out: they say where the flow is kept and
    run, not what it does (and the storage is the image being built).
    """
    from lume_services.services.scheduling.backends.fingerprint import flow_fingerprint

    bare = flow.copy()
    bare.storage = None
    bare.run_config = None
    return flow_fingerprint(bare, image=None, labels=[])


def flow_image_name(flow_name: str, project_name: Optional[str] = None, prefix: str = "lume-flow") -> str:
    """A Docker-valid image name (no tag, no registry) for a flow: ``<prefix>-<project>-<flow>``.

    The name has no ``/``, so a Prefect ``DockerAgent`` does not try to pull it.
    """
    parts = [prefix, project_name or "", flow_name]
    slug = "-".join(re.sub(r"[^a-z0-9]+", "-", p.lower()).strip("-") for p in parts if p)
    return re.sub(r"-{2,}", "-", slug)[:120]


class Docker(_PrefectDocker):
    """Prefect's Docker storage, with its image built (or reused) by lume-services.

    The image is built from the Dockerfile Prefect's storage writes (the flow
    pickled under ``/opt/prefect/flows``, and Prefect's health check, which loads
    the flow inside the image), with these differences:

    * it is labelled with the flow name, project, version and flow hash, and
      when an image of that name and tag exists with the same labels and the
      same base image, it is reused without building;
    * with ``local_image=True`` the base image is used as it is on the engine,
      never pulled, and a missing base image is a clear error;
    * an engine that does not answer raises :class:`DockerEngineUnavailableError`,
      a failed build :class:`ImageBuildError` with the last lines of the log
      (Prefect prints the log and raises "Your docker image failed to build!");
    * the tag defaults to the first 12 characters of the flow hash, so a changed
      flow gets a new image and an unchanged one keeps its image.

    The base image must already hold Prefect (the runtime image does): the
    Dockerfile installs Prefect from a git URL otherwise.

    The class is named ``Docker`` on purpose: Prefect serializes storage by its
    class name, so a registered flow's storage is read back (by the server and
    by the flow runner in the container) as Prefect's own ``Docker`` storage.

    Args:
        project_name: project recorded in the image labels.
        version: version recorded in the labels; ``None`` records the first 12
            characters of the flow hash.
        rebuild: build even when a matching image exists.
        **kwargs: as for ``prefect.storage.Docker``; ``prefect_directory``
            defaults to ``/opt/prefect`` and ``base_url`` to ``DOCKER_HOST`` or
            the default socket.
    """

    def __init__(
        self,
        project_name: Optional[str] = None,
        version: Optional[str] = None,
        rebuild: bool = False,
        **kwargs,
    ):
        kwargs.setdefault("prefect_directory", PREFECT_DIRECTORY)
        kwargs["base_url"] = docker_base_url(kwargs.get("base_url"))
        super().__init__(**kwargs)
        self.project_name = project_name
        self.version = version
        self.rebuild = rebuild
        #: the labels of the image, once built or reused
        self.image_labels: Dict[str, str] = {}
        #: whether :meth:`build` reused an existing image
        self.reused = False

    def build(self, push: bool = True) -> "Docker":
        """Build the image holding this storage's flows, or reuse a matching one.

        Args:
            push: push the image to ``registry_url`` when one is set.

        Returns:
            This storage, with ``image_name`` and ``image_tag`` set.

        Raises:
            DockerEngineUnavailableError: no engine answers.
            ImageBuildError: the base image is missing, or the build failed.
        """
        import docker

        if not self._flows:
            raise ValueError("this Docker storage holds no flow; add one with add_flow(flow)")
        client = docker_client(self.base_url)
        flows = list(self._flows.values())
        self.image_name = self.image_name or (
            flow_image_name(flows[0].name, self.project_name) if len(flows) == 1 else str(uuid.uuid4())
        )
        self.base_image = _unwrap_flow_image(self.base_image, client)
        if not self.local_image:
            self._quietly(self.pull_image, f"pulling {self.base_image} failed")
        try:
            base_id = client.images.get(self.base_image).id
        except docker.errors.ImageNotFound:
            raise ImageBuildError(
                f"{self.image_name}:{self.image_tag or '<flow hash>'}",
                f"base image {self.base_image!r} does not exist on the engine "
                f"(local_image={self.local_image}); build the runtime image first "
                "(lume_services.services.scheduling.backends.docker.build_runtime_image, "
                "see docs/docker.md)",
                [],
            ) from None
        _check_python_version(self.base_image, base_id, f"{self.image_name}:{self.image_tag or '<flow hash>'}", client)
        digest = _combined_hash(flows)
        labels = {
            LABEL_ROLE: "flow",
            LABEL_FLOW_NAME: ",".join(sorted(f.name for f in flows)),
            LABEL_PROJECT: self.project_name or "",
            LABEL_VERSION: str(self.version) if self.version is not None else digest[:12],
            LABEL_FLOW_HASH: digest,
            LABEL_BASE_IMAGE: self.base_image,
            LABEL_BASE_IMAGE_ID: base_id,
        }
        self.image_tag = self.image_tag or digest[:12]
        full_name = self._full_name()
        self.reused = not self.rebuild and _is_current(full_name, labels, client)
        if self.reused:
            logger.info("reusing image %s (same flows, same base image)", full_name)
        else:
            with tempfile.TemporaryDirectory(prefix="lume-flow-image-") as tmp:
                self.create_dockerfile_object(directory=tmp)
                try:
                    build_image(tmp, full_name, labels=labels, client=client)
                except ImageBuildError as exc:
                    if any("ModuleNotFoundError" in line for line in exc.log_lines):
                        raise ImageBuildError(
                            full_name,
                            f"{exc.reason}; the flow uses code that {self.base_image!r} "
                            "cannot import: build the flow image from an image with the "
                            "flow's package installed (see docs/docker.md)",
                            exc.log_lines,
                        ) from exc
                    raise
        self.image_labels = labels
        if push and self.registry_url:
            self._quietly(
                lambda: self.push_image(self._repository(), self.image_tag),
                f"pushing {full_name} failed",
            )
        return self

    def _repository(self) -> str:
        return f"{self.registry_url.rstrip('/')}/{self.image_name}" if self.registry_url else self.image_name

    def _full_name(self) -> str:
        return f"{self._repository()}:{self.image_tag}"

    def _quietly(self, action, failure: str) -> None:
        """Run a Prefect pull or push, its progress printing going to the log."""
        with contextlib.redirect_stdout(_LogWriter()):
            try:
                action()
            except InterruptedError as exc:
                raise ImageBuildError(self._full_name(), f"{failure}: {exc}", []) from exc


# image id -> "major.minor" of its `python` ("" when it has none); images never change
_PYTHON_VERSIONS: Dict[str, str] = {}


def image_python_version(image: str, image_id: str, client: "docker.DockerClient") -> str:
    """The ``major.minor`` version of the ``python`` an image runs ("" when it has none)."""
    import docker

    if image_id not in _PYTHON_VERSIONS:
        try:
            out = client.containers.run(
                image,
                ["-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                entrypoint="python",
                remove=True,
                stderr=False,
                network_disabled=True,
            )
            _PYTHON_VERSIONS[image_id] = out.decode().strip()
        except docker.errors.DockerException:  # no `python` in the image: nothing to compare
            _PYTHON_VERSIONS[image_id] = ""
    return _PYTHON_VERSIONS[image_id]


def _check_python_version(base_image: str, base_id: str, image: str, client: "docker.DockerClient") -> None:
    """Refuse a base image whose Python differs from this one: a pickled flow loads only there."""
    import sys

    here = "%d.%d" % sys.version_info[:2]
    there = image_python_version(base_image, base_id, client)
    if there and there != here:
        raise ImageBuildError(
            image,
            f"the flow is pickled by Python {here} here, but base image {base_image!r} runs "
            f"Python {there}, where it cannot be loaded; build on an image with Python {here} "
            f"(docker/Dockerfile's BASE_IMAGE), or register from Python {there}",
            [],
        )


def _combined_hash(flows: List["prefect.Flow"]) -> str:
    if len(flows) == 1:
        return flow_hash(flows[0])
    digest = hashlib.sha256()
    for digest_of_flow in sorted(flow_hash(f) for f in flows):
        digest.update(digest_of_flow.encode())
    return digest.hexdigest()


def _unwrap_flow_image(base_image: str, client: "docker.DockerClient") -> str:
    """The image a flow image was built from; any other image as it is.

    A flow model whose ``image`` was set to its built flow image builds its
    next version from the same base, not on top of the previous flow image.
    """
    labels = image_labels(base_image, client)
    if labels.get(LABEL_ROLE) == "flow" and labels.get(LABEL_BASE_IMAGE):
        return labels[LABEL_BASE_IMAGE]
    return base_image


def _is_current(tag: str, labels: Dict[str, str], client: "docker.DockerClient") -> bool:
    existing = image_labels(tag, client)
    return bool(existing) and all(existing.get(k) == v for k, v in labels.items())


def build_flow_image(
    flow: "prefect.Flow",
    image_name: Optional[str] = None,
    image_tag: Optional[str] = None,
    base_image: str = DEFAULT_RUNTIME_IMAGE,
    local: bool = True,
    project_name: Optional[str] = None,
    version: Optional[str] = None,
    rebuild: bool = False,
) -> Docker:
    """Build (or reuse) a Docker image holding ``flow`` and make it the flow's storage.

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

    Returns:
        The :class:`Docker` storage; its ``name`` is the image (``name:tag``).

    Raises:
        DockerEngineUnavailableError: no engine answers.
        ImageBuildError: the base image is missing (with ``local``), or the build
            failed; the message ends with the last lines of the build log.
    """
    storage = Docker(
        base_image=base_image,
        image_name=image_name,
        image_tag=image_tag,
        local_image=local,
        project_name=project_name,
        version=version,
        rebuild=rebuild,
    )
    storage.add_flow(flow)
    storage.build(push=False)
    flow.storage = storage
    return storage


def flow_image_storage(
    flow: Optional["prefect.Flow"],
    base_image: Optional[str] = None,
    project_name: Optional[str] = None,
    local: bool = True,
    registry_url: Optional[str] = None,
) -> Docker:
    """The :class:`Docker` storage a flow registered on a container backend is kept in.

    Nothing is built yet: registering the flow builds (or reuses) the image
    ``[registry_url/]lume-flow-<project>-<flow>:<flow hash>``. The Docker and
    Kubernetes backends both keep flows this way.

    Args:
        flow: the Prefect flow (names the image); ``None`` leaves the name to
            :meth:`Docker.build`.
        base_image: the image to build from; ``None`` uses :data:`DEFAULT_RUNTIME_IMAGE`.
        project_name: project recorded in the image name and labels.
        local: build from ``base_image`` as it is on the engine, without pulling.
        registry_url: a registry to push the image to (``None``: not pushed).
    """
    return Docker(
        base_image=base_image or DEFAULT_RUNTIME_IMAGE,
        image_name=flow_image_name(flow.name, project_name) if flow is not None else None,
        local_image=local,
        registry_url=registry_url,
        project_name=project_name,
    )


class _LogWriter:
    """A file-like object that sends what is written to the module logger."""

    def write(self, text: str) -> int:
        if text.strip():
            logger.debug(text.strip())
        return len(text)

    def flush(self) -> None:
        pass


# --- the Docker backend ------------------------------------------------------------------


def run_container_settings(
    settings: "LUMEServicesSettings",
) -> Tuple[Dict[str, str], Dict[str, Union[str, SecretStr]]]:
    """The binds and ``LUME_*`` environment run containers need to use ``settings``' stores.

    A flow run in a container builds its services from ``LUME_*`` variables,
    as any process does, so it gets:

    * the **mounted filesystem**: its host folder bound at ``mount_alias``, and
      ``LUME_MOUNTED_FILESYSTEM__*`` with ``mount_path`` = ``mount_alias`` (in the
      container the folder *is* at the alias), so ``SaveFile(...,
      filesystem_identifier="mounted")`` writes into the host folder;
    * the **results database**: for SQLite, the folder of the database file
      bound at :data:`CONTAINER_RESULTS_DB_DIR` and ``LUME_RESULTS_DB__PATH``
      pointing at the file there, so results saved in a container are the
      host's; for MongoDB, ``LUME_RESULTS_DB__MONGODB__*`` as configured (the
      password as a ``SecretStr``: it reaches the container's environment and
      is never logged or shown).

    Args:
        settings: the settings of this process.

    Returns:
        ``(volumes, env)``: host folder -> container path, and variable -> value.
    """
    volumes: Dict[str, str] = {}
    env: Dict[str, Union[str, SecretStr]] = {}
    mounted = settings.mounted_filesystem
    if mounted is not None:
        host = str(Path(mounted.mount_path).expanduser().resolve())
        volumes[host] = mounted.mount_alias
        env.update(
            LUME_MOUNTED_FILESYSTEM__MOUNT_PATH=mounted.mount_alias,
            LUME_MOUNTED_FILESYSTEM__MOUNT_ALIAS=mounted.mount_alias,
            LUME_MOUNTED_FILESYSTEM__IDENTIFIER=mounted.identifier,
        )
    db = settings.results_db
    env["LUME_RESULTS_DB__TYPE"] = db.type
    if db.type == "sqlite":
        path = Path(db.path or Path(settings.home) / "results.sqlite").expanduser().resolve()
        # made here: a folder the engine creates for a bind belongs to root
        path.parent.mkdir(parents=True, exist_ok=True)
        folder = volumes.setdefault(str(path.parent), CONTAINER_RESULTS_DB_DIR)
        env["LUME_RESULTS_DB__PATH"] = f"{folder.rstrip('/')}/{path.name}"
    else:
        mongodb = db.mongodb
        prefix = "LUME_RESULTS_DB__MONGODB__"
        env[prefix + "HOST"] = mongodb.host
        env[prefix + "PORT"] = str(mongodb.port)
        env[prefix + "DATABASE"] = mongodb.database
        if mongodb.username is not None:
            env[prefix + "USERNAME"] = mongodb.username
        if mongodb.password is not None:
            env[prefix + "PASSWORD"] = mongodb.password
        if mongodb.auth_mechanism is not None:
            env[prefix + "AUTH_MECHANISM"] = mongodb.auth_mechanism
        if mongodb.options:
            env[prefix + "OPTIONS"] = json.dumps(mongodb.options)
    return volumes, env


class DockerBackend(ServerBackend):
    """Runs flows registered on a Prefect 1 Server in Docker containers (``DockerAgent``).

    Registering a flow builds (or reuses) an image holding it: :class:`Docker`
    storage built from the flow model's ``image`` (the runtime image, or an
    image made from it with your flow packages), named
    ``lume-flow-<project>-<flow>:<flow hash>`` and labelled with flow name,
    project and version. :meth:`registered_image` gives the image of a
    registered flow id. Runs use ``DockerRun`` run configs in that image; a
    ``DockerRunConfig`` passed to a run sets its env, host config and ports
    (and an image of its own, if you must).

    Args:
        local_images: build from base images as they are on the engine, without
            pulling (the only way where no registry is reachable).
        registry_url: a registry to push flow images to (``None``: not pushed;
            the agent must use this engine).
        volumes: host folder -> container path, bound into every run's
            container (for example a mounted filesystem's ``mount_path`` ->
            ``mount_alias``).
        env: environment variables set in every run's container; a
            ``SecretStr`` value (a password) is revealed only in the run
            config given to the server, never in a repr or log line.
        network_mode: the Docker network mode of run containers (``"host"``
            lets them reach services on the host's loopback).
        results_dir: a host folder for task results: bound into run containers
            at the same path and used by a ``LocalResult``, so any picklable
            value comes back from ``run_and_return``. ``None`` keeps
            ``PrefectResult`` (JSON values only, kept in the run's states).
        **kwargs: as for ``ServerBackend`` (``config``, ``default_project``,
            ``poll_interval``, ``timeout``, ...).
    """

    run_config_type = DockerRunConfig

    def __init__(
        self,
        local_images: bool = True,
        registry_url: Optional[str] = None,
        volumes: Optional[Dict[str, str]] = None,
        env: Optional[Dict[str, Union[str, SecretStr]]] = None,
        network_mode: Optional[str] = None,
        results_dir: Union[str, Path, None] = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.local_images = local_images
        self.registry_url = registry_url
        self.volumes = dict(volumes or {})
        self.env = dict(env or {})
        self.network_mode = network_mode
        self.results_dir = str(Path(results_dir).expanduser().resolve()) if results_dir else None
        if self.results_dir:
            # the same path on both sides: a result's location means the same file
            self.volumes.setdefault(self.results_dir, self.results_dir)
        self._images: Dict[str, str] = {}

    @classmethod
    def from_settings(cls, settings: "LUMEServicesSettings", **kwargs) -> "DockerBackend":
        """The backend for ``settings``: run containers use the same stores as this process.

        Run containers get the binds and ``LUME_*`` environment of
        :func:`run_container_settings` (the mounted filesystem and the results
        database), and task results are kept under ``<home>/docker-results``.

        Args:
            settings: the settings.
            **kwargs: constructor arguments that win over the settings'
                (``volumes`` and ``env`` are added to theirs), e.g.
                ``network_mode="host"``.
        """
        volumes, env = run_container_settings(settings)
        volumes.update(kwargs.pop("volumes", None) or {})
        env.update(kwargs.pop("env", None) or {})
        kwargs.setdefault("results_dir", Path(settings.home) / "docker-results")
        return cls(volumes=volumes, env=env, **{**cls._settings_kwargs(settings), **kwargs})

    # --- hooks of ServerBackend -----------------------------------------------------

    def build_run_config(
        self,
        run_config: Optional[DockerRunConfig] = None,
        labels: Optional[List[str]] = None,
        image: Optional[str] = None,
    ):
        """A Prefect ``DockerRun`` from a ``DockerRunConfig``, with this backend's volumes and env.

        ``image`` (the base a flow image is built from) is not the image runs
        execute in: without an image in ``run_config`` the agent runs the
        flow's own image, named by its storage.
        """
        run_config = run_config or DockerRunConfig()
        update: Dict[str, object] = {}
        if labels is not None:
            update["labels"] = list(labels)
        if self.env:
            env = {k: v.get_secret_value() if isinstance(v, SecretStr) else v for k, v in self.env.items()}
            update["env"] = {**env, **(run_config.env or {})}
        host_config = dict(run_config.host_config or {})
        if self.volumes:
            binds = list(host_config.get("binds") or [])
            binds += [f"{host}:{container}" for host, container in self.volumes.items()]
            host_config["binds"] = binds
        if self.network_mode and "network_mode" not in host_config:
            host_config["network_mode"] = self.network_mode
        if host_config:
            update["host_config"] = host_config
        if update:
            run_config = run_config.copy(update=update)
        return run_config.build()

    def build_storage(self, flow, image: Optional[str] = None, project_name: Optional[str] = None) -> Docker:
        """:class:`Docker` storage built from ``image`` when the flow is registered (:func:`flow_image_storage`)."""
        return flow_image_storage(
            flow, base_image=image, project_name=project_name, local=self.local_images, registry_url=self.registry_url
        )

    def build_flow_of_flows_storage(
        self, flow_of_flows, image_name: str, image_tag: str = "latest", local: Optional[bool] = None
    ) -> Docker:
        """:class:`Docker` storage ``image_name:image_tag`` built from ``flow_of_flows.image``.

        The image is built when the composed flow is registered (or when the
        storage's ``build()`` is called). ``local`` decides whether the base
        image is used as it is on the engine (``True``) or pulled first
        (``False``); ``None`` leaves it to the backend's ``local_images``.
        """
        return super().build_flow_of_flows_storage(flow_of_flows, image_name, image_tag, local)

    def build_result(self, flow):
        """``LocalResult`` files in ``results_dir`` when one is set, else ``PrefectResult``."""
        if self.results_dir is None:
            return super().build_result(flow)
        from prefect.engine.results import LocalResult

        Path(self.results_dir).mkdir(parents=True, exist_ok=True)
        return LocalResult(dir=self.results_dir)

    # --- registration ---------------------------------------------------------------

    def register_flow(
        self,
        flow,
        project_name: Optional[str],
        image: Optional[str] = None,
        labels: Optional[List[str]] = None,
    ) -> str:
        """Register a flow: build (or reuse) its image, then register it on the server.

        As ``ServerBackend.register_flow``: the caller's flow and storage are
        left as they are, and an unchanged flow registered again keeps its flow
        id, also when ``image`` is the flow image of its first registration
        (which ``Flow.register`` records on the model): a flow image counts as
        the image it was built from.

        Returns:
            The flow id; :meth:`registered_image` gives its image.

        Raises:
            DockerEngineUnavailableError: no engine answers.
            ImageBuildError: the flow image could not be built.
        """
        if image is not None:
            client = docker_client()
            try:
                image = _unwrap_flow_image(image, client)
            finally:
                client.close()
        flow_id, registered = self._register(flow, project_name, image, labels)
        storage = registered.storage  # built: its name is the image
        if isinstance(storage, _PrefectDocker) and storage.image_name and storage.image_tag:
            self._images[flow_id] = storage.name
        return flow_id

    def registered_image(self, flow_id: str) -> Optional[str]:
        """The image (``name:tag``) a flow registered by this backend runs in."""
        return self._images.get(flow_id)
