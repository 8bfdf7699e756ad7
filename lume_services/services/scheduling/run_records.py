"""What the run history says about a run, on every backend: records, filters, masking.

The local backend writes these records into its embedded store
(``run_history``); server backends read them from the server
(``server_history``). Both hand back the same types, so the Python API and the
``lume-services runs`` commands read the same on every backend.
"""

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from lume_services import masking
from lume_services.errors import InvalidRunFilterError, RunResultNotRecordedError, TaskNotInFlowError
from lume_services.services.scheduling.run_filters import MAX_LIMIT, RUN_STATES, as_utc, parse_time, state_named
from lume_services.services.scheduling.task_results import one_or_list

#: a recorded task result is kept as a value up to this many bytes of JSON
MAX_RESULT_BYTES = 16 * 1024

#: what a masked secret is recorded as (the one rule: :mod:`lume_services.masking`)
MASK = masking.MASK


_utc = as_utc  # naive: local time, as everywhere in lume-services


def _iso(value: Optional[datetime]) -> Optional[str]:
    return None if value is None else value.isoformat()


@dataclass
class TaskRun:
    """One task of a recorded run.

    Attributes:
        name: the task's name (``"<child>/<task>"`` in a flow of flows run locally).
        slug: the task's slug, unique in its flow.
        state: its final state (``Success``, ``Failed``, ``TriggerFailed``, ...).
        message: its state's message.
        start: when it started running (``None`` when it did not run, or ran
            where this process could not time it).
        end: when it finished.
        result: the result, when it was recorded (small and JSON-serializable:
            file and results-database references are kept as the references they
            are); else ``None``.
        result_recorded: whether ``result`` is the task's result.
        result_note: why the result was not recorded, or where it is (server).
    """

    name: str
    slug: str
    state: str
    message: Optional[str] = None
    start: Optional[datetime] = None
    end: Optional[datetime] = None
    result: Any = None
    result_recorded: bool = False
    result_note: Optional[str] = None

    @property
    def duration(self) -> Optional[float]:
        """Seconds from start to end, when both are known."""
        return None if self.start is None or self.end is None else (self.end - self.start).total_seconds()

    def to_dict(self) -> Dict[str, Any]:
        """The task as JSON-ready data."""
        return {
            "name": self.name, "slug": self.slug, "state": self.state, "message": self.message,
            "start": _iso(self.start), "end": _iso(self.end), "duration": self.duration,
            "result": self.result, "result_recorded": self.result_recorded, "result_note": self.result_note,
        }


@dataclass
class ChildRun:
    """One composing flow of a recorded flow-of-flows run.

    Attributes:
        name: the child's name in the flow of flows.
        state: ``Success``, ``Failed`` (a task of it failed), ``TriggerFailed``
            (it did not run because a parent failed), or the state of its run.
        start: when its first task started (its flow run, on a server).
        end: when its last task finished.
        parents: the children it takes mapped parameters from.
        mapped: the values its mapped parameters received (references as they were).
        run_id: its own flow run id (server backends: a flow run per child).
        flow_id: the registered version of the child that ran (or was reused).
        cache_key: what its results depend on, hashed: its version, its
            parameters and its mapped inputs (files and stored results by
            content); ``None`` when not known (it did not succeed).
        reused_from: the run whose recorded results it reused instead of
            running (state ``Cached``); ``None`` when it ran.
        items: a sweep's items (``map_over``): one ``ChildRun`` per item, in
            item order (its ``mapped`` the item's values), each a flow run of
            its own on server backends (``run_id``; locally ``None``, and its
            times unknown: an item is a slice of the composed run's mapped
            tasks); the child's state is ``Failed`` when an item failed, and
            its times span the items. A reused sweep's items are ``Cached``.
    """

    name: str
    state: str
    start: Optional[datetime] = None
    end: Optional[datetime] = None
    parents: List[str] = field(default_factory=list)
    mapped: Dict[str, Any] = field(default_factory=dict)
    run_id: Optional[str] = None
    flow_id: Optional[str] = None
    cache_key: Optional[str] = None
    reused_from: Optional[str] = None
    items: List["ChildRun"] = field(default_factory=list)

    @property
    def duration(self) -> Optional[float]:
        """Seconds from start to end, when both are known."""
        return None if self.start is None or self.end is None else (self.end - self.start).total_seconds()

    @property
    def item_runs(self) -> bool:
        """Whether its items are flow runs of their own (a sweep on a server backend), whose results are read there."""
        return any(item.run_id is not None for item in self.items)

    def to_dict(self) -> Dict[str, Any]:
        """The child as JSON-ready data."""
        return {
            "name": self.name, "state": self.state, "start": _iso(self.start), "end": _iso(self.end),
            "duration": self.duration, "parents": list(self.parents), "mapped": dict(self.mapped),
            "run_id": self.run_id, "flow_id": self.flow_id, "cache_key": self.cache_key,
            "reused_from": self.reused_from,
            **({"items": [item.to_dict() for item in self.items]} if self.items else {}),
        }


