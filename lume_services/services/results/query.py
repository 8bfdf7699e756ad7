"""The query language of the results database: equality on dotted paths, as MongoDB means it.

A query maps dotted field paths to values, ``{"outputs.cube": 27,
"inputs.name": "a"}``; a document matches when every path holds its value.
MongoDB evaluates such queries natively; the embedded database evaluates them
with :func:`matches`, which follows MongoDB's rules so that a query means the
same on every implementation:

- numbers compare by value (``27`` matches ``27.0``); booleans are not numbers
  (``1`` does not match ``true``);
- ``None`` matches a null value or a missing field;
- where the path holds a list, a value matches the list itself or any element;
- a path continues through a list into the dicts it contains, and a numeric
  component also indexes the list (``"a.0"``);
- dicts compare key by key, in order.

Operators (``$gt``, ``$in``, ...) are not supported; every implementation
refuses them with :class:`~lume_services.errors.UnsupportedQueryError`.
"""

from typing import Any, Iterator, List, Sequence, Union

from lume_services.errors import InvalidIndexError, UnsupportedQueryError
from lume_services.services.results.encoding import json_default

_SCALARS = (str, int, float, bool, type(None))
_MISSING = object()


def _is_path(path: Any) -> bool:
    return isinstance(path, str) and bool(path) and all(path.split("."))


def validate_index_fields(fields: Union[str, Sequence[str]]) -> List[str]:
    """Check the fields of an index and return them as a list (one path -> ``[path]``).

    Raises:
        InvalidIndexError: no field is given, or one is not a dotted field path.
    """
    listed = [fields] if isinstance(fields, str) else fields
    if not isinstance(listed, (list, tuple)) or not listed:
        raise InvalidIndexError(fields, "no field is given")
    for path in listed:
        if not _is_path(path) or path.startswith("$"):
            raise InvalidIndexError(fields, f"{path!r} is not a dotted field path")
    if len(set(listed)) != len(listed):
        raise InvalidIndexError(fields, "a field is given twice")
    return list(listed)


def validate_query(query: Any) -> dict:
    """Check that a query is equality on dotted paths and return it (``None`` -> ``{}``).

    Values are taken as inserts store them: numpy arrays and numbers as lists
    and numbers, datetimes as ISO text (``encoding.json_default``).

    Raises:
        UnsupportedQueryError: the query is not a dict of dotted paths to plain
            values, or uses an operator.
    """
    if query is None:
        return {}
    if not isinstance(query, dict):
        raise UnsupportedQueryError(query, f"a query is a dict, not a {type(query).__name__}")
    for path, value in query.items():
        if not _is_path(path):
            raise UnsupportedQueryError(query, f"{path!r} is not a dotted field path")
        if path.startswith("$"):
            raise UnsupportedQueryError(query, f"operator {path!r} is not supported")
    query = {path: _as_stored(value) for path, value in query.items()}
    for value in query.values():
        _check_value(query, value)
    return query


def _as_stored(value: Any) -> Any:
    """The value as inserts store it: what ``json`` cannot encode, as ``json_default`` encodes it."""
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, (list, tuple)):
        return [_as_stored(item) for item in value]
    if isinstance(value, dict):
        return {key: _as_stored(item) for key, item in value.items()}
    try:
        return _as_stored(json_default(value))
    except TypeError:
        return value  # refused by _check_value, naming it


def _check_value(query: dict, value: Any) -> None:
    if isinstance(value, _SCALARS):
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            _check_value(query, item)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or key.startswith("$"):
                raise UnsupportedQueryError(query, f"operator or key {key!r} is not supported")
            _check_value(query, item)
        return
    raise UnsupportedQueryError(
        query, f"values are JSON data (str, number, bool, None, list, dict), not {value!r}"
    )


def matches(document: dict, query: dict) -> bool:
    """Return whether ``document`` matches the (validated) ``query``."""
    return all(_path_matches(document, path.split("."), value) for path, value in query.items())


def _path_matches(document: dict, parts: List[str], value: Any) -> bool:
    candidates = list(_resolve(document, parts))
    if value is None:
        return any(c is _MISSING or c is None for c in candidates) or not candidates
    for candidate in candidates:
        if candidate is _MISSING:
            continue
        if _equal(candidate, value):
            return True
        if isinstance(candidate, list) and any(_equal(item, value) for item in candidate):
            return True
    return False


def _resolve(node: Any, parts: List[str]) -> Iterator[Any]:
    """Yield every value the path reaches, MongoDB-style, or ``_MISSING``."""
    if not parts:
        yield node
        return
    head, rest = parts[0], parts[1:]
    if isinstance(node, dict):
        yield from _resolve(node[head], rest) if head in node else iter([_MISSING])
    elif isinstance(node, list):
        if head.isdigit() and int(head) < len(node):
            yield from _resolve(node[int(head)], rest)
        for item in node:
            if isinstance(item, dict):
                yield from _resolve(item, parts)
    else:
        yield _MISSING


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return len(a) == len(b) and all(
            ka == kb and _equal(va, vb) for (ka, va), (kb, vb) in zip(a.items(), b.items())
        )
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, (dict, list, tuple, int, float)) or isinstance(b, (dict, list, tuple)):
        return False
    return type(a) is type(b) and a == b
