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
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, List, Literal, Optional, Tuple, Union

from dependency_injector import containers, providers
from pydantic import BaseModel, BaseSettings, Extra, Field, SecretStr, ValidationError, root_validator, validator
from pydantic.env_settings import SettingsError
from pydantic.fields import SHAPE_DICT, SHAPE_MAPPING

from lume_services.errors import EnvironmentNotConfiguredError
from lume_services.services.files.service import FileService
from lume_services.services.models.db.db import ModelDB  # light: SQLAlchemy is imported on first use
from lume_services.services.results.db import ResultsDB
from lume_services.services.results.mongodb import MongodbResultsDBConfig  # light: pymongo is lazy
from lume_services.services.results.service import ResultsDBService
from lume_services.services.scheduling.backend import Backend
from lume_services.services.scheduling.backends.local.executors import ExecutorConfig
from lume_services.services.scheduling.backends.server.prefect_config import PrefectConfig
from lume_services.services.scheduling.service import SchedulingService
from lume_services.storage import private_dir

ENV_PREFIX = "LUME_"
ENV_DELIMITER = "__"


#: the connection fields of LUME-services' ``results_db`` settings (a ``MongodbResultsDBConfig``)
_MONGODB_FIELDS = {"host", "port", "username", "password", "database", "authMechanism",
                   "authmechanism", "auth_mechanism", "options"}


class ResultsDBSettings(BaseModel):
    """Which results database stores results.

    LUME-services' own shape is accepted too: a ``MongodbResultsDBConfig``, or
    its fields directly under ``results_db`` (``LUME_RESULTS_DB__HOST``,
    ``LUME_RESULTS_DB__USERNAME``, ...), mean ``type: mongodb`` with that
    connection; its fields are also readable here (``settings.results_db.host``).

    Attributes:
        type: ``sqlite`` (embedded, the default) or ``mongodb``.
        path: the SQLite file; ``None`` means ``<home>/results.sqlite``.
        mongodb: MongoDB connection settings, required for ``type: mongodb``.
    """

    type: Literal["sqlite", "mongodb"] = "sqlite"
    path: Optional[Path] = None
    mongodb: Optional[MongodbResultsDBConfig] = None

    class Config:
        extra = Extra.forbid

    @root_validator(pre=True)
    def accept_lume_services_shape(cls, values):
        """Read a MongoDB connection given directly, as LUME-services' settings give it."""
        if isinstance(values, MongodbResultsDBConfig):
            return {"type": "mongodb", "mongodb": values}
        values = dict(values)
        flat = {key: values.pop(key) for key in list(values) if key in _MONGODB_FIELDS}
        if flat:
            values.setdefault("type", "mongodb")
            given = values.get("mongodb") or {}
            if isinstance(given, BaseModel):
                given = given.dict(exclude_unset=True)
            values["mongodb"] = {**flat, **given}
        return values

    @root_validator(skip_on_failure=True)
    def mongodb_needs_a_connection(cls, values):
        """``type: mongodb`` needs the connection settings."""
        if values["type"] == "mongodb" and values.get("mongodb") is None:
            raise ValueError(
                "results_db type 'mongodb' needs its connection: set LUME_RESULTS_DB__MONGODB__HOST, "
                "__PORT, __USERNAME and __PASSWORD (or LUME_RESULTS_DB__HOST, ... as in LUME-services)"
            )
        return values

    def _mongodb(self, name: str):
        return None if self.mongodb is None else getattr(self.mongodb, name)

    host = property(lambda self: self._mongodb("host"), doc="The MongoDB host (LUME-services' ``results_db.host``).")
    port = property(lambda self: self._mongodb("port"), doc="The MongoDB port.")
    username = property(lambda self: self._mongodb("username"), doc="The MongoDB user.")
    password = property(lambda self: self._mongodb("password"), doc="The MongoDB password (a ``SecretStr``).")
    database = property(lambda self: self._mongodb("database"), doc="The MongoDB database.")


