"""The results database service and its implementations (embedded SQLite, MongoDB).

``MongodbResultsDB`` and ``MongodbResultsDBConfig`` are importable from here, as
in LUME-services; importing them does not import pymongo.
"""

from lume_services._lazy_face import lazy_names

# Named on first use (PEP 562): the flow models import ``db`` and ``service``
# without the MongoDB settings model.
_HOMES = {
    "MongodbResultsDB": "mongodb",
    "MongodbResultsDBConfig": "mongodb",
    "ResultsDB": "db",
    "ResultsDBConfig": "db",
    "ResultsDBService": "service",
}


__getattr__, __dir__ = lazy_names(__name__, _HOMES)


__all__ = ["MongodbResultsDB", "MongodbResultsDBConfig", "ResultsDB", "ResultsDBConfig", "ResultsDBService"]
