"""The embedded results database's key of hashes: inserting rows under it, and moving an older layout's key into it.

The layout (``documents``, ``hash_keys``, ``hash_keys_recent``,
``hash_key_collisions``) is described in
:mod:`~lume_services.services.results.sqlite`, which opens the file and
calls these in its transactions.
"""

import sqlite3
from typing import Any, Dict, List, Tuple

from lume_services.services.results.sqlite_query import collection_salt, hash_prefix

# Without AUTOINCREMENT an id is one more than the largest stored, so ids would
# only be reused after deleting the newest documents, which lume-services never
# does; AUTOINCREMENT would write its counter's page at every insert, the
# largest cost of an insert after the document's own. (Databases created by
# older versions keep their AUTOINCREMENT table.)
DOCUMENTS_TABLE = """
CREATE TABLE IF NOT EXISTS {name} (
    id INTEGER PRIMARY KEY{autoincrement},
    collection TEXT NOT NULL,
    unique_hash TEXT,
    document TEXT NOT NULL
)"""

#: the largest number of ``?`` SQLite takes in one statement is 32766 since 3.32; stay well below
_LOOKUP_CHUNK = 500

INSERT_DOCUMENT = "INSERT INTO documents (collection, unique_hash, document) VALUES (?, ?, ?)"
#: a new prefix goes into the small table, unless either table holds it (then nothing is inserted);
#: its parameters are (prefix, id, prefix): plain ``?`` marks, as numbered ones (``?1``) given a
#: sequence are deprecated since Python 3.12 (an error from 3.14)
INSERT_KEY = (
    "INSERT INTO hash_keys_recent (key, id) SELECT ?, ? "
    "WHERE NOT EXISTS (SELECT 1 FROM hash_keys WHERE key = ?) ON CONFLICT DO NOTHING"
)

#: How many prefixes ``hash_keys_recent`` gathers before they are moved into
#: ``hash_keys`` at the end of a batch (see the module doc): about 2 MB of
#: pages, which a batch changes; more would make the batches that do not move
#: them dearer, fewer the move more frequent.
RECENT_KEYS = 100_000


def insert_rows(conn: sqlite3.Connection, collection: str, rows: List[Tuple[str, Any, str]]) -> List[int]:
    """Insert prepared rows of one collection, in the caller's write transaction (which this may roll
    back and begin again); return each row's id (the stored one for a known hash).

    Most batches hold no hash stored already: their prefixes go into ``hash_keys`` first, without
    looking them up (the table refuses a prefix it holds), then the documents, SQLite numbering
    them as foreseen. When a prefix was refused (stored, or twice in the batch), the transaction is
    rolled back and begun again, and the batch is inserted, with its ids given, after one lookup of
    its prefixes. No savepoint marks the attempt: while one is open SQLite copies every page a
    statement changes to a temporary file first, and a batch changes a page of ``hash_keys`` per
    row once the table is larger than the batch.
    """
    if not rows:
        return []
    last = _largest_id(conn)
    salt = collection_salt(collection)
    try:  # hash_prefix, inline for the hashes lume-services makes (hex text)
        keys = [(int(key[:15], 16) ^ salt, id_) for id_, (_, key, _) in enumerate(rows, last + 1) if key is not None]
    except ValueError:
        keys = [(hash_prefix(key, salt), id_) for id_, (_, key, _) in enumerate(rows, last + 1) if key is not None]
    changes = conn.total_changes
    conn.executemany(INSERT_KEY, [(prefix, id_, prefix) for prefix, id_ in keys])
    # every prefix inserted: none was stored (nor is one twice in the batch), so no hash is
    if conn.total_changes - changes == len(keys):
        conn.executemany(INSERT_DOCUMENT, rows)
        (now,) = conn.execute("SELECT max(id) FROM documents").fetchone()
        # SQLite gave each one more than the largest before (its rule without AUTOINCREMENT,
        # and with it, as ``last`` counts the largest ever given): the ids the keys hold
        if now == last + len(rows):
            move_recent_keys_if_many(conn)
            return list(range(last + 1, now + 1))
    conn.execute("ROLLBACK")
    conn.execute("BEGIN IMMEDIATE")
    last = _largest_id(conn)
    prefixes = {key: prefix for (_, key, _), (prefix, _) in zip((row for row in rows if row[1] is not None), keys)}
    stored, taken = _stored_ids(conn, collection, prefixes)
    ids, new = _ids_and_new_rows(rows, stored, last)
    conn.executemany("INSERT INTO documents (id, collection, unique_hash, document) VALUES (?, ?, ?, ?)", new)
    new_keys = []
    collisions = []
    for id_, row_collection, key, _ in new:
        if key is None:
            continue
        prefix = prefixes[key]
        if prefix in taken:
            collisions.append((row_collection, key, id_))
        else:
            taken.add(prefix)
            new_keys.append((prefix, id_))
    conn.executemany("INSERT INTO hash_keys_recent (key, id) VALUES (?, ?)", new_keys)
    conn.executemany("INSERT INTO hash_key_collisions (collection, unique_hash, id) VALUES (?, ?, ?)", collisions)
    move_recent_keys_if_many(conn)
    return ids


def move_recent_keys_if_many(conn: sqlite3.Connection) -> None:
    """Move the prefixes of ``hash_keys_recent`` into ``hash_keys`` once it holds :data:`RECENT_KEYS`
    (in the caller's transaction): in key order, so each page of ``hash_keys`` is changed once."""
    (recent,) = conn.execute("SELECT count(*) FROM hash_keys_recent").fetchone()
    if recent >= RECENT_KEYS:
        conn.execute("INSERT INTO hash_keys (key, id) SELECT key, id FROM hash_keys_recent ORDER BY key")
        conn.execute("DELETE FROM hash_keys_recent")


