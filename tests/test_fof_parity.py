"""Each flow-of-flows feature works alike on the local backend and on a server (the protocol double with a real
LocalAgent): every way a composed run starts keeps what resume and reproduce need, and a swept child's
results have one shape on both."""

import json
import uuid
from datetime import timedelta

import pytest
from click.testing import CliRunner

import flows_for_tests as ft
from lume_services import config
from lume_services.cli.main import main
from lume_services.flows.flow import Flow, FlowRunConfig
from lume_services.flows.flow_of_flows import FlowOfFlows

FAST = FlowRunConfig(poll_interval=timedelta(seconds=0.2))


def service():
    return config.context.scheduling_service()


def chain(project):
    return f"""
name: parity-chain
project_name: {project}
composing_flows:
  - name: doubler
  - name: adder
    mapped_parameters:
      a: {{parent_flow_name: doubler, parent_task_name: double}}
"""


def swept(project):
    return f"""
name: parity-sweep
project_name: {project}
composing_flows:
  - name: inc-and-double
    map_over: [x]
"""


@pytest.fixture(params=["local", "server"])
def backend(request):
    """A project of its own with doubler, adder and inc-and-double registered, on each backend."""
    if request.param == "server":
        request.getfixturevalue("server_backend")
    name = f"parity-{uuid.uuid4().hex[:8]}"
    for flow_name, flow in [("doubler", ft.doubler), ("adder", ft.adder), ("inc-and-double", ft.inc_and_double)]:
        Flow(name=flow_name, project_name=name, prefect_flow=flow).register()
    return request.param, name


def finished(run_id):
    """Wait for a run started without waiting (the local backend's run() has already finished)."""
    if config.context.scheduling_service().composition == "per_child":
        service().wait(run_id, timedelta(seconds=0.2))
    return run_id


def test_a_run_started_with_run_keeps_its_declaration(backend):
    _, project = backend
    fof = FlowOfFlows.from_yaml(chain(project))
    fof.run({"doubler-x": 2}, FAST)
    run_id = finished(fof.last_run_id)
    assert service().run_declaration(run_id)["name"] == "parity-chain"


def started_with_run(project, tmp_path):
    fof = FlowOfFlows.from_yaml(chain(project))
    fof.run({"doubler-x": 2}, FAST)
    return finished(fof.last_run_id)


def started_with_run_and_return(project, tmp_path):
    fof = FlowOfFlows.from_yaml(chain(project))
    fof.run_and_return({"doubler-x": 2}, FAST)
    return fof.last_run_id


def started_from_the_cli(project, tmp_path):
    path = tmp_path / "chain.yaml"
    path.write_text(chain(project))
    result = CliRunner().invoke(main, ["flow-of-flows", "run", str(path), "--param", "doubler-x=2", "--json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["run_id"]


def started_by_resume(project, tmp_path):
    fof = FlowOfFlows.from_yaml(chain(project))
    fof.resume(started_with_run_and_return(project, tmp_path), run_config=FAST)
    return fof.last_run_id


def started_by_the_cli_resume(project, tmp_path):
    result = CliRunner().invoke(main, ["flow-of-flows", "resume", started_with_run(project, tmp_path), "--json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["run_id"]


STARTS = [started_with_run, started_with_run_and_return, started_from_the_cli, started_by_resume,
          started_by_the_cli_resume]


@pytest.mark.parametrize("start", STARTS, ids=lambda s: s.__name__)
def test_a_composed_run_can_be_resumed_by_its_id_however_it_started(backend, tmp_path, start):
    _, project = backend
    run_id = start(project, tmp_path)
    fof = FlowOfFlows.from_yaml(chain(project))
    assert fof.resume(run_id, run_config=FAST) == {"doubler": {"double": 4, "x": 2},
                                                   "adder": {"a": 4, "b": 10, "add": 14}}
    assert fof.child_states == {"doubler": "Cached", "adder": "Cached"}


@pytest.mark.parametrize("start", STARTS, ids=lambda s: s.__name__)
def test_a_composed_run_can_be_reproduced_by_its_id_however_it_started(backend, tmp_path, start):
    _, project = backend
    run_id = start(project, tmp_path)
    result = CliRunner().invoke(main, ["runs", "reproduce", run_id, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["matches"] and document["compared"] > 0