class MountedFilesystemSettings(BaseModel):
    """A host folder mounted into flow containers.

    A ``MountedFilesystem`` is accepted too, as LUME-services' settings take one.

    Attributes:
        mount_path: the folder on the host.
        mount_alias: the path containers see it under.
        identifier: the filesystem identifier files refer to.
        mount_type: ``DirectoryOrCreate`` (the folder is created when missing)
            or ``Directory`` (it must exist), as Kubernetes' hostPath types.
    """

    mount_path: str
    mount_alias: str
    identifier: str = "mounted"
    mount_type: Literal["Directory", "DirectoryOrCreate"] = "DirectoryOrCreate"

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


class RunHistorySettings(BaseModel):
    """The local backend's run history.

    Attributes:
        enabled: record every run of the local backend (``LUME_RUN_HISTORY__ENABLED=false``
            turns recording off; what was recorded can still be read).
        path: the history file; ``None`` means ``<home>/history/runs.sqlite``.
        max_result_bytes: the largest task result (as JSON) kept as a value;
            larger ones are noted by type.
    """

    enabled: bool = True
    path: Optional[Path] = None
    max_result_bytes: int = Field(16 * 1024, ge=0)


class ModelDBConnectionSettings(BaseModel):
    """How the model database's engine keeps its connections (MySQL/MariaDB).

    Attributes:
        pool_size: connections kept in the pool.
        pool_pre_ping: test a connection before each use.
    """

    pool_size: Optional[int] = None
    pool_pre_ping: Optional[bool] = None

    class Config:
        extra = Extra.allow


class ModelDBSettings(BaseModel):
    """Which model database stores models, deployments, projects and their flows.

    With no host it is the embedded SQLite file under ``LUME_HOME``; with
    LUME-services' settings (``LUME_MODEL_DB__HOST``, ``__PORT``, ``__USER``,
    ``__PASSWORD``, ``__DATABASE``, or a ``ModelDBConfig``) a MySQL/MariaDB
    server, reached through pymysql.

    Attributes:
        type: ``sqlite`` or ``mysql``; unset, ``mysql`` when a host is set, else ``sqlite``.
        path: the SQLite file; ``None`` means ``<home>/models.sqlite``.
        host: the MySQL/MariaDB host.
        port: its port (3306 when unset).
        user: the user.
        password: the password (a ``SecretStr``).
        database: the database name.
        connection: the connection pool.
        dialect_str: SQLAlchemy's dialect and driver for the server.
    """

    type: Optional[Literal["sqlite", "mysql"]] = None
    path: Optional[Path] = None
    host: Optional[str] = None
    port: Optional[int] = None
    user: Optional[str] = None
    password: Optional[SecretStr] = None
    database: Optional[str] = None
    connection: ModelDBConnectionSettings = ModelDBConnectionSettings()
    dialect_str: str = "mysql+pymysql"

    class Config:
        extra = Extra.allow

    @root_validator(skip_on_failure=True)
    def type_from_host(cls, values):
        """Unset, the type is ``mysql`` when a host is set (LUME-services' variables), else ``sqlite``."""
        values["type"] = values.get("type") or ("mysql" if values.get("host") else "sqlite")
        return values


def build_model_db(settings: "LUMEServicesSettings"):
    """Build the model database the settings name: SQLite under ``home``, or a MySQL/MariaDB server."""
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


