"""Waiting for runs: time limits, and what a wait for a server flow run polls.

The composed flow of a flow of flows (``flows/_child_runs.py``) and the server
backends (``backends/server/runs.py``) wait for flow runs the same way; the poll
they share lives here, beside the service, so neither reaches into the other.
"""

from datetime import timedelta
from typing import Optional, Union

from lume_services.services.scheduling.clock import SYSTEM_CLOCK, Clock

#: the flow run context key holding the seconds between polls of the runs a run
#: waits for (a composed flow of flows' child runs); Prefect's flow runner puts
#: a run's context into ``prefect.context``
POLL_INTERVAL_CONTEXT_KEY = "lume_services_poll_interval"

#: the flow run context key holding when the waits of a run must end, as UTC
#: seconds since the epoch (``time.time()``): a composed flow of flows' waits
#: for its children end then, so a stuck child fails the run before the
#: caller's own deadline passes
DEADLINE_CONTEXT_KEY = "lume_services_deadline"

#: the flow run context key that, set to ``False``, keeps a composed flow of
#: flows' children out of its flow-run process (``LUME_PREFECT__CHILDREN_IN_PROCESS``):
#: each child then runs where an agent starts it, even where it could run in the parent's
IN_PROCESS_CONTEXT_KEY = "lume_services_children_in_process"

#: the message of the Submitted state with which a composed run's process claims a
#: child's run to run it in itself (``flows/_child_in_process.py``); an agent that
#: saw that process end fails the runs it had claimed (``backends/server/ended_processes.py``)
CLAIM_MESSAGE = "Submitted for execution in the parent's flow-run process"

#: the key, in the context of a run's ``Failed`` state, of the facts about its process that
#: ended before the run did (``pid``, ``signal``, ``exit_code``, ``child_of``): set by the
#: agent that saw it end, read by :func:`raise_for_failed_run`
ENDED_CONTEXT_KEY = "lume_services_process_ended"

#: the one request a poll of a flow run makes
STATE_QUERY = "query($id: uuid!) { flow_run_by_pk(id: $id) { serialized_state } }"


def as_timedelta(value: Union[None, float, int, timedelta]) -> Optional[timedelta]:
    """Seconds (or a ``timedelta``) as a ``timedelta``; ``None`` stays ``None``."""
    if value is None or isinstance(value, timedelta):
        return value
    return timedelta(seconds=float(value))


class Deadline:
    """When a wait (for one run, or for all runs of a flow of flows) must end.

    Args:
        limit: the time allowed from now; ``None`` allows any time.
        clock: the clock it is measured on (and that waits for it sleep on).
    """

    def __init__(self, limit: Optional[timedelta], clock: Clock = SYSTEM_CLOCK):
        self.limit = limit
        self.clock = clock
        self._at = None if limit is None else clock.monotonic() + limit.total_seconds()

    def passed(self) -> bool:
        """Whether the deadline has come."""
        return self._at is not None and self.clock.monotonic() >= self._at

    def wall_clock(self) -> Optional[float]:
        """When the deadline passes as ``time.time()`` reads it (for another process); ``None``: never."""
        if self._at is None:
            return None
        return self.clock.time() + (self._at - self.clock.monotonic())

    def capped(self, seconds: float) -> float:
        """``seconds``, or less when the deadline comes sooner."""
        if self._at is None:
            return seconds
        return min(seconds, max(0.0, self._at - self.clock.monotonic()))


def raise_for_failed_run(flow_name: str, failed_tasks: dict, state, flow_run_id: Optional[str]) -> None:
    """Raise the error of a run that ended in ``state`` without succeeding.

    Args:
        flow_name: the run's flow.
        failed_tasks: ``{task name: message}`` of the tasks that failed on their own.
        state: the run's final Prefect state.
        flow_run_id: the run.

    Raises:
        FlowRunProcessEndedError: its process ended before it did (the state's
            context holds :data:`ENDED_CONTEXT_KEY`, set by the agent that saw it end).
        FlowFailedError: otherwise.
    """
    from lume_services.errors import FlowFailedError, FlowRunProcessEndedError

    ended = (getattr(state, "context", None) or {}).get(ENDED_CONTEXT_KEY)
    if isinstance(ended, dict):
        raise FlowRunProcessEndedError(flow_name, flow_run_id, ended.get("pid"), ended.get("signal"),
                                       ended.get("exit_code"), child_of=ended.get("child_of"))
    raise FlowFailedError(flow_name, failed_tasks,
                          message=state.message or f"the run ended {type(state).__name__}", flow_run_id=flow_run_id)
