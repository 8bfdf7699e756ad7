"""The run history of a Prefect 1 Server: its flow runs and task runs, read through Prefect's client.

A server keeps every run itself, so nothing is recorded here: the same
questions the local history answers (which runs, with which parameters, which
task failed, what it returned) are asked of the server with GraphQL queries
(``flow_run``, ``flow_run_by_pk``) and read into the same records.

A flow of flows runs on a server as a composed flow whose ``create_flow_run``
task of each child (slug ``create-run:<child>-1``) returns the child's flow
run id, and whose ``get_task_run_result`` tasks (named
``result:<parent>/<task>-><child>.<parameter>``) hand mapped values on; the
children, their parents and the values their mapped parameters received are
read from those. Its context (kept by the server with the run) names the
children it gave back from earlier runs instead of running them (``Cached``,
with the run they came from) and the declaration it was made from; its
``cache-key:<child>`` tasks return each succeeded child's cache key, by which
a later run finds a child to reuse (:func:`find_reusable_child`).
"""

import re
import uuid
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional

from lume_services.errors import EmptyResultError, RunNotFoundError, RunResultNotRecordedError, TaskNotInFlowError
from lume_services.services.scheduling.task_order import slug_order
from lume_services.services.scheduling.run_options import declaration_in_tags
from lume_services.services.scheduling.run_options import REUSED_CHILDREN_CONTEXT_KEY
from lume_services.services.scheduling.run_records import (
    ChildRun,
    RunQuery,
    RunRecord,
    TaskRun,
    mask_secrets,
    recordable,
)
from lume_services.services.scheduling.backends.server.results import results_by_slug, task_run_value

#: the slug prefix of a composed flow's task that creates a child's flow run (``_compose_per_child``)
CHILD_RUN_PREFIX = "create-run:"
#: the slug prefix of a composed flow's task that returns a succeeded child's cache key
CACHE_KEY_PREFIX = "cache-key:"
#: a reused child's state
REUSED_STATE = "Cached"
#: the most runs of a flow of flows read for its children's last durations
DURATION_RUNS = 10
#: the name of a composed flow's task that reads a mapped value for a child
_MAPPED_VALUE = re.compile(r"^result:(?P<parent>[^/]+)/(?P<task>.+)->(?P<child>.+)\.(?P<param>[^.]+)$")

_RUN_FIELDS = {
    "id": True,
    "name": True,
    "state": True,
    "state_message": True,
    "parameters": True,
    "start_time": True,
    "end_time": True,
    "created": True,
    "flow": {"id": True, "name": True, "version": True, "project": {"name"}},
}


def _at(value) -> Optional[datetime]:
    if not value:
        return None
    import pendulum

    parsed = pendulum.parse(str(value))
    return datetime.fromtimestamp(parsed.timestamp(), timezone.utc)


def _record(row) -> RunRecord:
    parameters = row.parameters.to_dict() if hasattr(row.parameters, "to_dict") else dict(row.parameters or {})
    return RunRecord(
        run_id=row.id,
        flow_name=row.flow.name,
        state=row.state or "Pending",
        project_name=row.flow.project.name,
        flow_id=row.flow.id,
        flow_version=row.flow.version,
        parameters={name: mask_secrets(value, name) for name, value in parameters.items()},
        start=_at(row.start_time) or _at(row.created),
        end=_at(row.end_time),
        message=row.state_message,
    )


def list_runs(connection, query: RunQuery) -> List[RunRecord]:
    """The server's flow runs ``query`` selects, newest (by creation) first."""
    from prefect.utilities.graphql import EnumValue, with_args

    where: Dict[str, Any] = {}
    flow: Dict[str, Any] = {}
    if query.flow_name is not None:
        flow["name"] = {"_eq": query.flow_name}
    if query.project_name is not None:
        flow["project"] = {"name": {"_eq": query.project_name}}
    if flow:
        where["flow"] = flow
    if query.state is not None:
        where["state"] = {"_eq": query.state}
    created: Dict[str, str] = {}
    if query.since is not None:
        created["_gte"] = query.since.isoformat()
    if query.until is not None:
        created["_lt"] = query.until.isoformat()
    if created:
        where["created"] = created
    args = {"where": where, "order_by": {"created": EnumValue("desc")}, "limit": query.limit}
    gql = {"query": {with_args("flow_run", args): _RUN_FIELDS}}
    rows = connection.graphql(connection.client(), gql).data.flow_run
    return [_record(row) for row in rows]


