"""The embedded results database: one SQLite file, safe for several processes at once."""

import json
import os
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, Optional, Tuple, Union

from lume_services.services.results.db import ResultsDB
from lume_services.services.results.query import matches, validate_query

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    collection TEXT NOT NULL,
    unique_hash TEXT,
    document TEXT NOT NULL,
    UNIQUE (collection, unique_hash)
);
CREATE INDEX IF NOT EXISTS documents_collection ON documents (collection, id);
"""


@contextmanager
def _setup_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock beside the database file while setting it up."""
    try:
        import fcntl
    except ImportError:  # not POSIX: rely on SQLite's own locking
        yield
        return
    with open(f"{path}.setup-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class SQLiteResultsDB(ResultsDB):
    """Results stored in a SQLite file (the default, under ``LUME_HOME``).

    The file is opened in WAL mode with a busy timeout, so several processes
    (flow runs, agents, notebooks) may insert and read at once; each insert is
    its own transaction. Uniqueness on ``unique_hash`` is enforced by the
    database, so concurrent inserts of the same result store it once. Keep the
    file on a local disk: SQLite's locking is unreliable on network filesystems.

    Args:
        path: the SQLite file; created, with its directory, on first use.
        timeout: seconds to wait for another process's write lock.
    """

    def __init__(self, path: Union[str, Path], timeout: float = 30.0):
        self.path = Path(path).expanduser()
        self.timeout = timeout
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"SQLiteResultsDB(path={str(self.path)!r})"

    def __getstate__(self):
        # connections belong to one process and thread; a copy opens its own
        return {"path": self.path, "timeout": self.timeout}

    def __setstate__(self, state):
        self.__init__(state["path"], state["timeout"])

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: transactions are begun explicitly (BEGIN IMMEDIATE
        # takes the write lock at once, so the busy timeout applies to it)
        conn = sqlite3.connect(
            str(self.path), timeout=self.timeout, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        # with WAL, NORMAL keeps the database consistent after a crash; only the
        # last commits before a power loss may be lost
        conn.execute("PRAGMA synchronous = NORMAL")
        with _setup_lock(self.path):
            # switching to WAL does not wait on the busy timeout, so processes
            # opening a new database at once take turns
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.executescript(_SCHEMA)
        self._local.conn = conn
        self._local.pid = os.getpid()
        return conn

    def close(self) -> None:
        """Close this thread's connection (a later call opens a new one)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.conn = None
            conn.close()

    def insert_one(self, collection: str, document: dict) -> str:
        """Insert a document; idempotent on ``unique_hash`` (see :class:`ResultsDB`)."""
        return self.insert_many(collection, [document])[0]

    def insert_many(self, collection: str, documents: List[dict]) -> List[str]:
        """Insert documents in one transaction; idempotent on ``unique_hash``."""
        rows = [self._row(collection, document) for document in documents]
        conn = self._connection()
        ids: List[str] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for row in rows:
                ids.append(str(self._insert(conn, row)))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return ids

    @staticmethod
    def _row(collection: str, document: dict) -> Tuple[str, Optional[str], str]:
        unique_hash = document.get("unique_hash")
        return (
            collection,
            None if unique_hash is None else str(unique_hash),
            json.dumps(document, separators=(",", ":")),
        )

    @staticmethod
    def _insert(conn: sqlite3.Connection, row: Tuple[str, Optional[str], str]) -> int:
        cursor = conn.execute(
            "INSERT INTO documents (collection, unique_hash, document) VALUES (?, ?, ?) "
            "ON CONFLICT (collection, unique_hash) DO NOTHING",
            row,
        )
        if cursor.rowcount == 1:
            return cursor.lastrowid
        (existing,) = conn.execute(
            "SELECT id FROM documents WHERE collection = ? AND unique_hash = ?", row[:2]
        ).fetchone()
        return existing

    def find(self, collection: str, query: Optional[dict] = None) -> List[dict]:
        """Return the matching documents in insertion order (see :class:`ResultsDB`)."""
        query = validate_query(query)
        sql = "SELECT document FROM documents WHERE collection = ?"
        args: list = [collection]
        unique_hash = query.get("unique_hash")
        if isinstance(unique_hash, str):
            # served by the unique index; the rest of the query is checked below
            sql += " AND unique_hash = ?"
            args.append(unique_hash)
        rows = self._connection().execute(sql + " ORDER BY id", args).fetchall()
        documents = (json.loads(text) for (text,) in rows)
        return [document for document in documents if matches(document, query)]

    def count(self, collection: str) -> int:
        """Return how many documents the collection holds."""
        (n,) = self._connection().execute(
            "SELECT COUNT(*) FROM documents WHERE collection = ?", (collection,)
        ).fetchone()
        return n
