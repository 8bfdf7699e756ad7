"""The Docker engine: connecting to it, and building and inspecting images.

``import docker`` is slow, so the docker SDK is imported inside the functions
that need it; importing this module stays cheap.
"""

import gc
import logging
import os
import re
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Iterable, List, Optional, Union

from lume_services.errors import DockerEngineUnavailableError, ImageBuildError

if TYPE_CHECKING:  # pragma: no cover
    import docker

logger = logging.getLogger(__name__)

LABEL_PREFIX = "org.lume-services"
LABEL_ROLE = f"{LABEL_PREFIX}.role"
LABEL_FLOW_NAME = f"{LABEL_PREFIX}.flow-name"
LABEL_PROJECT = f"{LABEL_PREFIX}.project"
LABEL_VERSION = f"{LABEL_PREFIX}.flow-version"
LABEL_FLOW_HASH = f"{LABEL_PREFIX}.flow-hash"
LABEL_BASE_IMAGE = f"{LABEL_PREFIX}.base-image"
LABEL_BASE_IMAGE_ID = f"{LABEL_PREFIX}.base-image-id"
#: how the flow file in a flow image is pickled; an image whose flow file is pickled
#: otherwise (older, named ``<dynamic-code>`` in tracebacks) is rebuilt, not reused
LABEL_FLOW_FILE = f"{LABEL_PREFIX}.flow-file"

_DEFAULT_SOCKET = "unix:///var/run/docker.sock"



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


def remove_images(labels: Dict[str, str], client: Optional["docker.DockerClient"] = None) -> List[str]:
    """Remove every image carrying all these labels, tagged or not, and the containers made from them.

    Untagged images count: rebuilding a tag leaves the image it replaced
    behind, untagged ("dangling") but still labelled. An image another image
    is built on is left (the engine refuses; it goes with its last child).

    Returns:
        The ids of the images removed.
    """
    import docker

    client = client or docker_client()
    filters = {"label": [f"{key}={value}" for key, value in labels.items()]}
    removed = []
    # children first: an image is listed after the images built on it only by chance
    images = sorted(client.images.list(all=True, filters=filters), key=lambda i: i.attrs.get("Created", ""), reverse=True)
    for image in images:
        for container in client.containers.list(all=True, filters={"ancestor": image.id}):
            container.remove(force=True)
        try:
            client.images.remove(image.id, force=True)
        except docker.errors.ImageNotFound:
            continue
        except docker.errors.APIError:  # another image is built on it
            continue
        removed.append(image.id)
    return removed


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