def _query_run(connection, run_id: str):
    from prefect.utilities.graphql import with_args

    try:
        uuid.UUID(str(run_id))
    except ValueError:  # the server refuses a malformed id as a bad request; it is simply not there
        raise RunNotFoundError(run_id, connection.api_url) from None
    fields = {
        **_RUN_FIELDS,
        "context": True,
        "task_runs": {
            "map_index": True,
            "state": True,
            "state_message": True,
            "start_time": True,
            "end_time": True,
            "serialized_state": True,
            "task": {"name", "slug"},
        },
    }
    gql = {"query": {with_args("flow_run_by_pk", {"id": run_id}): fields}}
    row = connection.graphql(connection.client(), gql).data.flow_run_by_pk
    if row is None:
        raise RunNotFoundError(run_id, connection.api_url)
    return row


def _task(task_run) -> TaskRun:
    from prefect.engine.results import PrefectResult
    from prefect.engine.state import State

    record = TaskRun(
        name=task_run.task.name,
        slug=task_run.task.slug,
        state=task_run.state or "Pending",
        message=task_run.state_message,
        start=_at(task_run.start_time),
        end=_at(task_run.end_time),
    )
    if task_run.serialized_state and record.state in ("Success", "Cached"):
        state = State.deserialize(task_run.serialized_state.to_dict())
        result = state._result
        location = getattr(result, "location", None)
        if isinstance(result, PrefectResult) and location is not None:
            value = mask_secrets(result.read(location).value)
            record.result_recorded, record.result, record.result_note = recordable(value)
        elif location is not None:
            record.result_note = f"kept by the run as a {type(result).__name__} at {location}"
    return record


def get_run(connection, run_id: str) -> RunRecord:
    """One flow run of the server with its task runs and, for a flow of flows, its children.

    Raises:
        RunNotFoundError: the server has no run with this id.
    """
    row = _query_run(connection, run_id)
    record = _record(row)
    task_runs = sorted((t for t in row.task_runs if t.map_index == -1), key=lambda t: slug_order(t.task.slug))
    record.tasks = [_task(t) for t in task_runs]
    if any(t.slug.startswith(CHILD_RUN_PREFIX) for t in record.tasks):
        context = _context(row)
        record.children = _children(connection, record, context.get(REUSED_CHILDREN_CONTEXT_KEY) or {},
                                    _sweeps(context.get(_DECLARATION_KEY)))
    return record


def _slug_child(slug: str, prefix: str) -> str:
    """The child a composed task's slug (``<prefix><child>-1``) is for."""
    return slug[len(prefix):].rsplit("-", 1)[0]


def _sweeps(declaration: Any) -> Dict[str, List[str]]:
    """Child -> the parameters it sweeps (``map_over``), from a composed run's declaration."""
    if hasattr(declaration, "to_dict"):
        declaration = declaration.to_dict()
    if not isinstance(declaration, dict):
        return {}
    children = declaration.get("composing_flows") or []
    return {c["name"]: list(c.get("map_over") or []) for c in children if isinstance(c, dict) and "name" in c}


