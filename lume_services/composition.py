"""The composition root: settings become backends and stores, and one container provides them.

:func:`build_scheduling_backend`, :func:`build_filesystems` and
:func:`build_results_db` turn :class:`~lume_services.settings.LUMEServicesSettings`
into backends and stores, which take plain constructor arguments. Every
service (scheduling, files, results) is provided by one :class:`Context`
container. Functions that need a service declare it with
``Provide[Context.<service>]`` and ``@inject``.

Nothing is made or wired when this module is imported. The container is made
on first use: reading ``lume_services.config.context``, :func:`configure`,
:func:`wire`, or calling one of the package's injected functions. Those are
decorated with this module's :func:`inject` (dependency-injector's ``@inject``,
with a check before the call): the first call of a function of module M wires
M into the current container, making the container if there is none. So a
module is wired by the call that needs it, and only once per container; the
composition root never imports the modules it wires (they import it, for
``Context`` and ``inject``), ``import lume_services.flows.flow`` imports the
flow model and Prefect and no other model, and read-only commands that use a
service import no Prefect. :func:`wire` wires a module of yours.

With no configuration at all the container provides the embedded local
defaults (the local backend, the local filesystem and the SQLite results
database under ``LUME_HOME``), built from the environment the first time a
service is needed. :func:`configure` replaces them from settings; tests and
notebooks may also override a single service, restored when the block ends::

    from lume_services.config import context
    with context.scheduling_service.override(SchedulingService(my_backend)):
        ...
"""

from __future__ import annotations

import functools
import json
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Tuple, TypeVar, Union

from dependency_injector import containers, providers
from dependency_injector.wiring import inject as _di_inject
from pydantic import SecretStr, ValidationError

from lume_services._provided import BACKEND, MODEL_DB, RESULTS_DB  # imported when first checked or made
from lume_services._provided import file_service as _file_service
from lume_services._provided import results_db_service as _results_db_service
from lume_services._provided import scheduling_service as _scheduling_service

if TYPE_CHECKING:  # the settings models are imported when settings are first read
    from lume_services.services.scheduling.backend import Backend
    from lume_services.settings import LUMEServicesSettings

__all__ = [
    "Context",
    "WIRED_MODULES",
    "build_filesystems",
    "build_model_db",
    "build_model_db_service",
    "build_results_db",
    "build_scheduling_backend",
    "configure",
    "current_settings",
    "docker_run_container_settings",
    "inject",
    "mounted_filesystem_of",
    "reset",
    "run_environment",
    "wire",
]


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

    settings.prefect.apply_logging()  # LUME_PREFECT__LOGGING_LEVEL, on every backend
    if settings.backend == "local":
        history = settings.run_history
        # a run timeout applies to local runs when it is set (its default is for servers)
        timeout = settings.prefect.run_timeout if "run_timeout" in settings.prefect.__fields_set__ else None
        return backends.LocalBackend(
            home=settings.home,
            executor=settings.executor,
            record_runs=history.enabled,
            history_path=history.path,
            max_result_bytes=history.max_result_bytes,
            timeout=timeout,
        )
    prefect = settings.prefect
    prefect.apply()
    common = dict(config=prefect, poll_interval=prefect.poll_interval, timeout=prefect.run_timeout)
    if settings.backend == "server":
        storage_dir = prefect.agent.storage_dir or Path(settings.home) / "server"
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
    # runs carry the non-secret settings; the secrets come from the Secret "lume-services"
    env = {k: v for k, v in run_environment(settings).items() if k != "LUME_HOME"}  # the pod has its own
    return backends.KubernetesBackend(registry_url=docker.registry_url, env=env, **common)


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
        prefix + "HOST": _secret_if_masked(prefix + "HOST", mongodb.host),
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
        env[prefix + "OPTIONS"] = _secret_if_masked(prefix + "OPTIONS", json.dumps(mongodb.options))
    return env


