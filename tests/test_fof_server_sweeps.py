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
def texts(n):
    return ["small", "x" * n]


with PrefectFlow("texts") as texts_flow:
    texts(Parameter("n", default=3))

PROJECT = "server-sweeps"


@pytest.fixture
def registered(server_backend):
    for name, flow in [("ranger", ft.ranger), ("doubler", ft.doubler), ("picky", ft.picky), ("logger", ft.logger),
                       ("adder", ft.adder), ("texts", texts_flow)]:
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


def test_a_child_maps_over_a_list_given_as_a_parameter(registered):
    fof = FlowOfFlows.from_yaml({"name": "params", "project_name": PROJECT,
                                 "composing_flows": [{"name": "doubler", "map_over": ["x"]}]})
    assert fof.run_and_return({"doubler-x": [5, 1, 3]}, FAST, task_name="doubler/double") == [10, 2, 6]


def test_a_sweeps_results_are_read_back_from_the_servers_runs_item_by_item(registered):
    fof = FlowOfFlows.from_yaml({"name": "read-back", "project_name": PROJECT,
                                 "composing_flows": [{"name": "doubler", "map_over": ["x"]}]})
    fof.run_and_return({"doubler-x": [2, 7]}, FAST)
    assert fof.run_result("doubler/double", fof.last_run_id) == [4, 14]


ONE_FAILS = f"""
name: one-fails
project_name: {PROJECT}
composing_flows:
  - name: ranger
  - name: picky
    map_over: [x]
    mapped_parameters:
      x: {{parent_flow_name: ranger, parent_task_name: make_range}}
  - name: logger
    map_over: [line]
    mapped_parameters:
      line: {{parent_flow_name: picky, parent_task_name: pick}}
"""


@pytest.fixture
def one_failed(registered, tmp_path):
    """ONE_FAILS run with ranger-n=3: item 1 of picky fails; (the flow of flows, its error, the log file)."""
    log = tmp_path / "log"
    fof = FlowOfFlows.from_yaml(ONE_FAILS)
    with pytest.raises(FlowFailedError) as info:
        fof.run_and_return({"ranger-n": 3, "logger-path": str(log)}, FAST)
    return fof, info.value, log


def test_a_failing_item_fails_only_its_own_descendants(one_failed):
    fof, error, log = one_failed
    assert sorted(log.read_text().splitlines()) == ["0", "2"]
    assert list(error.failed_tasks) == ["picky/pick[1]"]
    assert "1 is not picked" in error.failed_tasks["picky/pick[1]"]


def test_the_run_history_shows_each_item_of_a_sweep_with_its_own_run(one_failed):
    from lume_services import config

    fof, error, _ = one_failed
    record = config.context.scheduling_service().get_run(fof.last_run_id)
    children = {c.name: c for c in record.children}
    picky = children["picky"]
    assert [item.state for item in picky.items] == ["Success", "Failed", "Success"]
    assert [item.mapped for item in picky.items] == [{"x": 0}, {"x": 1}, {"x": 2}]
    assert picky.state == "Failed" and len({item.run_id for item in picky.items}) == 3
    assert [item.state for item in children["logger"].items] == ["Success", "TriggerFailed", "Success"]
    assert children["ranger"].items == [] and children["ranger"].state == "Success"


def test_runs_show_prints_a_sweeps_items_in_its_json_and_its_table(one_failed):
    import json

    from click.testing import CliRunner

    from lume_services.cli.main import main

    fof, _, _ = one_failed
    as_json = CliRunner().invoke(main, ["runs", "show", fof.last_run_id, "--json"], catch_exceptions=False)
    document = json.loads(as_json.stdout)
    picky = next(c for c in document["children"] if c["name"] == "picky")
    assert [item["state"] for item in picky["items"]] == ["Success", "Failed", "Success"]
    table = CliRunner().invoke(main, ["runs", "show", fof.last_run_id], catch_exceptions=False)
    assert "3 items: 1 Failed, 2 Success" in table.stdout


def test_every_items_values_are_checked_and_an_item_too_large_for_the_server_is_never_created(
        registered, prefect_protocol_double):
    store = prefect_protocol_double.store
    fof = FlowOfFlows.from_yaml({"name": "too-large", "project_name": PROJECT,
                                 "composing_flows": [{"name": "texts"},
                                                     {"name": "adder", "map_over": ["a"], "mapped_parameters": {
                                                         "a": {"parent_flow_name": "texts", "parent_task_name": "texts"}}}]})
    fof.compose_and_register()
    before = set(store.flow_runs)
    with pytest.raises(FlowFailedError) as info:  # item 1 is 1.2 MB: over the server's state limit
        fof.run_and_return({"texts-n": 1_200_000, "adder-b": "!"}, FAST)
    assert list(info.value.failed_tasks) == ["adder[1]"]
    assert "parameter 'a' of item 1 of flow 'adder' is 1,200,002 bytes" in info.value.failed_tasks["adder[1]"]
    assert [r["parameters"]["a"] for r in _runs_of(store, fof.composing_flows["adder"].flow_id, before)] == ["small"]
