"""Reusing a child's recorded results instead of running it: cache keys, the reuse plan, resume.

A child's *cache key* is a hash of what its results depend on: its registered
version (flow id, which changes with its fingerprint), the values of its own
parameters, and the values its mapped parameters receive. A ``file`` input
counts by the content of the file it points to (SHA-256 of its bytes), not
its path; a ``db`` input by the stored result's reference, whose query is the
result's unique hash (a hash of its content), with the attribute read from it.

Every child that succeeds on the local backend has its key recorded in the run
history (``RunRecorder`` computes it from the run's recorded results with
:func:`cache_key`); on a server backend the composed run computes it where the
child's run finished (``_child_runs.ChildCacheKey``, the same :func:`key_from`)
and the server keeps it as that task's result. A swept child (``map_over``) is
keyed as a whole: its parameters and mapped inputs are lists, one value per
item, and the key also names the parameters it sweeps; it is recorded only when
every item succeeded. A later run that asks for caching can then reuse the
child; on a server it reads the child's results from the child's own earlier
flow run (a sweep's from each item's), and creates no run for it. Before
a run, :func:`plan_reuse` walks the children in execution order: a cached
child whose key is known before the run (its parents are reused too, or it has
none) and matches a successful earlier run is *reused*: the composed flow gives
back that run's recorded results instead of running the child's tasks. A child
whose parent runs again is run (its inputs are known only once the parent ran).

Resume uses the same machinery: the children that succeeded in the resumed
run are reused from it, the others run.

Kept here rather than in Prefect's own task caching (``cache_for`` /
``cache_validator``): Prefect 1 keeps its cache in the memory of one process
(``prefect.context.caches``), while children must be reused across processes
and sessions, from the run history that already holds their results.
"""

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Set, Tuple, cast

from lume_services.flows._names import composed_task_name, exposed_parameter_name
from lume_services.flows._results import sweep_results
from lume_services.services.scheduling.run_records import MASK, RunRecord, mask_secrets, recordable

#: a reused child's state in the run history and the pictures
REUSED_STATE = "Cached"
#: the states of a child whose recorded results can be reused
SUCCEEDED_STATES = ("Success", REUSED_STATE)


@dataclass
class Reuse:
    """A child given back from a recorded run instead of run.

    Attributes:
        child: the child's name.
        run_id: the run in which it ran (its results were made there).
        results: ``{task: result}`` as ``run_and_return`` gives them.
        cache_key: its cache key (``None``: not known, a resumed child of an older run).
        flow_run_id: the child's own flow run that made the results (server
            backends, where each child is a flow run): the composed run reads
            them from there instead of creating a run.
        item_run_ids: a sweep's: each item's own flow run, in item order
            (server backends); the composed run gives item ``i`` back from
            the ``i``-th instead of creating its run.
    """

    child: str
    run_id: str
    results: Dict[str, Any]
    cache_key: Optional[str] = None
    flow_run_id: Optional[str] = None
    item_run_ids: Optional[List[str]] = None

    def to_context(self) -> Dict[str, Any]:
        """What a composed run composed per child is told of the reuse (``RunOptions.reused``)."""
        context: Dict[str, Any] = {"flow_run_id": self.flow_run_id, "run_id": self.run_id,
                                   "cache_key": self.cache_key}
        if self.item_run_ids is not None:
            context["flow_run_ids"] = list(self.item_run_ids)
        return context


@dataclass
class PlanStep:
    """What a run would do with one child (see ``FlowOfFlows.plan``).

    Attributes:
        child: the child's name.
        action: ``"run"`` or ``"reuse"``.
        reused_from: the run whose results it would reuse.
        cached: whether the child asks for caching.
        reason: why it would run (``None`` when reused).
        last_duration: seconds it took the last time it ran and succeeded (``None``: never).
    """

    child: str
    action: str
    reused_from: Optional[str] = None
    cached: bool = False
    reason: Optional[str] = None
    last_duration: Optional[float] = None

    def to_dict(self) -> Dict[str, Any]:
        """The step as JSON-ready data."""
        return dict(child=self.child, action=self.action, reused_from=self.reused_from, cached=self.cached,
                    reason=self.reason, last_duration=self.last_duration)


def file_digest(reference: Any) -> Dict[str, str]:
    """The SHA-256 of what the file a ``SaveFile`` reference points to holds.

    The file is read through its file type (``File.read``, the configured file
    service): text and bytes are hashed as they are, other objects as their
    pickle, so the digest follows the content wherever the file lives.

    Raises:
        InvalidFileReferenceError: ``reference`` is not a file reference.
        FilesystemNotConfiguredError: its filesystem is not configured here.
        OSError: the file cannot be read.
    """
    import pickle

    from lume_services.files.file import file_from_reference

    content = file_from_reference(reference).read()
    if isinstance(content, str):
        data = content.encode()
    elif isinstance(content, bytes):
        data = content
    else:
        data = pickle.dumps(content, protocol=4)
    return {"sha256": hashlib.sha256(data).hexdigest()}


