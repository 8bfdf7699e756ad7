"""Where a stored result or file came from (lineage), and re-running a run to check it (reproduce).

Nothing extra is written for lineage: the run history already keeps,
for every run, the result of every task (a ``SaveDBResult`` reference holds
the result's unique hash, a ``SaveFile`` reference the file's path), and for
a flow of flows each child's registered version (flow id), the values its
mapped parameters received and the run's parameters. On a server backend
the server's runs are that history (each child a flow run of its own, which
the service names as the composed run's ``"<child>/<task>"``), read through
the same ``SchedulingService`` calls. :func:`lineage` finds
the task whose recorded result holds a reference and walks back through the
children it came from; a reused (``Cached``) child is followed to the run it
came from.

:func:`reproduce` runs a recorded run again, with the same flow versions
(refused when one was registered anew since) and parameters, caching off,
and compares each task's result: values by their JSON, file references by
the content of the file (hashed before the run, which may overwrite it),
result references by the result's unique hash.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from lume_services.flows._reuse import file_digest
from lume_services.services.scheduling.run_records import RunRecord


@dataclass
class Link:
    """One step of a lineage: a child (or flow) of a run that produced a value.

    Attributes:
        run_id: the run.
        flow_name: the run's flow (a flow of flows, or a flow).
        child: the child of a flow of flows (``None`` for a flow run alone).
        flow_id: the registered version that ran.
        task: the task whose result was asked about (first link only).
        parameters: the child's own parameters in that run.
        inputs: the values its mapped parameters received.
        parents: the children its inputs came from.
        reused_from: the run whose results it reused instead of running.
    """

    run_id: str
    flow_name: str
    child: Optional[str] = None
    flow_id: Optional[str] = None
    task: Optional[str] = None
    parameters: Dict[str, Any] = field(default_factory=dict)
    inputs: Dict[str, Any] = field(default_factory=dict)
    parents: List[str] = field(default_factory=list)
    reused_from: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        """The link as JSON-ready data."""
        return dict(self.__dict__)


def _needle(ref: str) -> str:
    path = Path(ref)
    try:
        if path.exists():
            return str(path.resolve())
    except OSError:
        pass
    return ref


def lineage(service, ref: str) -> List[Link]:
    """The chain of runs and children that produced a stored result or a file, newest first.

    Args:
        service: the scheduling service whose run history is read.
        ref: a stored result's unique hash, or a file's path.

    Raises:
        LineageNotFoundError: no recorded task result holds ``ref``.
    """
    from lume_services.errors import LineageNotFoundError

    found = service.find_results(_needle(ref))
    if not found:
        raise LineageNotFoundError(ref)
    records: Dict[str, RunRecord] = {}

    def run(run_id: str) -> RunRecord:
        if run_id not in records:
            records[run_id] = service.get_run(run_id)
        return records[run_id]

    # a value that only passed through (a run's parameter, a child's mapped input) was not made there
    def passed_through(run_id: str, task: str) -> bool:
        child, _, name = task.partition("/")
        received = next((c.mapped for c in run(run_id).children if c.name == child), {})
        return task in run(run_id).parameters or name in received

    made = [(r, t) for r, t in found if not passed_through(r, t)]
    run_id, task = (made or found)[0]
    child = task.partition("/")[0] if "/" in task else None
    if child is not None and child not in {c.name for c in run(run_id).children}:
        child = None
    chain: List[Link] = []
    queue: List[Tuple[str, Optional[str], Optional[str]]] = [(run_id, child, task)]
    seen = set()
    while queue:
        run_id, child, task = queue.pop(0)
        if (run_id, child) in seen:
            continue
        seen.add((run_id, child))
        record = run(run_id)
        if child is None:
            chain.append(Link(run_id, record.flow_name, None, record.flow_id, task, dict(record.parameters)))
            continue
        recorded = next(c for c in record.children if c.name == child)
        own = {k[len(child) + 1:]: v for k, v in record.parameters.items() if k.startswith(f"{child}-")}
        chain.append(Link(run_id, record.flow_name, child, recorded.flow_id, task, own, dict(recorded.mapped),
                          list(recorded.parents), recorded.reused_from))
        if recorded.reused_from is not None:
            queue.append((recorded.reused_from, child, None))
            continue
        queue.extend((run_id, parent, None) for parent in recorded.parents)
    return chain


def _fingerprint(value: Any) -> Any:
    """What a result is compared by: a file by its content, a stored result by its unique hash, a value by its JSON."""
    if isinstance(value, dict) and {"file_type_string", "filename"} <= set(value):
        try:
            return {"file": file_digest(value)}
        except Exception as exc:  # a file gone is a difference, not an error
            return {"file unreadable": f"{type(exc).__name__}: {exc}"}
    return json.loads(json.dumps(value, sort_keys=True, default=repr))


def _results(service, record: RunRecord) -> Dict[str, Any]:
    """``{task: fingerprint}`` of a run's recorded results, a flow of flows' by ``"<child>/<task>"``.

    Where each child ran as a flow run of its own (server backends), its
    results are read from that run (through the service, from where the run
    kept them), an item of a sweep's as ``"<child>/<task>[<item>]"``; the
    composed run's own tasks only created and waited for the children.
    """
    from lume_services.errors import RunResultNotRecordedError

    if not any(c.run_id is not None or c.item_runs for c in record.children):
        return {t.name: _fingerprint(t.result) for t in record.tasks if t.result_recorded}
    out: Dict[str, Any] = {}
    for child in record.children:
        for index, item in enumerate(child.items or [child]):
            if item.run_id is None:
                continue
            suffix = f"[{index}]" if child.items else ""
            for task in service.get_run(item.run_id).tasks:
                name = f"{child.name}/{task.name}{suffix}"
                if task.result_recorded:
                    out[name] = _fingerprint(task.result)
                elif task.state == "Success":  # kept where the run keeps results (a file): read it there
                    try:
                        out[name] = _fingerprint(service.run_result(item.run_id, task.name))
                    except RunResultNotRecordedError:
                        continue  # nothing to compare (a task that returned nothing)
    return out


@dataclass
class Reproduction:
    """The outcome of :func:`reproduce`.

    Attributes:
        run_id: the run reproduced.
        new_run_id: the run made now.
        compared: how many recorded results were compared.
        differences: ``(task, recorded, now)`` for each result that differs, in task order.
    """

    run_id: str
    new_run_id: Optional[str]
    compared: int
    differences: List[Tuple[str, Any, Any]]

    @property
    def matches(self) -> bool:
        """Whether every result compared is the same."""
        return not self.differences

    def to_dict(self) -> Dict[str, Any]:
        """The outcome as JSON-ready data."""
        return {"run_id": self.run_id, "new_run_id": self.new_run_id, "compared": self.compared,
                "matches": self.matches,
                "differences": [{"task": t, "recorded": a, "now": b} for t, a, b in self.differences]}


def reproduce(service, run_id: str) -> Reproduction:
    """Run a recorded run again with the same versions and parameters, and compare its results.

    Raises:
        RunNotFoundError: no run has this id.
        ChildVersionChangedError: a flow that ran there was registered anew since.
    """
    from lume_services.errors import ChildVersionChangedError, FlowFailedError
    from lume_services.flows.flow import Flow
    from lume_services.flows.flow_of_flows import FlowOfFlows

    record = service.get_run(run_id)
    before = _results(service, record)
    declaration = service.run_declaration(run_id)
    if declaration is not None:
        fof = FlowOfFlows.from_yaml(declaration, scheduling_service=service)
        changed = {c.name: (c.flow_id, fof.composing_flows[c.name].flow_id) for c in record.children
                   if c.flow_id is not None and c.name in fof.composing_flows
                   and fof.composing_flows[c.name].flow_id != c.flow_id}
        if changed:
            raise ChildVersionChangedError(record.flow_name, run_id, changed, action="reproduce")
        fof.ensure_composed(scheduling_service=service)
        known = {p.name for p in fof.prefect_flow.parameters()} if fof.prefect_flow is not None else set()
        try:
            fof.run_and_return({k: v for k, v in record.parameters.items() if k in known},
                               scheduling_service=service, use_cache=False)
        except FlowFailedError:
            pass  # compared below: the results it did not make differ
        new_id = fof.last_run_id
    else:
        flow = Flow(name=record.flow_name, project_name=record.project_name)
        flow.load_flow(scheduling_service=service)
        if record.flow_id is not None and flow.flow_id != record.flow_id:
            raise ChildVersionChangedError(record.flow_name, run_id, {record.flow_name: (record.flow_id, flow.flow_id)},
                                           action="reproduce")
        flow.run(dict(record.parameters), scheduling_service=service)
        newest = service.list_runs(flow_name=record.flow_name, limit=1)
        new_id = newest[0].run_id if newest else None
    now = {}
    if new_id is not None:
        now = _results(service, service.get_run(new_id))
    differences = [(name, value, now.get(name, "(no result)")) for name, value in before.items()
                   if now.get(name, "(no result)") != value]
    return Reproduction(run_id, new_id, len(before), differences)
