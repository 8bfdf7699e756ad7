"""Per-child composition: a flow of flows as one Prefect flow that starts a flow run per child.

Used where flows run on a Prefect 1 Server (the server, Docker and Kubernetes
backends): each child runs as its own registered flow, in its own run
config and image, and the composed flow only creates the children's runs,
waits for them and hands mapped values on. The backend supplies what differs
(the composed flow's storage, run config and result type) through
``SchedulingService.package_composed_flow``.
"""

from datetime import timedelta
from typing import Any, Dict, Optional, cast

from lume_services.errors import FlowFailedError, FlowRunProcessEndedError
from lume_services.flows._child_runs import ChildCacheKey, CreateChildRun, WaitForChildRun, numbered_values, timed_out
from lume_services.flows._results import sweep_results
from lume_services.flows._reuse import REUSED_STATE, key_inputs, source_name
from lume_services.flows._names import db_loader, exposed_parameter_name
from lume_services.flows.flow import parent_task_slug
from lume_services.services.scheduling.run_options import run_options
from lume_services.services.scheduling.waiting import Deadline

#: the slug prefix of the task that creates a child's flow run
CREATE_RUN_PREFIX = "create-run:"
#: the slug prefix of the task that computes a succeeded child's cache key (``_child_runs.ChildCacheKey``)
CACHE_KEY_PREFIX = "cache-key:"

#: seconds the caller waits for a composed run beyond the deadline, for the run to
#: report the child its own wait gave up on (cancel it, fail, end the run)
COMPOSED_RUN_GRACE_SECONDS = 15.0


