"""The model database client: SQLAlchemy sessions on a MySQL/MariaDB server (LUME-services' ``ModelDB``).

SQLAlchemy is imported when a client is made, not when this module is
imported: ``lume_services.config`` names :class:`ModelDBConfig` and
:class:`ModelDB` without paying for SQLAlchemy in every process.
"""

import logging
import os
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator, List, Optional, Sequence

from pydantic import BaseModel, Field, SecretStr

from lume_services.errors import ModelDBConflictError, ModelDBUnreachableError

if TYPE_CHECKING:  # pragma: no cover
    from sqlalchemy.engine import Connection, Engine
    from sqlalchemy.orm import Session
    from sqlalchemy.sql.expression import Insert, Select

logger = logging.getLogger(__name__)

# MySQL/MariaDB error codes that mean the server or database cannot be used at all
# (as opposed to a statement's own error): access denied, unknown database, no
# connection, lost connection.
_UNUSABLE_CODES = {1044, 1045, 1049, 2002, 2003, 2005, 2006, 2013}


class ConnectionConfig(BaseModel):
    """How the SQLAlchemy engine keeps its connections.

    Attributes:
        pool_size: connections kept open in the pool (SQLAlchemy's default when ``None``).
        pool_pre_ping: test a pooled connection before using it, replacing it
            when the server dropped it.
    """

    pool_size: Optional[int]
    pool_pre_ping: bool = True


class ModelDBConfig(BaseModel):
    """Where the model database is: a MySQL/MariaDB server (``LUME_MODEL_DB__*``).

    Attributes:
        host: the server's host.
        port: its port.
        user: the user to connect as.
        password: the user's password (never shown, never exported by ``.dict()``).
        database: the database holding the tables.
        connection: how the engine keeps its connections.
        dialect_str: SQLAlchemy's dialect and driver.
    """

    host: str
    port: int
    user: str
    password: SecretStr = Field(exclude=True)
    database: str
    connection: ConnectionConfig = ConnectionConfig()
    dialect_str: str = "mysql+pymysql"


