"""Flow images: a base image (the runtime image) plus one serialized flow, as Prefect storage.

Flow images are made by Prefect's own Docker storage. Because the runtime
image already holds Prefect, the storage installs nothing: a flow image adds a
few kilobytes to its base. Flow images carry labels naming the flow, its
project, its version and the hash of the serialized flow; building a flow
whose image already exists with the same hash reuses that image.
"""

import contextlib
import hashlib
import logging
import re
import tempfile
import uuid
from typing import TYPE_CHECKING, Dict, List, Optional

from prefect.storage import Docker as _PrefectDocker  # does not import the docker SDK

from lume_services.errors import (
    BaseImageNotFoundError,
    FlowCodeNotImportableError,
    ImageBuildError,
    ImageTransferError,
    PythonVersionMismatchError,
)
from lume_services.image_names import image_name
from lume_services.services.scheduling.backends.images.engine import (
    LABEL_BASE_IMAGE,
    LABEL_BASE_IMAGE_ID,
    LABEL_FLOW_FILE,
    LABEL_FLOW_HASH,
    LABEL_FLOW_NAME,
    LABEL_PROJECT,
    LABEL_ROLE,
    LABEL_VERSION,
    build_image,
    docker_base_url,
    docker_client,
    image_labels,
)
from lume_services.services.scheduling.backends.images.runtime_image import DEFAULT_RUNTIME_IMAGE

if TYPE_CHECKING:  # pragma: no cover
    import docker
    import prefect

logger = logging.getLogger(__name__)

#: where Prefect's Docker storage keeps flows inside flow images
PREFECT_DIRECTORY = "/opt/prefect"

#: the value of the ``flow-file`` label: flow files pickled by ``flow_pickle`` (file names kept)
FLOW_FILE_FORMAT = "flow_pickle"



def flow_hash(flow: "prefect.Flow") -> str:
    """A digest of what defines the flow: its serialized structure and its tasks' code.

    Storage and run config are left out: they say where the flow is kept and
    run, not what it does (and the storage is the image being built).
    """
    from lume_services.services.scheduling.fingerprint import flow_fingerprint

    bare = flow.copy()
    bare.storage = None
    bare.run_config = None
    return flow_fingerprint(bare, image=None, labels=[])


def flow_image_name(flow_name: str, project_name: Optional[str] = None, prefix: str = "lume-flow") -> str:
    """A Docker-valid image name (no tag, no registry) for a flow: ``<prefix>-<project>-<flow>``.

    Distinct names get distinct images (see :mod:`lume_services.image_names`).
    The name has no ``/``, so a Prefect ``DockerAgent`` does not try to pull it.
    """
    return image_name(flow_name, project_name, prefix)


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

    * the flow files are pickled by
      :mod:`~lume_services.services.scheduling.flow_pickle`, in the format Prefect's
      storage reads: a task's code keeps the name of its file, so a task that
      raises in the container names its file and line (Prefect's own pickling
      names them ``<dynamic-code>``). Loading them needs nothing more than
      Prefect's own flow files need.

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
        self.base_image = unwrap_flow_image(self.base_image, client)
        if not self.local_image:
            self._quietly(self.pull_image, "pull", self.base_image)
        # named before its tag, the flows' hash, is computed below
        to_build = f"{self.image_name}:{self.image_tag or '<flow hash>'}"
        try:
            base_id = client.images.get(self.base_image).id
        except docker.errors.ImageNotFound:
            raise BaseImageNotFoundError(
                to_build, self.base_image, role="flow", pulled=not self.local_image
            ) from None
        _check_python_version(self.base_image, base_id, to_build, client)
        digest = _combined_hash(flows)
        labels = {
            LABEL_ROLE: "flow",
            LABEL_FLOW_NAME: ",".join(sorted(f.name for f in flows)),
            LABEL_PROJECT: self.project_name or "",
            LABEL_VERSION: str(self.version) if self.version is not None else digest[:12],
            LABEL_FLOW_HASH: digest,
            LABEL_BASE_IMAGE: self.base_image,
            LABEL_BASE_IMAGE_ID: base_id,
            LABEL_FLOW_FILE: FLOW_FILE_FORMAT,
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
                        raise FlowCodeNotImportableError(
                            full_name,
                            self.base_image,
                            exc.reason,
                            exc.log_lines,
                            module=_missing_module(exc.log_lines),
                        ) from exc
                    raise
        self.image_labels = labels
        if push and self.registry_url:
            self._quietly(
                lambda: self.push_image(self._repository(), self.image_tag), "push", full_name
            )
        return self

    def create_dockerfile_object(self, directory: str) -> str:
        """Write the build context as Prefect's storage does, the flow files pickled by ``flow_pickle``.

        Args:
            directory: the build context directory.

        Returns:
            The path of the Dockerfile written.
        """
        import os

        from slugify import slugify  # as Prefect's storage names the files

        from lume_services.services.scheduling.flow_pickle import prefect_flow_file

        dockerfile = super().create_dockerfile_object(directory=directory)
        if not self.stored_as_script:
            for name, flow in self._flows.items():
                # the file Prefect wrote and its Dockerfile copies into the image, rewritten
                with open(os.path.join(directory, f"{slugify(name)}.flow"), "wb") as file:
                    file.write(prefect_flow_file(flow))
        return dockerfile

    def _repository(self) -> str:
        return f"{self.registry_url.rstrip('/')}/{self.image_name}" if self.registry_url else self.image_name

    def _full_name(self) -> str:
        return f"{self._repository()}:{self.image_tag}"

    def _quietly(self, action, operation: str, transferred: str) -> None:
        """Run a Prefect ``pull`` or ``push`` of ``transferred``, its progress printing going to the log."""
        with contextlib.redirect_stdout(_LogWriter()):
            try:
                action()
            except InterruptedError as exc:
                raise ImageTransferError(self._full_name(), operation, transferred, exc) from exc


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
        raise PythonVersionMismatchError(image, base_image, here, there)


_NO_MODULE = re.compile(r"No module named '([^']+)'")


def _missing_module(log_lines: List[str]) -> Optional[str]:
    """The module a ``ModuleNotFoundError`` in a build log names, if it names one."""
    for line in reversed(log_lines):
        found = _NO_MODULE.search(line)
        if found:
            return found.group(1)
    return None


def _combined_hash(flows: List["prefect.Flow"]) -> str:
    if len(flows) == 1:
        return flow_hash(flows[0])
    digest = hashlib.sha256()
    for digest_of_flow in sorted(flow_hash(f) for f in flows):
        digest.update(digest_of_flow.encode())
    return digest.hexdigest()


def unwrap_flow_image(base_image: str, client: "docker.DockerClient") -> str:
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