def _children(connection, record: RunRecord, reused: Dict[str, Any],
              sweeps: Optional[Dict[str, List[str]]] = None) -> List[ChildRun]:
    from prefect.utilities.graphql import with_args

    parents: Dict[str, List[str]] = {}
    mapped: Dict[str, List[str]] = {}
    creators: Dict[str, TaskRun] = {}
    keys: Dict[str, str] = {}
    for t in record.tasks:
        if t.slug.startswith(CHILD_RUN_PREFIX):
            creators[_slug_child(t.slug, CHILD_RUN_PREFIX)] = t
        if t.slug.startswith(CACHE_KEY_PREFIX) and t.result_recorded and isinstance(t.result, str):
            keys[_slug_child(t.slug, CACHE_KEY_PREFIX)] = t.result
        match = _MAPPED_VALUE.match(t.name)
        if match:
            parents.setdefault(match["child"], [])
            if match["parent"] not in parents[match["child"]]:
                parents[match["child"]].append(match["parent"])
            mapped.setdefault(match["child"], []).append(match["param"])
    run_ids: Dict[str, Any] = {}
    if any(t.state in ("Success", "Mapped") for t in creators.values()):
        from prefect.backend import FlowRunView

        by_slug = results_by_slug(FlowRunView.from_flow_run_id(record.run_id))
        run_ids = {name: by_slug[t.slug] for name, t in creators.items() if t.slug in by_slug}
    wanted = sorted({i for ids in run_ids.values() for i in (ids if isinstance(ids, list) else [ids]) if i})
    rows = {}
    if wanted:
        where = {"id": {"_in": wanted}}
        gql = {"query": {with_args("flow_run", {"where": where}): _RUN_FIELDS}}
        rows = {r.id: _record(r) for r in connection.graphql(connection.client(), gql).data.flow_run}

    def child_run(name: str, run: RunRecord) -> ChildRun:
        return ChildRun(name, run.state, run.start, run.end, parents.get(name, []),
                        {p: run.parameters.get(p) for p in mapped.get(name, [])}, run.run_id, flow_id=run.flow_id)

    children = []
    for name in _in_dependency_order(creators, parents):
        ids = run_ids.get(name)
        if isinstance(ids, list):  # a sweep: a flow run per item (a reused sweep's: its earlier items' runs)
            swept = _swept(name, parents.get(name, []), None,
                           [child_run(name, rows[i]) if i in rows else ChildRun(name, "TriggerFailed") for i in ids],
                           (sweeps or {}).get(name))
            children.append(_reused(swept, reused.get(name), keys.get(name)))
            continue
        run = rows.get(ids)
        if run is None:  # never created: a parent failed, or the composed run stopped first
            created = creators[name]
            children.append(ChildRun(name, created.state, parents=parents.get(name, [])))
            continue
        children.append(_reused(child_run(name, run), reused.get(name), keys.get(name)))
    return children


def _reused(child: ChildRun, used: Optional[Dict[str, Any]], key: Optional[str]) -> ChildRun:
    """A child as the composed run's context and ``cache-key:`` task tell: ``Cached`` (and from which run) when reused.

    A reused sweep's items are its earlier items' runs, each ``Cached`` too.
    """
    child.cache_key = key or (used or {}).get("cache_key")
    if used and child.state == "Success":
        child.state, child.reused_from = REUSED_STATE, used.get("run_id")
        for item in child.items:
            if item.state == "Success":
                item.state, item.reused_from = REUSED_STATE, used.get("run_id")
    return child


def find_reusable_child(connection, child: str, cache_key: str) -> Optional[str]:
    """The newest composed run in which ``child`` succeeded (or was reused) with ``cache_key`` (``None``: none).

    Asks the server for the ``cache-key:<child>`` task run whose kept result is
    the key: a ``PrefectResult`` keeps it in the task run's state, which the
    server can search (``_contains``).
    """
    import json

    from prefect.utilities.graphql import EnumValue, with_args

    where = {
        "task": {"slug": {"_eq": f"{CACHE_KEY_PREFIX}{child}-1"}},
        "state": {"_eq": "Success"},
        "serialized_state": {"_contains": {"_result": {"location": json.dumps(cache_key)}}},
    }
    args = {"where": where, "order_by": {"created": EnumValue("desc")}, "limit": 1}
    gql = {"query": {with_args("task_run", args): {"flow_run_id"}}}
    rows = connection.graphql(connection.client(), gql).data.task_run
    return rows[0].flow_run_id if rows else None


