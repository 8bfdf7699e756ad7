"""Results: the inputs and outputs of flow runs, stored in the results database.

A flow stores a :class:`Result` (or a subclass of it) and returns
``result.unique_rep()``; another flow run loads it with :func:`load_result`
(or the packaged ``LoadDBResult`` task). LUME-services' modules are here too:
``results.generic`` (``Result``), ``results.impact`` (``ImpactResult``) and
``results.utils``.
"""

from lume_services.results.impact import ImpactResult
from lume_services.results.result import Result, get_bson_dict, get_result_from_string, load_db_dict, load_result
from lume_services.results.utils import get_collections, get_result_types, get_unique_hash

__all__ = [
    "ImpactResult",
    "Result",
    "get_bson_dict",
    "get_collections",
    "get_result_from_string",
    "get_result_types",
    "get_unique_hash",
    "load_db_dict",
    "load_result",
]
