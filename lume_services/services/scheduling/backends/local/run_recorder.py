"""Recording one local run in the run history, without ever failing the run.

:class:`RunRecorder` writes the run when it starts and when it ends; each
task is timed by a task state handler passed to Prefect's flow runner, which
runs where the task runs and leaves what it saw (times, where a failed task
raised) on the task's state, so tasks run in other processes are recorded too. Every
write is guarded: a history that cannot be written (corrupt, disk full, not
ours) is logged as a warning, once per run, and the run goes on.
"""

import logging
import os
import threading
import traceback
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional

from lume_services.masking import mask_message
from lume_services.services.scheduling.clock import SYSTEM_CLOCK, Clock
from lume_services.services.scheduling.task_events import with_item_states
from lume_services.services.scheduling.task_order import tasks_in_slug_order
from lume_services.services.scheduling.backends.local.run_history import RunHistory
from lume_services.services.scheduling.run_records import (
    MAX_RESULT_BYTES,
    ChildPlan,
    ChildRun,
    TaskRun,
    mask_secrets,
    recordable,
)

logger = logging.getLogger("lume_services.run_history")


class TaskTimer:
    """A Prefect task state handler noting when each task started running and finished.

    It holds nothing but two dicts and its clock, so executors that send
    handlers to other processes can pickle it. What it sees there is carried back
    with the task's state instead (see :func:`carried`): each finished state gets
    its start, its end and, for a failed task, where its error was raised, in its
    ``context`` (Prefect's own place for facts about a state; it is pickled with it).

    Args:
        clock: the clock the times are read from.
    """

    def __init__(self, clock: Clock = SYSTEM_CLOCK):
        self.clock = clock
        self.starts: Dict[Any, float] = {}
        self.ends: Dict[Any, float] = {}
        #: called with ``(task, state)`` when a task finishes in this process (a flow of
        #: flows records its children as they finish); not sent to other processes
        self.on_finished: Optional[Callable[[Any, Any], None]] = None

    def __call__(self, task_runner, old_state, new_state):
        if new_state.is_running():
            now = self.clock.time()
            self.starts.setdefault(task_runner.task, now)
            _carry(new_state, start=now)
        elif new_state.is_finished():
            now = self.ends[task_runner.task] = self.clock.time()
            start = carried(old_state).get("start") if old_state is not None and old_state.is_running() else None
            _carry(new_state, start=start, end=now,
                   traceback=_formatted_traceback(new_state.result) if new_state.is_failed() else None)
            if self.on_finished is not None and not new_state.is_mapped():
                self.on_finished(task_runner.task, new_state)
        return new_state

    def __getstate__(self):
        return {**self.__dict__, "on_finished": None}  # a recorder's callback stays in its process


#: the key of a state's ``context`` under which :class:`TaskTimer` leaves what it saw
CARRIED = "lume_services"


def carried(state: Any) -> Dict[str, Any]:
    """What :class:`TaskTimer` left on ``state``: ``start`` and ``end`` (``time.time()``
    values) and ``traceback`` (text), each present when known."""
    context = getattr(state, "context", None)
    found = context.get(CARRIED) if isinstance(context, dict) else None
    return found if isinstance(found, dict) else {}


def _carry(state: Any, **facts: Any) -> None:
    """Leave ``facts`` (those not ``None``) on ``state``, a new dict (a state's context may be shared)."""
    facts = {k: v for k, v in facts.items() if v is not None}
    if facts and isinstance(getattr(state, "context", None), dict):
        state.context = {**state.context, CARRIED: {**carried(state), **facts}}


#: the innermost frames of a task's error kept in the history (the raising line is the last)
TRACEBACK_FRAMES = 8


