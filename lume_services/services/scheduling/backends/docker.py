"""The ``docker`` backend: flows on a Prefect 1 Server, run in Docker containers, and its run config.

Images are made by ``docker_engine`` (the engine), ``runtime_image`` (the
lume-services runtime image) and ``flow_images`` (an image per flow); this
module holds the backend that registers flows as flow images and runs them
with a Prefect ``DockerAgent``, and its :class:`DockerRunConfig`.
"""

from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from prefect.storage import Docker as _PrefectDocker  # does not import the docker SDK
from pydantic import SecretStr, validator

from lume_services.services.scheduling.backends.images.engine import docker_client
from lume_services.services.scheduling.backends.images.flow_images import (
    Docker,
    flow_image_storage,
    unwrap_flow_image,
)
from lume_services.services.scheduling.run_options import RunConfig
from lume_services.services.scheduling.backends.server.backend import ServerBackend

#: where run containers see the folder of the embedded (SQLite) results database
CONTAINER_RESULTS_DB_DIR = "/lume/results-db"


class DockerRunConfig(RunConfig):
    """Run in a Docker container started by a Prefect ``DockerAgent``.

    Attributes:
        image: the image to run; ``None`` uses the flow's storage image.
        host_config: keyword arguments of ``docker.types.HostConfig`` (for
            example ``{"network_mode": "host", "binds": [...]}``), validated
            with the docker SDK.
        ports: container ports to expose.
    """

    image: Optional[str] = None
    host_config: Optional[Dict[str, Any]] = None
    ports: Optional[List[int]] = None

    @validator("host_config")
    def host_config_is_valid(cls, v):
        if v is None:
            return v
        from docker.types import HostConfig  # lazy: docker is heavy

        try:
            HostConfig(version="1.41", **v)
        except Exception as exc:  # the SDK raises TypeError, ValueError, AttributeError...
            raise ValueError(
                f"host_config is not valid for docker.types.HostConfig: {exc}"
            ) from exc
        return v

    def build(self):
        from prefect.run_configs import DockerRun

        return DockerRun(
            image=self.image,
            env=self.env,
            labels=self.labels,
            ports=self.ports,
            host_config=self.host_config,
        )



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
        update = self._run_config_update(run_config, labels, self.env)
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

    def build_result(self, flow):
        """``LocalResult`` files in ``results_dir`` when one is set, else ``PrefectResult``."""
        if self.results_dir is None:
            return super().build_result(flow)
        from lume_services.services.scheduling.backends.server.private_store import LocalResult  # lazy: prefect

        # 0700 folder, 0600 files whatever the umask; files checked before they are read
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
                image = unwrap_flow_image(image, client)
            finally:
                client.close()
        flow_id, registered = self._register(flow, project_name, image, labels)
        storage = registered.storage  # built: its name is the image
        if isinstance(storage, _PrefectDocker) and storage.image_name and storage.image_tag:
            self._images[flow_id] = storage.name
        return flow_id

    def storage_places(self):
        """Task results are kept in ``results_dir``; images are pushed to ``registry_url``."""
        places = super().storage_places()
        if self.results_dir:
            places["results_dir"] = self.results_dir
        return places

    def registered_image(self, flow_id: str) -> Optional[str]:
        """The image (``name:tag``) a flow registered by this backend runs in."""
        return self._images.get(flow_id)
