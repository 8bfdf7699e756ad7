"""The model database: its clients (``ModelDB``: MySQL/MariaDB, ``SQLiteModelDB``: embedded) and its tables.

The names are imported from their modules on first use (SQLAlchemy is only
imported then).
"""

from typing import Any

_DB = "lume_services.services.models.db.db"
_SCHEMA = "lume_services.services.models.db.schema"

#: name -> module it lives in
_NAMES = {
    "ConnectionConfig": _DB,
    "ModelDB": _DB,
    "ModelDBConfig": _DB,
    "MySQLModelDB": "lume_services.services.models.db.mysql",
    "MySQLModelDBConfig": "lume_services.services.models.db.mysql",
    "SQLiteModelDB": "lume_services.services.models.db.sqlite",
    "Base": _SCHEMA,
    "Model": _SCHEMA,
    "Deployment": _SCHEMA,
    "Project": _SCHEMA,
    "Flow": _SCHEMA,
    "FlowOfFlows": _SCHEMA,
    "MappedParameter": _SCHEMA,
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
