"""The Prefect Server's limit on a run's state, and the check of values that will be kept in states.

Neutral vocabulary: the server backends check the parameters of the runs they
create, and a composed flow of flows (``flows/_child_runs.py``) checks the
values it passes to each child before it creates the child's run, with the
same rule.
"""

import json
from typing import Any, Dict

from lume_services.errors import StateTooLargeError

#: the largest flow or task run state a Prefect Server accepts, in bytes
STATE_SIZE_LIMIT = 1_000_000

#: what a state holds beside the value (its class, message, result fields), in bytes
STATE_MARGIN = 1_000


def check_state_sizes(flow_name: str, parameters: Dict[str, Any]) -> None:
    """Refuse parameter values too large for the task run states that will keep them.

    A Prefect ``Parameter``'s result is always a ``PrefectResult``: its value
    is kept in its task run's state, which a Prefect Server refuses over
    :data:`STATE_SIZE_LIMIT` bytes, so the run would fail after it started
    (and, on a server, stay ``Running`` with its parameter refused).

    Raises:
        StateTooLargeError: a value is over the limit, naming it and the limit.
    """
    for name, value in sorted(parameters.items()):
        try:
            size = len(json.dumps(value).encode())
        except (TypeError, ValueError):
            continue  # not JSON: PrefectResult cannot keep it at all, Prefect says so
        # a state holds the value beside its own fields: count a margin for them
        if size + STATE_MARGIN > STATE_SIZE_LIMIT:
            raise StateTooLargeError(
                flow_name, f"parameter {name!r}", size, STATE_SIZE_LIMIT,
                "Prefect keeps every parameter's value in its task run's state (PrefectResult)",
            )
