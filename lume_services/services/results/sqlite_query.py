"""Equality queries on dotted paths as SQL over the embedded database's JSON documents.

SQL answers a query term only where it gives exactly what
:func:`~lume_services.services.results.query.matches` gives; every other case is
sent to that matcher, so the meaning of a query never depends on where it runs.

Each dotted path ``p`` becomes one SQL expression, :func:`path_key`, over the
row's document: the value at ``p`` reduced to a key that plain ``=`` compares
exactly as the matcher does, or ``UNSURE`` where it cannot:

- a number -> the number (SQLite compares integers and reals by value, as the
  matcher does: ``27`` equals ``27.0``); a string -> the string;
- ``true`` / ``false`` / an object / a null or missing value -> a blob of its own,
  so that ``true`` never equals ``1`` and an object never equals its JSON text;
- a list at ``p``, or on the way to it, -> ``UNSURE``: the matcher then looks
  into the list (its elements, the dicts in it, numeric indexes), which a single
  ``json_extract`` cannot follow. A list on the way always hides ``p`` from
  ``json_extract``, so lists on the way are only looked for when ``p`` is missing;
- a document that is not a JSON object (one kept as text because it holds NaN,
  infinities or NUL characters, see ``SQLiteResultsDB``) -> ``UNSURE``.

A term selects the rows whose key equals the query value's key or is
``UNSURE``; the matcher checks the ``UNSURE`` rows. The same expression text is
used in indexes (:func:`index_sql`) and queries, so SQLite uses an index on the
path for the term.

``unique_hash`` (:data:`KEY_FIELD`) is the exception: the table keeps it in a
column of its own (not indexed), a string as it is and any other value as a
blob of its JSON, and indexes it in ``hash_keys`` and ``hash_keys_recent``,
tables of 60-bit integer prefixes (:func:`hash_prefix`) and document ids, plus
``hash_key_collisions``
for the rare documents whose prefix another hash holds already (see
``SQLiteResultsDB``). A string query value is looked up there by its prefix and
then compared in full: the rows holding that string match; the rows whose hash
is not a string (a partial index holds them) go to the matcher, since a list
may hold the value.
"""

import hashlib
import math
import re
from typing import Any, List, Optional, Sequence, Tuple, Union

#: The field held in the documents table's own unique column (see the module doc).
KEY_FIELD = "unique_hash"

#: A row SQL cannot decide for a path; the Python matcher decides it.
UNSURE = "X'00'"
_TRUE, _FALSE, _OBJECT, _NULL = "X'01'", "X'02'", "X'03'", "X'04'"

# Keys SQLite's JSON paths address exactly: printable ASCII without quotes or
# backslashes. Other keys (stored escaped by json.dumps, or needing escapes in
# a JSON path) are left to the matcher.
_PLAIN_KEY = re.compile(r"[ !#-\[\]-~]+")

# Beyond 2**53 an integer and a float may be equal for SQLite (which turns
# integers beyond 64 bits into reals) and not for Python, or the other way round.
_EXACT_NUMBERS = 2.0**53