class LUMEServicesSettings(BaseSettings):
    """All lume-services settings, read from ``LUME_*`` environment variables.

    Nested settings use ``__``: ``LUME_EXECUTOR__TYPE=local_dask``,
    ``LUME_PREFECT__SERVER__HOST=http://prefect``,
    ``LUME_RESULTS_DB__TYPE=mongodb``. See :func:`env_var_names` for all of
    them, and docs/environment.md (made by :func:`env_vars_markdown`).

    Attributes:
        backend: ``local`` (embedded, default), ``server``, ``docker`` or ``kubernetes``.
        home: where the embedded stores live (``LUME_HOME``, default ``~/.lume_services``).
        executor: the executor local runs use.
        prefect: Prefect 1 Server settings (server backends).
        results_db: the results database.
        mounted_filesystem: a mounted filesystem, when flows run in containers.
        docker: how container backends build and run flow images.
        run_history: the local backend's run history.
        model_db: the model database (``None``: the embedded SQLite file under ``home``).
    """

    backend: Literal["local", "server", "docker", "kubernetes"] = "local"
    home: Path = Field(default_factory=lambda: Path("~/.lume_services").expanduser())
    executor: ExecutorConfig = ExecutorConfig()
    prefect: PrefectConfig = PrefectConfig()
    results_db: ResultsDBSettings = ResultsDBSettings()
    mounted_filesystem: Optional[MountedFilesystemSettings] = None
    docker: DockerSettings = DockerSettings()
    run_history: RunHistorySettings = RunHistorySettings()
    model_db: Optional[ModelDBSettings] = None

    class Config:
        env_prefix = ENV_PREFIX
        env_nested_delimiter = ENV_DELIMITER
        validate_assignment = True

    @validator("mounted_filesystem", pre=True)
    def accept_a_filesystem(cls, v):
        """Take the settings of a ``MountedFilesystem`` given in their place, as LUME-services' settings take one."""
        from lume_services.services.files.filesystems.mounted import MountedFilesystem

        if isinstance(v, MountedFilesystem):
            return {"mount_path": v.mount_path, "mount_alias": v.mount_alias,
                    "identifier": v.identifier, "mount_type": v.mount_type}
        return v

    @validator("model_db", pre=True)
    def model_db_as_data(cls, v):
        """Take LUME-services' ``ModelDBConfig`` (or any settings object) by its values, its password too."""
        if isinstance(v, BaseModel) and not isinstance(v, ModelDBSettings):
            values = v.dict()
            if getattr(v, "password", None) is not None:  # ModelDBConfig leaves it out of dict()
                values["password"] = v.password
            return values
        return v


def _model_of(field) -> Optional[type]:
    sub = field.type_
    return sub if isinstance(sub, type) and issubclass(sub, BaseModel) else None


def env_var_names(settings_cls=LUMEServicesSettings) -> List[str]:
    """Return the name of every environment variable lume-services reads.

    Nested models are listed both whole (``LUME_EXECUTOR``, a JSON object) and
    field by field (``LUME_EXECUTOR__TYPE``).
    """
    names: List[str] = []

    def walk(model, prefix: str) -> None:
        for field in model.__fields__.values():
            name = f"{prefix}{field.name.upper()}"
            names.append(name)
            sub = _model_of(field)
            if sub is not None:
                walk(sub, name + ENV_DELIMITER)

    walk(settings_cls, ENV_PREFIX)
    return names


def get_env_vars(settings: type = LUMEServicesSettings) -> Dict[str, List[str]]:
    """Return the environment variables of the settings, grouped as LUME-services groups them.

    Returns:
        ``{"base": [top-level variables], "<section>": [its field variables], ...}``,
        e.g. ``{"base": ["LUME_BACKEND", ...], "prefect": ["LUME_PREFECT__SERVER__HOST", ...]}``.
    """
    groups: Dict[str, List[str]] = {"base": []}

    def leaves(model, prefix: str) -> List[str]:
        names = []
        for field in model.__fields__.values():
            name = f"{prefix}{field.name.upper()}"
            sub = _model_of(field)
            names.extend([name] if sub is None else leaves(sub, name + ENV_DELIMITER))
        return names

    for field in settings.__fields__.values():
        name = f"{ENV_PREFIX}{field.name.upper()}"
        sub = _model_of(field)
        if sub is None:
            groups["base"].append(name)
        else:
            groups[field.name] = leaves(sub, name + ENV_DELIMITER)
    return groups


def list_env_vars(
    schema: Optional[dict] = None,
    prefix: str = ENV_PREFIX,
    delimiter: str = ENV_DELIMITER,
) -> Dict[str, List[str]]:
    """LUME-services' first name of :func:`get_env_vars`; the same groups.

    Args:
        schema: accepted for LUME-services' signature; the variables are always
            those of ``LUMEServicesSettings``.
        prefix: accepted for LUME-services' signature (always ``LUME_``).
        delimiter: accepted for LUME-services' signature (always ``__``).
    """
    return get_env_vars(LUMEServicesSettings)


_ATTRIBUTE = re.compile(r"^\s{8}(\w+): (.*)$")


def _attribute_docs(model: type) -> Dict[str, str]:
    """``{field: description}`` from the ``Attributes:`` section of a model's docstring."""
    docs: Dict[str, str] = {}
    lines = (model.__doc__ or "").splitlines()
    current = None
    inside = False
    for line in lines:
        if line.strip() == "Attributes:":
            inside = True
            continue
        if not inside:
            continue
        match = _ATTRIBUTE.match(line)
        if match:
            current = match.group(1)
            docs[current] = match.group(2).strip()
        elif current and line.startswith(" " * 12) and line.strip():
            docs[current] += " " + line.strip()
        elif line.strip() and not line.startswith(" " * 8):
            break
    return docs


