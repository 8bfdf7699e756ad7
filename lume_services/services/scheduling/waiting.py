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