def source_name(fof, parent_name: str, task: str) -> Optional[str]:
    """The name, in the inline composed flow, of the task whose result a mapping from ``parent_name``'s ``task`` passes."""
    parent = fof.composing_flows[parent_name]
    if task not in (parent.task_slugs or {}):  # named by its slug: a task called more than once
        return None  # its runs share one name in the history: not keyed (the child is not cached)
    if task in (parent.parameters or {}):
        if task in (parent.mapped_parameters or {}):
            return None  # a value passed on twice: not keyed (the child is not cached)
        return exposed_parameter_name(parent_name, task)
    return composed_task_name(parent_name, task)


@dataclass(frozen=True)
class KeyInputs:
    """What a child's cache key is made of, by name in the composed flow (see :func:`key_inputs`).

    Small and picklable: a composed flow composed per child carries it in the
    task that computes the key where the child's run finished (``_child_runs.ChildCacheKey``).

    Attributes:
        flow_id: the child's registered version (``None``: not registered).
        parameters: ``(parameter, exposed name)`` of its own parameters.
        mapped: ``(parameter, source name or None, map_type, attribute, attribute_index)``
            of its mapped parameters; the source is the composed task or exposed
            parameter whose value it receives (see :func:`source_name`).
        swept: the parameters a sweep maps over (``map_over``), sorted; empty
            for a child that runs once. A sweep's parameters and mapped inputs
            are lists, one value per item: the key covers every item's.
    """

    flow_id: Optional[str]
    parameters: Tuple[Tuple[str, str], ...]
    mapped: Tuple[Tuple[str, Optional[str], str, Optional[str], Optional[int]], ...]
    swept: Tuple[str, ...] = ()  # a class default: a KeyInputs pickled before sweeps were keyed has none


def key_inputs(fof, child_name: str) -> KeyInputs:
    """The names the cache key of ``child_name`` reads its values by."""
    child = fof.composing_flows[child_name]
    mapped = child.mapped_parameters or {}
    parameters = tuple((name, exposed_parameter_name(child_name, name))
                       for name in sorted(child.parameters or {}) if name not in mapped)
    inputs = tuple((name, source_name(fof, m.parent_flow_name, m.parent_task_name), m.map_type,
                    m.attribute if m.map_type == "db" else None, m.attribute_index if m.map_type == "db" else None)
                   for name, m in sorted(mapped.items()))
    return KeyInputs(child.flow_id, parameters, inputs, tuple(sorted((fof.map_over or {}).get(child_name, []))))


