"""On a server backend (the protocol double with a real LocalAgent) caching, sweeps, resume and plan are refused
before anything is registered or run: each child is a server flow run there, with no run history in this process."""

import pytest

import flows_for_tests as ft
from lume_services.errors import FlowOfFlowsFeatureNotOnBackendError
from lume_services.flows.flow import Flow
from lume_services.flows.flow_of_flows import FlowOfFlows

pytestmark = pytest.mark.server

CACHED = """
name: cached-chain
project_name: server-test
cache: true
composing_flows:
  - name: doubler
  - name: adder
    mapped_parameters:
      a: {parent_flow_name: doubler, parent_task_name: double}
"""


@pytest.fixture
def declared(server_backend):
    for name, flow in [("doubler", ft.doubler), ("adder", ft.adder)]:
        Flow(name=name, project_name="server-test", prefect_flow=flow).register()
    return server_backend


def test_a_cached_child_is_refused_before_the_composition_is_registered(declared):
    fof = FlowOfFlows.from_yaml(CACHED)
    with pytest.raises(FlowOfFlowsFeatureNotOnBackendError, match="cache needs the local backend.*--no-cache"):
        fof.run_and_return({"doubler-x": 1})
    assert fof.flow_id is None  # nothing was registered


def test_resume_and_plan_are_refused_on_a_server(declared):
    fof = FlowOfFlows.from_yaml(CACHED)
    with pytest.raises(FlowOfFlowsFeatureNotOnBackendError, match="resume"):
        fof.resume("any-run")
    with pytest.raises(FlowOfFlowsFeatureNotOnBackendError, match="plan"):
        fof.plan({"doubler-x": 1})
