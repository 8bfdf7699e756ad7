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

import functools
from typing import Any, Dict, List, Optional

from prefect import Flow as PrefectFlow
from prefect import Task

from lume_services.errors import FlowFailedError
from lume_services.flows._names import composed_task_name, db_loader, exposed_parameter_name
from lume_services.flows._results import group_inline_results, pick
from lume_services.flows._reuse import cache_key
from lume_services.tasks.db import CHILD_FLOW_IDS_CONTEXT_KEY
from lume_services.services.scheduling.run_options import run_options
from lume_services.services.scheduling.run_records import ChildPlan
from lume_services.flows.flow import parent_task_slug
from lume_services.services.scheduling.task_order import slug_order, sorted_flow_tasks, tasks_in_slug_order


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


class RecordedResult(Task):
    """Gives back a reused child's recorded task result (see ``_reuse``) instead of running the task.

    Args:
        value: the recorded result.
        **kwargs: ``prefect.Task`` arguments (its name is ``"<child>/<task>"``).
    """

    def __init__(self, value: Any = None, **kwargs: Any) -> None:
        self.value = value
        kwargs.setdefault("checkpoint", False)
        super().__init__(**kwargs)

    def run(self) -> Any:
        """Return the recorded result."""
        return self.value


def compose_inline(fof, reuse: Optional[Dict[str, Any]] = None):
    """Build the local composed flow: copies of every child's tasks, wired by the mappings.

    Args:
        fof: the flow of flows.
        reuse: ``{child: _reuse.Reuse}``: children whose tasks give back
            recorded results (:class:`RecordedResult`) instead of running.
    """
    from prefect import Parameter
    from prefect.utilities.logging import get_logger

    reuse = reuse or {}

    composed = ComposedFlow(fof.name)
    copies: Dict[str, dict] = {}  # child -> {original task: task in the composed flow}
    by_name: Dict[str, Dict[str, Any]] = {}  # child -> {task name or slug: its copy}
    references: Dict[str, list] = {}  # child -> its reference tasks (computed once: not cheap)
    swept_copies: set = set()  # tasks of the composed flow that run once per item (map_over)
    for child_name in fof.execution_order():
        child = fof.composing_flows[child_name]
        flow = child.prefect_flow
        mapped = child.mapped_parameters or {}
        tasks = tasks_in_slug_order(flow)
        replaced: Dict[Any, Any] = {}
        if child_name in reuse:
            references[child_name] = reference_tasks(flow)
            copies[child_name] = _recorded_copies(composed, child_name, tasks, mapped, reuse[child_name].results,
                                                  _mapped_from(fof, child_name))
            by_name[child_name] = {}
            for task, new in copies[child_name].items():
                by_name[child_name].setdefault(task.name, new)
            for task, new in copies[child_name].items():  # a mapping may name a task by its slug
                by_name[child_name].setdefault(flow.slugs[task], new)
            continue
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
                # a copy keeps the original's logger ("prefect.<task>"): log as "prefect.<child>/<task>"
                # so two children running the same task can be told apart
                new.logger = get_logger(new.name)
            composed.add_task(new)
            replaced[task] = new
        swept = _swept_tasks(flow, (getattr(fof, "map_over", None) or {}).get(child_name, []))
        for edge in flow.edges:
            composed.add_edge(
                replaced[edge.upstream_task],
                replaced[edge.downstream_task],
                key=edge.key,
                mapped=edge.mapped or edge.upstream_task in swept,
                flattened=edge.flattened,
                validate=False,
            )
        for task, constants in flow.constants.items():
            composed.constants[replaced[task]] = dict(constants)
        for task, anchor in _sweep_anchors(flow, swept).items():
            composed.add_edge(replaced[anchor], replaced[task], mapped=True, validate=False)
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
                            # a swept task waits for its own item of a swept parent, not for every item
                            item_wise = gate in swept_copies and task in swept
                            composed.add_edge(gate, replaced[task], mapped=item_wise, validate=False)
        copies[child_name] = replaced
        swept_copies.update(replaced[task] for task in swept)
        first: Dict[str, Any] = {}
        for task in tasks:
            first.setdefault(task.name, replaced[task])
        for task in tasks:  # a mapping may name a task by its slug (a task called more than once)
            first.setdefault(flow.slugs[task], replaced[task])
        by_name[child_name] = first
    reference = [copies[c][t] for c in fof.execution_order() for t in references[c]]
    composed.set_reference_tasks(reference)
    return composed


