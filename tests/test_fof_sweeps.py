"""Sweeps: a child with map_over runs once per item of a list, items in order, each item failing alone."""

import pytest
from prefect import Flow as PrefectFlow
from prefect import Parameter, task

import flows_for_tests as ft
from lume_services.errors import FlowFailedError, InvalidMapOverError
from lume_services.flows.flow import Flow
from lume_services.flows.flow_of_flows import FlowOfFlows
from lume_services.services.scheduling.backends import ExecutorConfig, LocalRunConfig


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


@pytest.fixture
def registered(lume_home):
    for name, flow in [("ranger", ranger), ("doubler", ft.doubler), ("picky", picky), ("logger", logger),
                       ("meeting", ft.meeting_a)]:
        Flow(name=name, project_name="test", prefect_flow=flow).register()


OVER_RESULT = """
name: swept
project_name: test
composing_flows:
  - name: ranger
  - name: doubler
    map_over: [x]
    mapped_parameters:
      x: {parent_flow_name: ranger, parent_task_name: make_range}
"""


def test_a_child_maps_over_a_parents_list_result_and_gives_its_results_in_order(registered):
    results = FlowOfFlows.from_yaml(OVER_RESULT).run_and_return({"ranger-n": 4})
    assert results["doubler"]["double"] == [0, 2, 4, 6]


def test_a_child_maps_over_a_list_given_as_a_parameter(registered):
    fof = FlowOfFlows.from_yaml({"name": "params", "project_name": "test",
                                 "composing_flows": [{"name": "doubler", "map_over": ["x"]}]})
    assert fof.run_and_return({"doubler-x": [5, 1, 3]}, task_name="doubler/double") == [10, 2, 6]


ONE_FAILS = """
name: one-fails
project_name: test
composing_flows:
  - name: ranger
  - name: picky
    map_over: [x]
    mapped_parameters:
      x: {parent_flow_name: ranger, parent_task_name: make_range}
  - name: logger
    map_over: [line]
    mapped_parameters:
      line: {parent_flow_name: picky, parent_task_name: pick}
"""


def test_a_failing_item_fails_only_its_own_descendants(registered, tmp_path):
    log = tmp_path / "log"
    with pytest.raises(FlowFailedError, match="'picky'"):
        FlowOfFlows.from_yaml(ONE_FAILS).run_and_return({"ranger-n": 4, "logger-path": str(log)})
    assert log.read_text().splitlines() == ["0", "1", "3"]


def test_a_child_with_a_failed_item_is_recorded_failed_and_its_descendants_trigger_failed(registered, tmp_path):
    fof = FlowOfFlows.from_yaml(ONE_FAILS)
    events = []
    with pytest.raises(FlowFailedError):
        fof.run_and_return({"ranger-n": 4, "logger-path": str(tmp_path / "log")}, progress=events.append)
    recorded = {child.name: child.state for child in fof.last_run().children}
    assert recorded == {"ranger": "Success", "picky": "Failed", "logger": "TriggerFailed"}
    assert {e.child: e.state for e in events if e.event == "finished"} == recorded
    assert recorded["picky"] not in ("Success", "Cached")  # so a partly failed sweep is never reused


def test_items_run_at_the_same_time_under_a_parallel_executor(registered):
    ft.BARRIER.reset()  # each item waits for the other: one after the other, the first fails
    fof = FlowOfFlows.from_yaml({"name": "meet", "project_name": "test",
                                 "composing_flows": [{"name": "meeting", "map_over": ["x"]}]})
    run_config = LocalRunConfig(executor=ExecutorConfig(type="local_dask", num_workers=2))
    a, b = fof.run_and_return({"meeting-x": [1, 2]}, run_config, task_name="meeting/meet")
    assert max(a["started"], b["started"]) < min(a["finished"], b["finished"])
    assert (a["value"], b["value"]) == (1, 2)


def test_map_over_a_name_that_is_not_a_parameter_is_refused_naming_the_parameters(registered):
    with pytest.raises(InvalidMapOverError, match="flow 'doubler' has map_over: \\['y'\\].*'x'"):
        FlowOfFlows.from_yaml({"name": "bad", "project_name": "test",
                               "composing_flows": [{"name": "doubler", "map_over": ["y"]}]})


def test_a_swept_child_is_reused_from_the_cache_with_its_list_of_results(registered):
    yaml = OVER_RESULT.replace("  - name: ranger\n", "  - name: ranger\n    cache: true\n").replace(
        "    map_over: [x]\n", "    map_over: [x]\n    cache: true\n")
    FlowOfFlows.from_yaml(yaml).run_and_return({"ranger-n": 3})
    fof = FlowOfFlows.from_yaml(yaml)
    assert fof.run_and_return({"ranger-n": 3})["doubler"]["double"] == [0, 2, 4]
    assert fof.child_states == {"ranger": "Cached", "doubler": "Cached"}


def test_a_sweep_is_not_reused_from_a_run_that_gave_the_child_the_whole_list_at_once(registered):
    once = FlowOfFlows.from_yaml({"name": "once", "project_name": "test", "cache": True,
                                  "composing_flows": [{"name": "doubler"}]})
    assert once.run_and_return({"doubler-x": [1, 2]}, task_name="doubler/double") == [1, 2, 1, 2]
    swept = FlowOfFlows.from_yaml({"name": "swept-once", "project_name": "test", "cache": True,
                                   "composing_flows": [{"name": "doubler", "map_over": ["x"]}]})
    assert swept.run_and_return({"doubler-x": [1, 2]}, task_name="doubler/double") == [2, 4]
    assert swept.child_states == {"doubler": "Success"}


def test_the_declaration_recorded_with_a_run_keeps_the_sweeps_and_the_cache(registered):
    fof = FlowOfFlows.from_yaml(OVER_RESULT.replace("    map_over: [x]\n", "    map_over: [x]\n    cache: true\n"))
    again = FlowOfFlows.from_yaml(fof.declaration())
    assert (again.map_over, again.cached_children()) == ({"doubler": ["x"]}, {"doubler"})