def _default_text(field) -> str:
    if field.required:
        return "required"
    default = field.get_default()
    if isinstance(default, BaseModel) or default is None:
        return ""
    if isinstance(default, Path) and str(default).startswith(str(Path.home())):
        default = "~" + str(default)[len(str(Path.home())):]
    return f"`{default}`"


def env_vars_markdown(settings_cls=LUMEServicesSettings) -> str:
    """Return the table of every ``LUME_*`` variable, made from the settings models.

    docs/environment.md is this text; a test checks that it is current.
    """
    rows = ["| variable | default | meaning |", "|---|---|---|"]

    def walk(model, prefix: str) -> None:
        docs = _attribute_docs(model)
        for field in model.__fields__.values():
            name = f"{prefix}{field.name.upper()}"
            sub = _model_of(field)
            meaning = docs.get(field.name, "").replace("``", "`").replace("|", "\\|")
            if sub is not None:
                rows.append(f"| `{name}` | | {meaning} Whole, as a JSON object, or by the variables below. |")
                walk(sub, name + ENV_DELIMITER)
            else:
                rows.append(f"| `{name}` | {_default_text(field)} | {meaning} |")

    walk(settings_cls, ENV_PREFIX)
    return "\n".join(rows) + "\n"


def secret_field_names(settings_cls=LUMEServicesSettings) -> List[str]:
    """The names of the settings fields that hold secrets (typed ``SecretStr``), at any depth."""
    names: List[str] = []

    def walk(model) -> None:
        for field in model.__fields__.values():
            sub = field.outer_type_
            if sub is SecretStr or field.type_ is SecretStr:
                names.append(field.name)
            elif isinstance(sub, type) and issubclass(sub, BaseModel):
                walk(sub)

    walk(settings_cls)
    return sorted(set(names))


def shown_env_value(name: str, value: str) -> str:
    """An environment variable's value as ``lume-services env`` may print it: every secret masked.

    Secret fields (``LUME_PREFECT__API_KEY``), secrets inside whole-JSON
    variables (``LUME_PREFECT='{"api_key": ...}'``, ``..._MONGODB__OPTIONS``) and
    passwords in URIs (``mongodb://user:pass@host``) are shown as ``**********``;
    a variable that is a secret as a whole as ``(set)``.
    """
    from lume_services.masking import MASK, mask_text

    shown = mask_text(name, value, secret_field_names())
    return "(set)" if shown == MASK else shown


#: ``LUME_*`` variables read by other parts than the settings (the CLI's traceback switch).
OTHER_ENV_VARS = ("LUME_DEBUG",)


def warn_unknown_env_vars(environ=None) -> List[str]:
    """Warn of each ``LUME_*`` variable that is no setting, naming the closest one; return them.

    Variables below a field that is a mapping (``LUME_RESULTS_DB__MONGODB__OPTIONS__TLS``) are settings.
    """
    import difflib
    import os
    import warnings

    from lume_services.errors import UnknownSettingWarning

    environ = os.environ if environ is None else environ
    known = set(env_var_names()) | set(OTHER_ENV_VARS)
    mappings = tuple(f"{name}{ENV_DELIMITER}" for name in _mapping_env_vars())
    unknown = [
        name for name in environ
        if name.upper().startswith(ENV_PREFIX) and name.upper() not in known and not name.upper().startswith(mappings)
    ]
    for name in sorted(unknown):
        close = difflib.get_close_matches(name.upper(), sorted(known), n=1, cutoff=0.75)
        warnings.warn(UnknownSettingWarning(name, close[0] if close else None), stacklevel=2)
    return unknown


def _mapping_env_vars(settings_cls=LUMEServicesSettings) -> List[str]:
    names: List[str] = []

    def walk(model, prefix: str) -> None:
        for field in model.__fields__.values():
            name = f"{prefix}{field.name.upper()}"
            sub = field.outer_type_
            if isinstance(sub, type) and issubclass(sub, BaseModel):
                walk(sub, name + ENV_DELIMITER)
            elif field.shape in (SHAPE_DICT, SHAPE_MAPPING):
                names.append(name)

    walk(settings_cls, ENV_PREFIX)
    return names