def compose_per_child(flow_of_flows):
    """Build the Prefect flow that runs a flow of flows' children as server flow runs.

    Per child, in dependency order: a ``CreateChildRun`` task (every child gets
    its own run, mapped parameters or not, unless the run reuses it: see
    ``_child_runs``) whose parameters are the child's
    unmapped parameters, exposed on the composed flow as Parameters named
    ``exposed_parameter_name(child, parameter)`` with the child's defaults, and
    its mapped parameters, taken from the parent's finished run with
    ``get_task_run_result`` (``raw`` and ``file`` by value, ``db`` through
    the ``LoadDBResult`` that ``_names.db_loader`` builds for both composers), all checked
    by that task first against the server's state limit;
    then a ``WaitForChildRun`` (``_child_runs``), which polls the child's run at
    the composed run's poll interval until the composed run's deadline and
    takes on its final state, so a failed child fails the composed flow and its
    descendants do not run; then a ``ChildCacheKey`` task, whose result (the
    child's cache key) the server keeps with the run. Values are passed to
    these tasks one by one (no dict, which Prefect builds with tasks of its
    own: every task costs its requests to the server). Each ``create_flow_run``
    task (``CreateChildRun``: it also names the composed run and the child in
    the child run's context) is tagged with its child's flow id, so that
    registering a child anew changes the composed flow's fingerprint. A child
    with ``map_over`` is swept: its create and wait steps are mapped
    over the swept values (Prefect's task mapping), one flow run per item, and
    a mapping from a swept parent reads each item's value, item by item. A
    sweep's ``ChildCacheKey`` is not mapped: it reads the swept parameters'
    lists and every item's mapped values (a list, in item order), and runs only
    when every item succeeded (Prefect's trigger reads each item's state), so
    a sweep with a failed item records no key and is never reused.

    Args:
        flow_of_flows: a ``FlowOfFlows`` whose children are loaded (flow ids,
            Prefect flows, task slugs).

    Returns:
        The Prefect flow (no storage or run config yet).
    """
    from prefect import Flow as PrefectFlow
    from prefect import Parameter, unmapped

    # Prefect's get_task_run_result, reading a child run in this process without a request
    from lume_services.flows._child_in_process import LeanLocalExecutor
    from lume_services.flows._child_in_process import child_task_result as get_task_run_result

    children = flow_of_flows.composing_flows
    sweeps = getattr(flow_of_flows, "map_over", None) or {}
    with PrefectFlow(flow_of_flows.name) as composed:
        created: Dict[str, Any] = {}
        finished: Dict[str, Any] = {}
        for child_name in flow_of_flows.execution_order():
            child = children[child_name]
            mapped = dict(child.mapped_parameters or {})
            swept = list(sweeps.get(child_name, []))
            exposed = {}
            for param_name, param in sorted((child.parameters or {}).items()):
                if param_name in mapped:
                    continue
                exposed[param_name] = Parameter(
                    exposed_parameter_name(child_name, param_name),
                    default=param.default,
                    required=param.required,
                )
            mapped_values = {}
            raw_values = {}  # source name -> the parent's result, as the cache key reads it
            for param_name, mapping in sorted(mapped.items()):
                parent = children[mapping.parent_flow_name]
                slug = parent_task_slug(parent.prefect_flow, mapping.parent_task_name)
                name = f"result:{mapping.parent_flow_name}/{mapping.parent_task_name}->{child_name}.{param_name}"
                if mapping.parent_flow_name in sweeps:
                    # one value per item of the parent's sweep, item by item: an item that
                    # failed there fails only the same item here (a child that does not sweep
                    # receives the list of them, once every item succeeded)
                    value = get_task_run_result.map(
                        created[mapping.parent_flow_name], task_slug=unmapped(slug), poll_time=unmapped(1),
                        task_args=dict(name=name), upstream_tasks=[finished[mapping.parent_flow_name]],
                    )
                    raw = value  # the key reads every item's value: a list, in item order
                    if mapping.map_type == "db":
                        value = db_loader(child_name, param_name, mapping).map(value)
                else:
                    value = get_task_run_result(
                        created[mapping.parent_flow_name], task_slug=slug, poll_time=1,
                        task_args=dict(name=name), upstream_tasks=[finished[mapping.parent_flow_name]],
                    )
                    raw = value
                    if mapping.map_type == "db":
                        value = db_loader(child_name, param_name, mapping)(value)
                source = source_name(flow_of_flows, mapping.parent_flow_name, mapping.parent_task_name)
                if source is not None:
                    raw_values[source] = raw
                mapped_values[param_name] = value
            values = {**exposed, **mapped_values}
            # Prefect's create_flow_run, its values checked first, the composed run and the
            # child in the child run's context (for what the child's packaged tasks store: lineage)
            numbered, names = numbered_values(values)
            create = CreateChildRun(child_name, value_names=names, swept=bool(swept))
            create_args = dict(
                name=f"{CREATE_RUN_PREFIX}{child_name}",
                slug=f"{CREATE_RUN_PREFIX}{child_name}-1",
                # Prefect does not serialize constant arguments: the tag puts the
                # child's flow id into the serialized flow, so the composed flow's
                # fingerprint (registration idempotency, image reuse) changes with it
                tags=[f"lume-services-child-flow-id:{child.flow_id}"],
            )
            labels = list(child.labels) if child.labels else None
            wait = WaitForChildRun(child_name=child_name, name=f"wait:{child_name}")
            # the values go one by one, not as a dict: Prefect would build a dict of
            # tasks with tasks of its own, each costing its requests to the server
            if swept:
                # a sweep: one flow run of the child per item (Prefect's mapping over the
                # swept values), each item's values checked before its run is created
                by_name = dict(zip(names, numbered))
                fixed: Dict[str, Any] = {key: unmapped(numbered[key])
                                         for name, key in by_name.items() if name not in swept}
                items: Dict[str, Any] = {key: numbered[key] for name, key in by_name.items() if name in swept}
                run_id = create.map(flow_id=unmapped(child.flow_id), run_name=unmapped(None),
                                    labels=unmapped(labels), task_args=create_args, **fixed, **items)
                finished[child_name] = wait.map(run_id)
            else:
                # every value checked against the server's state limit before the child
                # exists: a refused parameter state would leave the child Running for ever
                run_id = create(flow_id=child.flow_id, run_name=None, labels=labels,
                                task_args=create_args, **numbered)
                finished[child_name] = wait(run_id)
            created[child_name] = run_id
            # recorded with every succeeded child, so that a later run can reuse it (cache, resume); a
            # sweep's once every item succeeded: its wait is mapped, and Prefect's trigger reads each item's state
            key_values, key_names = numbered_values(
                {**{exposed_parameter_name(child_name, p): t for p, t in exposed.items()}, **raw_values})
            ChildCacheKey(key_inputs(flow_of_flows, child_name), value_names=key_names)(
                **key_values,
                upstream_tasks=[finished[child_name]],
                task_args=dict(name=f"{CACHE_KEY_PREFIX}{child_name}", slug=f"{CACHE_KEY_PREFIX}{child_name}-1"),
            )
    # Prefect's LocalExecutor, without a configuration copy per task (the run's own tasks, one at a time)
    composed.executor = LeanLocalExecutor()
    return composed


