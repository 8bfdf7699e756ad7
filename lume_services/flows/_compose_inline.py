"""Inline composition: a flow of flows as one Prefect flow holding copies of every child's tasks.

Used where flows run in this process (the local backend). Child tasks are
named ``"<child>/<task>"``; a mapped ``raw`` or ``file`` parameter is replaced
by the parent's task that produces its value and a ``db`` one by a
``LoadDBResult`` task reading the stored result; unmapped parameters are
exposed as ``"<child>-<parameter>"``. The first tasks of a child wait for the
reference tasks of every parent, so a child starts only when its parents
succeeded, and independent children run concurrently under a parallel executor.

The composed flow is a :class:`ComposedFlow`: a Prefect flow whose task order
is computed in time linear in its tasks and edges, so a deep composition's
first run costs what its later runs cost.
"""

from typing import Any, Dict, Optional

from prefect import Flow as PrefectFlow

from lume_services.errors import FlowFailedError
from lume_services.flows._names import composed_task_name, exposed_parameter_name
from lume_services.flows._results import group_inline_results, pick
from lume_services.services.scheduling.backends.backend import slug_order, tasks_in_slug_order
from lume_services.services.scheduling.backends.task_order import sorted_flow_tasks
from lume_services.tasks.db import LoadDBResult


class ComposedFlow(PrefectFlow):
    """A Prefect flow that sorts its tasks in time linear in tasks and edges.

    Prefect's own ``sorted_tasks`` (which every run and ``validate`` call)
    rescans the unsorted tasks for every upstream task, pass after pass: on
    the one flat flow of a deep composition it takes longer than running the
    tasks. This one gives a topological order with Kahn's algorithm (see
    :func:`sorted_flow_tasks`), ties in the order the composer added the
    tasks: child by child, in execution order. Everything else is Prefect's.
    """

    def sorted_tasks(self, root_tasks=None):
        """The tasks, each after its upstream tasks (only those downstream of ``root_tasks`` if given).

        Raises:
            ValueError: a root task is not in the flow, or the flow has a cycle.
        """
        return sorted_flow_tasks(self, root_tasks)


def compose_inline(fof):
    """Build the local composed flow: copies of every child's tasks, wired by the mappings."""
    from prefect import Parameter

    composed = ComposedFlow(fof.name)
    copies: Dict[str, dict] = {}  # child -> {original task: task in the composed flow}
    by_name: Dict[str, Dict[str, Any]] = {}  # child -> {task name: first copy by slug}
    references: Dict[str, list] = {}  # child -> its reference tasks (computed once: not cheap)
    for child_name in fof.execution_order():
        child = fof.composing_flows[child_name]
        flow = child.prefect_flow
        mapped = child.mapped_parameters or {}
        tasks = tasks_in_slug_order(flow)
        replaced: Dict[Any, Any] = {}
        for task in tasks:
            if isinstance(task, Parameter):
                m = mapped.get(task.name)
                if m is None:
                    new = task.copy(name=exposed_parameter_name(child_name, task.name))
                elif m.map_type == "db":
                    new = _db_loader(composed, child_name, task.name, m, by_name[m.parent_flow_name][m.parent_task_name])
                else:
                    new = by_name[m.parent_flow_name][m.parent_task_name]
            else:
                new = task.copy(name=composed_task_name(child_name, task.name), slug=None)
            composed.add_task(new)
            replaced[task] = new
        for edge in flow.edges:
            composed.add_edge(
                replaced[edge.upstream_task],
                replaced[edge.downstream_task],
                key=edge.key,
                mapped=edge.mapped,
                flattened=edge.flattened,
                validate=False,
            )
        for task, constants in flow.constants.items():
            composed.constants[replaced[task]] = dict(constants)
        # a child starts when its parents succeeded: gate its entry tasks on their reference tasks
        references[child_name] = reference_tasks(flow)
        gates = [copies[parent][ref] for parent in fof.parents(child_name) for ref in references[parent]]
        if gates:
            for task in tasks:
                if isinstance(task, Parameter):
                    continue
                upstream = [e.upstream_task for e in flow.edges_to(task)]
                if all(isinstance(u, Parameter) for u in upstream):
                    for gate in gates:
                        if gate is not replaced[task]:
                            composed.add_edge(gate, replaced[task], validate=False)
        copies[child_name] = replaced
        first: Dict[str, Any] = {}
        for task in tasks:
            first.setdefault(task.name, replaced[task])
        by_name[child_name] = first
    reference = [copies[c][t] for c in fof.execution_order() for t in references[c]]
    composed.set_reference_tasks(reference)
    return composed


def reference_tasks(flow) -> list:
    """A flow's reference tasks (whose states decide the run's), in slug order."""
    return sorted(flow.reference_tasks(), key=lambda t: slug_order(flow.slugs[t]))


def _db_loader(composed, child: str, parameter: str, m, parent_task):
    loader = LoadDBResult(name=composed_task_name(child, parameter))
    composed.add_task(loader)
    composed.add_edge(parent_task, loader, key="result_rep", validate=False)
    composed.constants[loader] = {"attribute": m.attribute, "attribute_index": m.attribute_index}
    return loader


def run_inline(flow_of_flows, scheduling_service, parameters, run_config, wanted: Optional[tuple], **kwargs):
    """Run a composed flow of flows as one run and return its results by child.

    Raises:
        FlowFailedError: a child failed; names the children, their failed tasks and errors.
    """
    state = scheduling_service.run(
        parameters, run_config, flow=flow_of_flows.prefect_flow, flow_id=flow_of_flows.flow_id, **kwargs
    )
    if state.is_failed():
        failed = scheduling_service.failed_tasks(state)
        children = sorted({name.partition("/")[0] for name in failed})
        message = (
            f"composing flow(s) {', '.join(repr(c) for c in children)} failed"
            if children
            else state.message
        )
        raise FlowFailedError(flow_of_flows.name, failed, message=message)
    flat = scheduling_service.collect_results(state, flow_of_flows.prefect_flow, None)
    return pick(group_inline_results(flow_of_flows, flat), wanted)