def child_durations(connection, flow_name: str) -> Dict[str, float]:
    """Each child's duration in the newest of the recent runs of flow of flows ``flow_name`` where it ran and succeeded."""
    durations: Dict[str, float] = {}
    for listed in list_runs(connection, RunQuery(flow_name=flow_name, limit=DURATION_RUNS)):
        for child in get_run(connection, listed.run_id).children:
            if child.state == "Success" and child.duration is not None:
                durations.setdefault(child.name, child.duration)
    return durations


def _swept(name: str, parents: List[str], flow_id: Optional[str], items: List[ChildRun],
           swept_parameters: Optional[List[str]] = None) -> ChildRun:
    """A swept child as one ``ChildRun`` holding its items: failed when one failed, its times spanning theirs.

    A mapped parameter it sweeps received a list (each item's value, in item
    order); one it does not sweep received one value, the same in every item
    (as the local backend records it). Without ``swept_parameters`` (a run
    started without its declaration) every mapped parameter gives its list.
    """
    states = [item.state for item in items]
    state = "Success" if states and all(s == "Success" for s in states) else next(
        (s for s in states if s not in ("Success", "TriggerFailed")), "TriggerFailed")
    starts = [i.start for i in items if i.start is not None]
    ends = [i.end for i in items if i.end is not None]
    received = {p for item in items for p in item.mapped}
    created = [item for item in items if item.run_id is not None] or items
    mapped = {p: [item.mapped.get(p) for item in items] if swept_parameters is None or p in swept_parameters
              else created[0].mapped.get(p) for p in sorted(received)}
    return ChildRun(
        name, state, min(starts) if starts else None, max(ends) if ends else None, parents,
        mapped, None,
        flow_id=next((i.flow_id for i in items if i.flow_id), flow_id), items=items,
    )


def _in_dependency_order(children, parents: Dict[str, List[str]]) -> List[str]:
    order: List[str] = []
    remaining = sorted(children)
    while remaining:
        ready = [c for c in remaining if all(p in order or p not in children for p in parents.get(c, []))]
        ready = ready or remaining[:1]  # a cycle cannot be registered; never loop forever
        order.append(ready[0])
        remaining.remove(ready[0])
    return order


def run_result(connection, run_id: str, task_name: str):
    """A finished server run's task result, read as ``run_and_return`` reads it (the flow does not run again).

    Raises:
        RunNotFoundError: the server has no run with this id.
        TaskNotInFlowError: the run has no task of that name.
        RunResultNotRecordedError: the run or the task did not finish, or its result cannot be read.
    """
    from prefect.backend import FlowRunView

    row = _query_run(connection, run_id)
    names = {t.task.slug: t.task.name for t in row.task_runs}
    if task_name not in names.values():
        raise TaskNotInFlowError(
            row.flow.name, task_name, set(names.values()),
            context=f"run {run_id!r} was asked for task {task_name!r}",
        )
    if row.state in (None, "Scheduled", "Submitted", "Pending", "Running", "Cancelling"):
        raise RunResultNotRecordedError(run_id, task_name, f"the run has not finished ({row.state})")
    view = FlowRunView.from_flow_run_id(run_id)
    values = []
    for task_run in sorted(view.get_all_task_runs(), key=lambda t: slug_order(t.task_slug)):
        if task_run.map_index != -1 or names.get(task_run.task_slug) != task_name:
            continue
        if not task_run.state.is_successful():
            message = f" ({task_run.state.message})" if task_run.state.message else ""
            raise RunResultNotRecordedError(run_id, task_name, f"its state is {type(task_run.state).__name__}{message}")
        try:
            values.append(task_run_value(row.flow.name, task_name, task_run))
        except EmptyResultError as exc:
            raise RunResultNotRecordedError(run_id, task_name, str(exc)) from None
    return values[0] if len(values) == 1 else values


#: how many of the server's newest runs ``find_results`` reads
FIND_RESULTS_RUNS = 200
#: the run-context keys a child's run carries (``flows/_child_runs.ChildRunContext``, ``tasks/db.py``)
_PARENT_RUN_KEY = "lume_parent_run_id"
_CHILD_NAME_KEY = "lume_child_name"
#: the run-context key a composed run keeps its declaration under (``runs.DECLARATION_CONTEXT_KEY``)
_DECLARATION_KEY = "lume_declaration"


