"""The model database service: models, deployments, projects and their flows (LUME-services' ``services.models``).

Importing this package does not import SQLAlchemy: the names below are
imported from their modules on first use, so ``lume_services.config`` can
name the model database without paying for SQLAlchemy until one is opened.
"""

from lume_services._lazy_face import lazy_names

# Named on first use (PEP 562); the database's names are the ``db`` face's.
_HOMES = {
    "ConnectionConfig": "db",
    "ModelDB": "db",
    "ModelDBConfig": "db",
    "MySQLModelDB": "db",
    "MySQLModelDBConfig": "db",
    "SQLiteModelDB": "db",
    "ModelDBService": "service",
}


__getattr__, __dir__ = lazy_names(__name__, _HOMES)


__all__ = sorted(_HOMES)  # every public name is a lazy one