def key_from(inputs: KeyInputs, recorded: Dict[str, Any]) -> Optional[str]:
    """The cache key: a SHA-256 of the version, the parameters and the mapped inputs in ``recorded``.

    Args:
        inputs: what the key reads (:func:`key_inputs`).
        recorded: ``{composed task or exposed parameter name: value}`` as the
            run history records values (:func:`recorded_values`).

    Returns:
        A hex SHA-256, or ``None`` when an input is not known (not recorded,
        a secret, or the child is not registered).
    """
    if inputs.flow_id is None:
        return None
    parameters = {}
    for name, exposed in inputs.parameters:
        if exposed not in recorded or recorded[exposed] == MASK:
            return None
        parameters[name] = recorded[exposed]
    values: Dict[str, Any] = {}
    for name, source, map_type, attribute, attribute_index in inputs.mapped:
        if source is None or source not in recorded:
            return None
        value = recorded[source]
        if map_type == "file" and isinstance(value, list):  # a sweep's: one reference per item
            value = [{"file": file_digest(item)} for item in value]
        elif map_type == "file":
            value = {"file": file_digest(value)}
        elif map_type == "db":
            value = {"result": value, "attribute": attribute, "attribute_index": attribute_index}
        values[name] = value
    keyed: Dict[str, Any] = {"flow_id": inputs.flow_id, "parameters": parameters, "inputs": values}
    if inputs.swept:  # a sweep's lists are per item: not the same results as one run given the list
        keyed["map_over"] = list(inputs.swept)
    text = json.dumps(keyed, sort_keys=True, default=repr, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def cache_key(fof, child_name: str, recorded: Dict[str, Any]) -> Optional[str]:
    """The cache key of ``child_name``, from values by their name in the composed flow.

    Args:
        fof: the flow of flows.
        child_name: the child.
        recorded: ``{composed task or exposed parameter name: value}`` as the
            run history records values (secrets masked, small JSON only).

    Returns:
        A hex SHA-256, or ``None`` when an input is not known (not recorded,
        a secret, or the child is not registered).
    """
    return key_from(key_inputs(fof, child_name), recorded)


def recorded_values(values: Dict[str, Any]) -> Dict[str, Any]:
    """``{name: value}`` as the run history records them (secrets masked, small JSON), without those it does not keep."""
    out = {}
    for name, value in values.items():
        kept, value, _ = recordable(mask_secrets(value, name))
        if kept:
            out[name] = value
    return out


def known_parameters(fof, parameters: Dict[str, Any]) -> Dict[str, Any]:
    """The run's exposed parameters (given, else their defaults) as the run history would record them."""
    known = {}
    for child_name, child in fof.composing_flows.items():
        for name, param in (child.parameters or {}).items():
            if name in (child.mapped_parameters or {}):
                continue
            exposed = exposed_parameter_name(child_name, name)
            if exposed in parameters:
                value = parameters[exposed]
            elif not param.required:
                value = param.default
            else:
                continue
            known[exposed] = value
    return recorded_values(known)


def recorded_child_results(fof, record: RunRecord, child_name: str, service=None) -> Optional[Dict[str, Any]]:
    """``{task: result}`` of a child from a recorded run, or ``None`` when one was not recorded.

    Where each child is a flow run of its own (server backends), the results
    are read from that run as ``run_and_return`` reads them, through ``service``;
    a sweep's from each item's run, as ``{task: [each item's result]}``.
    """
    child = fof.composing_flows[child_name]
    run_child = next((c for c in record.children if c.name == child_name), None)
    if run_child is None:
        return None
    if run_child.run_id is not None and service is not None:
        return _child_run_results(fof, service, child_name, run_child.run_id)
    if run_child.item_runs and service is not None:
        items = []
        for item in run_child.items:
            read = None if item.run_id is None else _child_run_results(fof, service, child_name, item.run_id)
            if read is None:
                return None
            items.append(read)
        return sweep_results(fof, child_name, items)
    mapped = child.mapped_parameters or {}
    out = {}
    for task in sorted(child.task_slugs or {}):
        if task in mapped:
            value = run_child.mapped.get(task, {"unrecorded": "missing"})
            if isinstance(value, dict) and set(value) == {"unrecorded"}:
                return None
        elif task in (child.parameters or {}):
            exposed = exposed_parameter_name(child_name, task)
            if exposed not in record.parameters:
                return None
            value = record.parameters[exposed]
        else:
            found = record.task(composed_task_name(child_name, task))
            if not found or not found[0].result_recorded:
                return None
            value = found[0].result
        out[task] = value
    return out


def _child_run_results(fof, service, child_name: str, flow_run_id: str) -> Optional[Dict[str, Any]]:
    """A child's results from its own finished flow run (``None``: they cannot be read)."""
    from lume_services.errors import EmptyResultError, RunResultNotRecordedError, UntrustedStoreError

    try:
        finished = service.wait(flow_run_id, flow_name=child_name)
        if not finished.state.is_successful():
            return None
        return service.collect_results(finished, fof.composing_flows[child_name].prefect_flow, None)
    except (EmptyResultError, RunResultNotRecordedError, UntrustedStoreError):
        return None


def _reuse_of(fof, record: RunRecord, child_name: str, results: Dict[str, Any], key: Optional[str]) -> Reuse:
    """A child reused from ``record``: from the run that made its results, read from its own flow run if it has one."""
    run_child = next(c for c in record.children if c.name == child_name)
    item_run_ids = [cast(str, item.run_id) for item in run_child.items] if run_child.item_runs else None
    return Reuse(child_name, _origin(record, child_name), results, key, run_child.run_id, item_run_ids)


def _origin(record: RunRecord, child_name: str) -> str:
    """The run a child's results were made in: the run itself, or the run it reused them from."""
    run_child = next(c for c in record.children if c.name == child_name)
    return run_child.reused_from or record.run_id


def plan_reuse(fof, service, parameters: Dict[str, Any], use_cache: bool = True,
               resume: Optional[RunRecord] = None) -> Tuple[Dict[str, Reuse], List[PlanStep]]:
    """Which children a run would reuse, and from which run; nothing runs.

    Args:
        fof: the flow of flows.
        service: the scheduling service whose run history is read.
        parameters: the run's parameters (``"<child>-<parameter>"``).
        use_cache: ``False`` runs every child (resume still reuses).
        resume: a recorded run of ``fof`` to resume: its succeeded children are reused.

    Returns:
        ``({child: Reuse}, [PlanStep per child in execution order])``.
    """
    cached: Set[str] = fof.cached_children() if use_cache else set()
    known = known_parameters(fof, parameters)
    durations = service.child_durations(fof.name)
    records: Dict[str, RunRecord] = {}
    if resume is not None:
        records[resume.run_id] = resume
    reuse: Dict[str, Reuse] = {}
    steps = []
    for child_name in fof.execution_order():
        step = PlanStep(child_name, "run", cached=child_name in cached, last_duration=durations.get(child_name))
        found = None
        if resume is not None:
            run_child = next((c for c in resume.children if c.name == child_name), None)
            if run_child is not None and run_child.state in SUCCEEDED_STATES:
                results = recorded_child_results(fof, resume, child_name, service)
                if results is not None:
                    found = _reuse_of(fof, resume, child_name, results, run_child.cache_key)
                else:
                    step.reason = f"its results were not recorded in run {resume.run_id}"
            else:
                state = run_child.state if run_child is not None else "not run"
                step.reason = f"it did not succeed in run {resume.run_id} ({state})"
        if found is None and child_name in cached:
            key = cache_key(fof, child_name, known)
            run_id = service.find_reusable_child(child_name, key) if key is not None else None
            if key is None:
                step.reason = "its inputs are known only once its parents ran"
            elif run_id is None:
                step.reason = "no successful run had the same version, parameters and inputs"
            else:
                if run_id not in records:
                    records[run_id] = service.get_run(run_id)
                results = recorded_child_results(fof, records[run_id], child_name, service)
                if results is None:
                    step.reason = f"its results were not recorded in run {run_id}"
                else:
                    found = _reuse_of(fof, records[run_id], child_name, results, key)
        elif found is None and step.reason is None:
            step.reason = "not cached" if use_cache else "caching is off"
        if found is not None:
            reuse[child_name] = found
            step.action, step.reused_from, step.reason = "reuse", found.run_id, None
            child = fof.composing_flows[child_name]
            given = {}
            for task, value in found.results.items():
                if task in (child.parameters or {}) and task not in (child.mapped_parameters or {}):
                    continue  # the run's own parameter
                given[composed_task_name(child_name, task)] = value
            known.update(recorded_values(given))  # as a run records them (read from a server, they are raw)
        steps.append(step)
    return reuse, steps


def declaration_of(fof) -> Dict[str, Any]:
    """A flow of flows as a declaration ``from_yaml`` takes: its name, project, children, mappings, cache."""
    children = []
    for name in fof.execution_order():
        child = fof.composing_flows[name]
        spec: Dict[str, Any] = {"name": name, "project_name": child.project_name}
        if child.mapped_parameters:
            spec["mapped_parameters"] = {
                param: m.dict(exclude_none=True) for param, m in sorted(child.mapped_parameters.items())
            }
        if name in (fof.map_over or {}):
            spec["map_over"] = list(fof.map_over[name])
        children.append(spec)
    return {"name": fof.name, "project_name": fof.project_name, "composing_flows": children,
            "cache": sorted(fof.cached_children())}


def resumable_run(fof, record: RunRecord) -> RunRecord:
    """``record`` when it is a run of ``fof`` whose succeeded children are still the registered versions.

    Raises:
        RunNotOfFlowOfFlowsError: the run is not one of this flow of flows.
        ChildVersionChangedError: a child that succeeded there was registered anew since.
    """
    from lume_services.errors import ChildVersionChangedError, RunNotOfFlowOfFlowsError

    if record.flow_name != fof.name or not record.children:
        raise RunNotOfFlowOfFlowsError(record.run_id, fof.name, record.flow_name)
    changed = {}
    for child in record.children:
        current = fof.composing_flows.get(child.name)
        if (current is not None and child.state in SUCCEEDED_STATES and child.flow_id is not None
                and child.flow_id != current.flow_id):
            changed[child.name] = (child.flow_id, current.flow_id)
    if changed:
        raise ChildVersionChangedError(fof.name, record.run_id, changed)
    return record


def reuse_for_run(fof, service, parameters, run_config, use_cache: bool,
                  resume: Optional[RunRecord] = None) -> Dict[str, Reuse]:
    """``{child: Reuse}`` for a run (see :func:`plan_reuse`); empty when nothing is cached or resumed."""
    if not (use_cache and fof.cached_children()) and resume is None:
        return {}
    given = dict(getattr(run_config, "parameters", None) or {})
    given.update(parameters or {})
    reuse, _ = plan_reuse(fof, service, given, use_cache, resume)
    return reuse


def recorded_declaration(service, run_id: str) -> Dict[str, Any]:
    """The flow-of-flows declaration recorded with run ``run_id`` (what ``FlowOfFlows.from_yaml`` takes).

    Raises:
        RunNotFoundError: no run has this id.
        RunNotOfFlowOfFlowsError: the run is not a flow of flows' run recorded with its declaration.
    """
    from lume_services.errors import RunNotOfFlowOfFlowsError

    record = service.get_run(run_id)
    declaration = service.run_declaration(run_id)
    if declaration is None:
        raise RunNotOfFlowOfFlowsError(run_id, None, record.flow_name)
    return declaration