def _context(row) -> Dict[str, Any]:
    context = row.context
    if hasattr(context, "to_dict"):
        context = context.to_dict()
    return dict(context or {})


def find_results(connection, needle: str, runs: int = FIND_RESULTS_RUNS) -> List[tuple]:
    """``(run_id, task name)`` of task results of the server's newest runs whose JSON holds ``needle``, newest first.

    Only results kept in the task run's state (``PrefectResult``: the
    references the packaged ``SaveFile`` and ``SaveDBResult`` return, and
    parameters) can be searched; a result kept elsewhere is not read. A task
    of a flow-of-flows child's own run is named as the composed run names it:
    ``(composed run, "<child>/<task>")``, and its parameters are left to the
    composed run (its own parameters, the values the children passed on);
    the composed run's own tasks (which create, wait for and pass values
    between the children) are not searched.
    """
    import json

    from prefect.engine.results import PrefectResult
    from prefect.engine.state import State
    from prefect.utilities.graphql import EnumValue, with_args

    fields = {
        "id": True,
        "context": True,
        "parameters": True,
        "task_runs": {"map_index": True, "state": True, "serialized_state": True, "task": {"name", "slug"}},
    }
    args = {"order_by": {"created": EnumValue("desc")}, "limit": runs}
    rows = connection.graphql(connection.client(), {"query": {with_args("flow_run", args): fields}}).data.flow_run
    found: List[tuple] = []
    for row in rows:
        if any(t.task.slug.startswith(CHILD_RUN_PREFIX) for t in row.task_runs):
            continue  # a composed run: what it passed on is its children's
        context = _context(row)
        parent, child = context.get(_PARENT_RUN_KEY), context.get(_CHILD_NAME_KEY)
        given = set(row.parameters or {}) if parent and child else set()
        for task_run in sorted(row.task_runs, key=lambda t: (slug_order(t.task.slug), t.map_index)):
            if task_run.state not in ("Success", "Cached") or not task_run.serialized_state:
                continue
            if task_run.task.name in given:  # a child's parameter: passed to it, made by its parent or the run
                continue
            result = State.deserialize(task_run.serialized_state.to_dict())._result
            location = getattr(result, "location", None)
            if not isinstance(result, PrefectResult) or location is None:
                continue
            try:
                text = json.dumps(result.read(location).value, default=repr)
            except (TypeError, ValueError):
                continue
            if needle in text:
                hit = (str(parent), f"{child}/{task_run.task.name}") if parent and child else (
                    row.id, task_run.task.name)
                if hit not in found:
                    found.append(hit)
    return found


def run_declaration(connection, run_id: str) -> Optional[dict]:
    """The flow-of-flows declaration a composed run was started with (kept in its context), or ``None``.

    Raises:
        RunNotFoundError: the server has no run with this id.
    """
    from prefect.utilities.graphql import with_args

    try:
        uuid.UUID(str(run_id))
    except ValueError:
        raise RunNotFoundError(run_id, connection.api_url) from None
    gql = {"query": {with_args("flow_run_by_pk", {"id": run_id}): {
        "id": True, "context": True, "flow": {"tasks": {"tags"}}}}}
    row = connection.graphql(connection.client(), gql).data.flow_run_by_pk
    if row is None:
        raise RunNotFoundError(run_id, connection.api_url)
    declaration = _context(row).get(_DECLARATION_KEY)
    if declaration is None:  # started as a plain flow (Flow.run, the CLI, the UI): what its flow carries
        declaration = _declaration_of_flow(row.flow)
    if hasattr(declaration, "to_dict"):
        declaration = declaration.to_dict()
    return declaration


def _declaration_of_flow(flow) -> Optional[dict]:
    """The declaration a composed flow carries in a task tag (``carried_declaration``), as the server keeps it."""
    for task in (getattr(flow, "tasks", None) or []) if flow is not None else []:
        found = declaration_in_tags(task.tags or [])
        if found is not None:
            return found
    return None
