"""The composition root: settings, the dependency-injection ``Context``, ``configure()``.

This is the one place settings become objects: :func:`build_scheduling_backend`,
:func:`build_filesystems` and :func:`build_results_db` turn
``LUMEServicesSettings`` into backends and stores, which take plain
constructor arguments. Every service (scheduling, files, results) is provided
by one :class:`Context` container. Functions that need a service declare it
with ``Provide[Context.<service>]`` and ``@inject``; the container wires the
lume-services packages that do so when it is made (declared once, on the
container), and :func:`wire` wires a module of yours.

With no configuration at all the container provides the embedded local
defaults (the local backend, the local filesystem and the SQLite results
database under ``LUME_HOME``), built from the environment the first time a
service is needed. :func:`configure` replaces them from settings; tests and
notebooks may also override a single service, restored when the block ends::

    from lume_services.config import context
    with context.scheduling_service.override(SchedulingService(my_backend)):
        ...
"""

import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Dict, List, Literal, Optional, Tuple, Union

from dependency_injector import containers, providers
from pydantic import BaseModel, BaseSettings, Field, SecretStr, ValidationError, validator
from pydantic.env_settings import SettingsError

from lume_services.errors import EnvironmentNotConfiguredError
from lume_services.services.files.service import FileService
from lume_services.services.results.db import ResultsDB
from lume_services.services.results.mongodb import MongodbResultsDBConfig  # light: pymongo is lazy
from lume_services.services.results.service import ResultsDBService
from lume_services.services.scheduling.backends.backend import Backend
from lume_services.services.scheduling.backends.executors import ExecutorConfig
from lume_services.services.scheduling.backends.server import PrefectConfig
from lume_services.services.scheduling.service import SchedulingService

ENV_PREFIX = "LUME_"
ENV_DELIMITER = "__"


class ResultsDBSettings(BaseModel):
    """Which results database stores results.

    Attributes:
        type: ``sqlite`` (embedded, the default) or ``mongodb``.
        path: the SQLite file; ``None`` means ``<home>/results.sqlite``.
        mongodb: MongoDB connection settings for ``type: mongodb``.
    """

    type: Literal["sqlite", "mongodb"] = "sqlite"
    path: Optional[Path] = None
    mongodb: MongodbResultsDBConfig = MongodbResultsDBConfig()


class MountedFilesystemSettings(BaseModel):
    """A host folder mounted into flow containers.

    Attributes:
        mount_path: the folder on the host.
        mount_alias: the path containers see it under.
        identifier: the filesystem identifier files refer to.
    """

    mount_path: str
    mount_alias: str
    identifier: str = "mounted"

    @validator("mount_alias")
    def alias_is_absolute(cls, v):
        """Containers see the mount under an absolute path."""
        if not v.startswith("/"):
            raise ValueError(f"mount_alias {v!r} must be an absolute path, e.g. '/lume/data'")
        return v


class DockerSettings(BaseModel):
    """How container backends (docker, kubernetes) build and run flow images.

    Attributes:
        local_images: build from base images as they are on the engine, never
            pulling them (the only way where no registry is reachable).
        registry_url: a registry flow images are pushed to (``None``: not pushed;
            agents must use the same engine).
        network_mode: the Docker network mode of run containers (``"host"``
            lets them reach services on the host's loopback).
    """

    local_images: bool = True
    registry_url: Optional[str] = None
    network_mode: Optional[str] = None


class LUMEServicesSettings(BaseSettings):
    """All lume-services settings, read from ``LUME_*`` environment variables.

    Nested settings use ``__``: ``LUME_EXECUTOR__TYPE=local_dask``,
    ``LUME_PREFECT__SERVER_HOST=http://prefect``,
    ``LUME_RESULTS_DB__TYPE=mongodb``. See :func:`get_env_vars` for all of them.

    Attributes:
        backend: ``local`` (embedded, default), ``server``, ``docker`` or ``kubernetes``.
        home: where the embedded stores live (``LUME_HOME``, default ``~/.lume_services``).
        executor: the executor local runs use.
        prefect: Prefect 1 Server settings (server backends).
        results_db: the results database.
        mounted_filesystem: a mounted filesystem, when flows run in containers.
        docker: how container backends build and run flow images.
    """

    backend: Literal["local", "server", "docker", "kubernetes"] = "local"
    home: Path = Field(default_factory=lambda: Path("~/.lume_services").expanduser())
    executor: ExecutorConfig = ExecutorConfig()
    prefect: PrefectConfig = PrefectConfig()
    results_db: ResultsDBSettings = ResultsDBSettings()
    mounted_filesystem: Optional[MountedFilesystemSettings] = None
    docker: DockerSettings = DockerSettings()

    class Config:
        env_prefix = ENV_PREFIX
        env_nested_delimiter = ENV_DELIMITER


