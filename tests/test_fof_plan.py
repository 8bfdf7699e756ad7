"""The plan of a flow-of-flows run: per child, run or reuse (from which run), and its last duration; nothing runs."""

import json

import pytest
from click.testing import CliRunner

import flows_for_tests as ft
from lume_services.cli.main import main
from lume_services.flows.flow import Flow
from lume_services.flows.flow_of_flows import FlowOfFlows

YAML = """
name: planned
project_name: test
composing_flows:
  - name: first
    cache: true
  - name: second
    cache: true
    mapped_parameters:
      x: {parent_flow_name: first, parent_task_name: inc}
  - name: third
    mapped_parameters:
      x: {parent_flow_name: second, parent_task_name: inc}
"""


@pytest.fixture
def declared(lume_home, tmp_path):
    for name in ("first", "second", "third"):
        Flow(name=name, project_name="test", prefect_flow=ft.marker).register()
    path = tmp_path / "planned.yaml"
    path.write_text(YAML)
    log = tmp_path / "log"
    params = {f"{c}-path": str(log) for c in ("first", "second", "third")}
    return path, log, params


def test_before_any_run_every_child_would_run_and_none_has_a_duration(declared):
    path, log, params = declared
    steps = FlowOfFlows.from_yaml(path).plan(params)
    assert [(s.child, s.action, s.last_duration) for s in steps] == [
        ("first", "run", None), ("second", "run", None), ("third", "run", None)]
    assert not log.exists()


def test_after_a_run_cached_children_would_be_reused_from_it_and_durations_are_known(declared):
    path, log, params = declared
    fof = FlowOfFlows.from_yaml(path)
    fof.run_and_return(params)
    steps = FlowOfFlows.from_yaml(path).plan(params)
    assert [(s.child, s.action, s.reused_from) for s in steps] == [
        ("first", "reuse", fof.last_run_id), ("second", "reuse", fof.last_run_id), ("third", "run", None)]
    assert steps[2].reason == "not cached"
    assert all(s.last_duration is not None and s.last_duration >= 0 for s in steps)
    assert log.read_text().splitlines() == ["ran"] * 3  # planning ran nothing


def test_a_changed_parameter_plans_the_child_to_run(declared):
    path, _, params = declared
    FlowOfFlows.from_yaml(path).run_and_return(params)
    steps = FlowOfFlows.from_yaml(path).plan({**params, "first-x": 7})
    assert [s.action for s in steps] == ["run", "run", "run"]
    assert steps[0].reason == "no successful run had the same version, parameters and inputs"
    assert steps[1].reason == "its inputs are known only once its parents ran"


def test_the_cli_plan_prints_one_json_document_and_runs_nothing(declared):
    path, log, params = declared
    FlowOfFlows.from_yaml(path).run_and_return(params)
    args = ["flow-of-flows", "plan", str(path), "--json"]
    for name, value in params.items():
        args += ["--param", f"{name}={value}"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [(c["child"], c["action"]) for c in document["children"]] == [
        ("first", "reuse"), ("second", "reuse"), ("third", "run")]
    assert log.read_text().splitlines() == ["ran"] * 3


def test_the_cli_run_with_no_cache_runs_every_child(declared):
    path, log, params = declared
    args = ["flow-of-flows", "run", str(path)]
    for name, value in params.items():
        args += ["--param", f"{name}={value}"]
    assert CliRunner().invoke(main, args, catch_exceptions=False).exit_code == 0
    assert CliRunner().invoke(main, args + ["--no-cache"], catch_exceptions=False).exit_code == 0
    assert log.read_text().splitlines() == ["ran"] * 6
    assert CliRunner().invoke(main, args, catch_exceptions=False).exit_code == 0
    assert log.read_text().splitlines() == ["ran"] * 7  # cached: only third ran
