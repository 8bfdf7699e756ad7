"""Packaged Prefect tasks that flows use to hand files and results to each other."""

from lume_services.tasks.configure import (
    CheckLocalExecution,
    ConfigureLUMEServices,
    PrepareLUMEModelVariables,
    check_local_execution,
    configure_lume_services,
    configure_services,
    prepare_lume_model_variables,
)
from lume_services.tasks.db import LoadDBResult, SaveDBResult, load_db_result_value
from lume_services.tasks.file import LoadFile, SaveFile, load_file

__all__ = [
    "CheckLocalExecution",
    "ConfigureLUMEServices",
    "PrepareLUMEModelVariables",
    "check_local_execution",
    "configure_services",
    "prepare_lume_model_variables",
    "LoadDBResult",
    "LoadFile",
    "SaveDBResult",
    "SaveFile",
    "configure_lume_services",
    "load_db_result_value",
    "load_file",
]