@dataclass
class RunRecord:
    """One recorded flow run.

    Attributes:
        run_id: the run's id (locally also Prefect's ``flow_run_id`` inside the run).
        flow_name: the flow's name.
        project_name: its project (``None``: run without being registered).
        flow_id: the registered flow's id, if it was registered.
        flow_version: the registered version.
        parameters: the parameter values, secrets masked.
        executor: the executor that ran the tasks (local backend).
        start: when the run started (on a server: when it was created, if it never started).
        end: when it finished (``None`` while running or when it crashed).
        state: its final state, ``Running``, or ``Crashed``.
        message: its state's message.
        host: the machine it ran on (local backend).
        pid: the process it ran in (local backend).
        tasks: its tasks (filled by ``get_run``, empty in listings).
        children: for a flow of flows, its children (filled by ``get_run``).
    """

    run_id: str
    flow_name: str
    state: str
    project_name: Optional[str] = None
    flow_id: Optional[str] = None
    flow_version: Optional[int] = None
    parameters: Dict[str, Any] = field(default_factory=dict)
    executor: Optional[str] = None
    start: Optional[datetime] = None
    end: Optional[datetime] = None
    message: Optional[str] = None
    host: Optional[str] = None
    pid: Optional[int] = None
    tasks: List[TaskRun] = field(default_factory=list)
    children: List[ChildRun] = field(default_factory=list)

    @property
    def duration(self) -> Optional[float]:
        """Seconds from start to end, when both are known."""
        return None if self.start is None or self.end is None else (self.end - self.start).total_seconds()

    @property
    def is_flow_of_flows(self) -> bool:
        """Whether the run is a flow of flows' (it has children)."""
        return bool(self.children)

    def task(self, task_name: str) -> List[TaskRun]:
        """The run's tasks named ``task_name`` (several tasks may share a name), in slug order."""
        return [t for t in self.tasks if t.name == task_name]

    def _repr_html_(self) -> str:
        # Jupyter shows the run report (DAG, timeline, parameters, results, errors), offline
        from lume_services.services.scheduling.run_report import report_html

        return report_html(masked_record(self), fragment=True)

    def to_dict(self) -> Dict[str, Any]:
        """The run as JSON-ready data."""
        return {
            "run_id": self.run_id, "flow_name": self.flow_name, "project_name": self.project_name,
            "flow_id": self.flow_id, "flow_version": self.flow_version, "parameters": self.parameters,
            "executor": self.executor, "start": _iso(self.start), "end": _iso(self.end),
            "duration": self.duration, "state": self.state, "message": self.message,
            "host": self.host, "pid": self.pid,
            "tasks": [t.to_dict() for t in self.tasks],
            "children": [c.to_dict() for c in self.children],
        }


