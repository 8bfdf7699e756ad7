"""The embedded results database: one SQLite file, safe for several processes at once.

Layout (``PRAGMA user_version`` 3):

- ``documents``: each document's JSON text, its collection and its
  ``unique_hash`` (a string hash as it is, any other hash as a blob of its
  JSON, sorted keys), numbered by ``id`` in insertion order;
- ``hash_keys``: what makes inserting idempotent and finds a document by its
  hash (every result reference): one row per stored hash, keyed by a 60-bit
  integer prefix of the hash mixed with its collection
  (:func:`~lume_services.services.results.sqlite_query.hash_prefix`), holding
  the document's id. A prefix only says where to look: the stored hash is
  compared in full. Some 18 bytes a row, so the key of a million results
  (about 21 MB) stays in the page cache, where the hashes themselves, 64
  characters and the collection a row, did not;
- ``hash_keys_recent``: the same for the latest hashes, up to :data:`RECENT_KEYS`
  of them, which are then moved into ``hash_keys`` at the end of a batch, in
  key order. Hashes are random: once ``hash_keys`` is larger than a batch,
  each row of a batch inserted into it would change a page of its own, and the
  commit write that page to the WAL and the checkpoint to the file (a batch of
  10,000 into the key of a million results: some 20 MB). The small table takes
  the inserts (checked against ``hash_keys`` by a lookup, which changes
  nothing), and the move changes each page of ``hash_keys`` about once per
  100,000 results: the cost of a row stays close to what it is in a small
  database. The move's cost per row grows with ``hash_keys``: a few
  microseconds at a million results; at ten million, once ``hash_keys``
  outgrows the page cache too, some ten times that (estimated, not measured);
- ``hash_key_collisions``: the documents whose prefix another hash held
  already when they were stored (by chance one pair in some 10^18, or hashes
  made to share their first 15 digits), by collection and full hash;
- indexes on ``documents``: ``(collection, id)`` (a collection in insertion
  order: ``find_all``, ``count``), the documents whose hash is not a string
  (partial: they are few), and the fields of :data:`DEFAULT_INDEXES` and of
  :meth:`SQLiteResultsDB.create_index`, as expressions over the JSON document
  (:mod:`~lume_services.services.results.sqlite_query`).

Every stored hash has its prefix in ``hash_keys`` or ``hash_keys_recent`` (its
own row, or its collision's), so a batch none of whose prefixes is there holds
no stored hash: the common case costs one insert per row into
``hash_keys_recent`` (with a lookup of ``hash_keys``) and no other lookup.

Databases written by older versions are brought to this layout when first
opened, in one transaction: before ``user_version`` 2 a second index on
``unique_hash`` (an expression index) stood beside the unique key and is
dropped; before 3 the key was the table's ``UNIQUE (collection, unique_hash)``
constraint, a random 64-character text key whose pages, once it outgrew the
page cache, every row of a batch changed one of: the table is copied into one
without it (its indexes and, for a table with AUTOINCREMENT, its counter
kept) and ``hash_keys`` is filled. Older versions cannot write a database of
this layout (their inserts name the constraint, and fail); they can read it.
"""

import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple, Union

from lume_services.errors import InvalidIndexError
from lume_services.services.results import sqlite_query
from lume_services.services.results.db import ResultsDB
from lume_services.services.results.encoding import EncodedDocument, check_document, json_default
from lume_services.services.results.query import matches, validate_index_fields, validate_query
from lume_services.services.results.sqlite_keys import (  # noqa: F401 (RECENT_KEYS: the setting, named here too)
    DOCUMENTS_TABLE,
    INSERT_DOCUMENT,
    INSERT_KEY,
    RECENT_KEYS,
    insert_rows,
    move_key_to_hash_keys,
    move_recent_keys_if_many,
)
from lume_services.services.results.sqlite_query import collection_salt, hash_prefix
from lume_services.storage import guarded_by_storage_errors, open_sqlite, rollback

# the documents table (see sqlite_keys.DOCUMENTS_TABLE), its indexes and the key tables
_SCHEMA = DOCUMENTS_TABLE.format(name="documents", autoincrement="") + """;
CREATE INDEX IF NOT EXISTS documents_collection ON documents (collection, id);
CREATE INDEX IF NOT EXISTS documents_hash_not_text ON documents (collection)
    WHERE typeof(unique_hash) = 'blob';
CREATE TABLE IF NOT EXISTS hash_keys (key INTEGER PRIMARY KEY, id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS hash_keys_recent (key INTEGER PRIMARY KEY, id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS hash_key_collisions (
    collection TEXT NOT NULL,
    unique_hash NOT NULL,
    id INTEGER NOT NULL,
    PRIMARY KEY (collection, unique_hash)
) WITHOUT ROWID;
"""