def collection_salt(collection: str) -> int:
    """The 60 bits mixed into every hash prefix of a collection (:func:`hash_prefix`).

    The same hash stored in two collections (a result kept in two projects)
    gets two prefixes, so it takes no place of the other in ``hash_keys``.
    Stored in files: never change it.
    """
    digest = hashlib.blake2b(collection.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 4


def hash_prefix(key: Union[str, bytes], salt: int) -> int:
    """The integer ``hash_keys`` indexes a stored hash by: 60 bits of it, mixed with the collection's salt.

    A hash as lume-services makes them (hex text) gives its first 15 digits; any
    other text or blob gives 60 bits of its BLAKE2b digest. Several hashes may
    share a prefix: a prefix only says where to look, the stored hash is then
    compared in full. :meth:`SQLiteResultsDB.insert_many` computes the common
    case inline (``int(key[:15], 16) ^ salt``): the two must agree. Stored in
    files: never change it.
    """
    try:
        return int(key[:15], 16) ^ salt
    except ValueError:
        data = key.encode("utf-8", "surrogatepass") if isinstance(key, str) else key
        return (int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big") >> 4) ^ salt


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _json_path(parts: Sequence[str]) -> str:
    return _sql_text("$" + "".join(f'."{part}"' for part in parts))


def sql_addressable(path: str) -> bool:
    """Return whether SQL can address every key of the dotted path exactly."""
    return all(_PLAIN_KEY.fullmatch(part) for part in path.split("."))


def path_key(path: str) -> str:
    """Return the SQL expression of the key of ``path`` in column ``document`` (see module doc)."""
    parts = path.split(".")
    at = _json_path(parts)
    unsure = ["json_type(document) <> 'object'"] + [
        f"json_type(document, {_json_path(parts[:i])}) = 'array'" for i in range(1, len(parts))
    ]
    value = f"json_extract(document, {at})"
    return (
        f"(CASE json_type(document, {at}) "
        f"WHEN 'integer' THEN {value} WHEN 'real' THEN {value} WHEN 'text' THEN {value} "
        f"WHEN 'true' THEN {_TRUE} WHEN 'false' THEN {_FALSE} WHEN 'object' THEN {_OBJECT} "
        f"WHEN 'array' THEN {UNSURE} WHEN 'null' THEN {_NULL} "
        f"ELSE CASE WHEN {' OR '.join(unsure)} THEN {UNSURE} ELSE {_NULL} END END)"
    )


def index_name(fields: Sequence[str]) -> str:
    """Return the SQLite name of the index on ``fields`` (readable, and unique per fields)."""
    readable = re.sub(r"[^A-Za-z0-9]+", "_", "__".join(fields)).strip("_")[:40]
    digest = hashlib.sha1("\n".join(fields).encode()).hexdigest()[:10]
    return f"documents_by_{readable}_{digest}"


def index_sql(fields: Sequence[str]) -> str:
    """Return the ``CREATE INDEX`` statement of an index on the dotted ``fields``."""
    keys = ", ".join(path_key(field) for field in fields)
    return f"CREATE INDEX IF NOT EXISTS {index_name(fields)} ON documents (collection, {keys})"


def _value_key(value: Any) -> Optional[Tuple[str, list]]:
    """The SQL key of a scalar query value and its parameters; ``None`` if SQL cannot compare it."""
    if value is None:
        return _NULL, []
    if value is True:
        return _TRUE, []
    if value is False:
        return _FALSE, []
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or abs(value) >= _EXACT_NUMBERS:
            return None
        return "?", [value]
    if isinstance(value, str):
        try:
            value.encode("utf-8")  # lone surrogates cannot be sent to SQLite
        except UnicodeEncodeError:
            return None
        return ("?", [value]) if "\x00" not in value else None
    return None


#: the ids of the documents that may hold a string hash: those its prefix leads to, those of the
#: collisions holding it, and those whose hash is not a string (a partial index of the documents)
_HASH_CANDIDATES = (
    "id IN (SELECT id FROM hash_keys WHERE key = ? UNION ALL SELECT id FROM hash_keys_recent WHERE key = ? "
    "UNION ALL SELECT id FROM hash_key_collisions WHERE collection = ? AND unique_hash = ? "
    "UNION ALL SELECT id FROM documents INDEXED BY documents_hash_not_text "
    "WHERE collection = ? AND typeof(unique_hash) = 'blob') "
    "AND (unique_hash = ? OR typeof(unique_hash) = 'blob')"
)


def term(path: str, value: Any, collection: str = "") -> Optional[Tuple[str, list, str]]:
    """Translate one query term to SQL.

    Args:
        path: the dotted path.
        value: the value it must equal.
        collection: the collection queried (a hash is looked up by its prefix in it).

    Returns:
        ``(condition, parameters, needs_check)``: the rows meeting ``condition``
        include every match; those meeting ``needs_check`` must also pass the
        matcher. ``None`` when SQL can narrow nothing: every row is checked.
    """
    if path == KEY_FIELD and isinstance(value, str) and _value_key(value) is not None:
        prefix = hash_prefix(value, collection_salt(collection))
        return _HASH_CANDIDATES, [prefix, prefix, collection, value, collection, value], f"typeof({KEY_FIELD}) = 'blob'"
    if not sql_addressable(path):
        return None
    key = path_key(path)
    if isinstance(value, dict):
        # a dict equals only a dict; the matcher compares the two
        return f"{key} IN ({_OBJECT}, {UNSURE})", [], "1"
    if isinstance(value, (list, tuple)):
        # a list equals only a list, and lists are UNSURE
        return f"{key} = {UNSURE}", [], "1"
    value_key = _value_key(value)
    if value_key is None:
        return None
    sql, parameters = value_key
    return f"{key} IN ({sql}, {UNSURE})", parameters, f"{key} = {UNSURE}"


def where(query: dict, collection: str = "") -> Tuple[List[str], list, str]:
    """Translate a validated query on ``collection``.

    Returns:
        ``(conditions, parameters, needs_check)``: the SQL conditions every match
        meets, their parameters, and the SQL expression true for the rows the
        matcher must check.
    """
    conditions: List[str] = []
    parameters: list = []
    checks: List[str] = []
    for path, value in query.items():
        translated = term(path, value, collection)
        if translated is None:
            checks.append("1")
            continue
        condition, term_parameters, check = translated
        conditions.append(condition)
        parameters.extend(term_parameters)
        checks.append(check)
    return conditions, parameters, " OR ".join(checks) if checks else "0"
