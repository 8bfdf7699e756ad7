"""No zombie children: a composed run's children are checked before they exist and waited for with a deadline.

Against the Prefect 1 Server protocol double with a real ``LocalAgent``
(issue 20). A value over the server's 1 MB state limit mapped into a child
used to create the child, whose parameter state the server then refused: the
child stayed ``Running`` and the caller waited its whole timeout for an error
about the composed run. Now the composed run fails at once naming the child,
the parameter and the limit; a child that does not finish in time is cancelled
and named.
"""

import time
from datetime import timedelta

import pytest

import flows_for_tests as ft
from lume_services.errors import FlowFailedError
from lume_services.flows.flow import Flow, FlowRunConfig
from lume_services.flows.flow_of_flows import FlowOfFlows

pytestmark = pytest.mark.server

FAST = FlowRunConfig(poll_interval=timedelta(seconds=0.2))

TOO_LARGE = """
name: too-large-mapping
project_name: server-child-runs
composing_flows:
  - name: text-of-size
  - name: adder
    mapped_parameters:
      a: {parent_flow_name: text-of-size, parent_task_name: text_of_size}
"""

STUCK = """
name: stuck-child
project_name: server-child-runs-stuck
composing_flows:
  - name: sleeper
"""


def _runs_of(store, flow_id, since):
    return [r for r in store.flow_runs.values() if r["flow_id"] == flow_id and r["id"] not in since]


@pytest.mark.slow
def test_a_mapped_value_over_the_state_limit_fails_the_composed_run_at_once_naming_the_child(
    server_backend, prefect_protocol_double
):
    store = prefect_protocol_double.store
    for name, flow in [("text-of-size", ft.text_of_size_flow), ("adder", ft.adder)]:
        Flow(name=name, project_name="server-child-runs", prefect_flow=flow).register()
    fof = FlowOfFlows.from_yaml(TOO_LARGE)
    fof.compose_and_register()
    adder_id = fof.composing_flows["adder"].flow_id
    before = set(store.flow_runs)
    started = time.monotonic()

    with pytest.raises(FlowFailedError) as info:
        fof.run_and_return({"text-of-size-n": 1_200_000}, FAST, timeout=90)

    assert time.monotonic() - started < 45  # not the 90 s timeout
    message = info.value.failed_tasks["adder"]
    assert "parameter 'a' of flow 'adder' is 1,200,002 bytes" in message
    assert "1,000,000 bytes" in message
    assert _runs_of(store, adder_id, before) == []  # no zombie child


@pytest.mark.slow
def test_a_child_stuck_past_the_deadline_fails_the_composed_run_naming_it_and_is_cancelled(
    server_backend, prefect_protocol_double
):
    store = prefect_protocol_double.store
    Flow(name="sleeper", project_name="server-child-runs-stuck", prefect_flow=ft.sleeper).register()
    fof = FlowOfFlows.from_yaml(STUCK)
    fof.compose_and_register()
    child_id = fof.composing_flows["sleeper"].flow_id
    before = set(store.flow_runs)
    timeout = 8
    started = time.monotonic()

    with pytest.raises(FlowFailedError) as info:
        fof.run_and_return({"sleeper-seconds": 120}, FAST, timeout=timeout)

    from lume_services.flows._compose_per_child import COMPOSED_RUN_GRACE_SECONDS

    assert time.monotonic() - started < timeout + COMPOSED_RUN_GRACE_SECONDS
    message = info.value.failed_tasks["sleeper"]
    assert message.startswith("child 'sleeper' (flow run ")
    assert "was cancelled" in message
    (child_run,) = _runs_of(store, child_id, before)
    assert child_run["state"] in ("Cancelling", "Cancelled")


def test_the_wait_for_a_child_has_a_deadline_of_its_own(server_backend, prefect_protocol_double):
    from prefect.engine import signals

    from lume_services.flows._child_runs import WaitForChildRun

    child = Flow(name="sleeper", project_name="server-child-runs-wait", prefect_flow=ft.sleeper)
    child.register()
    flow_run_id = child.run({"seconds": 60})

    with pytest.raises(signals.FAIL) as info:
        WaitForChildRun(poll_interval=0.2, child_name="sleeper", max_wait=1.0).run(flow_run_id)

    assert f"child 'sleeper' (flow run {flow_run_id})" in str(info.value)
    assert "after 1.0 s" in str(info.value)
    assert prefect_protocol_double.store.flow_runs[flow_run_id]["state"] in ("Cancelling", "Cancelled")


def test_the_wait_for_a_child_ends_at_the_composed_runs_deadline(server_backend, prefect_protocol_double):
    import prefect
    from prefect.engine import signals

    from lume_services.flows._child_runs import WaitForChildRun
    from lume_services.services.scheduling.waiting import DEADLINE_CONTEXT_KEY

    child = Flow(name="sleeper", project_name="server-child-runs-wait", prefect_flow=ft.sleeper)
    child.register()
    flow_run_id = child.run({"seconds": 60})
    started = time.monotonic()

    with prefect.context(**{DEADLINE_CONTEXT_KEY: time.time() + 1.0}):
        with pytest.raises(signals.FAIL):
            WaitForChildRun(poll_interval=0.2, child_name="sleeper", max_wait=600).run(flow_run_id)

    assert time.monotonic() - started < 5


def test_values_for_a_child_are_checked_against_the_state_limit_before_it_is_created():
    from prefect.engine import signals

    from lume_services.flows._child_runs import CheckChildParameters

    check = CheckChildParameters("adder")

    assert check.run({"a": "x" * 10, "b": 1}) == {"a": "x" * 10, "b": 1}
    with pytest.raises(signals.FAIL) as info:
        check.run({"a": "x" * 1_200_000})
    assert "parameter 'a' of flow 'adder' is 1,200,002 bytes" in str(info.value)