def get_env_vars(settings_cls=LUMEServicesSettings) -> List[str]:
    """Return the name of every environment variable lume-services reads.

    Nested models are listed both whole (``LUME_EXECUTOR``, a JSON object) and
    field by field (``LUME_EXECUTOR__TYPE``).
    """
    names: List[str] = []

    def walk(model, prefix: str) -> None:
        for field in model.__fields__.values():
            name = f"{prefix}{field.name.upper()}"
            names.append(name)
            sub = field.outer_type_
            if isinstance(sub, type) and issubclass(sub, BaseModel):
                walk(sub, name + ENV_DELIMITER)

    walk(settings_cls, ENV_PREFIX)
    return names


def settings_from_environment() -> LUMEServicesSettings:
    """Read settings from the environment.

    Raises:
        EnvironmentNotConfiguredError: the variables do not form valid settings.
    """
    try:
        return LUMEServicesSettings()
    except (ValidationError, SettingsError) as exc:  # SettingsError: a nested value is not JSON
        raise EnvironmentNotConfiguredError(get_env_vars(), exc) from exc


def build_scheduling_backend(settings: LUMEServicesSettings) -> Backend:
    """Build the scheduling backend the settings name, configured from them.

    ``local`` -> ``LocalBackend``; ``server`` -> ``LocalAgentBackend``;
    ``docker`` -> ``DockerBackend``, whose run containers get the binds and
    ``LUME_*`` environment of :func:`docker_run_container_settings`;
    ``kubernetes`` -> ``KubernetesBackend``. The ``server`` backend's runs
    (processes of a separately started ``LocalAgent``) get the environment of
    :func:`run_environment`. Server backends also point
    Prefect at the server (``PrefectConfig.apply``).
    """
    from lume_services.services.scheduling import backends  # lazy: the server backends' modules

    if settings.backend == "local":
        return backends.LocalBackend(home=settings.home, executor=settings.executor)
    prefect = settings.prefect
    prefect.apply()
    common = dict(config=prefect, poll_interval=prefect.poll_interval, timeout=prefect.run_timeout)
    if settings.backend == "server":
        storage_dir = prefect.storage_dir or Path(settings.home) / "server"
        return backends.LocalAgentBackend(storage_dir=storage_dir, env=run_environment(settings), **common)
    docker = settings.docker
    if settings.backend == "docker":
        volumes, env = docker_run_container_settings(settings)
        return backends.DockerBackend(
            local_images=docker.local_images,
            registry_url=docker.registry_url,
            network_mode=docker.network_mode,
            volumes=volumes,
            env=env,
            results_dir=Path(settings.home) / "docker-results",
            **common,
        )
    return backends.KubernetesBackend(registry_url=docker.registry_url, **common)


def run_environment(settings: LUMEServicesSettings) -> Dict[str, Union[str, SecretStr]]:
    """The ``LUME_*`` environment that makes a flow run on this machine use ``settings``' stores.

    A ``LocalAgent`` is started on its own (``prefect agent local start``),
    with its own environment and home, and its runs build their services from
    ``LUME_*`` variables, as any process does: without this they would save
    results in the agent's ``~/.lume_services`` and the caller would not find
    them. The runs get the results database (the SQLite file's absolute path,
    or the MongoDB settings, the password as a ``SecretStr``) and the mounted
    filesystem, as the caller has them.
    """
    env: Dict[str, Union[str, SecretStr]] = {"LUME_HOME": str(Path(settings.home).expanduser().resolve())}
    mounted = settings.mounted_filesystem
    if mounted is not None:
        env.update(
            LUME_MOUNTED_FILESYSTEM__MOUNT_PATH=str(Path(mounted.mount_path).expanduser().resolve()),
            LUME_MOUNTED_FILESYSTEM__MOUNT_ALIAS=mounted.mount_alias,
            LUME_MOUNTED_FILESYSTEM__IDENTIFIER=mounted.identifier,
        )
    db = settings.results_db
    env["LUME_RESULTS_DB__TYPE"] = db.type
    if db.type == "sqlite":
        env["LUME_RESULTS_DB__PATH"] = str(Path(db.path or Path(settings.home) / "results.sqlite").expanduser().resolve())
    else:
        env.update(_mongodb_environment(db.mongodb))
    return env


def _mongodb_environment(mongodb) -> Dict[str, Union[str, SecretStr]]:
    """``LUME_RESULTS_DB__MONGODB__*`` for a MongoDB results database's settings."""
    prefix = "LUME_RESULTS_DB__MONGODB__"
    env: Dict[str, Union[str, SecretStr]] = {
        prefix + "HOST": mongodb.host,
        prefix + "PORT": str(mongodb.port),
        prefix + "DATABASE": mongodb.database,
    }
    if mongodb.username is not None:
        env[prefix + "USERNAME"] = mongodb.username
    if mongodb.password is not None:
        env[prefix + "PASSWORD"] = mongodb.password
    if mongodb.auth_mechanism is not None:
        env[prefix + "AUTH_MECHANISM"] = mongodb.auth_mechanism
    if mongodb.options:
        env[prefix + "OPTIONS"] = json.dumps(mongodb.options)
    return env


