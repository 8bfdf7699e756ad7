"""Results: the inputs and outputs of flow runs, stored in the results database.

A flow stores a :class:`Result` (or a subclass of it) and returns
``result.unique_rep()``; another flow run loads it with :func:`load_result`
(or the packaged ``LoadDBResult`` task).
"""

# The composition root first: its container wires this package when it is made.
import lume_services.config  # noqa: F401,I001

from lume_services.results.result import Result, get_result_from_string, load_result

__all__ = ["Result", "get_result_from_string", "load_result"]