def _swept_tasks(flow, parameters) -> set:
    """The tasks of a child that sweep: its ``map_over`` parameters and every task that is not a parameter.

    Their edges become mapped edges (Prefect's task mapping): each runs once
    per item, item by item down the child, and a failed item fails only the
    items downstream of it. A task that does not take a swept value runs once
    per item too (see :func:`_sweep_anchors`): an item is a run of the whole
    child, as on a server, where each item is a flow run of its own; so every
    task of a swept child gives one result per item, in item order.
    """
    from prefect import Parameter

    if not parameters:
        return set()
    swept = {task for task in flow.tasks if getattr(task, "name", None) in parameters and task in flow.parameters()}
    return swept | {task for task in flow.tasks if not isinstance(task, Parameter)}


def _sweep_anchors(flow, swept: set) -> Dict[Any, Any]:
    """The swept child's tasks that take no swept value, each with the swept parameter that maps it over the items.

    A task whose upstream tasks are all parameters it does not sweep would run
    once; a mapped edge (no data) from a swept parameter runs it once per item.
    A task downstream of a swept task is mapped by that edge already.
    """
    from prefect import Parameter

    parameters = sorted((t for t in swept if isinstance(t, Parameter)), key=lambda t: t.name)
    if not parameters:
        return {}
    anchors = {}
    for task in tasks_in_slug_order(flow):
        if task not in swept or isinstance(task, Parameter):
            continue
        upstream = [e.upstream_task for e in flow.edges_to(task)]
        if all(isinstance(u, Parameter) and u not in swept for u in upstream):
            anchors[task] = parameters[0]
    return anchors


def _mapped_from(fof, parent: str) -> set:
    """The names of ``parent``'s tasks some child maps a parameter from."""
    return {m.parent_task_name for child in fof.composing_flows.values()
            for m in (child.mapped_parameters or {}).values() if m.parent_flow_name == parent}


def _recorded_copies(composed, child_name: str, tasks, mapped, results: Dict[str, Any], wanted: set) -> dict:
    """A reused child's tasks: its run parameters stay parameters, every other task gives back its recorded result.

    A mapped parameter gets a task only when another child maps from it (the
    run history is given its value directly): each task costs a Prefect task run.
    """
    from prefect import Parameter

    replaced = {}
    for task in tasks:
        if isinstance(task, Parameter) and task.name not in mapped:
            new = task.copy(name=exposed_parameter_name(child_name, task.name))
        elif isinstance(task, Parameter) and task.name not in wanted:
            continue
        else:
            new = RecordedResult(results.get(task.name), name=composed_task_name(child_name, task.name))
        composed.add_task(new)
        replaced[task] = new
    return replaced


def reference_tasks(flow) -> list:
    """A flow's reference tasks (whose states decide the run's), in slug order."""
    return sorted(flow.reference_tasks(), key=lambda t: slug_order(flow.slugs[t]))


def _db_loader(composed, child: str, parameter: str, m, parent_task):
    loader = db_loader(child, parameter, m)
    composed.add_task(loader)
    composed.add_edge(parent_task, loader, key="result_rep", validate=False)
    return loader


