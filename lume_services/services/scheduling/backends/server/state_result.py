"""Task results kept inside task run states on a Prefect 1 Server, refused when too large for one.

A Prefect ``PrefectResult`` keeps a task's value, as JSON, in the task run's
state, and a Prefect Server refuses states over
:data:`~lume_services.services.scheduling.backends.server.runs.STATE_SIZE_LIMIT`
bytes: the flow runner's state update fails and the run dies with the
server's "State payload is too large." This module's :class:`PrefectResult`
refuses such a value when the task's result is written, in the flow run,
so the task run fails with a :class:`~lume_services.errors.TaskResultTooLargeError`
naming the task, its size, the limit and the fix.

The class is named ``PrefectResult`` on purpose: Prefect serializes a result
by its class name (``prefect.serialization.result.StateResultSchema``; an
unknown name becomes a ``CustomResult`` that is read back as a bare
``Result``, which cannot read its location). Under Prefect's own name, the
registered flow and every task run state carry ``{"type": "PrefectResult"}``,
so the server, ``FlowRunView``, ``get_task_run_result`` and a flow runner
without lume-services all read them as Prefect's ``PrefectResult``. The
check itself travels with the flow: flow storage pickles the flow, result
included, and the flow runner (in a container, or a LocalAgent's subprocess)
unpickles this class, as it imports the flow's lume-services tasks.
"""

import json
from typing import Any

import prefect
from prefect.engine.results import PrefectResult as _PrefectsPrefectResult

from lume_services.errors import TaskResultTooLargeError
from lume_services.services.scheduling.backends.server.runs import STATE_SIZE_LIMIT

#: bytes a task run's state takes beside its result's location (type, message,
#: timestamps), counted with the location against the limit
STATE_MARGIN = 1_000


def size_in_state(location: str) -> int:
    """Bytes a result's location takes inside its serialized state (a JSON string: quoted, escaped)."""
    return len(json.dumps(location).encode())


class PrefectResult(_PrefectsPrefectResult):
    """Prefect's ``PrefectResult``, refusing values too large for a task run's state.

    :meth:`write` serializes the value as Prefect's does, then raises
    :class:`~lume_services.errors.TaskResultTooLargeError` when the value,
    kept in the state with :data:`STATE_MARGIN` bytes for the state's other
    fields, would be over :data:`STATE_SIZE_LIMIT`. Everything else is
    Prefect's (see the module's docstring for why it shares Prefect's name).
    """

    #: the largest state the server accepts, in bytes
    limit = STATE_SIZE_LIMIT

    def write(self, value_: Any, **kwargs: Any):
        """Serialize ``value_`` into the result's location, as Prefect's ``PrefectResult`` does.

        Raises:
            TaskResultTooLargeError: the value is too large for the task run's
                state; names the flow and task (from the run's context), the
                size and the limit.
        """
        new = super().write(value_, **kwargs)
        size = size_in_state(new.location)
        if size + STATE_MARGIN > self.limit:
            context = {**kwargs, **prefect.context}
            raise TaskResultTooLargeError(
                context.get("flow_name"),
                context.get("task_full_name") or context.get("task_name"),
                size,
                self.limit,
            )
        return new
