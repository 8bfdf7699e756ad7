"""The flow models on the server backend: loading does not re-register, a flow of flows runs by itself."""

from datetime import timedelta

import pytest

import flows_for_tests as ft
from lume_services.flows.flow import Flow, FlowRunConfig
from lume_services.flows.flow_of_flows import FlowOfFlows

pytestmark = pytest.mark.server

FAST = FlowRunConfig(poll_interval=timedelta(seconds=0.2))


def test_registering_a_flow_loaded_from_the_server_keeps_the_registered_flow(server_backend):
    flow_id = Flow(name="doubler", project_name="models", prefect_flow=ft.doubler).register()
    loaded = Flow(name="doubler", project_name="models")
    assert loaded.register() == flow_id  # loads, and the loaded flow is the registered one
    loaded.load_flow()
    assert loaded.flow_id == flow_id
    assert loaded.register() == flow_id
    assert loaded.run_and_return({"x": 4}, FAST, task_name="double") == 8


def test_changing_the_labels_of_a_flow_loaded_from_the_server_needs_the_prefect_flow(server_backend):
    from lume_services.errors import FlowNotRegistrableError

    flow_id = Flow(name="doubler", project_name="models", prefect_flow=ft.doubler).register()
    loaded = Flow(name="doubler", project_name="models")
    loaded.load_flow()
    loaded.labels = ["lume-services", "gpu"]
    with pytest.raises(FlowNotRegistrableError, match="set prefect_flow to the Prefect flow"):
        loaded.register()
    loaded.prefect_flow = ft.doubler
    assert loaded.register() != flow_id  # new labels: a new version


@pytest.mark.slow
def test_a_flow_of_flows_registers_its_composition_before_running(server_backend):
    Flow(name="doubler", project_name="models", prefect_flow=ft.doubler).register()
    Flow(name="adder", project_name="models", prefect_flow=ft.adder).register()
    fof = FlowOfFlows(
        name="models-chain",
        project_name="models",
        composing_flows=[
            {"name": "adder", "mapped_parameters": {"a": {"parent_flow_name": "doubler", "parent_task_name": "double"}}},
            {"name": "doubler"},
        ],
    )
    fof.compose("models-chain")
    assert fof.flow_id is None  # a new composition is not registered yet
    flow_run_id = fof.run({"doubler-x": 2}, FAST)
    assert fof.flow_id is not None and isinstance(flow_run_id, str)
    assert fof.run_and_return({"doubler-x": 3}, FAST, task_name="adder/add") == 16
