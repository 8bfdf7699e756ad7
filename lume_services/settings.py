"""The settings schema: every lume-services setting as a pydantic model, read from ``LUME_*`` variables.

:class:`LUMEServicesSettings` is the whole of them; the models beside it are
its sections. Which variables exist, how they are documented and how their
values are shown is in :mod:`lume_services.env_vars`; what the settings are
turned into (backends, stores, the container) in :mod:`lume_services.composition`.
Both, and this module, are read through their public face ``lume_services.config``.
"""

from pathlib import Path
from typing import Literal, Optional

from pydantic import BaseModel, BaseSettings, Extra, Field, SecretStr, root_validator, validator

from lume_services.services.results.mongodb import MongodbResultsDBConfig  # light: pymongo is lazy
from lume_services.services.scheduling.backends.local.executors import ExecutorConfig
from lume_services.services.scheduling.backends.server.prefect_config import PrefectConfig

__all__ = [
    "ENV_DELIMITER",
    "ENV_PREFIX",
    "DockerSettings",
    "ExecutorConfig",
    "LUMEServicesSettings",
    "ModelDBConnectionSettings",
    "ModelDBSettings",
    "MountedFilesystemSettings",
    "PrefectConfig",
    "ResultsDBSettings",
    "RunHistorySettings",
]

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

        @classmethod
        def customise_sources(cls, init_settings, env_settings, file_secret_settings):
            # what the environment gives, less what no setting is: a misspelled nested
            # variable (LUME_RESULTS_DB__MONGODB__HOTS) is warned about as ignored, so it
            # must be ignored, not make an empty MongoDB section that fails validation
            def known_env_settings(settings):
                return _known(env_settings(settings), type(settings))

            return init_settings, known_env_settings, file_secret_settings

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


def _known(values: dict, model: type) -> dict:
    """``values`` (nested dicts from ``LUME_*`` variables) less every key that is not a field of ``model``.

    A nested section left with nothing known is dropped whole, as if its variables were not set.
    """
    # a section that reads names of its own before validation (LUME-services' flat names, such
    # as LUME_RESULTS_DB__HOST) keeps what it does not know as a field: it may translate it
    translates = bool(getattr(model, "__pre_root_validators__", None))
    kept = {}
    for key, value in values.items():
        field = model.__fields__.get(key)
        if field is None:
            if translates:
                kept[key] = value
            continue  # named by UnknownSettingWarning
        sub = field.outer_type_ if isinstance(field.outer_type_, type) else field.type_
        if isinstance(value, dict) and isinstance(sub, type) and issubclass(sub, BaseModel):
            names = {n.lower() for f in sub.__fields__.values() for n in (f.name, f.alias)}
            if field.default is None and not field.required and not any(k.lower() in names for k in value):
                continue  # an optional section only misspelled variables would make: it is not there
            value = _known(value, sub)
            if not value:
                continue
        kept[key] = value
    return kept
