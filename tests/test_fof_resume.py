"""Resuming a flow of flows: only the children that failed or never ran run; the others' results are reused."""

import json

import pytest
from click.testing import CliRunner
from prefect import Flow as PrefectFlow
from prefect import Parameter, task

import flows_for_tests as ft
from lume_services import config
from lume_services.cli.main import main
from lume_services.errors import ChildVersionChangedError, FlowFailedError, RunNotOfFlowOfFlowsError
from lume_services.flows.flow import Flow
from lume_services.flows.flow_of_flows import FlowOfFlows


@task(name="fail")
def fixed(x):
    return 2 * x


def fixed_flow():
    """``failing`` mended: its task ``fail`` doubles x instead of raising."""
    with PrefectFlow("failing") as flow:
        fixed(Parameter("x", default=1))
    return flow


CHAIN = """
name: mending
project_name: test
composing_flows:
  - name: first
  - name: middle
    mapped_parameters:
      x: {parent_flow_name: first, parent_task_name: inc}
  - name: last
    mapped_parameters:
      a: {parent_flow_name: middle, parent_task_name: fail}
"""


@pytest.fixture
def failed_run(lume_home, tmp_path):
    """first(marker) -> middle(failing) -> last(adder): run once, middle failed; returns (run id, log of first)."""
    for name, flow in [("first", ft.marker), ("middle", ft.failing), ("last", ft.adder)]:
        Flow(name=name, project_name="test", prefect_flow=flow).register()
    log = tmp_path / "first.log"
    fof = FlowOfFlows.from_yaml(CHAIN)
    with pytest.raises(FlowFailedError):
        fof.run_and_return({"first-x": 1, "first-path": str(log)})
    return fof.last_run_id, log


def history():
    return config.context.scheduling_service()


def test_resume_runs_only_the_failed_child_and_those_after_it(failed_run):
    run_id, log = failed_run
    Flow(name="middle", project_name="test", prefect_flow=fixed_flow()).register()
    fof = FlowOfFlows.from_yaml(CHAIN)
    results = fof.resume(run_id)
    assert log.read_text().splitlines() == ["ran"]  # first ran once, in the failed run
    assert results["last"]["add"] == 2 * 2 + 10
    assert results["first"]["inc"] == 2


def test_a_resumed_run_records_the_reused_children_as_cached_from_the_failed_run(failed_run):
    run_id, _ = failed_run
    Flow(name="middle", project_name="test", prefect_flow=fixed_flow()).register()
    fof = FlowOfFlows.from_yaml(CHAIN)
    fof.resume(run_id)
    record = history().get_run(fof.last_run_id)
    assert [(c.name, c.state, c.reused_from) for c in record.children] == [
        ("first", "Cached", run_id), ("middle", "Success", None), ("last", "Success", None)]


def test_resume_is_refused_naming_a_succeeded_child_registered_anew(failed_run):
    run_id, _ = failed_run
    with PrefectFlow("marker") as changed:
        ft.inc(Parameter("x", default=5))
        ft.append_line(Parameter("path"), "ran")
    Flow(name="first", project_name="test", prefect_flow=changed).register()
    with pytest.raises(ChildVersionChangedError, match="'first' ran as flow id"):
        FlowOfFlows.from_yaml(CHAIN).resume(run_id)


def test_resume_of_a_run_of_another_flow_is_refused(failed_run, lume_home):
    Flow(name="doubler", project_name="test", prefect_flow=ft.doubler).run_and_return({"x": 1})
    other = history().list_runs(flow_name="doubler")[0].run_id
    with pytest.raises(RunNotOfFlowOfFlowsError, match="not of flow of flows 'mending'"):
        FlowOfFlows.from_yaml(CHAIN).resume(other)


def test_the_cli_resumes_a_run_by_its_id_from_its_recorded_declaration(failed_run):
    run_id, log = failed_run
    Flow(name="middle", project_name="test", prefect_flow=fixed_flow()).register()
    result = CliRunner().invoke(main, ["flow-of-flows", "resume", run_id, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["resumed"] == run_id
    assert document["results"]["last"]["add"] == 14
    assert document["children"]["first"]["state"] == "Cached"
    assert log.read_text().splitlines() == ["ran"]


def test_the_cli_resume_of_a_run_that_failed_again_exits_1_with_one_error_line(failed_run):
    run_id, _ = failed_run
    result = CliRunner().invoke(main, ["flow-of-flows", "resume", run_id])
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "'middle'" in errors[0]
