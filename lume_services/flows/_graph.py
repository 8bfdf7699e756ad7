"""The dependency graph of a flow of flows: which child maps from which, and in what order they run."""

from collections import defaultdict
from typing import Any, Dict, List

from lume_services.errors import FlowCycleError
from lume_services.services.scheduling.task_order import stable_topological_order


def parents(child) -> List[str]:
    """The children a child ``Flow`` takes mapped parameters from, in declared order."""
    seen: Dict[str, None] = {}
    for m in (child.mapped_parameters or {}).values():
        seen.setdefault(m.parent_flow_name, None)
    return list(seen)


def topological_order(children: Dict[str, Any]) -> List[str]:
    """Order children so each comes after its parents; ties keep the declared order.

    Raises:
        FlowCycleError: the mappings form a cycle (the error names its flows).
    """
    rank = {name: i for i, name in enumerate(children)}
    downstream: Dict[str, List[str]] = defaultdict(list)
    for name, child in children.items():
        for parent in parents(child):
            if parent in children:
                downstream[parent].append(name)
    order = stable_topological_order(children, downstream, rank)
    if len(order) < len(children):
        raise FlowCycleError(_find_cycle(children, set(children) - set(order)))
    return order


def _find_cycle(children: Dict[str, Any], remaining) -> List[str]:
    # every node left has a parent left: walk parents until a node repeats
    start = min(remaining, key=list(children).index)
    path: List[str] = []
    seen: Dict[str, int] = {}
    node = start
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = next(p for p in parents(children[node]) if p in remaining)
    cycle = path[seen[node]:]
    cycle.reverse()  # parent -> child order
    first = min(cycle, key=list(children).index)  # start at the first declared
    i = cycle.index(first)
    return cycle[i:] + cycle[:i]


