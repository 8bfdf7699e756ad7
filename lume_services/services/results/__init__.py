"""The results database service and its implementations (embedded SQLite, MongoDB)."""

from lume_services.services.results.db import ResultsDB
from lume_services.services.results.service import ResultsDBService

__all__ = ["ResultsDB", "ResultsDBService"]
