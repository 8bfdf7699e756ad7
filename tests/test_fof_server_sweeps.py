"""Sweeps on a server backend (the protocol double with a real LocalAgent): a child with map_over is one
flow run per item, its items' results come back in order, and a failing item fails only its own descendants."""

from datetime import timedelta

import pytest
from prefect import Flow as PrefectFlow
from prefect import Parameter, task

import flows_for_tests as ft
from lume_services.errors import FlowFailedError
from lume_services.flows.flow import Flow, FlowRunConfig
from lume_services.flows.flow_of_flows import FlowOfFlows

pytestmark = pytest.mark.server

FAST = FlowRunConfig(poll_interval=timedelta(seconds=0.2))


@task
def make_range(n):
    return list(range(n))


@task
def pick(x):
    if x == 2:
        raise ValueError("2 is not picked")
    return x


with PrefectFlow("ranger") as ranger:
    make_range(Parameter("n", default=3))

with PrefectFlow("picky") as picky:
    pick(Parameter("x"))

with PrefectFlow("logger") as logger:
    ft.append_line(Parameter("path"), Parameter("line"))

PROJECT = "server-sweeps"


@pytest.fixture
def registered(server_backend):
    for name, flow in [("ranger", ranger), ("doubler", ft.doubler), ("picky", picky), ("logger", logger),
                       ("adder", ft.adder), ("text-of-size", ft.text_of_size_flow)]:
        Flow(name=name, project_name=PROJECT, prefect_flow=flow).register()
    return server_backend


def _runs_of(store, flow_id, since):
    """The runs of a flow created after the run ids in ``since`` (the double lives for the session)."""
    return [r for r in store.flow_runs.values() if r["flow_id"] == flow_id and r["id"] not in since]


OVER_RESULT = f"""
name: swept
project_name: {PROJECT}
composing_flows:
  - name: ranger
  - name: doubler
    map_over: [x]
    mapped_parameters:
      x: {{parent_flow_name: ranger, parent_task_name: make_range}}
"""


def test_a_child_maps_over_a_parents_list_result_one_flow_run_per_item_results_in_order(
        registered, prefect_protocol_double):
    store = prefect_protocol_double.store
    fof = FlowOfFlows.from_yaml(OVER_RESULT)
    fof.compose_and_register()
    before = set(store.flow_runs)
    results = fof.run_and_return({"ranger-n": 4}, FAST)
    assert results["doubler"]["double"] == [0, 2, 4, 6]
    runs = _runs_of(store, fof.composing_flows["doubler"].flow_id, before)
    assert sorted(r["parameters"]["x"] for r in runs) == [0, 1, 2, 3]