def _formatted_traceback(error: Any) -> Optional[str]:
    """Where ``error`` was raised, from the task's own code on, as Python prints it; ``None`` if unknown.

    Prefect's frames (its task runner calling the task) are left out: what is kept is where
    the task's code raised (``File "/work/my_flows.py", line 7, in fail`` and the line).
    The text is made where the task ran: an error sent back from another process
    may arrive without its traceback (an exception class of the flow's own does).
    """
    tb = getattr(error, "__traceback__", None)
    if not isinstance(error, BaseException) or tb is None:
        return None
    import prefect

    prefect_dir = os.path.dirname(prefect.__file__) + os.sep
    frames = [frame for frame in traceback.extract_tb(tb) if not frame.filename.startswith(prefect_dir)]
    if not frames:
        return None
    lines = traceback.format_list(frames[-TRACEBACK_FRAMES:])
    return "Traceback (most recent call last):\n" + "".join(lines).rstrip("\n")


def _with_traceback(message: str, state: Any) -> str:
    """A failed task's message, with where its error was raised (carried with the state, or
    read from the error when it was raised in this process); else the message as it is."""
    text = carried(state).get("traceback") or _formatted_traceback(getattr(state, "result", None))
    return message if text is None else message + "\n" + text


def _at(timestamp: Optional[float]) -> Optional[datetime]:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, timezone.utc)


def _state_of(kinds: list, all_finished: bool) -> str:
    """A child's (or a sweep item's) state from its tasks' states (a mapped task's items among them)."""
    from prefect.engine.state import TriggerFailed

    if any(st.is_failed() and not isinstance(st, TriggerFailed) for st in kinds):
        return "Failed"
    if any(isinstance(st, TriggerFailed) for st in kinds):
        return "TriggerFailed"
    if kinds and all(st.is_successful() for st in kinds) and all_finished:
        return "Success"
    return next((type(st).__name__ for st in kinds if not st.is_successful()), "Pending")


def _items(plan: ChildPlan, finished: list, mapped: Dict[str, Any], state: str) -> List[ChildRun]:
    """A swept child's items, in item order, as a server's run history gives them (``ChildRun.items``).

    Item ``i`` is the ``i``-th item of each of the child's mapped tasks (every
    task of a swept child is mapped); its values are the ``i``-th of each
    swept mapped parameter and the one value of the others. A reused sweep's
    items are ``Cached``, from the run it reused. Their times are not known
    here (the composed run times a mapped task, not its items).
    """
    if not plan.sweeps:
        return []
    if plan.reused_from is not None:
        states = [state] * (plan.item_count or 0)
    else:
        per_task = [list(st.map_states) for st in finished if st.is_mapped() and st.map_states is not None]
        count = max((len(m) for m in per_task), default=0)
        states = [_state_of([m[i] for m in per_task if i < len(m)], all(i < len(m) for m in per_task))
                  for i in range(count)]

    def values(i: int) -> Dict[str, Any]:
        return {p: v[i] if p in plan.sweeps and isinstance(v, list) and i < len(v) else v for p, v in mapped.items()}

    return [ChildRun(plan.name, item_state, parents=list(plan.parents), mapped=values(i), flow_id=plan.flow_id,
                     reused_from=plan.reused_from if item_state == "Cached" else None)
            for i, item_state in enumerate(states)]


