"""LUME-services' result helpers: type strings, the packaged result types, their collections."""

from typing import Any, Dict, List, Type

from lume_services.results.impact import ImpactResult
from lume_services.results.result import Result, get_result_from_string
from lume_services.type_strings import type_string

__all__ = ["get_collections", "get_result_from_string", "get_result_types", "get_unique_hash"]


def get_result_types() -> Dict[str, Type[Result]]:
    """The result types packaged with lume-services, by type string."""
    return {type_string(cls): cls for cls in (Result, ImpactResult)}


def get_collections() -> Dict[str, List[str]]:
    """The default collection of each packaged result type, and the fields that identify its results.

    Returns:
        ``{"generic": ["inputs", "outputs"], "Impact": ["inputs", "outputs"]}``.
    """
    return {
        cls.default_project_name(): list(cls.__fields__["unique_on"].default)
        for cls in get_result_types().values()
    }


def get_unique_hash(result_rep: Dict[str, Any]) -> str:
    """The unique hash of the result a reference (``Result.unique_rep()``) points to.

    A reference's query holds the hash; a query of LUME-services' first
    references (the values of the ``unique_on`` fields) is hashed as the type hashes its results.
    """
    query = result_rep["query"]
    if "unique_hash" in query:
        return query["unique_hash"]
    result_type = get_result_from_string(result_rep["result_type_string"])
    values = {**query, "unique_on": result_type.__fields__["unique_on"].default,
              "result_type_string": type_string(result_type)}
    return result_type._hash(values)