class ModelDB:
    """A client of the model database: runs SQLAlchemy statements in short sessions.

    Each call opens a session, runs its statements in one transaction and
    closes it; rows come back detached and keep their values. The tables are
    created on first use where they are missing (a database made by
    LUME-services' ``model-db-init.sql`` gets only the new mapping table).
    After a fork the client makes a new engine: connections are not shared
    between processes.

    Args:
        config: where the server is.
    """

    #: the store's name in storage errors (the embedded database's)
    store = "model_db"

    def __init__(self, config: ModelDBConfig):
        self.config = config
        self._create_engine()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r})"

    def __getstate__(self):
        # an engine belongs to one process; a copy makes its own from the settings
        return {"config": self.config}

    def __setstate__(self, state):
        self.__init__(state["config"])

    # --- the engine -------------------------------------------------------------

    def _url(self):
        from sqlalchemy.engine import URL

        return URL.create(
            self.config.dialect_str,
            username=self.config.user,
            password=self.config.password.get_secret_value(),
            host=self.config.host,
            port=self.config.port,
            database=self.config.database,
        )

    @property
    def url(self) -> str:
        """The database URL, its password masked."""
        return self._url().render_as_string(hide_password=True)

    def _new_engine(self) -> "Engine":
        from sqlalchemy import create_engine

        return create_engine(self._url(), **self.config.connection.dict(exclude_none=True))

    def _create_engine(self) -> None:
        """Make the engine (and the session factory) of this process."""
        from sqlalchemy.orm import sessionmaker

        self._pid = os.getpid()
        self.engine = self._new_engine()
        # rows stay readable after their session closed
        self._sessionmaker = sessionmaker(bind=self.engine, expire_on_commit=False)
        self._schema_lock = threading.Lock()
        self._schema_applied = False

    def _check_mp(self) -> None:
        """In a forked process, make a new engine: the parent's connections are not ours."""
        if os.getpid() != self._pid:
            self._create_engine()

    def dispose(self) -> None:
        """Close the pooled connections (a later call opens new ones)."""
        self.engine.dispose()

    # --- errors -----------------------------------------------------------------

    @contextmanager
    def _errors(self, statement: Any = None) -> Iterator[None]:
        """The driver's errors as the model database's: unusable server, conflicting row."""
        from sqlalchemy.exc import IntegrityError, OperationalError

        try:
            yield
        except IntegrityError as exc:
            table = getattr(getattr(statement, "table", None), "name", "row")
            raise ModelDBConflictError(table, _values(statement), exc.orig) from exc
        except OperationalError as exc:
            code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
            if code in _UNUSABLE_CODES:
                raise ModelDBUnreachableError(self.url, exc.orig) from exc
            raise

    # --- sessions ---------------------------------------------------------------

    def apply_schema(self) -> None:
        """Create the tables that are missing (the stored ones are left as they are)."""
        from lume_services.services.models.db.schema import Base

        with self._errors():
            Base.metadata.create_all(self.engine, checkfirst=True)
        self._schema_applied = True

    def _ensure_schema(self) -> None:
        if self._schema_applied:
            return
        with self._schema_lock:
            if not self._schema_applied:
                self.apply_schema()

    @contextmanager
    def connection(self) -> Iterator["Connection"]:
        """A connection of the pool for the block, returned to the pool after it."""
        self._check_mp()
        with self._errors():
            cxn = self.engine.connect()
        try:
            yield cxn
        finally:
            cxn.close()

    def session(self) -> "Session":
        """A new session (use it as a context manager); its rows stay readable after it closes."""
        self._check_mp()
        self._ensure_schema()
        return self._sessionmaker()

    def execute(self, sql: Any) -> Any:
        """Run a statement in its own transaction.

        Args:
            sql: an executable SQLAlchemy statement.

        Returns:
            SQLAlchemy's result (buffered: readable after the session closed).
        """
        logger.debug("model db executing: %s", sql)
        with self._errors(sql), self.session() as session:
            result = session.execute(sql)
            if getattr(result, "returns_rows", True):  # a CursorResult of an insert has none
                result = result.freeze()()  # its rows, buffered: readable after the session closed
            session.commit()
        return result

    def select(self, sql: "Select") -> list:
        """Run a selection of ORM rows.

        Args:
            sql: the selection (``select(Model).where(...)``).

        Returns:
            The first column of each row: for ``select(Table)``, the ORM objects.
        """
        logger.debug("model db selecting: %s", sql)
        with self._errors(sql), self.session() as session:
            rows = session.execute(sql).scalars().all()
            session.commit()
        return rows

    def rows(self, sql: "Select") -> List[tuple]:
        """Run a selection and return its rows as tuples (for joins of several tables).

        Args:
            sql: the selection.
        """
        with self._errors(sql), self.session() as session:
            rows = [tuple(row) for row in session.execute(sql).all()]
            session.commit()
        return rows

    def insert(self, sql: "Insert") -> Sequence[Any]:
        """Run an insert in its own transaction.

        Returns:
            The primary key of the inserted row (a tuple of its columns' values).

        Raises:
            ModelDBConflictError: the row repeats a unique entry or refers to a
                row that is not stored; nothing was written.
        """
        logger.debug("model db inserting: %s", sql)
        with self._errors(sql), self.session() as session:
            result = session.execute(sql)
            session.commit()
        return result.inserted_primary_key

    def insert_many(self, sql: List["Insert"]) -> List[Sequence[Any]]:
        """Run inserts in one transaction: all are written, or none.

        Returns:
            The primary key of each inserted row, in order.

        Raises:
            ModelDBConflictError: a row repeats a unique entry or refers to a
                row that is not stored; nothing was written.
        """
        keys = []
        with self.session() as session:
            for statement in sql:
                with self._errors(statement):
                    keys.append(session.execute(statement).inserted_primary_key)
            with self._errors(sql[-1] if sql else None):
                session.commit()
        return keys

    @contextmanager
    def transaction(self) -> Iterator["Transaction"]:
        """One transaction for the block: inserts that need the keys of earlier ones, all written or none.

        Yields:
            A :class:`Transaction`, whose ``insert(statement)`` returns the new
            row's primary key.

        Raises:
            ModelDBConflictError: a row repeats a unique entry or refers to a
                row that is not stored; nothing was written.
        """
        with self.session() as session:
            yield Transaction(self, session)
            with self._errors():
                session.commit()

    @classmethod
    def from_config_init(cls, **kwargs: Any) -> "ModelDB":
        """Make a client from the fields of a :class:`ModelDBConfig`."""
        return cls(config=ModelDBConfig(**kwargs))


class Transaction:
    """The inserts of one :meth:`ModelDB.transaction`."""

    def __init__(self, model_db: ModelDB, session: "Session"):
        self._model_db = model_db
        self._session = session

    def insert(self, statement: "Insert") -> Any:
        """Run an insert; return the new row's primary key (its first column's value)."""
        with self._model_db._errors(statement):
            key = self._session.execute(statement).inserted_primary_key
        return key[0] if len(key) else None

    def select(self, statement: "Select") -> list:
        """Run a selection in the transaction; the first column of each row."""
        with self._model_db._errors(statement):
            return self._session.execute(statement).scalars().all()


def _values(statement: Any) -> dict:
    """The values an insert writes (column -> value), for an error message."""
    try:
        params = statement.compile().params
    except Exception:  # not an insert, or not compilable alone
        return {}
    return {key: value for key, value in params.items() if value is not None}