class RunRecorder:
    """Records one run of the local backend.

    Args:
        history: the run history.
        flow: the Prefect flow being run.
        parameters: the run's parameter values (masked before they are written).
        flow_id: the registered flow's id, if any.
        flow_version: its version.
        project_name: its project.
        executor: the executor, as text.
        children: for a flow of flows, what each child is in the composed flow.
        max_result_bytes: the largest task result kept as a value.
        clock: the clock the run's and its tasks' times are read from.
    """

    def __init__(self, history: RunHistory, flow, parameters: Dict[str, Any], flow_id: Optional[str] = None,
                 flow_version: Optional[int] = None, project_name: Optional[str] = None,
                 executor: Optional[str] = None, children: Optional[List[ChildPlan]] = None,
                 max_result_bytes: int = MAX_RESULT_BYTES, clock: Clock = SYSTEM_CLOCK):
        self.history = history
        self.clock = clock
        self.flow = flow
        self.parameters = parameters
        self.flow_id = flow_id
        self.flow_version = flow_version
        self.project_name = project_name
        self.executor = executor
        self.children = children or []
        self.max_result_bytes = max_result_bytes
        self.run_id = str(uuid.uuid4())
        self.timer = TaskTimer(clock)
        if self.children:
            # a flow of flows runs long: its tasks and children are recorded as they finish,
            # so a run killed half-way keeps what it reached (read back as Crashed)
            self._finished: Dict[Any, Any] = {}
            self._progress_lock = threading.Lock()
            self._plans: Optional[Dict[str, Any]] = None
            self.timer.on_finished = self._task_finished
        self._started = False
        self._recorded: Optional[Dict[str, Any]] = None
        #: the flow-of-flows declaration the run is made from (kept so it can be resumed by id)
        self.declaration: Optional[Dict[str, Any]] = None

    def _guard(self, what: str, fn) -> None:
        try:
            fn()
        except Exception as exc:  # recording never fails a run
            logger.warning(
                "the %s of run %s of flow %r could not be recorded in the run history at %s "
                "(the run goes on): %s",
                what, self.run_id, self.flow.name, self.history.path, exc,
            )
            return
        self._started = self._started or what == "start"

    def start(self) -> None:
        """Record the run as ``Running`` in this process."""
        self._guard("start", lambda: self.history.begin(
            self.run_id, self.flow.name, self.project_name, self.flow_id, self.flow_version,
            {name: mask_secrets(value, name) for name, value in self.parameters.items()},
            self.executor, self.clock.now(),
        ))
        if self._started and self.declaration is not None:
            self._guard("declaration", lambda: self.history.record_declaration(self.run_id, self.declaration))

    def finish(self, final_state=None, error: Optional[BaseException] = None) -> None:
        """Record how the run ended: its final state (or the error that stopped it), tasks and children."""
        if not self._started:
            return  # its start was not recorded: there is no row to finish (warned already)
        end = self.clock.now()

        def write():
            if error is not None:
                state = "Failed" if isinstance(error, Exception) else "Cancelled"
                message = mask_message(f"the run stopped: {type(error).__name__}: {error}")
                tasks, children = [], []
            else:
                state, message = type(final_state).__name__, final_state.message
                message = mask_message(message) if isinstance(message, str) else message
                tasks, states = self._tasks(final_state)
                children = self._children(tasks, states)
            self.history.finish(self.run_id, end, state, message, tasks, children)

        self._guard("end", write)

    def _task_finished(self, task, state) -> None:
        """Once all tasks of a child of a flow of flows finished, record them and the child.

        One short write per child, and work proportional to the child (its tasks and the
        parent tasks it maps from), so recording stays linear in the number of children.
        """
        if not self._started:
            return

        def write():
            with self._progress_lock:
                self._finished[task] = state
                plans = self._plans_index()
                rows: Dict[int, TaskRun] = {}
                children = []
                for i in plans["of_name"].get(task.name, []):
                    mine = plans["tasks"][i]
                    if any(self._finished.get(t) is None for t in mine):
                        continue  # the child is still running
                    for t in mine:
                        rows[plans["position"][t]] = self._task_record(t, self._finished[t])
                    relevant = mine + plans["sources"][i]
                    records = [self._task_record(t, self._finished.get(t)) for t in relevant]
                    # no cache key yet: keys are computed from every recorded result, at the end
                    (child,) = self._children(records, [self._finished.get(t) for t in relevant],
                                              plans=[self.children[i]], keys=False)
                    children.append((i, child))
            if children:
                self.history.record_progress(self.run_id, sorted(rows.items()), children)

        self._guard("progress", write)

    def _plans_index(self) -> Dict[str, Any]:
        """Per child (by its place in the plans): its tasks and the parent tasks it maps from;
        per task name, the children it belongs to; per task, its position (made once a run)."""
        if self._plans is None:
            order = tasks_in_slug_order(self.flow)
            of_name: Dict[str, List[int]] = {}
            tasks, sources = [], []
            for i, plan in enumerate(self.children):
                names, mapped = set(plan.tasks), set(plan.mapped.values())
                tasks.append([t for t in order if t.name in names])
                sources.append([t for t in order if t.name in mapped and t.name not in names])
                for name in names:
                    of_name.setdefault(name, []).append(i)
            self._plans = {"position": {t: i for i, t in enumerate(order)}, "of_name": of_name,
                           "tasks": tasks, "sources": sources}
        return self._plans

    def _tasks(self, final_state):
        task_states = final_state.result if isinstance(final_state.result, dict) else {}
        records, states = [], []
        for task in tasks_in_slug_order(self.flow):
            st = task_states.get(task)
            records.append(self._task_record(task, st))
            states.append(st)
        return records, states

    def _task_record(self, task, st) -> TaskRun:
        """What the history keeps of one task and its state (``None``: not run)."""
        from prefect import Parameter
        from prefect.engine.result import NoResultType

        record = TaskRun(name=task.name, slug=self.flow.slugs[task], state="Pending" if st is None else type(st).__name__)
        if st is not None:
            message = st.message
            if st.is_failed() and isinstance(message, str):
                message = _with_traceback(message, st)
            record.message = mask_message(message) if isinstance(message, str) else message
            record.start, record.end = (_at(t) for t in self._times(task, st))
            if st.is_successful():
                if st.is_skipped() or isinstance(st._result, NoResultType):
                    record.result_note = f"no result ({type(st).__name__})"
                else:
                    value = mask_secrets(st.result, task.name if isinstance(task, Parameter) else None)
                    record.result_recorded, record.result, record.result_note = recordable(
                        value, self.max_result_bytes
                    )
        return record

    def _times(self, task, st) -> tuple:
        """When ``task`` started and ended: as seen in this process, else as carried back
        with its state (and a mapped task's items' states) from where it ran."""
        start, end = self.timer.starts.get(task), self.timer.ends.get(task)
        if start is None or end is None:
            seen = [carried(s) for s in with_item_states(st)]
            starts = [c["start"] for c in seen if "start" in c]
            ends = [c["end"] for c in seen if "end" in c]
            start = start if start is not None else min(starts, default=None)
            end = end if end is not None else max(ends, default=None)
        return start, end

    def _children(self, tasks: List[TaskRun], states, plans: Optional[List[ChildPlan]] = None,
                  keys: bool = True) -> List[ChildRun]:
        if not self.children:
            return []
        by_name: Dict[str, list] = {}
        for record, st in zip(tasks, states):
            by_name.setdefault(record.name, []).append((record, st))
        out = []
        for plan in (self.children if plans is None else plans):
            mine = [pair for name in plan.tasks for pair in by_name.get(name, [])]
            finished = [st for _, st in mine if st is not None]
            kinds = [item for st in finished for item in with_item_states(st)]  # a sweep: its items too
            state = _state_of(kinds, len(finished) == len(mine))
            starts = [r.start for r, _ in mine if r.start is not None]
            ends = [r.end for r, _ in mine if r.end is not None]
            mapped = dict(plan.mapped_values or {})
            for param, source in plan.mapped.items():
                found = by_name.get(source)
                record = found[0][0] if found else None
                if record is not None and record.result_recorded:
                    mapped[param] = mask_secrets(record.result, param)
                else:
                    mapped[param] = {"unrecorded": record.result_note if record else "not run"}
            if plan.reused_from is not None and state == "Success":
                state = "Cached"
            out.append(ChildRun(plan.name, state, min(starts, default=None), max(ends, default=None),
                                list(plan.parents), mapped, flow_id=plan.flow_id,
                                cache_key=self._cache_key(plan, state, tasks) if keys else None,
                                reused_from=plan.reused_from, items=_items(plan, finished, mapped, state)))
        return out

    def _cache_key(self, plan: ChildPlan, state: str, tasks: List[TaskRun]) -> Optional[str]:
        """A succeeded child's cache key: given by the plan, or computed from the recorded results."""
        if state not in ("Success", "Cached"):
            return None
        if plan.cache_key is not None or plan.key_of is None:
            return plan.cache_key
        if self._recorded is None:
            self._recorded = {}
            for record in tasks:
                if record.result_recorded:
                    self._recorded.setdefault(record.name, record.result)
        try:
            return plan.key_of(self._recorded)
        except Exception as exc:  # a key that cannot be computed makes the child not reusable, nothing more
            logger.warning("the cache key of child %r of run %s could not be computed: %s", plan.name, self.run_id, exc)
            return None