def items_summary(child: "ChildRun") -> str:
    """How a sweep's items ended, in a few words: ``"4 items: 3 Success, 1 Failed"``."""
    counts: Dict[str, int] = {}
    for item in child.items:
        counts[item.state] = counts.get(item.state, 0) + 1
    return f"{len(child.items)} items: " + ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))


def mermaid(record: "RunRecord") -> str:
    """A flow-of-flows run as a Mermaid flowchart: a node per child, coloured by its final state.

    Colours are the ones every picture uses (``state_colours.STATE_STYLES``):
    green: succeeded; red: failed; grey (dashed): did not run (a parent failed,
    skipped, cancelled); blue: still running; orange: crashed.
    """
    from lume_services.services.scheduling.state_colours import mermaid_class_defs, state_kind

    ids = {child.name: f"c{i}" for i, child in enumerate(record.children)}
    lines = ["flowchart TD"]
    for child in record.children:
        took = f", {child.duration:.2f} s" if child.duration is not None else ""
        came = f"<br/>from run {child.reused_from[:8]}" if child.reused_from else ""
        came += f"<br/>{items_summary(child)}" if child.items else ""
        label = f"{child.name}<br/>{child.state}{took}{came}".replace('"', "#quot;")
        lines.append(f'    {ids[child.name]}["{label}"]:::{state_kind(child.state)}')
    for child in record.children:
        for parent in child.parents:
            if parent in ids:
                lines.append(f"    {ids[parent]} --> {ids[child.name]}")
    lines += mermaid_class_defs(state_kind(c.state) for c in record.children)
    return "\n".join(lines) + "\n"


@dataclass
class ChildPlan:
    """What a flow-of-flows run records about one child, given by the composer.

    On the local backend a flow of flows runs as one Prefect run holding every
    child's tasks; this says which of them are the child's.

    Attributes:
        name: the child's name.
        parents: the children it maps parameters from.
        tasks: names of its tasks in the composed flow (``"<child>/<task>"``).
        mapped: mapped parameter -> the composed task whose result it received.
        flow_id: the child's registered version.
        cache_key: its cache key when known before the run (a reused child's).
        key_of: computes its cache key from the run's recorded results
            (``{composed task name: result}``) once it succeeded; returns
            ``None`` when an input was not recorded.
        reused_from: the run whose results it reuses (its tasks give them back).
        mapped_values: a reused child's mapped parameter values, recorded as
            they are (no task of the run gives them).
        sweeps: the parameters it sweeps (``map_over``): the run history
            gives it its items, one ``ChildRun`` per item, as a server's does.
        item_count: a reused sweep's number of items (its tasks give back
            recorded lists, so no task of the run has one state per item).
    """

    name: str
    parents: List[str] = field(default_factory=list)
    tasks: List[str] = field(default_factory=list)
    mapped: Dict[str, str] = field(default_factory=dict)
    flow_id: Optional[str] = None
    cache_key: Optional[str] = None
    key_of: Optional[Callable[[Dict[str, Any]], Optional[str]]] = None
    reused_from: Optional[str] = None
    mapped_values: Optional[Dict[str, Any]] = None
    sweeps: List[str] = field(default_factory=list)
    item_count: Optional[int] = None


@dataclass
class RunQuery:
    """Which runs to list: newest first, at most ``limit``.

    Build it with :func:`run_query`, which checks every field.

    Attributes:
        flow_name: only runs of this flow.
        project_name: only runs of flows of this project.
        state: only runs in this state (one of :data:`RUN_STATES`).
        since: only runs started at or after this time (UTC).
        until: only runs started before this time (UTC).
        limit: the most runs returned.
    """

    flow_name: Optional[str] = None
    project_name: Optional[str] = None
    state: Optional[str] = None
    since: Optional[datetime] = None
    until: Optional[datetime] = None
    limit: int = 20


