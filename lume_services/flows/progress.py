"""Following a flow of flows child by child as it runs."""

import threading
from collections import defaultdict
from typing import Dict

from lume_services.errors import FlowOfFlowsNotComposedError


class ChildProgress:
    """A task state handler that reports each composing flow once all its tasks finished.

    Pass it to a local run to follow a flow of flows child by child::

        progress = ChildProgress(fof, lambda child, state: print(child, state))
        fof.run_and_return(task_runner_state_handlers=[progress])

    ``state`` is ``"Success"``, ``"Failed"`` (a task of the child failed) or
    ``"TriggerFailed"`` (not run because a parent failed). Local backend only,
    and only with executors that run tasks in this process (``local``,
    ``local_dask`` with threads).

    Args:
        flow_of_flows: the composed flow of flows.
        callback: called as ``callback(child_name, state)``.
    """

    def __init__(self, flow_of_flows, callback):
        if flow_of_flows.prefect_flow is None:
            raise FlowOfFlowsNotComposedError(flow_of_flows.name, needed_by=type(self).__name__)
        self.callback = callback
        self._lock = threading.Lock()
        self._pending: Dict[str, int] = defaultdict(int)
        self._states: Dict[str, str] = {}
        for task in flow_of_flows.prefect_flow.tasks:
            child, sep, _ = task.name.partition("/")
            if sep and child in flow_of_flows.composing_flows:
                self._pending[child] += 1
        for child in flow_of_flows.composing_flows:
            self._states[child] = "Success"

    def __call__(self, task_runner, old_state, new_state):
        import prefect
        from prefect.engine.state import TriggerFailed

        if not new_state.is_finished() or prefect.context.get("map_index") is not None:
            return new_state
        child, sep, _ = task_runner.task.name.partition("/")
        if not sep or child not in self._pending:
            return new_state
        with self._lock:
            if isinstance(new_state, TriggerFailed):
                if self._states[child] == "Success":
                    self._states[child] = "TriggerFailed"
            elif new_state.is_failed():
                self._states[child] = "Failed"
            self._pending[child] -= 1
            done = self._pending[child] == 0
        if done:
            self.callback(child, self._states[child])
        return new_state