def _stored_ids(conn: sqlite3.Connection, collection: str, prefixes: Dict[Any, int]) -> Tuple[Dict[Any, int], set]:
    """The ids of the given hashes stored in the collection, and which of their prefixes ``hash_keys`` holds."""
    stored: Dict[Any, int] = {}
    taken = set()
    by_prefix: Dict[int, List[Any]] = {}
    for key, prefix in prefixes.items():
        by_prefix.setdefault(prefix, []).append(key)
    unique_prefixes = list(by_prefix)
    colliding = []
    for start in range(0, len(unique_prefixes), _LOOKUP_CHUNK):
        chunk = unique_prefixes[start:start + _LOOKUP_CHUNK]
        marks = ", ".join("?" * len(chunk))
        found = conn.execute(
            f"SELECT k.key, d.id, d.collection, d.unique_hash FROM ("
            f"SELECT key, id FROM hash_keys WHERE key IN ({marks}) "
            f"UNION ALL SELECT key, id FROM hash_keys_recent WHERE key IN ({marks})"
            f") AS k JOIN documents AS d ON d.id = k.id",
            chunk * 2,
        ).fetchall()
        for prefix, id_, stored_collection, stored_key in found:
            taken.add(prefix)
            for key in by_prefix[prefix]:
                if stored_collection == collection and stored_key == key:
                    stored[key] = id_
                else:  # another hash holds the prefix: this one, if stored, is a collision
                    colliding.append(key)
    colliding = [key for key in colliding if key not in stored]
    for start in range(0, len(colliding), _LOOKUP_CHUNK):
        chunk = colliding[start:start + _LOOKUP_CHUNK]
        stored.update(conn.execute(
            f"SELECT unique_hash, id FROM hash_key_collisions WHERE collection = ? AND unique_hash IN "
            f"({', '.join('?' * len(chunk))})",
            [collection, *chunk],
        ))
    return stored, taken


def _ids_and_new_rows(
    rows: List[Tuple[str, Any, str]], stored: Dict[Any, int], last: int
) -> Tuple[List[int], List[Tuple[int, str, Any, str]]]:
    """Each row's id (the stored one of its hash, else the first of the batch with its hash, else
    a new one after ``last``) and the rows to insert with their ids."""
    ids: List[int] = []
    new: List[Tuple[int, str, Any, str]] = []
    for row_collection, key, text in rows:
        id_ = None if key is None else stored.get(key)
        if id_ is None:
            last += 1
            id_ = last
            new.append((id_, row_collection, key, text))
            if key is not None:
                stored[key] = id_
        ids.append(id_)
    return ids, new


def _largest_id(conn: sqlite3.Connection) -> int:
    """The id the next document follows: the largest stored (or, in a table of an older version
    with AUTOINCREMENT, the largest ever given), 0 in an empty table."""
    (last,) = conn.execute("SELECT max(id) FROM documents").fetchone()
    return max(last or 0, autoincrement_sequence(conn))


def autoincrement_sequence(conn: sqlite3.Connection) -> int:
    """The largest id an AUTOINCREMENT table of an older version ever gave, else 0."""
    try:
        row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'documents'").fetchone()
    except sqlite3.OperationalError:  # no table has AUTOINCREMENT: there is no sqlite_sequence
        return 0
    return 0 if row is None else int(row[0])


def move_key_to_hash_keys(conn: sqlite3.Connection) -> None:
    """Copy a table of an older layout, keyed by ``UNIQUE (collection, unique_hash)``, into one without
    that key (its indexes and AUTOINCREMENT counter kept), and fill ``hash_keys`` (in the caller's
    transaction)."""
    (table_sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'documents'").fetchone()
    if "UNIQUE" not in table_sql.upper():  # created by this version (no key to move)
        return
    autoincrement = "AUTOINCREMENT" in table_sql.upper()
    sequence = autoincrement_sequence(conn)
    indexes = [sql for (sql,) in conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'documents' AND sql IS NOT NULL")]
    conn.execute(DOCUMENTS_TABLE.format(name="documents_moving", autoincrement=" AUTOINCREMENT" if autoincrement else ""))
    conn.execute("INSERT INTO documents_moving (id, collection, unique_hash, document) "
                 "SELECT id, collection, unique_hash, document FROM documents ORDER BY id")
    conn.execute("DROP TABLE documents")
    conn.execute("ALTER TABLE documents_moving RENAME TO documents")
    for sql in indexes:
        conn.execute(sql)
    if autoincrement:
        conn.execute("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'documents'", (sequence,))
    conn.execute("DELETE FROM hash_keys")
    conn.execute("DELETE FROM hash_keys_recent")
    conn.execute("DELETE FROM hash_key_collisions")
    salts: Dict[str, int] = {}
    keys = []
    collisions = []
    taken = set()
    for id_, collection, key in conn.execute(
        "SELECT id, collection, unique_hash FROM documents WHERE unique_hash IS NOT NULL ORDER BY id"
    ):
        salt = salts.get(collection)
        if salt is None:
            salt = salts[collection] = collection_salt(collection)
        prefix = hash_prefix(key, salt)
        if prefix in taken:
            collisions.append((collection, key, id_))
        else:
            taken.add(prefix)
            keys.append((prefix, id_))
    keys.sort()
    conn.executemany("INSERT INTO hash_keys (key, id) VALUES (?, ?)", keys)
    conn.executemany("INSERT INTO hash_key_collisions (collection, unique_hash, id) VALUES (?, ?, ?)", collisions)
