"""The results database service and its implementations (embedded SQLite, MongoDB).

``MongodbResultsDB`` and ``MongodbResultsDBConfig`` are importable from here, as
in LUME-services; importing them does not import pymongo.
"""

from typing import Any

# Named on first use (PEP 562): the flow models import ``db`` and ``service``
# without the MongoDB settings model.
_HOMES = {
    "MongodbResultsDB": "mongodb",
    "MongodbResultsDBConfig": "mongodb",
    "ResultsDB": "db",
    "ResultsDBConfig": "db",
    "ResultsDBService": "service",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_HOMES))


__all__ = ["MongodbResultsDB", "MongodbResultsDBConfig", "ResultsDB", "ResultsDBConfig", "ResultsDBService"]