# PRAGMA user_version of the current layout. 1: every ``document`` is JSON that
# SQLite's JSON functions read, and the fields of DEFAULT_INDEXES are indexed.
# 2: ``unique_hash`` is indexed once, by the table's key, which holds hashes
# that are not strings as blobs of their JSON. 3: that key is ``hash_keys``
# (and ``hash_key_collisions``), no longer a constraint of the table.
_LAYOUT_VERSION = 3

#: Fields indexed in every embedded database by an expression index: the flow
#: that stored a result. What results are loaded by, ``unique_hash``, is
#: indexed by ``hash_keys`` (see the module doc); the project is the collection.
DEFAULT_INDEXES: Tuple[Tuple[str, ...], ...] = (("flow_id",),)

#: The field ``hash_keys`` indexes.
HASH_FIELD = sqlite_query.KEY_FIELD

#: Pages of the database this process keeps in memory (``PRAGMA cache_size``,
#: negative: KiB). SQLite's default, 2 MiB, holds ``hash_keys`` of about 100,000
#: results (some 21 bytes a result, with the pages' free space); past that,
#: every insert of a batch reads a page of it at a random place (hashes are
#: random) back from the file. 64 MiB holds it for some 2,000,000 results with
#: the pages queries read most. It is an upper bound, used only as pages are
#: read: a flow run storing a few results stays small.
#: Memory-mapping (``mmap_size``) is left off: the cache already holds what is
#: read again, mapping saves only the copy of a page into it (the commits,
#: which write every changed page into the WAL, are what a large batch waits
#: for), and a mapped file turns an I/O error into a crash instead of an error
#: that names the file.
CACHE_KIB = 64 * 1024

#: Pages the WAL grows to before a commit copies them into the file
#: (``PRAGMA wal_autocheckpoint``; SQLite's default is 1,000, 4 MB). A batch
#: of 10,000 results changes some 1,500 pages: with the default, every batch
#: was followed by a checkpoint, which writes its pages into the file at their
#: places (scattered once the file is large) and waits for the disk. 10,000
#: pages (40 MB) checkpoint every few batches, and a page changed by several
#: batches in between (the end of each table, the small key table) is written
#: once. Measured at a million results: 18.0 against 23.2 us a row (plain
#: ``executemany``, this schema). The WAL file keeps that size once grown.
WAL_AUTOCHECKPOINT_PAGES = 10_000