def settings_from_environment() -> LUMEServicesSettings:
    """Read settings from the environment.

    A ``LUME_*`` variable that is no setting is reported with an
    :class:`~lume_services.errors.UnknownSettingWarning` naming the closest one.

    Raises:
        EnvironmentNotConfiguredError: the variables do not form valid settings
            (an invalid port, a host without its scheme, ...).
    """
    warn_unknown_env_vars()
    try:
        return LUMEServicesSettings()
    except (ValidationError, SettingsError) as exc:  # SettingsError: a nested value is not JSON
        raise EnvironmentNotConfiguredError(env_var_names(), exc) from exc


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
    from lume_services.masking import mask_text

    prefix = "LUME_RESULTS_DB__MONGODB__"
    env: Dict[str, Union[str, SecretStr]] = {
        prefix + "HOST": _secret_if_masked(prefix + "HOST", mongodb.host, mask_text),
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
        env[prefix + "OPTIONS"] = _secret_if_masked(prefix + "OPTIONS", json.dumps(mongodb.options), mask_text)
    return env


def _secret_if_masked(name: str, value: str, mask_text) -> Union[str, SecretStr]:
    """``value`` as a ``SecretStr`` when the masking rule hides any of it (a URI password, a secret option)."""
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
        # made here: a folder the engine creates for a bind belongs to root
        private_dir(path.parent, "results_db")
        from lume_services.services.scheduling.backends.docker import CONTAINER_RESULTS_DB_DIR

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


#: the lume-services modules whose ``Provide[Context...]`` markers the container fills in
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
    #: the mounted filesystem among ``filesystems`` (``None`` when there is none), as in LUME-services
    mounted_filesystem = providers.Callable(mounted_filesystem_of, filesystems)

    results_db = providers.Dependency(
        instance_of=ResultsDB, default=providers.ThreadSafeSingleton(build_results_db, settings)
    )
    results_db_service = providers.Factory(ResultsDBService, results_db)

    model_db = providers.Dependency(
        instance_of=ModelDB, default=providers.ThreadSafeSingleton(build_model_db, settings)
    )
    model_db_service = providers.Factory(build_model_db_service, model_db)


#: The one container instance the lume-services packages are wired to. Code
#: written for LUME-services may set it to ``None``; :func:`configure` then makes
#: a new one (wired to the packages again).
context: Optional[Context] = Context()

#: The settings of the last :func:`configure` (``None`` before), as in LUME-services.
_settings: Optional[LUMEServicesSettings] = None


def _context() -> Context:
    global context
    if context is None:
        context = Context()
    return context


def wire(module: Union[str, ModuleType]) -> None:
    """Wire a module of yours that uses ``Provide[Context...]`` to :data:`context`.

    Call it after the module's ``@inject`` functions are defined: in a script,
    ``config.wire(__name__)`` at its end. In a notebook, call it once (after
    the first cell that defines ``@inject`` functions): from then on the
    notebook is wired again after every cell, so functions defined in later
    cells work from the next cell on (call ``config.wire(__name__)`` again to
    use one in the cell that defines it).
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
    settings are applied at once (``PrefectConfig.apply``). When
    ``config.context`` was set to ``None`` (as LUME-services' code does), a new
    container is made and wired.

    Args:
        settings: the settings; ``None`` reads ``LUME_*`` environment variables.

    Returns:
        The configured container.

    Raises:
        EnvironmentNotConfiguredError: ``settings`` is ``None`` and the
            environment variables do not form valid settings.
    """
    global _settings
    if settings is None:
        settings = settings_from_environment()
    container = _context()
    container.settings.override(providers.Object(settings))
    container.config.from_dict(settings.dict())
    container.reset_singletons()
    if settings.backend != "local":
        settings.prefect.apply()
    _settings = settings
    return container


def current_settings() -> LUMEServicesSettings:
    """The settings services are built from: the configured ones, or those of the environment."""
    return _context().settings()


def reset() -> None:
    """Forget any configuration: the next use builds services from the environment again."""
    global _settings
    container = _context()
    container.settings.reset_override()
    container.reset_singletons()
    _settings = None