def child_plans(fof, reuse: Optional[Dict[str, Any]] = None) -> List[ChildPlan]:
    """Which tasks of the inline composed flow are each child's, for the run history.

    A child's tasks are its copied tasks and its ``db`` loaders (its exposed
    parameters are the run's); a ``raw`` or ``file`` mapped parameter is the
    parent's task, whose result is the value the child received.
    """
    from prefect import Parameter

    reuse = reuse or {}
    plans = []
    for child_name in fof.execution_order():
        child = fof.composing_flows[child_name]
        mapped = child.mapped_parameters or {}
        sweeps = list((getattr(fof, "map_over", None) or {}).get(child_name, []))
        tasks: Dict[str, None] = {}
        received = {}
        if child_name in reuse:  # its tasks (mapped parameters too) give back recorded results
            for task in tasks_in_slug_order(child.prefect_flow):
                if not isinstance(task, Parameter):
                    tasks.setdefault(composed_task_name(child_name, task.name), None)
            used = reuse[child_name]
            items = used.results.get(sweeps[0]) if sweeps else None
            plans.append(ChildPlan(child_name, fof.parents(child_name), list(tasks), {}, flow_id=child.flow_id,
                                   cache_key=used.cache_key, reused_from=used.run_id,
                                   mapped_values={param: used.results.get(param) for param in mapped},
                                   sweeps=sweeps, item_count=len(items) if isinstance(items, list) else None))
            continue
        for task in tasks_in_slug_order(child.prefect_flow):
            m = mapped.get(task.name) if isinstance(task, Parameter) else None
            if not isinstance(task, Parameter):
                tasks.setdefault(composed_task_name(child_name, task.name), None)
            elif m is None:
                continue  # a parameter of the run: recorded with the run, and it runs first, not when the child does
            elif m.map_type == "db":
                received[task.name] = composed_task_name(child_name, task.name)
                tasks.setdefault(received[task.name], None)
            else:
                received[task.name] = composed_task_name(m.parent_flow_name, _task_name(fof, m))
        plans.append(ChildPlan(child_name, fof.parents(child_name), list(tasks), received, flow_id=child.flow_id,
                               key_of=functools.partial(cache_key, fof, child_name), sweeps=sweeps))
    return plans


def start_inline(flow_of_flows, scheduling_service, parameters, run_config, reuse=None, flow=None,
                 run_id: Optional[str] = None, **kwargs):
    """Run a composed flow of flows as one run and return its final state.

    The run is recorded (local run history) under the flow of flows' project,
    child by child, with the declaration it was made from.

    Args:
        reuse: ``{child: _reuse.Reuse}``: children given back from recorded runs.
        flow: the composed flow to run (``None``: the flow of flows' own, or
            one composed for ``reuse``).
        run_id: the id the run is recorded under (``None``: a new one).
    """
    options = run_options(parameters, run_config)
    options.project_name = flow_of_flows.project_name
    options.children = child_plans(flow_of_flows, reuse)
    options.declaration = flow_of_flows.declaration()
    options.run_id = run_id
    if flow is None:
        flow = compose_inline(flow_of_flows, reuse) if reuse else flow_of_flows.prefect_flow
    # each child's registered version, for the lineage the packaged SaveDBResult stores (tasks/db.py)
    versions = {name: child.flow_id for name, child in flow_of_flows.composing_flows.items()}
    kwargs["context"] = {CHILD_FLOW_IDS_CONTEXT_KEY: versions, **(kwargs.get("context") or {})}
    return scheduling_service.start_run(options, flow=flow, flow_id=flow_of_flows.flow_id, **kwargs)


def run_inline(flow_of_flows, scheduling_service, parameters, run_config, wanted: Optional[tuple], reuse=None,
               flow=None, **kwargs):
    """Run a composed flow of flows as one run and return its results by child.

    A reused child's results are its recorded ones.

    Raises:
        FlowFailedError: a child failed; names the children, their failed tasks and errors.
    """
    reuse = reuse or {}
    flow = flow or (compose_inline(flow_of_flows, reuse) if reuse else flow_of_flows.prefect_flow)
    state = start_inline(flow_of_flows, scheduling_service, parameters, run_config, reuse, flow, **kwargs)
    progress = kwargs.get("task_events")
    if progress is not None:
        progress.finish(state)  # children the executor did not report (never run)
    if state.is_failed():
        failed = scheduling_service.failed_tasks(state)
        children = sorted({name.partition("/")[0] for name in failed})
        message = (
            f"composing flow(s) {', '.join(repr(c) for c in children)} failed"
            if children
            else state.message
        )
        raise FlowFailedError(flow_of_flows.name, failed, message=message)
    flat = scheduling_service.collect_results(state, flow, None)
    grouped = group_inline_results(flow_of_flows, flat)
    for child_name, used in reuse.items():
        grouped[child_name] = dict(used.results)
    return pick(grouped, wanted)


def _task_name(fof, mapping) -> str:
    """The name of the parent task a mapping names (by its name, or by its slug)."""
    flow = fof.composing_flows[mapping.parent_flow_name].prefect_flow
    slug = parent_task_slug(flow, mapping.parent_task_name)
    return next((t.name for t, s in flow.slugs.items() if s == slug), mapping.parent_task_name)
