"""The model database: its clients (``ModelDB``: MySQL/MariaDB, ``SQLiteModelDB``: embedded) and its tables.

The names are imported from their modules on first use (SQLAlchemy is only
imported then).
"""

from lume_services._lazy_face import lazy_names

# Named on first use (PEP 562): the clients, and the tables of ``schema``.
_HOMES = {
    "ConnectionConfig": "db",
    "ModelDB": "db",
    "ModelDBConfig": "db",
    "MySQLModelDB": "mysql",
    "MySQLModelDBConfig": "mysql",
    "SQLiteModelDB": "sqlite",
    "Base": "schema",
    "Model": "schema",
    "Deployment": "schema",
    "Project": "schema",
    "Flow": "schema",
    "FlowOfFlows": "schema",
    "MappedParameter": "schema",
    "ChildSetting": "schema",
}


__getattr__, __dir__ = lazy_names(__name__, _HOMES)


__all__ = sorted(_HOMES)  # every public name is a lazy one
