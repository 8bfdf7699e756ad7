"""Settings and the dependency-injection ``Context``: the public face of the composition root.

Everything LUME-services' ``lume_services.config`` has is here (``Context``,
``LUMEServicesSettings``, ``configure``, ``context``, ``_settings``,
``list_env_vars``, ``get_env_vars``), with the rest of the root's public
names. They live in three modules, one job each:

- :mod:`lume_services.settings`: the settings schema (``LUMEServicesSettings``
  and its sections);
- :mod:`lume_services.env_vars`: the ``LUME_*`` variable table derived from it
  (names, docs/environment.md, masking for ``lume-services env``, unknown
  variables) and :func:`settings_from_environment`;
- :mod:`lume_services.composition`: the builders, the ``Context`` container,
  ``configure``, ``wire``.

Importing this module makes no container and wires nothing: ``context`` is
made on first use (reading it here, :func:`configure`, :func:`wire`, or
calling a function of the package that injects a service). Setting
``config.context = None``, as LUME-services' code does, makes the next use
make a new container.
"""

import sys
import types

from lume_services import composition as _composition
from lume_services.composition import (
    WIRED_MODULES,
    Context,
    build_filesystems,
    build_model_db,
    build_model_db_service,
    build_results_db,
    build_scheduling_backend,
    configure,
    current_settings,
    docker_run_container_settings,
    inject,
    mounted_filesystem_of,
    reset,
    run_environment,
    wire,
)
from lume_services.composition import _context, _mongodb_environment  # noqa: F401 (as in the one-file root)
from lume_services.env_vars import (
    OTHER_ENV_VARS,
    env_var_names,
    env_vars_markdown,
    get_env_vars,
    list_env_vars,
    secret_field_names,
    settings_from_environment,
    shown_env_value,
    warn_unknown_env_vars,
)
from lume_services.errors import EnvironmentNotConfiguredError
from lume_services.services.files.service import FileService
from lume_services.services.models.db.db import ModelDB
from lume_services.services.results.db import ResultsDB
from lume_services.services.results.service import ResultsDBService
from lume_services.services.scheduling.backend import Backend
from lume_services.services.scheduling.service import SchedulingService
from lume_services.settings import (
    ENV_DELIMITER,
    ENV_PREFIX,
    DockerSettings,
    ExecutorConfig,
    LUMEServicesSettings,
    ModelDBConnectionSettings,
    ModelDBSettings,
    MongodbResultsDBConfig,
    MountedFilesystemSettings,
    PrefectConfig,
    ResultsDBSettings,
    RunHistorySettings,
)

__all__ = [
    "Backend",
    "Context",
    "DockerSettings",
    "ENV_DELIMITER",
    "ENV_PREFIX",
    "EnvironmentNotConfiguredError",
    "ExecutorConfig",
    "FileService",
    "LUMEServicesSettings",
    "ModelDB",
    "ModelDBConnectionSettings",
    "ModelDBSettings",
    "MongodbResultsDBConfig",
    "MountedFilesystemSettings",
    "OTHER_ENV_VARS",
    "PrefectConfig",
    "ResultsDB",
    "ResultsDBService",
    "ResultsDBSettings",
    "RunHistorySettings",
    "SchedulingService",
    "WIRED_MODULES",
    "build_filesystems",
    "build_model_db",
    "build_model_db_service",
    "build_results_db",
    "build_scheduling_backend",
    "configure",
    "context",
    "current_settings",
    "docker_run_container_settings",
    "env_var_names",
    "env_vars_markdown",
    "get_env_vars",
    "inject",
    "list_env_vars",
    "mounted_filesystem_of",
    "reset",
    "run_environment",
    "secret_field_names",
    "settings_from_environment",
    "shown_env_value",
    "warn_unknown_env_vars",
    "wire",
]



class _ConfigModule(types.ModuleType):
    """This module, with ``context`` and ``_settings`` read from and written to the composition root.

    A module attribute cannot be computed on first read and still be
    assignable (``config.context = None`` is LUME-services' way to ask for a
    new container), so these two are properties of the module's class; their
    state lives in :mod:`lume_services.composition`.
    """

    @property
    def context(self):
        """The container the package's functions are wired to (made on first read), or ``None`` when set so."""
        return _composition._current_context()

    @context.setter
    def context(self, container) -> None:
        _composition._set_context(container)

    @property
    def _settings(self):
        """The settings of the last :func:`configure` (``None`` before), as in LUME-services."""
        return _composition._settings

    @_settings.setter
    def _settings(self, settings) -> None:
        _composition._set_settings(settings)


sys.modules[__name__].__class__ = _ConfigModule
