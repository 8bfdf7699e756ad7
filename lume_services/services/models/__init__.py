"""The model database service: models, deployments, projects and their flows (LUME-services' ``services.models``).

Importing this package does not import SQLAlchemy: the names below are
imported from their modules on first use, so ``lume_services.config`` can
name the model database without paying for SQLAlchemy until one is opened.
"""

from typing import Any

#: name -> module it lives in
_NAMES = {
    "ConnectionConfig": "lume_services.services.models.db.db",
    "ModelDB": "lume_services.services.models.db.db",
    "ModelDBConfig": "lume_services.services.models.db.db",
    "MySQLModelDB": "lume_services.services.models.db.mysql",
    "MySQLModelDBConfig": "lume_services.services.models.db.mysql",
    "SQLiteModelDB": "lume_services.services.models.db.sqlite",
    "ModelDBService": "lume_services.services.models.service",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