def _secret_if_masked(name: str, value: str) -> Union[str, SecretStr]:
    """``value`` as a ``SecretStr`` when the masking rule hides any of it (a URI password, a secret option)."""
    from lume_services.env_vars import secret_field_names
    from lume_services.masking import mask_text

    return SecretStr(value) if mask_text(name, value, secret_field_names()) != value else value


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
            LUME_MOUNTED_FILESYSTEM__MOUNT_TYPE=mounted.mount_type,
        )
    db = settings.results_db
    env["LUME_RESULTS_DB__TYPE"] = db.type
    if db.type == "sqlite":
        path = Path(db.path or Path(settings.home) / "results.sqlite").expanduser().resolve()
        from lume_services.services.scheduling.backends.docker import CONTAINER_RESULTS_DB_DIR
        from lume_services.storage import private_dir

        # made here: a folder the engine creates for a bind belongs to root
        private_dir(path.parent, "results_db")

        folder = volumes.setdefault(str(path.parent), CONTAINER_RESULTS_DB_DIR)
        env["LUME_RESULTS_DB__PATH"] = f"{folder.rstrip('/')}/{path.name}"
    else:
        env.update(_mongodb_environment(db.mongodb))
    return volumes, env


def build_filesystems(settings: LUMEServicesSettings) -> list:
    """Build the filesystems: the local one, and the mounted one when configured."""
    from lume_services.services.files.filesystems.local import LocalFilesystem
    from lume_services.services.files.filesystems.mounted import MountedFilesystem

    filesystems = [LocalFilesystem()]
    mounted = settings.mounted_filesystem
    if mounted is not None:
        filesystems.append(
            MountedFilesystem(
                mount_path=mounted.mount_path,
                mount_alias=mounted.mount_alias,
                identifier=mounted.identifier,
                mount_type=mounted.mount_type,
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


def build_model_db(settings: "LUMEServicesSettings"):
    """Build the model database the settings name: SQLite under ``home``, or a MySQL/MariaDB server."""
    from lume_services.errors import EnvironmentNotConfiguredError
    from lume_services.settings import ModelDBSettings

    db = settings.model_db or ModelDBSettings()
    if db.type == "mysql":
        from lume_services.services.models.db.db import ModelDB, ModelDBConfig

        password = db.password.get_secret_value() if db.password is not None else ""
        connection = {k: v for k, v in db.connection.dict().items() if v is not None}
        try:
            # host, user and database are required here, not by the settings (which read back partial ones)
            config = ModelDBConfig(host=db.host, port=db.port or 3306, user=db.user, password=password,
                                   database=db.database, connection=connection, dialect_str=db.dialect_str)
        except ValidationError as exc:
            from lume_services.env_vars import env_var_names

            raise EnvironmentNotConfiguredError(
                [name for name in env_var_names() if name.startswith("LUME_MODEL_DB")], exc
            ) from exc
        return ModelDB(config)
    from lume_services.services.models.db.sqlite import SQLiteModelDB

    return SQLiteModelDB(db.path or Path(settings.home) / "models.sqlite")


def build_model_db_service(model_db):
    """The model database service on ``model_db`` (SQLAlchemy is imported here, on first use)."""
    from lume_services.services.models.service import ModelDBService

    return ModelDBService(model_db)


#: The lume-services modules whose ``Provide[Context...]`` markers the container fills in. Each is
#: wired by the first call of one of its functions (see :func:`inject`), never imported from here;
#: tests/test_architecture.py checks that this list is what the package's markers say.
WIRED_MODULES = [
    "lume_services.examples.registration",
    "lume_services.files.file",
    "lume_services.flows.flow",
    "lume_services.flows.flow_of_flows",
    "lume_services.models.model",
    "lume_services.results.result",
    "lume_services.tasks.db",
]


def mounted_filesystem_of(filesystems: list):
    """The first ``MountedFilesystem`` of the filesystems, or ``None``."""
    from lume_services.services.files.filesystems.mounted import MountedFilesystem

    return next((fs for fs in filesystems if isinstance(fs, MountedFilesystem)), None)


def _settings_from_environment() -> LUMEServicesSettings:
    """:func:`lume_services.env_vars.settings_from_environment`, imported when first needed.

    The settings models (and the backend settings they are made of) are not
    needed to import the flow models, only to build services.
    """
    from lume_services.env_vars import settings_from_environment

    return settings_from_environment()


class Context(containers.DeclarativeContainer):
    """The container every lume-services service is injected from.

    The parts that differ between deployments are ``Dependency`` providers
    with the embedded default as their default: the scheduling backend, the
    filesystems, the results database and the model database. A deployment passes its own
    (``Context(scheduling_backend=...)``), overrides one
    (``context.results_db.override(...)``, undone by ``reset_override()``) or
    configures all of them from settings (:func:`configure`). The services
    built on them (``scheduling_service``, ``file_service``,
    ``results_db_service``, ``model_db_service``) are thin and made anew for each use, so an
    override takes effect on the next use, also after the service was used.

    Making it wires nothing: a module of :data:`WIRED_MODULES` is wired to
    the one instance (``config.context``) by the first call of one of its
    functions, and a module of yours by :func:`wire`. The instance is made on
    first use (see the module docstring), never when a module is imported.
    """

    settings = providers.ThreadSafeSingleton(_settings_from_environment)
    config = providers.Configuration()

    scheduling_backend = providers.Dependency(
        instance_of=BACKEND,
        default=providers.ThreadSafeSingleton(build_scheduling_backend, settings),
    )
    scheduling_service = providers.Factory(_scheduling_service, backend=scheduling_backend)

    filesystems = providers.Dependency(
        instance_of=list, default=providers.ThreadSafeSingleton(build_filesystems, settings)
    )
    file_service = providers.Factory(_file_service, filesystems)
    #: the mounted filesystem among ``filesystems`` (``None`` when there is none), as in LUME-services
    mounted_filesystem = providers.Callable(mounted_filesystem_of, filesystems)

    results_db = providers.Dependency(
        instance_of=RESULTS_DB,
        default=providers.ThreadSafeSingleton(build_results_db, settings)
    )
    results_db_service = providers.Factory(_results_db_service, results_db)

    model_db = providers.Dependency(
        instance_of=MODEL_DB,
        default=providers.ThreadSafeSingleton(build_model_db, settings)
    )
    model_db_service = providers.Factory(build_model_db_service, model_db)


#: ``_container`` before the first use: the container is made then.
_NOT_MADE_YET: Any = object()

#: The one container instance the lume-services packages are wired to, read as
#: ``lume_services.config.context``. Code written for LUME-services may set it
#: to ``None``; the next use (or :func:`configure`) then makes a new one.
_container: Any = _NOT_MADE_YET
_making = threading.RLock()

#: module name -> the container its ``@inject`` functions are wired to (all wired again when it changes)
_wired_into: Dict[str, Any] = {}

#: The settings of the last :func:`configure` (``None`` before), as in LUME-services.
_settings: Optional[LUMEServicesSettings] = None


def _context() -> Context:
    """The container, made when there is none (the package's modules are wired by their first call)."""
    global _container
    if _container is None or _container is _NOT_MADE_YET:
        with _making:
            if _container is None or _container is _NOT_MADE_YET:
                _container = Context()
                _wire_again(_container)
    return _container


def _current_context() -> Optional[Context]:
    """What ``config.context`` reads: the container, made on first use; ``None`` when code set it to ``None``."""
    return _context() if _container is _NOT_MADE_YET else _container


def _set_context(container: Optional[Context]) -> None:
    """What ``config.context = ...`` does (LUME-services' code sets it to ``None``).

    The modules wired so far are wired to the new container at once (to the
    next one made, after ``None``).
    """
    global _container
    with _making:
        _container = container
        if container is not None:
            _wire_again(container)


def _wire_again(container: Context) -> None:
    """Wire every module wired so far to ``container``, all at once.

    Wiring one module also binds the methods of the classes it imports from
    others (``Flow``'s, for a module that imports ``Flow``), so after a change
    of container each one's record of where it is wired holds only if they
    are all wired again together.
    """
    for name in list(_wired_into):
        container.wire(modules=[sys.modules[name]])
        _wired_into[name] = container


def _set_settings(settings: Optional[LUMEServicesSettings]) -> None:
    global _settings
    _settings = settings


#: classes this module imported before they were provided lazily: imported on first use (PEP 562)
_SERVICE_HOMES = {"Backend": "scheduling.backend", "FileService": "files.service", "ModelDB": "models.db.db",
                  "ResultsDB": "results.db", "ResultsDBService": "results.service",
                  "SchedulingService": "scheduling.service"}


def __getattr__(name: str) -> Any:
    if name == "context":
        return _current_context()
    if name in _SERVICE_HOMES:
        import importlib

        return getattr(importlib.import_module(f"lume_services.services.{_SERVICE_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


F = TypeVar("F", bound=Callable[..., Any])


def inject(fn: F) -> F:
    """dependency-injector's ``@inject`` that wires its module on the first call: for the package's own functions.

    The function is decorated with dependency-injector's ``@inject`` as it
    is: its ``Provide[Context...]`` defaults stay in its signature, and
    wiring fills them in. Wiring needs the container and the module complete,
    neither of which exists when the function is defined, so it happens at
    the first call instead: when the function's module is not wired to the
    current container (none made yet), the call wires it (making the
    container if needed) and is made again, now injected. Modules already
    wired follow a new container at once (:func:`_wire_again`), except after
    ``config.context = None``: then the first call that makes the next
    container still gets its services from the old one. After that a call
    costs one dictionary look-up more than dependency-injector's own.
    """
    module_name = fn.__module__

    @functools.wraps(fn)
    def wired_on_first_call(*args: Any, **kwargs: Any) -> Any:
        if _wired_into.get(module_name) is not _container or _container is None:
            _wire_own_module(module_name)
            return injected(*args, **kwargs)
        return fn(*args, **kwargs)

    injected = _di_inject(wired_on_first_call)
    return injected  # type: ignore[return-value]


def _wire_own_module(module_name: str) -> None:
    """Wire a module of the package to the container (made if needed), once per container."""
    with _making:
        container = _context()
        if _wired_into.get(module_name) is not container:
            container.wire(modules=[sys.modules[module_name]])
            _wired_into[module_name] = container


def wire(module: Union[str, ModuleType]) -> None:
    """Wire a module of yours that uses ``Provide[Context...]`` to ``lume_services.config.context``.

    Call it after the module's ``@inject`` functions are defined: in a script,
    ``config.wire(__name__)`` at its end. In a notebook, call it once (after
    the first cell that defines ``@inject`` functions): from then on the
    notebook is wired again after every cell, so functions defined in later
    cells work from the next cell on (call ``config.wire(__name__)`` again to
    use one in the cell that defines it). The container is made first if
    it was not yet.
    """
    module = sys.modules[module] if isinstance(module, str) else module
    _context().wire(modules=[module])
    _rewire_after_each_cell(module)


_REWIRED_IN_NOTEBOOK: set = set()


def _rewire_after_each_cell(module: ModuleType) -> None:
    """In a Jupyter kernel, wire the notebook again after every cell, so later cells' ``@inject`` functions work.

    Wiring fills in the functions that exist when it runs; a notebook defines
    new ones cell after cell. Only the notebook's own module (``__main__``)
    is re-wired, once per cell.
    """
    if module.__name__ != "__main__" or module.__name__ in _REWIRED_IN_NOTEBOOK:
        return
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return

    def rewire(*_):
        _context().wire(modules=[module])

    shell.events.register("post_run_cell", rewire)
    _REWIRED_IN_NOTEBOOK.add(module.__name__)


def configure(settings: Optional[LUMEServicesSettings] = None) -> Context:
    """Configure every service from settings, or from the environment.

    Services built before are dropped; the next use builds them anew. For
    the server backends (``server``, ``docker``, ``kubernetes``) the Prefect
    settings are applied at once (``PrefectConfig.apply``). When there is no
    container yet, or ``config.context`` was set to ``None`` (as LUME-services'
    code does), a new container is made and wired.

    Args:
        settings: the settings; ``None`` reads ``LUME_*`` environment variables.

    Returns:
        The configured container.

    Raises:
        EnvironmentNotConfiguredError: ``settings`` is ``None`` and the
            environment variables do not form valid settings.
    """
    if settings is None:
        settings = _settings_from_environment()
    container = _context()
    container.settings.override(providers.Object(settings))
    container.config.from_dict(settings.dict())
    container.reset_singletons()
    if settings.backend != "local":
        settings.prefect.apply()
    _set_settings(settings)
    return container


def current_settings() -> LUMEServicesSettings:
    """The settings services are built from: the configured ones, or those of the environment."""
    return _context().settings()


def reset() -> None:
    """Forget any configuration: the next use builds services from the environment again."""
    container = _context()
    container.settings.reset_override()
    container.reset_singletons()
    _set_settings(None)