def per_child_options(flow_of_flows, parameters, run_config, reuse: Optional[Dict[str, Any]] = None):
    """The run options of a composed run: the run's, its declaration and the children it reuses (``_reuse.Reuse``)."""
    options = run_options(parameters, run_config)
    options.declaration = flow_of_flows.declaration()
    if reuse:
        options.reused = {child: used.to_context() for child, used in reuse.items()}
    return options


def start_per_child(flow_of_flows, scheduling_service, parameters, run_config, reuse=None, **kwargs) -> str:
    """Start a run of a registered per-child composition and return its flow run id (it is not waited for)."""
    options = per_child_options(flow_of_flows, parameters, run_config, reuse)
    return scheduling_service.start_run(options, flow=flow_of_flows.prefect_flow, flow_id=flow_of_flows.flow_id,
                                        **kwargs)


def run_per_child(flow_of_flows, scheduling_service, parameters, run_config, wanted: Optional[tuple],
                  timeout=None, reuse: Optional[Dict[str, Any]] = None, **kwargs):
    """Run a registered per-child composition and return its children's task results.

    The timeout (else the backend's) is a deadline for the whole run: the
    composed flow's run and every child run it waits on afterwards share it.
    A swept child's results are its items' results, in item order (see
    :func:`sweep_results`). The composed run keeps the flow of flows'
    declaration in its context (``run_declaration`` reads it back: lineage,
    reproduce), and its id becomes the flow of flows' ``last_run_id``.
    A reused child's results are read from the earlier flow run that made them.

    Args:
        reuse: ``{child: _reuse.Reuse}``: children given back from recorded runs.

    Raises:
        FlowFailedError: a child failed; names the child and its failed task
            (an item of a sweep: ``"<child>/<task>[<item>]"``).
        FlowRunProcessEndedError: the composed run's process ended (killed) before the run;
            its agent marked it and the children it ran in itself ``Failed``.
        FlowRunTimeoutError: the runs did not finish before the deadline; the
            run waited on then was cancelled.
    """
    service = scheduling_service
    options = per_child_options(flow_of_flows, parameters, run_config, reuse)
    composed = flow_of_flows.prefect_flow
    limit = service.time_limit(timeout)
    deadline = service.deadline(timeout)
    # the composed run's waits for its children end at the deadline (it travels in the
    # run's context) and it then fails naming the stuck child; the wait here allows
    # it the time to say so before it gives up on the composed run itself
    parent_run = service.start_run(options, flow=composed, flow_id=flow_of_flows.flow_id, deadline=deadline,
                                   **kwargs)
    flow_of_flows._last_run_id = str(parent_run)
    grace = None if limit is None else limit + timedelta(seconds=COMPOSED_RUN_GRACE_SECONDS)
    waited_for = f"flow of flows {flow_of_flows.name!r}"

    def wait(handle, flow_name, until=deadline):
        return service.wait(handle, options.poll_interval, until, flow_name, waited_for)

    finished = wait(parent_run, flow_of_flows.name, Deadline(grace, deadline.clock))
    child_runs = _child_run_ids(service.results_by_slug(finished, composed))
    try:
        service.raise_if_failed(finished, flow_of_flows.name)
    except FlowRunProcessEndedError:  # its process was killed: that, not a child's task, is what happened
        raise
    except FlowFailedError as composed_failure:
        raise _failure_by_child(flow_of_flows, service, child_runs, wait, composed_failure) from None
    results = {}
    for child_name in flow_of_flows.execution_order():
        if wanted is not None and wanted[0] != child_name:
            continue
        child = flow_of_flows.composing_flows[child_name]
        handles = child_runs[child_name]
        if isinstance(handles, list):  # a sweep: a run per item
            items = [service.collect_results(wait(h, child_name), child.prefect_flow, None) for h in handles]
            results[child_name] = sweep_results(flow_of_flows, child_name, items)
            continue
        child_finished = wait(handles, child_name)
        results[child_name] = service.collect_results(
            child_finished, child.prefect_flow, wanted[1] if wanted else None
        )
    if wanted is not None:
        if isinstance(child_runs[wanted[0]], list):
            return results[wanted[0]][wanted[1]]
        return results[wanted[0]]
    return results


