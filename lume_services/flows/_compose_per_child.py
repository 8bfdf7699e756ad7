"""Per-child composition: a flow of flows as one Prefect flow that starts a flow run per child.

Used where flows run on a Prefect 1 Server (the server, Docker and Kubernetes
backends): each child runs as its own registered flow, in its own run
config and image, and the composed flow only creates the children's runs,
waits for them and hands mapped values on. The backend supplies what differs
(the composed flow's storage, run config and result type) through
``SchedulingService.package_composed_flow``.
"""

from typing import Any, Dict, Optional

from lume_services.errors import FlowFailedError
from lume_services.flows._child_runs import WaitForChildRun
from lume_services.flows._names import db_loader, exposed_parameter_name
from lume_services.flows.flow import parent_task_slug
from lume_services.services.scheduling.run_options import run_options

#: the slug prefix of the task that creates a child's flow run
CREATE_RUN_PREFIX = "create-run:"


def compose_per_child(flow_of_flows):
    """Build the Prefect flow that runs a flow of flows' children as server flow runs.

    Per child, in dependency order: a ``create_flow_run`` task (every child gets
    its own run, mapped parameters or not) whose parameters are the child's
    unmapped parameters, exposed on the composed flow as Parameters named
    ``exposed_parameter_name(child, parameter)`` with the child's defaults, and
    its mapped parameters, taken from the parent's finished run with
    ``get_task_run_result`` (``raw`` and ``file`` by value, ``db`` through
    the ``LoadDBResult`` that ``_names.db_loader`` builds for both composers); then a
    ``WaitForChildRun`` (``_child_runs``), which polls the child's run at the
    composed run's poll interval and takes on its final state, so a failed
    child fails the composed flow and its descendants do not run. Each ``create_flow_run``
    task is tagged with its child's flow id, so that registering a child anew
    changes the composed flow's fingerprint.

    Args:
        flow_of_flows: a ``FlowOfFlows`` whose children are loaded (flow ids,
            Prefect flows, task slugs).

    Returns:
        The Prefect flow (no storage or run config yet).
    """
    from prefect import Flow as PrefectFlow
    from prefect import Parameter
    from prefect.tasks.prefect import create_flow_run, get_task_run_result

    children = flow_of_flows.composing_flows
    with PrefectFlow(flow_of_flows.name) as composed:
        created: Dict[str, Any] = {}
        finished: Dict[str, Any] = {}
        for child_name in flow_of_flows.execution_order():
            child = children[child_name]
            mapped = dict(child.mapped_parameters or {})
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
            for param_name, mapping in sorted(mapped.items()):
                parent = children[mapping.parent_flow_name]
                slug = parent_task_slug(parent.prefect_flow, mapping.parent_task_name)
                value = get_task_run_result(
                    created[mapping.parent_flow_name],
                    task_slug=slug,
                    poll_time=1,
                    task_args=dict(name=f"result:{mapping.parent_flow_name}/{mapping.parent_task_name}->{child_name}.{param_name}"),
                    upstream_tasks=[finished[mapping.parent_flow_name]],
                )
                if mapping.map_type == "db":
                    value = db_loader(child_name, param_name, mapping)(value)
                mapped_values[param_name] = value
            run_id = create_flow_run(
                flow_id=child.flow_id,
                # Prefect turns a dict holding tasks into a task that builds it at run time
                parameters={**exposed, **mapped_values},
                run_name=None,
                labels=list(child.labels) if child.labels else None,
                task_args=dict(
                    name=f"{CREATE_RUN_PREFIX}{child_name}",
                    slug=f"{CREATE_RUN_PREFIX}{child_name}-1",
                    # Prefect does not serialize constant arguments: the tag puts the
                    # child's flow id into the serialized flow, so the composed flow's
                    # fingerprint (registration idempotency, image reuse) changes with it
                    tags=[f"lume-services-child-flow-id:{child.flow_id}"],
                ),
            )
            created[child_name] = run_id
            finished[child_name] = WaitForChildRun(name=f"wait:{child_name}")(run_id)
    return composed


def run_per_child(flow_of_flows, scheduling_service, parameters, run_config, wanted: Optional[tuple],
                  timeout=None, **kwargs):
    """Run a registered per-child composition and return its children's task results.

    The timeout (else the backend's) is a deadline for the whole run: the
    composed flow's run and every child run it waits on afterwards share it.

    Raises:
        FlowFailedError: a child failed; names the child and its failed task.
        FlowRunTimeoutError: the runs did not finish before the deadline; the
            run waited on then was cancelled.
    """
    service = scheduling_service
    options = run_options(parameters, run_config)
    composed = flow_of_flows.prefect_flow
    parent_run = service.start_run(options, flow=composed, flow_id=flow_of_flows.flow_id, **kwargs)
    deadline = service.deadline(timeout)
    waited_for = f"flow of flows {flow_of_flows.name!r}"

    def wait(handle, flow_name):
        return service.wait(handle, options.poll_interval, deadline, flow_name, waited_for)

    finished = wait(parent_run, flow_of_flows.name)
    child_runs = _child_run_ids(service.results_by_slug(finished, composed))
    try:
        service.raise_if_failed(finished, flow_of_flows.name)
    except FlowFailedError as composed_failure:
        raise _failure_by_child(flow_of_flows, service, child_runs, wait, composed_failure) from None
    results = {}
    for child_name in flow_of_flows.execution_order():
        if wanted is not None and wanted[0] != child_name:
            continue
        child = flow_of_flows.composing_flows[child_name]
        child_finished = wait(child_runs[child_name], child_name)
        results[child_name] = service.collect_results(
            child_finished, child.prefect_flow, wanted[1] if wanted else None
        )
    if wanted is not None:
        return results[wanted[0]]
    return results


def _child_run_ids(results_by_slug: Dict[str, Any]) -> Dict[str, str]:
    """Child flow name -> the flow run id its ``create_flow_run`` task returned."""
    ids = {}
    for slug, value in results_by_slug.items():
        if slug.startswith(CREATE_RUN_PREFIX):
            ids[slug[len(CREATE_RUN_PREFIX):].rsplit("-", 1)[0]] = value
    return ids


def _failure_by_child(flow_of_flows, service, child_runs, wait, composed_failure: FlowFailedError) -> FlowFailedError:
    """The failure of a composed run, told by the children that failed (``"<child>/<task>"``)."""
    failed = {}
    for child_name in flow_of_flows.execution_order():
        handle = child_runs.get(child_name)
        if handle is None:
            continue
        try:
            service.raise_if_failed(wait(handle, child_name), child_name)
        except FlowFailedError as exc:
            for task, message in exc.failed_tasks.items():
                failed[f"{child_name}/{task}"] = message
            if not exc.failed_tasks:
                failed[child_name] = exc.message
    if not failed:  # no child failed: the composed flow's own tasks did
        failed = composed_failure.failed_tasks
    return FlowFailedError(
        flow_of_flows.name, failed, message=composed_failure.message, flow_run_id=composed_failure.flow_run_id
    )
