"""The linear topological sort composed flows use in place of Prefect's ``Flow.sorted_tasks``."""

import time

import pytest
from prefect import Flow, Task

from lume_services.services.scheduling.task_order import sorted_flow_tasks, widest_layer


def chain_added_backwards(n):
    """A chain t0 -> t1 -> ... whose tasks were added to the flow last first."""
    tasks = [Task(name=f"t{i}") for i in range(n)]
    flow = Flow("chain")
    for task in reversed(tasks):
        flow.add_task(task)
    for up, down in zip(tasks, tasks[1:]):
        flow.add_edge(up, down, validate=False)
    return flow, tasks


def test_every_task_comes_after_its_upstream_tasks():
    flow, tasks = chain_added_backwards(50)
    assert sorted_flow_tasks(flow) == tuple(tasks)


def test_ties_go_to_the_task_added_first():
    flow = Flow("independent")
    tasks = [flow.add_task(Task(name=f"t{i}")) for i in (3, 1, 2)]
    assert sorted_flow_tasks(flow) == tuple(tasks)


def test_root_tasks_keep_only_them_and_their_downstream_tasks_as_prefect_does():
    flow, tasks = chain_added_backwards(6)
    other = flow.add_task(Task(name="other"))
    roots = [tasks[3], other]
    assert sorted_flow_tasks(flow, roots) == (*tasks[3:], other)
    assert set(flow.sorted_tasks(roots)) == {*tasks[3:], other}


def test_a_root_task_not_in_the_flow_is_refused():
    flow, _ = chain_added_backwards(2)
    with pytest.raises(ValueError, match="was not found in Flow"):
        sorted_flow_tasks(flow, [Task(name="elsewhere")])


def test_a_cycle_is_refused_with_prefects_message():
    flow, tasks = chain_added_backwards(3)
    flow.add_edge(tasks[-1], tasks[0], validate=False)
    with pytest.raises(ValueError, match="Cycle found; flows must be acyclic!"):
        sorted_flow_tasks(flow)


def test_a_long_chain_sorts_in_linear_time():
    # Prefect's own sort needs minutes for this chain (it rescans the unsorted tasks
    # for each upstream task); this one about 30 ms. The bound is loose: the machine
    # is shared.
    flow, tasks = chain_added_backwards(8000)
    start = time.perf_counter()
    assert sorted_flow_tasks(flow) == tuple(tasks)
    assert time.perf_counter() - start < 2.0


def test_the_widest_layer_counts_the_tasks_that_can_run_at_once():
    flow, tasks = chain_added_backwards(4)
    assert widest_layer(flow) == 1
    for up in tasks[:2]:
        for _ in range(3):
            flow.add_edge(up, Task(name="leaf"), validate=False)
    # layer 1: t1 and t0's three leaves; layer 2: t2 and t1's three leaves
    assert widest_layer(flow) == 4
    assert widest_layer(Flow("empty")) == 0
