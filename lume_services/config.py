"""The composition root: settings, the dependency-injection ``Context``, ``configure()``.

Every service (scheduling, files, results) is provided by one
:class:`Context` container. Functions that need a service declare it with
``Provide[Context.<service>]`` and ``@inject``; the modules that do so are
wired to the one container instance, :data:`context`, when they are imported.

With no configuration at all the container provides the embedded local
defaults (the local backend, the local filesystem and the SQLite results
database under ``LUME_HOME``), built from the environment the first time a
service is needed. :func:`configure` replaces them from settings; tests and
notebooks may also override a single service, restored when the block ends::

    from lume_services.config import context
    with context.scheduling_service.override(SchedulingService(my_backend)):
        ...
"""

import sys
from pathlib import Path
from types import ModuleType
from typing import List, Literal, Optional, Union

from dependency_injector import containers, providers
from pydantic import BaseModel, BaseSettings, Field, SecretStr, ValidationError, validator
from pydantic.env_settings import SettingsError

from lume_services.errors import EnvironmentNotConfiguredError
from lume_services.services.results.db import ResultsDB
from lume_services.services.results.mongodb import MongodbResultsDBConfig  # light: pymongo is lazy
from lume_services.services.scheduling.backends.backend import Backend, ExecutorConfig
from lume_services.services.scheduling.service import SchedulingService

ENV_PREFIX = "LUME_"
ENV_DELIMITER = "__"


