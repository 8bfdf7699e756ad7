"""A registered composed flow of flows started as a plain flow (``lume-services flows run``, ``Flow.run``, the
Prefect UI) keeps its declaration with the run, as ``FlowOfFlows.run`` does: the run can be resumed and reproduced
by its id, on the local backend and on a server (the protocol double with a real LocalAgent)."""

import json
import uuid

import pytest
from click.testing import CliRunner
from prefect import Flow as PrefectFlow
from prefect import Parameter, task

import flows_for_tests as ft
from lume_services import config
from lume_services.cli.main import main
from lume_services.errors import FlowFailedError
from lume_services.flows.flow import Flow
from lume_services.flows.flow_of_flows import FlowOfFlows
from test_fof_parity import FAST, chain


@task(name="fail")
def mended(x):
    return 3 * x


def mended_flow():
    """``failing`` mended: its task ``fail`` triples x instead of raising."""
    with PrefectFlow("failing") as flow:
        mended(Parameter("x", default=1))
    return flow


@pytest.fixture(params=["local", "server"])
def project(request):
    """A project of its own with doubler, failing and adder registered, on each backend."""
    if request.param == "server":
        request.getfixturevalue("server_backend")
    name = f"plain-{uuid.uuid4().hex[:8]}"
    for flow_name, flow in [("doubler", ft.doubler), ("failing", ft.failing), ("adder", ft.adder)]:
        Flow(name=flow_name, project_name=name, prefect_flow=flow).register()
    return name


def service():
    return config.context.scheduling_service()


def newest_run(name, project):
    return service().list_runs(flow_name=name, project_name=project, limit=1)[0].run_id


def run_from_the_cli(name, project):
    """``lume-services flows run NAME``: the composed flow run as any registered flow; its run id."""
    result = CliRunner().invoke(main, ["flows", "run", name, "--project", project, "--param", "doubler-x=2",
                                       "--json"], catch_exceptions=False)
    return json.loads(result.stdout)["run_id"]


def run_with_flow_run_and_return(name, project):
    """``Flow.load_flow`` then ``Flow.run_and_return`` of the composed flow, as another process would; its run id."""
    flow = Flow(name=name, project_name=project)
    flow.load_flow()
    try:
        flow.run_and_return({"doubler-x": 2}, FAST)
    except FlowFailedError:
        pass
    return newest_run(name, project)


PLAIN_STARTS = [run_from_the_cli, run_with_flow_run_and_return]


@pytest.mark.parametrize("start", PLAIN_STARTS, ids=lambda s: s.__name__)
def test_a_composed_flow_run_as_a_plain_flow_keeps_its_declaration(project, start):
    FlowOfFlows.from_yaml(ft.failing_chain("plain-chain", project)).compose_and_register()
    run_id = start("plain-chain", project)
    assert service().run_declaration(run_id)["name"] == "plain-chain"


@pytest.mark.parametrize("start", PLAIN_STARTS, ids=lambda s: s.__name__)
def test_a_failed_plain_run_of_a_composed_flow_can_be_resumed_by_its_id(project, start):
    FlowOfFlows.from_yaml(ft.failing_chain("plain-chain", project)).compose_and_register()
    run_id = start("plain-chain", project)
    Flow(name="failing", project_name=project, prefect_flow=mended_flow()).register()
    fof = FlowOfFlows.from_yaml(ft.failing_chain("plain-chain", project))
    assert fof.resume(run_id, run_config=FAST)["adder"]["add"] == 3 * 4 + 10
    assert fof.child_states == {"doubler": "Cached", "failing": "Success", "adder": "Success"}


def test_the_cli_resumes_a_failed_plain_run_of_a_composed_flow_by_its_id(project):
    FlowOfFlows.from_yaml(ft.failing_chain("plain-chain", project)).compose_and_register()
    run_id = run_from_the_cli("plain-chain", project)
    Flow(name="failing", project_name=project, prefect_flow=mended_flow()).register()
    result = CliRunner().invoke(main, ["flow-of-flows", "resume", run_id, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["resumed"] == run_id


@pytest.mark.parametrize("start", PLAIN_STARTS, ids=lambda s: s.__name__)
def test_a_plain_run_of_a_composed_flow_can_be_reproduced_by_its_id(project, start):
    FlowOfFlows.from_yaml(chain(project)).compose_and_register()
    run_id = start("parity-chain", project)
    result = CliRunner().invoke(main, ["runs", "reproduce", run_id, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["matches"] and document["compared"] > 0