def per_child_states(flow_of_flows, reuse: Dict[str, Any],
                     failure: Optional[FlowFailedError] = None) -> Dict[str, str]:
    """Each child's state after a per-child run: ``Cached`` when reused, ``Failed`` when ``failure`` names it."""
    reused = {child: REUSED_STATE for child in reuse}
    if failure is not None:
        return {**{name.partition("/")[0]: "Failed" for name in failure.failed_tasks}, **reused}
    return {**{child: "Success" for child in flow_of_flows.composing_flows}, **reused}


def _child_run_ids(results_by_slug: Dict[str, Any]) -> Dict[str, Any]:
    """Child flow name -> the flow run id its ``create_flow_run`` task returned (a list for a sweep)."""
    ids = {}
    for slug, value in results_by_slug.items():
        if slug.startswith(CREATE_RUN_PREFIX):
            ids[slug[len(CREATE_RUN_PREFIX):].rsplit("-", 1)[0]] = value
    return ids


def _failure_by_child(flow_of_flows, service, child_runs, wait, composed_failure: FlowFailedError) -> FlowFailedError:
    """The failure of a composed run, told by the children that failed (``"<child>/<task>"``).

    An item of a sweep that failed is named ``"<child>/<task>[<item>]"``, as the local backend names it.
    """
    failed = {}
    own = composed_failure.failed_tasks
    for child_name in flow_of_flows.execution_order():
        handles = child_runs.get(child_name)
        if handles is None:
            # never created: its values were refused (create-run:<child>; check:<child> in a
            # composed flow stored by an earlier version), or a parent failed
            for name, message in own.items():
                for prefix in (f"{CREATE_RUN_PREFIX}{child_name}", f"check:{child_name}"):
                    if name == prefix or name.startswith(f"{prefix}["):
                        failed[child_name + name[len(prefix):]] = message
            continue
        items = list(enumerate(handles)) if isinstance(handles, list) else [(None, handles)]
        for index, handle in items:
            suffix = "" if index is None else f"[{index}]"
            if handle is None:  # an item never created: its values were refused
                message = own.get(f"{CREATE_RUN_PREFIX}{child_name}{suffix}", own.get(f"check:{child_name}{suffix}"))
                if message is not None:
                    failed[f"{child_name}{suffix}"] = message
                continue
            waited = own.get(f"wait:{child_name}{suffix}")
            if timed_out(waited, child_name, handle):  # stuck: the composed run cancelled it
                failed[f"{child_name}{suffix}"] = cast(str, waited)
                continue
            try:
                service.raise_if_failed(wait(handle, child_name), child_name)
            except FlowFailedError as exc:
                for task, message in exc.failed_tasks.items():
                    failed[f"{child_name}/{task}{suffix}"] = message
                if not exc.failed_tasks:
                    failed[f"{child_name}{suffix}"] = exc.message
    if not failed:  # no child failed: the composed flow's own tasks did
        failed = composed_failure.failed_tasks
    return FlowFailedError(
        flow_of_flows.name, failed, message=composed_failure.message, flow_run_id=composed_failure.flow_run_id
    )
