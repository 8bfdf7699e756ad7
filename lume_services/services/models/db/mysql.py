"""LUME-services' first names of the MySQL client (57027da): ``MySQLModelDB`` and ``MySQLModelDBConfig``.

Its later releases folded them into :class:`~lume_services.services.models.db.db.ModelDB`
and :class:`~lume_services.services.models.db.db.ModelDBConfig`; these are
the same client and settings under the first names.
"""

from typing import Any

from lume_services.services.models.db.db import ConnectionConfig, ModelDB, ModelDBConfig

__all__ = ["ConnectionConfig", "MySQLModelDB", "MySQLModelDBConfig"]


class MySQLModelDBConfig(ModelDBConfig):
    """Where a MySQL/MariaDB model database is (the fields of :class:`ModelDBConfig`)."""


class MySQLModelDB(ModelDB):
    """The model database on a MySQL/MariaDB server (a :class:`ModelDB`)."""

    @classmethod
    def from_config_init(cls, **kwargs: Any) -> "MySQLModelDB":
        """Make a client from the fields of a :class:`MySQLModelDBConfig`."""
        return cls(config=MySQLModelDBConfig(**kwargs))
