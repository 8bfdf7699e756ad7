"""Results of a flow of flows, grouped by child: ``{child: {task: result}}``."""

from typing import Any, Dict, List

from lume_services.flows._names import composed_task_name, exposed_parameter_name


def group_inline_results(flow_of_flows, flat: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """Turn an inline composed flow's results (keyed ``"<child>/<task>"``) into ``{child: {task: result}}``.

    A child's mapped parameter is the parent's task in the composed flow (or,
    for ``db``, a loader task named for the parameter), and an unmapped one is
    exposed as ``"<child>-<parameter>"``: each comes back under the child's own
    name for it, with the value the child received.
    """
    grouped: Dict[str, Dict[str, Any]] = {}
    for child_name in flow_of_flows.execution_order():
        child = flow_of_flows.composing_flows[child_name]
        mapped = child.mapped_parameters or {}
        params = set(child.parameters or {})
        out = {}
        for task in sorted(child.task_slugs or {}):
            if task in mapped and mapped[task].map_type != "db":
                m = mapped[task]
                key = composed_task_name(m.parent_flow_name, m.parent_task_name)
            elif task in params and task not in mapped:
                key = exposed_parameter_name(child_name, task)
            else:
                key = composed_task_name(child_name, task)
            if key in flat:
                out[task] = flat[key]
        grouped[child_name] = out
    return grouped


def pick(results: Dict[str, Dict[str, Any]], wanted):
    """All results, or the one of ``wanted = (child, task)``."""
    if wanted is None:
        return results
    child, task = wanted
    return results[child][task]


def recorded_child_result(service, run, child_name: str, task: str, flow_of_flows=None) -> Any:
    """A child's task result from a recorded run of a flow of flows (``FlowOfFlows.run_result``).

    A mapped parameter gives the value the child received, and a parameter of
    its own the composed run's value for it (``"<child>-<parameter>"``; one
    value, as ``run_and_return`` gives it, also for a swept child: a swept
    parameter's is its list of items); where each child ran as a flow run of
    its own (servers) the result is read from that run, a sweep's from each
    item's run (a list in item order, ``None`` for an item never created);
    otherwise from the composed run's ``"<child>/<task>"``.
    """
    child = next((c for c in run.children if c.name == child_name), None)
    if child is not None and task in child.mapped:
        return child.mapped[task]
    spec = flow_of_flows.composing_flows.get(child_name) if flow_of_flows is not None else None
    if spec is not None and task in (spec.parameters or {}) and task not in (spec.mapped_parameters or {}):
        return service.run_result(run.run_id, exposed_parameter_name(child_name, task))
    if child is not None and child.item_runs:
        return [service.run_result(item.run_id, task) if item.run_id is not None else None for item in child.items]
    if child is not None and child.run_id is not None:
        return service.run_result(child.run_id, task)
    return service.run_result(run.run_id, composed_task_name(child_name, task))


def sweep_results(flow_of_flows, child_name: str, items: List[Dict[str, Any]]) -> Dict[str, Any]:
    """A swept child's results from its items' runs: ``{task: [each item's result]}``, in item order.

    Each item is a run of the whole child, so every task gives a list; the
    child's parameters it does not sweep were the same in every item, and
    give that value.
    """
    child = flow_of_flows.composing_flows[child_name]
    same = set(child.parameters or {}) - set(flow_of_flows.map_over[child_name])
    out: Dict[str, Any] = {}
    for task in items[0] if items else {}:
        out[task] = items[0][task] if task in same else [item.get(task) for item in items]
    return out