def _when(name: str, value: Union[None, str, datetime, timedelta]) -> Optional[datetime]:
    if value is None:
        return None
    if isinstance(value, timedelta):  # "since 2 hours ago"
        return datetime.now(timezone.utc) - value
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, str):
        parsed = parse_time(value)
        if parsed is not None:
            return parsed
    raise InvalidRunFilterError(
        name, value, "an ISO 8601 date or time (2024-05-01, 2024-05-01T12:00), a datetime or a timedelta"
    )


def run_query(
    flow_name: Optional[str] = None,
    project_name: Optional[str] = None,
    state: Optional[str] = None,
    since: Union[None, str, datetime, timedelta] = None,
    until: Union[None, str, datetime, timedelta] = None,
    limit: int = 20,
) -> RunQuery:
    """Check a run filter and return it as a :class:`RunQuery`.

    Args:
        flow_name: only runs of this flow.
        project_name: only runs of this project.
        state: only runs in this state; any case (``failed`` is ``Failed``).
        since: only runs started at or after this time: a datetime, an ISO 8601
            string, or a timedelta (that long ago).
        until: only runs started before this time (same forms).
        limit: the most runs returned, 1 to :data:`MAX_LIMIT`.

    Raises:
        InvalidRunFilterError: a value is malformed; names the field and what it accepts.
    """
    for name, value in (("flow", flow_name), ("project", project_name)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise InvalidRunFilterError(name, value, "a non-empty name")
    if state is not None:
        named = state_named(state) if isinstance(state, str) else None
        if named is None:
            raise InvalidRunFilterError(name="state", value=state, expected="one of " + ", ".join(RUN_STATES))
        state = named
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidRunFilterError(name="limit", value=limit, expected=f"a whole number from 1 to {MAX_LIMIT}")
    since_at, until_at = _when("since", since), _when("until", until)
    if since_at is not None and until_at is not None and since_at >= until_at:
        raise InvalidRunFilterError(name="until", value=until, expected=f"a time after since ({since_at.isoformat()})")
    return RunQuery(flow_name, project_name, state, since_at, until_at, limit)


# --- what is recorded of a value ------------------------------------------------------


def is_secret_name(name: str) -> bool:
    """Whether a parameter or key name holds a secret (password, pwd, token, api_key, ...): :func:`lume_services.masking.is_secret_key`."""
    return masking.is_secret_key(name)


def mask_secrets(value: Any, name: Optional[str] = None) -> Any:
    """``value`` as the run history records it: :func:`lume_services.masking.mask` (the one rule).

    Values of secret-looking names, ``SecretStr``/``SecretBytes``, credentials
    inside URIs and ``name=value`` pairs, JSON option strings key by key;
    dicts key by key, lists item by item.
    """
    return masking.mask(value, name)


def masked_record(record: "RunRecord") -> "RunRecord":
    """A copy of ``record`` as it may be shown: the one masking rule over its parameters, messages and results.

    Records are masked when written; this masks again what is shown (``runs
    show``), so a record written before a rule was widened is shown masked too.
    """
    import dataclasses

    def text(value):
        return masking.mask_message(value) if isinstance(value, str) else value

    def child(c):
        return dataclasses.replace(c, mapped={p: masking.mask(v, p) for p, v in (c.mapped or {}).items()},
                                   items=[child(item) for item in c.items])

    return dataclasses.replace(
        record,
        parameters={name: masking.mask(value, name) for name, value in (record.parameters or {}).items()},
        message=text(record.message),
        tasks=[dataclasses.replace(t, message=text(t.message), result=masking.mask(t.result))
               for t in record.tasks],
        children=[child(c) for c in record.children],
    )


class _TooLarge(Exception):
    pass


class _NotTree(Exception):
    """The value refers to itself, or is nested deeper than JSON data of a result is."""

    def __init__(self, why: str):
        self.why = why


#: nesting a recorded value may have (far above real results, far below Python's recursion limit)
MAX_RESULT_DEPTH = 100


def _fits(value: Any, budget: List[int], path: Optional[set] = None) -> bool:
    """Whether ``value`` is plain JSON data; raises ``_TooLarge`` once ``budget`` is spent.

    Walks the value instead of encoding it whole, so a large array is refused
    after a few thousand elements, not after encoding all of it. A container
    that holds itself, or nesting over :data:`MAX_RESULT_DEPTH`, raises
    ``_NotTree`` (encoding either would recurse until Python's limit).
    """
    if path is None:
        path = set()
    if isinstance(value, (list, tuple, dict)):
        if id(value) in path:
            raise _NotTree("it refers to itself")
        if len(path) >= MAX_RESULT_DEPTH:
            raise _NotTree(f"nested more than {MAX_RESULT_DEPTH} levels deep")
        path = path | {id(value)}
    if value is None or isinstance(value, bool):
        budget[0] -= 5
    elif isinstance(value, int):
        budget[0] -= 20
    elif isinstance(value, float):
        if not math.isfinite(value):
            return False
        budget[0] -= 24
    elif isinstance(value, str):
        budget[0] -= len(value) + 2
    elif isinstance(value, (list, tuple)):
        budget[0] -= 2
        for item in value:
            if budget[0] < 0:
                raise _TooLarge
            if not _fits(item, budget, path):
                return False
    elif isinstance(value, dict):
        budget[0] -= 2
        for k, v in value.items():
            if not isinstance(k, str):
                return False
            budget[0] -= len(k) + 4
            if budget[0] < 0:
                raise _TooLarge
            if not _fits(v, budget, path):
                return False
    else:
        return False
    if budget[0] < 0:
        raise _TooLarge
    return True


def recordable(value: Any, max_bytes: int = MAX_RESULT_BYTES) -> Tuple[bool, Any, Optional[str]]:
    """What the history keeps of a value: ``(recorded, value or None, why not)``.

    A value is kept when it is small plain JSON data (at most ``max_bytes``);
    a file or results-database reference is such data, so it is kept as the
    reference it is. Otherwise only its type is noted.
    """
    try:
        if _fits(value, [max_bytes]):
            return True, value, None
        why = "not JSON-serializable"
    except _NotTree as exc:
        why = f"not recordable: {exc.why}"
    except (_TooLarge, RecursionError):
        why = f"larger than {max_bytes // 1024} KiB of JSON"
    kind = type(value)
    return False, None, f"{kind.__module__}.{kind.__qualname__}, {why}"


def dumps(value: Any) -> str:
    """JSON text of recorded data (anything else as its ``repr``)."""
    return json.dumps(value, default=repr, separators=(",", ":"))


def recorded_result(record: RunRecord, task_name: str):
    """A task's recorded result from a run read from the history.

    ``task_name`` is a task's name; in a flow of flows run locally, also a bare
    task name that only one child has. A name several tasks share gives a list.

    Raises:
        TaskNotInFlowError: the run has no such task; names its tasks.
        RunResultNotRecordedError: the run or task did not finish, or the result was not kept.
    """
    if record.state == "Running":  # tasks are recorded when the run ends
        raise RunResultNotRecordedError(record.run_id, task_name, "the run has not finished (Running)")
    matching = record.task(task_name)
    if not matching and "/" not in task_name:
        owners = {t.name for t in record.tasks if t.name.rpartition("/")[2] == task_name and "/" in t.name}
        if len(owners) == 1:
            matching = record.task(owners.pop())
    if not matching:
        raise TaskNotInFlowError(
            record.flow_name, task_name, {t.name for t in record.tasks},
            context=f"run {record.run_id!r} was asked for task {task_name!r}",
        )
    values = []
    for t in matching:
        if not t.result_recorded:
            reason = t.result_note or f"its state is {t.state}" + (f" ({t.message})" if t.message else "")
            raise RunResultNotRecordedError(record.run_id, task_name, reason)
        values.append(t.result)
    return one_or_list(values)
