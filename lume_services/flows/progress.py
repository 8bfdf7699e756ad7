"""Following a flow of flows child by child as it runs.

A :class:`ChildProgress` listens to the task events of a local run (see
``services/scheduling/task_events.py``): it lives in the process that
runs the flow and is never sent to the tasks, so it works under every executor
(``local``, ``local_dask`` with threads or processes, ``dask``). What it tells
its callback are :class:`ChildEvent` s: each child's start, then its finish with
its state and elapsed time.
"""

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Literal, Optional

from lume_services.errors import FlowOfFlowsNotComposedError
from lume_services.services.scheduling.task_events import TaskEvents

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChildEvent:
    """A composing flow started or finished.

    Attributes:
        child: the composing flow's name.
        event: ``"started"`` or ``"finished"``.
        state: for ``finished``: ``"Success"``, ``"Failed"`` (a task of the
            child failed) or ``"TriggerFailed"`` (not run because a parent
            failed); ``None`` for ``started``.
        elapsed: for ``finished``: seconds from the child's start to its finish.
    """

    child: str
    event: Literal["started", "finished"]
    state: Optional[str] = None
    elapsed: Optional[float] = None

    def __str__(self) -> str:
        if self.event == "started":
            return f"flow {self.child!r} started"
        return f"flow {self.child!r} finished: {self.state} in {self.elapsed:.2f} s"


class ChildProgress(TaskEvents):
    """Turns a composed flow of flows' task events into one start and one finish per child.

    Usually made for you: ``fof.run_and_return(parameters, progress=print)``
    calls ``print`` with each :class:`ChildEvent`. To make one yourself, compose
    first (the tasks it counts are the composed flow's)::

        fof.compose("unused")                  # or fof.ensure_composed()
        progress = ChildProgress(fof, print)
        fof.run(parameters, task_events=progress)

    A callback that raises is logged once and not called again; it never
    changes the run. Where the executor cannot see a child start (``dask``),
    its start is the moment its last parent finished.

    Args:
        flow_of_flows: the composed flow of flows.
        callback: called with each :class:`ChildEvent`, from the process
            running the flow (possibly from several threads, one at a time).
        flow: the composed Prefect flow that runs (``None``: the flow of
            flows' own; a run that reuses children runs another).

    Raises:
        FlowOfFlowsNotComposedError: the flow of flows is not composed yet (a ``FlowNotLoadedError``).
    """

    def __init__(self, flow_of_flows: Any, callback: Callable[[ChildEvent], Any], flow: Any = None) -> None:
        if flow is None and flow_of_flows.prefect_flow is None:
            raise FlowOfFlowsNotComposedError(flow_of_flows.name, needed_by=type(self).__name__)
        self.callback = callback
        self._lock = threading.RLock()
        self._broken = False
        self._run_start = time.monotonic()
        self._parents: Dict[str, List[str]] = {c: flow_of_flows.parents(c) for c in flow_of_flows.composing_flows}
        self._pending: Dict[str, int] = {c: 0 for c in flow_of_flows.composing_flows}
        for task in (flow or flow_of_flows.prefect_flow).tasks:
            child, sep, _ = task.name.partition("/")
            if sep and child in self._pending:
                self._pending[child] += 1
        self._states: Dict[str, str] = {c: "Success" for c in self._pending}
        self._started: Dict[str, float] = {}
        self._finished: Dict[str, float] = {}
        self._held: Dict[str, float] = {}  # finished before a parent was reported: {child: when}

    # --- task events (from the executor) ----------------------------------------

    def task_started(self, task_name: str, map_index: Optional[int]) -> None:
        child = self._child_of(task_name, map_index)
        if child is None:
            return
        with self._lock:
            self._start(child, time.monotonic())

    def task_finished(self, task_name: str, map_index: Optional[int], state: Any) -> None:
        child = self._child_of(task_name, map_index)
        if child is None:
            return
        with self._lock:
            if child in self._finished or child in self._held:
                return
            self._record(child, state)
            self._pending[child] -= 1
            if self._pending[child] <= 0:
                self._finish(child, time.monotonic())

    def finish(self, final_state: Any = None) -> None:
        """Report every child not reported yet, from the run's final state (after the run).

        Args:
            final_state: the composed flow's final Prefect state; its task
                states decide the children's.
        """
        task_states = getattr(final_state, "result", None)
        task_states = task_states if isinstance(task_states, dict) else {}
        with self._lock:
            now = time.monotonic()
            for task, state in task_states.items():
                child = self._child_of(task.name, None)
                if child is not None and child not in self._finished:
                    self._record(child, state)
            for child in self._pending:
                if child not in self._finished and child not in self._held:
                    self._held[child] = now
            while self._held:  # parents first: each pass reports every held child whose parents were
                ready = [c for c in self._held if all(p in self._finished or p not in self._held
                                                      for p in self._parents[c])]
                for child in ready or list(self._held):
                    self._report_finish(child, self._held.pop(child))

    def final_states(self) -> Dict[str, str]:
        """``{child: state}`` of the children reported finished so far."""
        with self._lock:
            return {c: self._states[c] for c in self._finished}

    # --- how a child's start, state and finish are decided ---------------------------

    def _child_of(self, task_name: str, map_index: Optional[int]) -> Optional[str]:
        if map_index is not None:  # a mapped child of a task: its parent task reports
            return None
        child, sep, _ = task_name.partition("/")
        return child if sep and child in self._pending else None

    def _record(self, child: str, state: Any) -> None:
        from prefect.engine.state import TriggerFailed

        if state is None or (state.is_failed() and not isinstance(state, TriggerFailed)):
            self._states[child] = "Failed"
        elif isinstance(state, TriggerFailed) and self._states[child] == "Success":
            self._states[child] = "TriggerFailed"

    def _start(self, child: str, at: float) -> None:
        if child not in self._started:
            self._started[child] = at
            self._emit(ChildEvent(child, "started"))

    def _finish(self, child: str, at: float) -> None:
        """Report ``child`` finished at ``at``, after its parents.

        Under ``dask`` the client hears of finished tasks from its callback
        thread in no set order: a child's last task can be heard of before its
        parent's. Such a child is held until its parents are reported, so the
        events always follow the flow of flows' order.
        """
        if any(p not in self._finished for p in self._parents[child]):
            self._held[child] = at
            return
        self._report_finish(child, at)
        released = True
        while released:
            released = False
            for held in list(self._held):
                if all(p in self._finished for p in self._parents[held]):
                    self._report_finish(held, self._held.pop(held))
                    released = True

    def _report_finish(self, child: str, at: float) -> None:
        if child not in self._started:
            # not seen starting (dask): it could start once its last parent finished
            parents_done = [self._finished[p] for p in self._parents[child] if p in self._finished]
            self._start(child, min(at, max([self._run_start, *parents_done])))
        self._finished[child] = at
        self._emit(ChildEvent(child, "finished", self._states[child], at - self._started[child]))

    def _emit(self, event: ChildEvent) -> None:
        if self._broken:
            return
        try:
            self.callback(event)
        except Exception:  # progress never decides a run's outcome
            self._broken = True
            logger.warning("progress callback %r failed; it is no longer called", self.callback, exc_info=True)