#: the encoders, built once (``json.dumps`` with options builds a new one per call)
_DOCUMENT_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False, default=json_default)
_HASH_KEY_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True, default=json_default)


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
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
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
            layout = conn.execute("PRAGMA user_version").fetchone()[0]
            if layout < 1:
                # documents older versions stored with NaN, infinities or NUL
                # characters would make SQLite's JSON functions fail or mislead
                conn.execute(
                    "UPDATE documents SET document = json_quote(document) "
                    "WHERE NOT json_valid(document) OR instr(document, '\\u0000') > 0"
                )
                for fields in DEFAULT_INDEXES:
                    conn.execute(sqlite_query.index_sql(fields))
            if layout < 2:
                # the second index on unique_hash goes; the key holds what queries need
                conn.execute(f"DROP INDEX IF EXISTS {sqlite_query.index_name((HASH_FIELD,))}")
                _rekey_hashes_that_are_not_strings(conn)
            if layout < 3:
                move_key_to_hash_keys(conn)
            if layout < _LAYOUT_VERSION:
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
        conn = self._connection()
        key = row[1]
        if key is None:  # never de-duplicated: one statement, its own transaction
            return str(conn.execute(INSERT_DOCUMENT, row).lastrowid)
        # the write lock from the start (so the busy timeout applies); the common
        # case: the document, then its prefix, which no stored hash holds
        conn.execute("BEGIN IMMEDIATE")
        try:
            id_ = conn.execute(INSERT_DOCUMENT, row).lastrowid
            prefix = hash_prefix(key, collection_salt(collection))
            if conn.execute(INSERT_KEY, (prefix, id_, prefix)).rowcount != 1:
                conn.execute("ROLLBACK")
                conn.execute("BEGIN IMMEDIATE")
                (id_,) = insert_rows(conn, collection, [row])
            elif id_ % 1024 == 0:  # counting the recent prefixes costs more than an insert: now and then
                move_recent_keys_if_many(conn)
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)  # SQLite has rolled back already after a full disk
            raise
        return str(id_)

    @_storage_errors
    def insert_many(self, collection: str, documents: List[dict]) -> List[str]:
        """Insert documents in one transaction; idempotent on ``unique_hash``.

        Each document is stored as :meth:`insert_one` would store it, in a few
        statements for the whole batch: one ``executemany`` of the prefixes of
        the batch's hashes into ``hash_keys`` (with the ids the documents will
        get: the write lock is held to the commit, so they are known), which
        goes through when none of them is stored already, then one of the
        documents. Else that is rolled back, the batch's prefixes are looked up
        (per 500) and the stored hashes they lead to compared in full, before
        the new documents and their keys are inserted. A hash met again later
        in the batch gets the id of its first document.
        """
        row = self._row
        rows = [
            (collection, document[HASH_FIELD], document.text)  # a result's: its hash a string, its text finite
            if type(document) is EncodedDocument and "\\u0000" not in document.text
            else row(collection, document)
            for document in documents
        ]
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            ids = insert_rows(conn, collection, rows)
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)  # SQLite has rolled back already after a full disk
            raise
        return [str(id_) for id_ in ids]

    @staticmethod
    def _row(collection: str, document: dict) -> Tuple[str, Any, str]:
        if type(document) is EncodedDocument:  # a result's: a dict, its hash a string, its text finite
            text = document.text
            return (collection, document[HASH_FIELD], json.dumps(text) if "\\u0000" in text else text)
        return (
            collection,
            _hash_key(check_document(document).get(HASH_FIELD)),
            _document_text(document),
        )

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
        if tuple(fields) == (HASH_FIELD,):
            return  # the table's own key: a second index would cost every insert and serve nothing
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
        conditions, parameters, check = sqlite_query.where(query, collection)
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


def _hash_key(unique_hash: Any) -> Any:
    """What the table's key holds for a document's ``unique_hash``: a string as it is, ``None`` as
    NULL (never de-duplicated), anything else as a blob of its JSON (sorted keys)."""
    if unique_hash is None or isinstance(unique_hash, str):
        return unique_hash
    return _HASH_KEY_ENCODER.encode(unique_hash).encode("utf-8", "surrogatepass")


def _rekey_hashes_that_are_not_strings(conn: sqlite3.Connection) -> None:
    """Store the key of each hash that is not a string as :func:`_hash_key` does (older versions
    stored its ``str()``); a key another document holds already is left as it was."""
    rows = conn.execute(
        "SELECT id, document FROM documents WHERE typeof(unique_hash) = 'text' AND ("
        "json_type(document) <> 'object' OR json_type(document, '$.unique_hash') IS NOT 'text')"
    ).fetchall()
    updates = []
    for id_, text in rows:
        document = _load(text)
        if isinstance(document, dict):
            key = _hash_key(document.get(HASH_FIELD))
            if not isinstance(key, str):
                updates.append((key, id_))
    conn.executemany("UPDATE OR IGNORE documents SET unique_hash = ? WHERE id = ?", updates)


def _document_text(document: dict) -> str:
    """The document as JSON text SQLite's JSON functions read exactly.

    Documents holding NaN or infinities (which ``json`` writes but JSON does not
    allow) or NUL characters (at which SQLite's ``json_extract`` cuts strings)
    are stored as one JSON string of their text: SQL sees no object there and
    leaves every query on them to the matcher. An :class:`EncodedDocument`'s
    text (finite numbers only) is used as it is.
    """
    if type(document) is EncodedDocument:
        text = document.text  # encoded by its builder (a result), of finite numbers
        return json.dumps(text) if "\\u0000" in text else text
    try:
        text = _DOCUMENT_ENCODER.encode(document)
    except ValueError:  # non-finite numbers (a circular reference raises again below)
        return json.dumps(json.dumps(document, separators=(",", ":"), default=json_default))
    return json.dumps(text) if "\\u0000" in text else text


def _load(text: str) -> dict:
    document = json.loads(text)
    return json.loads(document) if isinstance(document, str) else document
