"""The Prefect Server's limit on a run's state, and the size a value takes in one.

Neutral vocabulary: the server backends check the parameters of the runs they
create (``backends/server/runs.py``), and a composed flow of flows
(``flows/_child_runs.py``) checks the values it passes to each child before it
creates the child's run, with the same rule; each raises
``StateTooLargeError`` where it checks.
"""

import json
from typing import Any, Dict, Optional, Tuple

#: the largest flow or task run state a Prefect Server accepts, in bytes
STATE_SIZE_LIMIT = 1_000_000

#: what a state holds beside the value (its class, message, result fields), in bytes
STATE_MARGIN = 1_000

#: why a parameter's value is kept in a state (for ``StateTooLargeError``'s ``kept``)
PARAMETER_KEPT = "Prefect keeps every parameter's value in its task run's state (PrefectResult)"


def oversized_parameter(parameters: Dict[str, Any]) -> Optional[Tuple[str, int]]:
    """The first parameter (by name) whose value is too large for a task run state, with its size.

    A Prefect ``Parameter``'s result is always a ``PrefectResult``: its value
    is kept in its task run's state, which a Prefect Server refuses over
    :data:`STATE_SIZE_LIMIT` bytes, so the run would fail after it started
    (and, on a server, stay ``Running`` with its parameter refused).

    Returns:
        ``(name, size in bytes as JSON)``, or ``None`` when every value fits.
    """
    for name, value in sorted(parameters.items()):
        try:
            size = len(json.dumps(value).encode())
        except (TypeError, ValueError):
            continue  # not JSON: PrefectResult cannot keep it at all, Prefect says so
        # a state holds the value beside its own fields: count a margin for them
        if size + STATE_MARGIN > STATE_SIZE_LIMIT:
            return name, size
    return None
