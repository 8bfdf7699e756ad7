"""Orders of a Prefect flow's tasks: by slug (stable, for reading runs), and topological (for running).

By slug: Prefect numbers the tasks of one name ``inc-1``, ``inc-2``, ...;
:func:`tasks_in_slug_order` gives a flow's tasks in that order, numbers in
numeric order, which is the order results of tasks sharing a name are given in.

Topological: a topological order of a Prefect flow's tasks in time linear in tasks and edges.

Prefect 1's ``Flow.sorted_tasks`` rescans the list of unsorted tasks for
every upstream task of every task, pass after pass: on a long chain it is
cubic in the worst case (a 1000-task composed chain: about 10 s before its
first task runs). This sort gives the same kind of answer (every task after
all its upstream tasks) with Kahn's algorithm; ties go to the task added to
the flow first, so a flow composed child by child runs child by child.
"""

import heapq
import re
from typing import Dict, Iterable, List, Optional, Tuple

_SLUG_NUMBER = re.compile(r"^(.*)-(\d+)$")


def slug_order(slug: str) -> Tuple[str, int]:
    """Sort key for task slugs: ``inc-2`` before ``inc-10`` (Prefect numbers tasks by name)."""
    match = _SLUG_NUMBER.match(slug)
    return (match.group(1), int(match.group(2))) if match else (slug, 0)


def tasks_in_slug_order(flow) -> list:
    """The flow's tasks in a stable order: by slug, numbered tasks in numeric order."""
    return sorted(flow.tasks, key=lambda t: slug_order(flow.slugs[t]))


def sorted_flow_tasks(flow, root_tasks: Optional[Iterable] = None) -> Tuple:
    """The flow's tasks, each after all its upstream tasks, as ``Flow.sorted_tasks`` returns them.

    Args:
        flow: a Prefect flow.
        root_tasks: start from these tasks and keep only them and the tasks
            downstream of them (as Prefect does); ``None`` or empty: every task.

    Returns:
        A tuple of tasks in a topological order.

    Raises:
        ValueError: a root task is not in the flow, or the edges form a cycle
            (Prefect's own messages).
    """
    # insertion order of flow.slugs (a dict): the order tasks were added
    rank: Dict = {task: i for i, task in enumerate(flow.slugs)}
    unranked = len(rank)
    for task in flow.tasks:
        if task not in rank:
            rank[task] = unranked
            unranked += 1
    downstream: Dict = {task: [] for task in flow.tasks}
    for edge in flow.edges:
        downstream[edge.upstream_task].append(edge.downstream_task)
    roots = tuple(root_tasks or ())
    if roots:
        for task in roots:
            if task not in flow.tasks:
                raise ValueError("Task {t} was not found in Flow {f}".format(t=task, f=flow))
        wanted = set(roots)
        stack = list(roots)
        while stack:
            for task in downstream[stack.pop()]:
                if task not in wanted:
                    wanted.add(task)
                    stack.append(task)
    else:
        wanted = flow.tasks
    # every downstream task of a wanted task is wanted
    order = stable_topological_order(wanted, downstream, rank)
    if len(order) < len(wanted):
        raise ValueError("Cycle found; flows must be acyclic!")
    return tuple(order)


def stable_topological_order(nodes: Iterable, downstream: Dict, rank: Dict) -> List:
    """Kahn's algorithm: ``nodes`` each after every node upstream of it, ties to the lowest ``rank``.

    Args:
        nodes: the nodes to order; the downstream nodes of each must be among them.
        downstream: node -> the nodes that come after it.
        rank: node -> a unique number; of the nodes ready at once, the lowest goes first.

    Returns:
        The order; shorter than ``nodes`` when they form a cycle (the nodes left
        out are those on or after it).
    """
    indegree = {node: 0 for node in nodes}
    for node in indegree:
        for nxt in downstream.get(node, ()):
            indegree[nxt] += 1
    # (rank, node) pairs never compare nodes: ranks are unique
    ready = [(rank[node], node) for node, n in indegree.items() if n == 0]
    heapq.heapify(ready)
    order: List = []
    while ready:
        _, node = heapq.heappop(ready)
        order.append(node)
        for nxt in downstream.get(node, ()):
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                heapq.heappush(ready, (rank[nxt], nxt))
    return order


def validate_flow(flow) -> None:
    """Check a flow as Prefect's ``Flow.validate`` does, in linear time.

    Raises:
        ValueError: an edge or a reference task is not in the flow, or the
            edges form a cycle (Prefect's own messages).
    """
    tasks = flow.tasks
    if any(e.upstream_task not in tasks or e.downstream_task not in tasks for e in flow.edges):
        raise ValueError("Some edges refer to tasks not contained in this flow.")
    sorted_flow_tasks(flow)
    # the reference tasks that were set (the default ones, terminal tasks, are in the flow)
    if any(t not in tasks for t in vars(flow).get("_reference_tasks", ())):
        raise ValueError("Some reference tasks are not contained in this flow.")


def widest_layer(flow) -> int:
    """The largest number of the flow's tasks that can run at once, layer by layer.

    A task's layer is the length of the longest path of edges leading to it;
    the tasks of one layer never depend on each other.
    """
    layer: Dict = {}
    upstream: Dict = {task: [] for task in flow.tasks}
    for edge in flow.edges:
        upstream[edge.downstream_task].append(edge.upstream_task)
    widths: Dict[int, int] = {}
    for task in sorted_flow_tasks(flow):
        depth = 1 + max((layer[u] for u in upstream[task]), default=-1)
        layer[task] = depth
        widths[depth] = widths.get(depth, 0) + 1
    return max(widths.values(), default=0)
