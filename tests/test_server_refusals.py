"""What a real Prefect 1 Server refuses, met by our side with a clear error or the right behaviour.

Each case runs against the protocol double, which refuses what the real server
refuses (``test_prefect_server_double.py`` pins those rules): archived flow
versions, missing required parameters, states over 1 MB, runs no labelled agent
would take. Here the refusal never reaches the user as Prefect's raw
``ClientError``: either lume-services does the right thing (a flow loaded by
name runs its current version), or it refuses before the request, naming what
is wrong and what would be right.
"""

from datetime import timedelta

import pytest

import flows_for_tests as ft
from lume_services.errors import (
    ChildFlowArchivedError,
    EmptyLabelsError,
    FlowFailedError,
    FlowVersionArchivedError,
    MissingParameterError,
    StateTooLargeError,
)
from lume_services.flows.flow import Flow, FlowRunConfig
from lume_services.flows.flow_of_flows import FlowOfFlows
from lume_services.services.scheduling.backends import LocalAgentBackend, LocalRunConfig
from lume_services.services.scheduling.backends.server.backend import ServerBackend

pytestmark = pytest.mark.server

FAST = FlowRunConfig(poll_interval=timedelta(seconds=0.2))


def _runs(store):
    return set(store.flow_runs)


def test_a_flow_loaded_by_name_runs_the_current_version_after_a_new_one_is_registered(server_backend):
    Flow(name="versioned", project_name="refusals-loaded", prefect_flow=ft.doubler).register()
    loaded = Flow(name="versioned", project_name="refusals-loaded")
    loaded.load_flow()
    old_id = loaded.flow_id
    new_id = Flow(name="versioned", project_name="refusals-loaded", prefect_flow=ft.two_incs).register()

    results = loaded.run_and_return({"x": 3}, FAST)

    assert results["inc"] == [4, 5]  # the new version's tasks ran
    assert loaded.flow_id == new_id != old_id


def test_a_flow_holding_its_own_prefect_flow_names_the_current_version_when_its_own_is_archived(
    server_backend, prefect_protocol_double
):
    mine = Flow(name="versioned", project_name="refusals-own", prefect_flow=ft.doubler)
    old_id = mine.register()
    new_id = Flow(name="versioned", project_name="refusals-own", prefect_flow=ft.two_incs).register()
    before = _runs(prefect_protocol_double.store)

    with pytest.raises(FlowVersionArchivedError) as info:
        mine.run({"x": 1})

    message = str(info.value)
    assert f"version 1 (flow id {old_id}) is archived" in message
    assert f"the current version is 2 (flow id {new_id})" in message
    assert info.value.current_flow_id == new_id
    assert _runs(prefect_protocol_double.store) == before


STALE = """
name: stale-chain
project_name: refusals-stale
composing_flows:
  - name: adder
    mapped_parameters:
      a: {parent_flow_name: doubler, parent_task_name: double}
  - name: doubler
"""


def test_a_flow_of_flows_whose_child_was_registered_anew_is_refused_naming_the_child(
    server_backend, prefect_protocol_double
):
    for name, flow in [("doubler", ft.doubler), ("adder", ft.adder)]:
        Flow(name=name, project_name="refusals-stale", prefect_flow=flow).register()
    fof = FlowOfFlows.from_yaml(STALE)
    fof.compose_and_register()
    old_id = fof.composing_flows["doubler"].flow_id
    new_id = Flow(name="doubler", project_name="refusals-stale", prefect_flow=ft.two_incs).register()
    before = _runs(prefect_protocol_double.store)

    with pytest.raises(ChildFlowArchivedError) as info:
        fof.run_and_return({"doubler-x": 2}, FAST)

    message = str(info.value)
    assert f"'doubler' version 1 (flow id {old_id}), now version 2 (flow id {new_id})" in message
    assert "'adder'" not in message  # only the child that changed
    assert "FlowOfFlows.from_yaml" in message
    assert _runs(prefect_protocol_double.store) == before