class PrefectConfig(BaseModel):
    """Where the Prefect 1 Server and its parts are (server, docker, kubernetes backends).

    lume-services applies these settings to ``prefect.config`` in-process
    (:meth:`apply`), so a script, notebook or test points Prefect's client, its
    tasks (``create_flow_run`` ...) and an agent started from the same process at
    the server without touching ``~/.prefect``. Set ``write_user_config`` to also
    write them to Prefect's user configuration, for Prefect's own CLI.

    Attributes:
        server_host: URL of the host of the Prefect Server's Apollo (GraphQL) endpoint.
        server_port: its port.
        graphql_path: path of the GraphQL endpoint.
        agent_host: host the agent's health server binds.
        agent_port: port of the agent's health server.
        ui_host: host of the Prefect UI.
        ui_port: port of the Prefect UI.
        backend: Prefect's backend kind; lume-services uses ``server``.
        api_key: API key sent to the server, where it needs one (never logged).
        home_dir: Prefect's home directory; ``None`` keeps Prefect's default.
        write_user_config: write these settings to Prefect's user configuration
            (``~/.prefect/backend.toml`` and ``config.toml``) as well (off by default).
        check_timeout: seconds the reachability check waits for the server.
        recheck_interval: seconds a successful reachability check is trusted;
            the next request to the server after that checks again (``0``:
            before every request), so a server that went away is reported in
            seconds rather than after Prefect's minute of retries.
        storage_dir: where the ``server`` backend keeps registered flows and task
            results for a ``LocalAgent`` on this machine; ``None`` means
            ``<LUME_HOME>/server``.
        poll_interval: seconds between looks at a run's state while waiting for
            it, when the run has no ``FlowRunConfig.poll_interval``.
        run_timeout: seconds to wait for a run before cancelling it; ``None``
            waits without limit.
    """

    server_host: str = "http://localhost"
    server_port: int = 4200
    graphql_path: str = "/graphql"
    agent_host: str = "http://localhost"
    agent_port: int = 5000
    ui_host: str = "http://localhost"
    ui_port: int = 8080
    backend: Literal["server"] = "server"
    api_key: Optional[SecretStr] = None
    home_dir: Optional[str] = None
    write_user_config: bool = False
    check_timeout: float = Field(3.0, gt=0)
    recheck_interval: float = Field(30.0, ge=0)
    storage_dir: Optional[str] = None
    poll_interval: float = Field(1.0, gt=0)
    run_timeout: Optional[float] = Field(3600.0, gt=0)

    @property
    def api_url(self) -> str:
        """The server's GraphQL URL, e.g. ``http://localhost:4200/graphql``."""
        return f"{self.server_host.rstrip('/')}:{self.server_port}{self.graphql_path}"

    @property
    def agent_address(self) -> str:
        """The address of the agent's health server, e.g. ``http://localhost:5000``."""
        return f"{self.agent_host.rstrip('/')}:{self.agent_port}"

    @property
    def ui_url(self) -> str:
        """The Prefect UI's URL, e.g. ``http://localhost:8080``."""
        return f"{self.ui_host.rstrip('/')}:{self.ui_port}"

    def apply(self) -> None:
        """Point Prefect (``prefect.config``) at this server, in this process.

        Sets the backend, the server endpoint (which Prefect's client reads as
        ``cloud.api``), the API key, the UI endpoint and, when given, Prefect's
        home directory. Writes Prefect's user configuration only when
        ``write_user_config`` is set.
        """
        import prefect  # lazy: only server backends need Prefect's config

        for cfg in {id(c): c for c in (prefect.config, prefect.context.config)}.values():
            cfg.backend = self.backend
            cfg.server.host = self.server_host
            cfg.server.port = self.server_port
            cfg.server.endpoint = self.api_url
            cfg.server.ui.endpoint = self.ui_url
            cfg.server.ui.apollo_url = self.api_url
            cfg.cloud.api = self.api_url
            cfg.cloud.graphql = self.api_url
            cfg.cloud.api_key = self.api_key.get_secret_value() if self.api_key else None
            if self.home_dir:
                cfg.home_dir = str(Path(self.home_dir).expanduser())
        if self.write_user_config:
            self.write_prefect_user_config()

    def write_prefect_user_config(self) -> Path:
        """Write the backend and endpoint to Prefect's user configuration.

        Returns:
            The directory written (Prefect's home, ``~/.prefect`` by default).
        """
        import toml

        home = Path(self.home_dir or "~/.prefect").expanduser()
        home.mkdir(parents=True, exist_ok=True)
        (home / "backend.toml").write_text(toml.dumps({"backend": self.backend}))
        config_path = home / "config.toml"
        user = toml.loads(config_path.read_text()) if config_path.exists() else {}
        server = user.setdefault("server", {})
        server.update(host=self.server_host, port=self.server_port, endpoint=self.api_url)
        server.setdefault("ui", {}).update(endpoint=self.ui_url, apollo_url=self.api_url)
        config_path.write_text(toml.dumps(user))
        return home

    def check_reachable(self) -> None:
        """Check, within ``check_timeout`` seconds, that the GraphQL endpoint answers.

        Prefect's client retries a refused connection for about a minute; this
        check fails fast instead.

        Raises:
            ServerUnreachableError: no answer, naming the URL.
        """
        import requests  # lazy: requests is a Prefect dependency

        from lume_services.errors import ServerUnreachableError

        try:
            response = requests.post(
                self.api_url,
                json={"query": "query { hello }", "variables": None},
                timeout=self.check_timeout,
            )
        except requests.RequestException as exc:
            reason = type(exc).__name__
            detail = str(exc.args[0]) if exc.args else ""
            if "refused" in detail.lower():
                reason = "connection refused"
            raise ServerUnreachableError(self.api_url, reason, self.check_timeout) from None
        if response.status_code >= 500 or response.status_code == 404:
            raise ServerUnreachableError(
                self.api_url, f"HTTP {response.status_code} from the endpoint", self.check_timeout
            )


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
    """

    backend: Literal["local", "server", "docker", "kubernetes"] = "local"
    home: Path = Field(default_factory=lambda: Path("~/.lume_services").expanduser())
    executor: ExecutorConfig = ExecutorConfig()
    prefect: PrefectConfig = PrefectConfig()
    results_db: ResultsDBSettings = ResultsDBSettings()
    mounted_filesystem: Optional[MountedFilesystemSettings] = None

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
    """Build the scheduling backend the settings name."""
    if settings.backend == "local":
        from lume_services.services.scheduling.backends.local import LocalBackend

        return LocalBackend(home=settings.home, executor=settings.executor)
    from lume_services.services.scheduling.backends import server  # lazy: Prefect client

    return server.backend_from_settings(settings)


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


def _file_service(filesystems):
    from lume_services.services.files.service import FileService

    return FileService(filesystems)


def _results_db_service(results_db):
    from lume_services.services.results.service import ResultsDBService

    return ResultsDBService(results_db)


class Context(containers.DeclarativeContainer):
    """The container every lume-services service is injected from.

    Each service is a ``Dependency`` with the embedded default as its default,
    so a deployment can pass its own (``Context(scheduling_backend=...)``),
    override one (``context.results_db_service.override(...)``) or configure all of
    them from settings (:func:`configure`).
    """

    settings = providers.ThreadSafeSingleton(settings_from_environment)
    config = providers.Configuration()

    scheduling_backend = providers.Dependency(
        instance_of=Backend,
        default=providers.ThreadSafeSingleton(build_scheduling_backend, settings),
    )
    scheduling_service = providers.ThreadSafeSingleton(SchedulingService, backend=scheduling_backend)

    filesystems = providers.Dependency(
        instance_of=list, default=providers.ThreadSafeSingleton(build_filesystems, settings)
    )
    file_service = providers.ThreadSafeSingleton(_file_service, filesystems)

    results_db = providers.Dependency(
        instance_of=ResultsDB, default=providers.ThreadSafeSingleton(build_results_db, settings)
    )
    results_db_service = providers.ThreadSafeSingleton(_results_db_service, results_db)


#: The one container instance the lume-services modules are wired to.
context = Context()

_wired_modules: List[str] = []


def wire(module: Union[str, ModuleType]) -> None:
    """Wire a module that uses ``Provide[Context...]`` to :data:`context`.

    lume-services modules call this at their end; a user module with its own
    ``@inject`` functions may call it too.
    """
    module = sys.modules[module] if isinstance(module, str) else module
    if module.__name__ not in _wired_modules:
        _wired_modules.append(module.__name__)
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