def docker_run_container_settings(
    settings: LUMEServicesSettings,
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
        from lume_services.services.scheduling.backends.docker import CONTAINER_RESULTS_DB_DIR

        folder = volumes.setdefault(str(path.parent), CONTAINER_RESULTS_DB_DIR)
        env["LUME_RESULTS_DB__PATH"] = f"{folder.rstrip('/')}/{path.name}"
    else:
        env.update(_mongodb_environment(db.mongodb))
    return volumes, env


def build_filesystems(settings: LUMEServicesSettings) -> list:
    """Build the filesystems: the local one, and the mounted one when configured."""
    from lume_services.services.files.filesystems import LocalFilesystem, MountedFilesystem

    filesystems = [LocalFilesystem()]
    mounted = settings.mounted_filesystem
    if mounted is not None:
        filesystems.append(
            MountedFilesystem(
                mount_path=mounted.mount_path,
                mount_alias=mounted.mount_alias,
                identifier=mounted.identifier,
            )
        )
    return filesystems


def build_results_db(settings: LUMEServicesSettings):
    """Build the results database the settings name."""
    db = settings.results_db
    if db.type == "mongodb":
        from lume_services.services.results.mongodb import MongodbResultsDB

        return MongodbResultsDB(db.mongodb)
    from lume_services.services.results.sqlite import SQLiteResultsDB

    return SQLiteResultsDB(db.path or Path(settings.home) / "results.sqlite")


#: the lume-services modules whose ``Provide[Context...]`` markers the container fills in
WIRED_MODULES = [
    "lume_services.examples.registration",
    "lume_services.files.file",
    "lume_services.flows.flow",
    "lume_services.flows.flow_of_flows",
    "lume_services.results.result",
    "lume_services.tasks.db",
]


class Context(containers.DeclarativeContainer):
    """The container every lume-services service is injected from.

    The parts that differ between deployments are ``Dependency`` providers
    with the embedded default as their default: the scheduling backend, the
    filesystems and the results database. A deployment passes its own
    (``Context(scheduling_backend=...)``), overrides one
    (``context.results_db.override(...)``, undone by ``reset_override()``) or
    configures all of them from settings (:func:`configure`). The services
    built on them (``scheduling_service``, ``file_service``,
    ``results_db_service``) are thin and made anew for each use, so an
    override takes effect on the next use, also after the service was used.

    Wiring is declared once, here: making the container wires the packages
    in :data:`WIRED_MODULES`. Modules of lume-services import each other
    by module path (``lume_services.files.file``), never through a package's
    ``__init__``, so that wiring can import them while a package is still being imported.
    """

    wiring_config = containers.WiringConfiguration(modules=WIRED_MODULES)

    settings = providers.ThreadSafeSingleton(settings_from_environment)
    config = providers.Configuration()

    scheduling_backend = providers.Dependency(
        instance_of=Backend,
        default=providers.ThreadSafeSingleton(build_scheduling_backend, settings),
    )
    scheduling_service = providers.Factory(SchedulingService, backend=scheduling_backend)

    filesystems = providers.Dependency(
        instance_of=list, default=providers.ThreadSafeSingleton(build_filesystems, settings)
    )
    file_service = providers.Factory(FileService, filesystems)

    results_db = providers.Dependency(
        instance_of=ResultsDB, default=providers.ThreadSafeSingleton(build_results_db, settings)
    )
    results_db_service = providers.Factory(ResultsDBService, results_db)


#: The one container instance the lume-services packages are wired to.
context = Context()


def wire(module: Union[str, ModuleType]) -> None:
    """Wire a module of yours that uses ``Provide[Context...]`` to :data:`context`.

    Call it after the module's ``@inject`` functions are defined: in a script,
    ``config.wire(__name__)`` at its end; in a notebook, again after a cell
    defines new ones (wiring fills in the functions that exist when it runs).
    """
    module = sys.modules[module] if isinstance(module, str) else module
    context.wire(modules=[module])


def configure(settings: Optional[LUMEServicesSettings] = None) -> Context:
    """Configure every service from settings, or from the environment.

    Services built before are dropped; the next use builds them anew. The
    scheduling settings are also applied to Prefect (server backends).

    Args:
        settings: the settings; ``None`` reads ``LUME_*`` environment variables.

    Returns:
        The configured container.

    Raises:
        EnvironmentNotConfiguredError: ``settings`` is ``None`` and the
            environment variables do not form valid settings.
    """
    if settings is None:
        settings = settings_from_environment()
    context.settings.override(providers.Object(settings))
    context.config.from_dict(settings.dict())
    context.reset_singletons()
    return context


def reset() -> None:
    """Forget any configuration: the next use builds services from the environment again."""
    context.settings.reset_override()
    context.reset_singletons()