def test_a_flow_with_empty_labels_is_refused_at_registration(server_backend, prefect_protocol_double):
    flows_before = set(prefect_protocol_double.store.flows)

    with pytest.raises(EmptyLabelsError) as info:
        Flow(name="adder", project_name="refusals-labels", prefect_flow=ft.adder, labels=[]).register()

    assert "Flow(labels=[])" in str(info.value)
    assert "only to an agent without labels" in str(info.value)
    assert set(prefect_protocol_double.store.flows) == flows_before


@pytest.mark.parametrize(
    "run_config, where",
    [
        (FlowRunConfig(labels=[]), "FlowRunConfig(labels=[])"),
        (LocalRunConfig(labels=[]), "LocalRunConfig(labels=[])"),
    ],
)
def test_a_run_with_empty_labels_is_refused_before_it_is_created(
    server_backend, prefect_protocol_double, run_config, where
):
    flow = Flow(name="adder", project_name="refusals-labels", prefect_flow=ft.adder)
    flow.register()
    before = _runs(prefect_protocol_double.store)

    with pytest.raises(EmptyLabelsError) as info:
        flow.run({"a": 1}, run_config)

    assert where in str(info.value)
    assert "'lume-services'" in str(info.value)
    assert _runs(prefect_protocol_double.store) == before


def test_a_parameter_too_large_for_a_state_is_refused_before_the_run_naming_the_limit(
    server_backend, prefect_protocol_double
):
    flow = Flow(name="doubler", project_name="refusals-size", prefect_flow=ft.doubler)
    flow.register()
    before = _runs(prefect_protocol_double.store)

    with pytest.raises(StateTooLargeError) as info:
        flow.run({"x": "x" * 1_000_000})

    message = str(info.value)
    assert "parameter 'x' of flow 'doubler' is 1,000,002 bytes" in message
    assert "over 1,000,000 bytes (1 MB)" in message
    assert _runs(prefect_protocol_double.store) == before


class StateResultsAgentBackend(LocalAgentBackend):
    """The server backend with the result the kubernetes and docker backends use: values kept in states."""

    build_result = ServerBackend.build_result


@pytest.fixture
def state_results_backend(server_backend):
    from lume_services import config

    backend = StateResultsAgentBackend(config=server_backend.config, storage_dir=server_backend.storage_dir,
                                       env=server_backend.env, poll_interval=server_backend.poll_interval)
    config.context.scheduling_backend.override(backend)
    yield backend
    config.context.scheduling_backend.reset_override()


def test_a_task_result_too_large_for_its_state_fails_the_task_naming_the_limit_and_the_fix(
    state_results_backend, prefect_protocol_double
):
    flow = Flow(name="text-of-size", project_name="refusals-result-size", prefect_flow=ft.text_of_size_flow)
    flow.register()

    assert flow.run_and_return({"n": 10}, FAST, task_name="text_of_size") == "x" * 10  # kept in its state

    with pytest.raises(FlowFailedError) as info:
        flow.run_and_return({"n": 1_000_000}, FAST, task_name="text_of_size")

    message = info.value.failed_tasks["text_of_size"]
    assert "TaskResultTooLargeError" in message
    assert "the result of task 'text_of_size' of flow 'text-of-size' is 1,000,006 bytes" in message
    assert "over 1,000,000 bytes (1 MB)" in message
    assert "results_dir" in message and "SaveFile" in message
    # the run ended by its own failed state, not by the server refusing one
    run_id = info.value.flow_run_id
    assert prefect_protocol_double.store.flow_runs[run_id]["state"] == "Failed"


def test_a_missing_required_parameter_of_a_flow_of_flows_is_refused_before_the_request(
    server_backend, prefect_protocol_double
):
    Flow(name="adder", project_name="refusals-required", prefect_flow=ft.adder).register()
    fof = FlowOfFlows.from_yaml(
        "name: lone-adder\nproject_name: refusals-required\ncomposing_flows:\n  - name: adder\n"
    )
    fof.compose_and_register()
    requests_before = len(prefect_protocol_double.store.requests)

    with pytest.raises(MissingParameterError) as info:
        fof.run_and_return({"adder-b": 1}, FAST)

    assert "'adder-a'" in str(info.value)
    sent = prefect_protocol_double.store.requests[requests_before:]
    assert not any("create_flow_run" in r for r in sent)
