"""The results database service and its implementations (embedded SQLite, MongoDB).

``MongodbResultsDB`` and ``MongodbResultsDBConfig`` are importable from here, as
in LUME-services; importing them does not import pymongo.
"""

from lume_services.services.results.db import ResultsDB, ResultsDBConfig
from lume_services.services.results.mongodb import MongodbResultsDB, MongodbResultsDBConfig
from lume_services.services.results.service import ResultsDBService

__all__ = ["MongodbResultsDB", "MongodbResultsDBConfig", "ResultsDB", "ResultsDBConfig", "ResultsDBService"]
