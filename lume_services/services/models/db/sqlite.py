"""The embedded model database: one SQLite file under ``LUME_HOME``, private to its user.

It is opened through the store kit (:mod:`lume_services.storage`), as the flow
registry and the results database are: the file is made 0600 in a 0700
folder, used only when it and its folder are this user's and no one else may
write to them, switched to WAL under a lock beside it, and its disk and file
errors become :class:`~lume_services.errors.StoreUnusableError` naming the
file and ``LUME_MODEL_DB__PATH``.
"""

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Union

from lume_services.services.models.db.db import ModelDB
from lume_services.storage import check_trusted, private_dir, private_file, setup_lock, storage_errors, use_wal


class SQLiteModelDB(ModelDB):
    """The model database in a SQLite file (the default: ``<LUME_HOME>/models.sqlite``).

    The same tables and calls as on a MySQL/MariaDB server; foreign keys are
    enforced. Several processes may use the file at once (WAL, with a busy
    timeout). Keep it on a local disk: SQLite's locking is unreliable on
    network filesystems.

    Args:
        path: the SQLite file; made, with its folder, on first use.
        timeout: seconds to wait for another process's write lock.
    """

    def __init__(self, path: Union[str, Path], timeout: float = 30.0):
        self.path = Path(path).expanduser()
        self.timeout = timeout
        self.config = None
        self._lock_held = threading.local()
        self._create_engine()

    def __getstate__(self):
        # an engine belongs to one process; a copy makes its own
        return {"path": self.path, "timeout": self.timeout}

    def __setstate__(self, state):
        self.__init__(state["path"], state["timeout"])

    @property
    def url(self) -> str:
        """The database URL (``sqlite:///<path>``)."""
        return f"sqlite:///{self.path}"

    def _connect(self) -> sqlite3.Connection:
        """A new connection to the file, after the store kit's checks."""
        with storage_errors(self.store, self.path):
            private_dir(self.path.parent, self.store)
            check_trusted(self.path, self.store)
            private_file(self.path, self.store)
            conn = sqlite3.connect(str(self.path), timeout=self.timeout, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = NORMAL")
            with self._setup_lock():
                use_wal(conn, self.timeout)
        return conn

    @contextmanager
    def _setup_lock(self) -> Iterator[None]:
        """The store kit's set-up lock, taken once per thread (a connection opened while
        the tables are made must not wait on the lock its own thread holds)."""
        if getattr(self._lock_held, "held", False):
            yield
            return
        with storage_errors(self.store, self.path):
            private_dir(self.path.parent, self.store)
        with setup_lock(self.path):
            self._lock_held.held = True
            try:
                yield
            finally:
                self._lock_held.held = False

    def _new_engine(self):
        from sqlalchemy import create_engine
        from sqlalchemy.pool import QueuePool

        return create_engine("sqlite://", creator=self._connect, poolclass=QueuePool)

    def apply_schema(self) -> None:
        """Create the tables that are missing, one process at a time."""
        with self._errors(), self._setup_lock():
            super().apply_schema()

    @contextmanager
    def _errors(self, statement: Any = None) -> Iterator[None]:
        from sqlalchemy.exc import DBAPIError, IntegrityError

        with storage_errors(self.store, self.path), super()._errors(statement):
            try:
                yield
            except IntegrityError:
                raise
            except DBAPIError as exc:
                # SQLAlchemy wraps sqlite3's errors: the store kit reads the original
                if isinstance(exc.orig, sqlite3.Error):
                    raise exc.orig from exc
                raise
