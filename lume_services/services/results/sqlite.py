"""The embedded results database: one SQLite file, safe for several processes at once."""

import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

from lume_services.errors import InvalidIndexError
from lume_services.services.results import sqlite_query
from lume_services.services.results.db import ResultsDB
from lume_services.services.results.encoding import check_document, json_default
from lume_services.services.results.query import matches, validate_index_fields, validate_query
from lume_services.storage import guarded_by_storage_errors, open_sqlite, rollback

# Without AUTOINCREMENT an id is one more than the largest stored, so ids would
# only be reused after deleting the newest documents, which lume-services never
# does; AUTOINCREMENT would write its counter's page at every insert, the
# largest cost of an insert after the document's own. (Databases created by
# older versions keep their AUTOINCREMENT table.)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY,
    collection TEXT NOT NULL,
    unique_hash TEXT,
    document TEXT NOT NULL,
    UNIQUE (collection, unique_hash)
);
CREATE INDEX IF NOT EXISTS documents_collection ON documents (collection, id);
"""

# PRAGMA user_version of the current layout. 1: every ``document`` is JSON that
# SQLite's JSON functions read, and the fields of DEFAULT_INDEXES are indexed.
_LAYOUT_VERSION = 1

#: Fields indexed in every embedded database: what results are loaded by
#: (``unique_hash``, in every result reference) and the flow that stored them.
#: The project is the collection, which the table's own index serves.
DEFAULT_INDEXES: Tuple[Tuple[str, ...], ...] = (("unique_hash",), ("flow_id",))


#: report the database's disk and file errors as StoreUnusableError, naming the file
_storage_errors = guarded_by_storage_errors("results_db")


class SQLiteResultsDB(ResultsDB):
    """Results stored in a SQLite file (the default, under ``LUME_HOME``).

    Queries run in SQL (``json_extract`` over the stored JSON, see
    :mod:`~lume_services.services.results.sqlite_query`), served by an index on
    each field of :data:`DEFAULT_INDEXES` and of :meth:`create_index`; the few
    cases SQL cannot decide exactly (lists on the path, for instance) are
    decided by the Python matcher, so a query means what it means on MongoDB.

    The file is opened in WAL mode with a busy timeout, so several processes
    (flow runs, agents, notebooks) may insert and read at once; each insert is
    its own transaction. Uniqueness on ``unique_hash`` is enforced by the
    database, so concurrent inserts of the same result store it once. Keep the
    file on a local disk: SQLite's locking is unreliable on network filesystems.

    The file is created 0600 in a 0700 folder, and is used only when it and its
    folder belong to this user (or root) and no other user may write to them.
    Disk and file errors raise :class:`~lume_services.errors.StoreUnusableError`
    naming the file and the cause; what was stored stays readable.

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
        conn = open_sqlite(self.path, "results_db", self.timeout, set_up=self._set_up, check_same_thread=False)
        self._local.conn = conn
        self._local.pid = os.getpid()
        return conn

    @classmethod
    def _set_up(cls, conn: sqlite3.Connection) -> None:
        conn.executescript(_SCHEMA)
        if conn.execute("PRAGMA user_version").fetchone()[0] < _LAYOUT_VERSION:
            cls._upgrade(conn)

    @staticmethod
    def _upgrade(conn: sqlite3.Connection) -> None:
        """Bring a database written by an older lume-services to the current layout."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] < _LAYOUT_VERSION:
                # documents older versions stored with NaN, infinities or NUL
                # characters would make SQLite's JSON functions fail or mislead
                conn.execute(
                    "UPDATE documents SET document = json_quote(document) "
                    "WHERE NOT json_valid(document) OR instr(document, '\\u0000') > 0"
                )
                for fields in DEFAULT_INDEXES:
                    conn.execute(sqlite_query.index_sql(fields))
                conn.execute(f"PRAGMA user_version = {_LAYOUT_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)  # SQLite has rolled back already after a full disk
            raise

    def close(self) -> None:
        """Close this thread's connection (a later call opens a new one)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.conn = None
            conn.close()

    @_storage_errors
    def insert_one(self, collection: str, document: dict) -> str:
        """Insert a document; idempotent on ``unique_hash`` (see :class:`ResultsDB`)."""
        row = self._row(collection, document)
        # one statement is its own transaction, and takes the write lock at once
        # (so the busy timeout applies); stored rows are never changed, so the
        # stored id can be read after it
        return str(self._insert(self._connection(), row))

    @_storage_errors
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
            rollback(conn)  # SQLite has rolled back already after a full disk
            raise
        return ids

    @staticmethod
    def _row(collection: str, document: dict) -> Tuple[str, Optional[str], str]:
        unique_hash = check_document(document).get("unique_hash")
        return (
            collection,
            None if unique_hash is None else str(unique_hash),
            _document_text(document),
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

    @_storage_errors
    def create_index(self, collection: str, fields: Union[str, Sequence[str]]) -> None:
        """Index the dotted ``fields`` so that equality queries on them use it.

        One index serves every collection of the file. Creating an index that
        exists does nothing. Creating it scans the documents once.

        Args:
            collection: a collection the index is for (the index covers all of them).
            fields: a dotted path, or several for one compound index.

        Raises:
            InvalidIndexError: a field is not a dotted path, or has a key the
                embedded database cannot address in SQL (keys are printable ASCII
                without quotes or backslashes).
        """
        fields = validate_index_fields(fields)
        for field in fields:
            if not sqlite_query.sql_addressable(field):
                raise InvalidIndexError(
                    fields,
                    f"the embedded database indexes keys of printable ASCII without quotes "
                    f"or backslashes, and {field!r} has another; queries on it still work, "
                    f"unindexed",
                )
        self._connection().execute(sqlite_query.index_sql(fields))

    @_storage_errors
    def find(self, collection: str, query: Optional[dict] = None) -> List[dict]:
        """Return the matching documents in insertion order (see :class:`ResultsDB`)."""
        query = validate_query(query)
        conditions, parameters, check = sqlite_query.where(query)
        sql = f"SELECT document, {check} FROM documents WHERE collection = ?"
        sql += "".join(f" AND {condition}" for condition in conditions)
        # with conditions, "+id" keeps SQLite from scanning the collection in id
        # order instead of using an index on a queried field; the matches are sorted
        sql += " ORDER BY +id" if conditions else " ORDER BY id"
        rows = self._connection().execute(sql, [collection, *parameters]).fetchall()
        documents = []
        for text, needs_check in rows:
            document = _load(text)
            if not needs_check or matches(document, query):
                documents.append(document)
        return documents

    @_storage_errors
    def count(self, collection: str) -> int:
        """Return how many documents the collection holds."""
        (n,) = self._connection().execute(
            "SELECT COUNT(*) FROM documents WHERE collection = ?", (collection,)
        ).fetchone()
        return n


def _document_text(document: dict) -> str:
    """The document as JSON text SQLite's JSON functions read exactly.

    Documents holding NaN or infinities (which ``json`` writes but JSON does not
    allow) or NUL characters (at which SQLite's ``json_extract`` cuts strings)
    are stored as one JSON string of their text: SQL sees no object there and
    leaves every query on them to the matcher.
    """
    try:
        text = json.dumps(document, separators=(",", ":"), allow_nan=False, default=json_default)
    except ValueError:  # non-finite numbers (a circular reference raises again below)
        return json.dumps(json.dumps(document, separators=(",", ":"), default=json_default))
    return json.dumps(text) if "\\u0000" in text else text


def _load(text: str) -> dict:
    document = json.loads(text)
    return json.loads(document) if isinstance(document, str) else document
