"""The lume-services runtime image (``docker/Dockerfile``): the base image plus lume-services.

Three layers of images run flows in containers:

* a **base image** with Python 3.11: an official ``python:3.11-slim`` for users,
  or one made locally from Debian packages by ``scripts/docker-engine.sh base-image``
  where no registry is reachable (CI);
* the **runtime image** (this module): the base plus a venv holding
  lume-services and its pinned Prefect 1 stack, see :func:`build_runtime_image`;
* **flow images** (``flow_images``): the runtime image (or an image built from
  it with your flow packages) plus one serialized flow.
"""

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union

from lume_services.errors import BaseImageNotFoundError
from lume_services.services.scheduling.backends.images.engine import (
    LABEL_BASE_IMAGE,
    LABEL_ROLE,
    build_image,
    docker_client,
    image_exists,
)

if TYPE_CHECKING:  # pragma: no cover
    import docker

#: the local base image ``scripts/docker-engine.sh base-image`` makes
LOCAL_BASE_IMAGE = os.environ.get("LUME_DOCKER_BASE_IMAGE", "lume-services-base:bookworm")
#: the base image of the runtime image for users
DEFAULT_BASE_IMAGE = "python:3.11-slim"
#: the default tag of the runtime image
DEFAULT_RUNTIME_IMAGE = "lume-services:latest"



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
        ImageBuildError: the build failed; a :class:`BaseImageNotFoundError` when
            the base image does not exist.
    """
    client = client or docker_client()
    if not pull and not image_exists(base_image, client):
        raise BaseImageNotFoundError(
            tag,
            base_image,
            role="runtime",
            pulled=False,
            local_base_image=LOCAL_BASE_IMAGE,
            registry_base_image=DEFAULT_BASE_IMAGE,
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


