"""Flows of flows composed on the server backend: one flow run per child, through the LocalAgent."""

from datetime import timedelta

import pytest

import flows_for_tests as ft
from lume_services import config
from lume_services.config import LUMEServicesSettings
from lume_services.errors import FlowFailedError, TaskNotInFlowError
from lume_services.flows.flow import Flow, FlowRunConfig
from lume_services.flows.flow_of_flows import FlowOfFlows
from lume_services.services.scheduling.clock import Clock

pytestmark = pytest.mark.server

FAST = FlowRunConfig(poll_interval=timedelta(seconds=0.2))

CHAIN = """
name: chain
project_name: server-test
composing_flows:
  - name: adder
    mapped_parameters:
      a: {parent_flow_name: doubler, parent_task_name: double}
  - name: doubler
"""

FAILING_CHAIN = ft.failing_chain("failing-chain", "server-test")


@pytest.fixture
def test_flows(server_backend):
    """doubler(x) -> double; adder(a, b=10) -> add; failing(x) -> fail, registered on the server."""
    for name, flow in [("doubler", ft.doubler), ("adder", ft.adder), ("failing", ft.failing)]:
        Flow(name=name, project_name="server-test", prefect_flow=flow).register()
    return server_backend


def _runs_of(store, flow_id, since):
    """The runs of a flow created after the run ids in ``since`` (the double lives for the session)."""
    return [r for r in store.flow_runs.values() if r["flow_id"] == flow_id and r["id"] not in since]


def _comparable(results):
    """Results without what differs between two runs (ids and times of stored results)."""
    out = {child: dict(tasks) for child, tasks in results.items()}
    made = out["store-text"].pop("make_result")
    out["store-text"]["make_result"] = (made.inputs, made.outputs)
    return out


@pytest.mark.slow
def test_the_example_flow_of_flows_returns_the_same_results_as_locally(server_backend, lume_home, tmp_path):
    from lume_services.examples import register_example_flows, yaml_path

    params = {"save-text-filename": str(tmp_path / "text.txt")}
    register_example_flows()
    on_server = FlowOfFlows.from_yaml(yaml_path("flow_of_flows"))
    on_server.compose_and_register()
    server_results = on_server.run_and_return(params, FAST)

    config.configure(LUMEServicesSettings(backend="local", home=lume_home / "local"))
    register_example_flows()
    local_results = FlowOfFlows.from_yaml(yaml_path("flow_of_flows")).run_and_return(params)

    assert _comparable(server_results) == _comparable(local_results)
    assert server_results["compare-text"] == {"compare": True, "text1": "hello world", "text2": "hello world"}


def test_the_composed_flow_gives_each_child_only_a_create_a_wait_and_a_cache_key_task(server_backend):
    # every task of the composed run costs three requests to the server: no check task of
    # its own, no Dict or List tasks that Prefect would build for a dict of tasks
    from lume_services.examples import register_example_flows, yaml_path

    register_example_flows()
    fof = FlowOfFlows.from_yaml(yaml_path("flow_of_flows"))
    fof.compose_and_register()

    names = sorted(t.name for t in fof.prefect_flow.tasks)
    children = ["compare-text", "save-text", "store-text"]
    glue = sorted(f"{step}:{child}" for child in children for step in ("create-run", "wait", "cache-key"))
    parameters = ["save-text-filename", "save-text-text1", "save-text-text2"]
    mapped = ["compare-text/text1",  # the db mapping's loader
              "result:save-text/append_text->compare-text.text2", "result:save-text/save_file->store-text.file_rep",
              "result:store-text/save_db_result->compare-text.text1"]
    assert names == sorted(glue + parameters + mapped)


@pytest.mark.slow
def test_every_child_gets_its_own_flow_run_with_its_mapped_values(server_backend, prefect_protocol_double, tmp_path):
    from lume_services.examples import register_example_flows, yaml_path

    store = prefect_protocol_double.store
    register_example_flows()
    fof = FlowOfFlows.from_yaml(yaml_path("flow_of_flows"))
    fof.compose_and_register()
    filename = str(tmp_path / "text.txt")
    before = set(store.flow_runs)
    fof.run_and_return({"save-text-filename": filename, "save-text-text2": "there"}, FAST)

    children = fof.composing_flows
    (save_run,) = _runs_of(store, children["save-text"].flow_id, before)  # no mapped parameters: still its own run
    (store_run,) = _runs_of(store, children["store-text"].flow_id, before)
    (compare_run,) = _runs_of(store, children["compare-text"].flow_id, before)
    assert save_run["parameters"]["text2"] == "there"
    assert store_run["parameters"]["file_rep"]["filename"] == filename  # file: the reference
    assert compare_run["parameters"] == {"text1": "hello there", "text2": "hello there"}  # db and raw
    assert all(r["state"] == "Success" for r in (save_run, store_run, compare_run))


def test_unmapped_child_parameters_are_exposed_with_the_childrens_defaults(test_flows):
    fof = FlowOfFlows.from_yaml(CHAIN)
    flow = fof.compose("chain")

    params = {p.name: p for p in flow.parameters()}
    assert set(params) == {"doubler-x", "adder-b"}
    assert params["adder-b"].default == 10


@pytest.mark.slow
def test_run_and_return_returns_all_results_by_child_or_one_childs_task(test_flows):
    fof = FlowOfFlows.from_yaml(CHAIN)
    fof.compose_and_register()

    assert fof.run_and_return({"doubler-x": 4}, FAST) == {
        "doubler": {"double": 8, "x": 4},
        "adder": {"a": 8, "b": 10, "add": 18},
    }
    assert fof.run_and_return({"doubler-x": 1, "adder-b": 100}, FAST, task_name="adder/add") == 102


def test_an_unknown_task_name_lists_the_valid_names(test_flows):
    fof = FlowOfFlows.from_yaml(CHAIN)

    with pytest.raises(TaskNotInFlowError) as info:
        fof.run_and_return({"doubler-x": 1}, FAST, task_name="adder/multiply")
    assert "'adder/add'" in str(info.value) and "'doubler/double'" in str(info.value)


@pytest.mark.slow
def test_a_failing_child_raises_naming_the_child_and_its_task_and_stops_its_descendants(
    test_flows, prefect_protocol_double
):
    fof = FlowOfFlows.from_yaml(FAILING_CHAIN)
    fof.compose_and_register()
    before = set(prefect_protocol_double.store.flow_runs)

    with pytest.raises(FlowFailedError) as info:
        fof.run_and_return({"doubler-x": 4}, FAST)

    assert list(info.value.failed_tasks) == ["failing/fail"]
    assert "cannot handle 8" in info.value.failed_tasks["failing/fail"]
    assert _runs_of(prefect_protocol_double.store, fof.composing_flows["adder"].flow_id, before) == []


def test_the_composed_flow_changes_when_a_child_is_registered_anew(server_backend):
    from lume_services.services.scheduling.fingerprint import flow_fingerprint

    chain = CHAIN.replace("project_name: server-test", "project_name: server-test-reregistered")
    for name, flow in [("doubler", ft.doubler), ("adder", ft.adder)]:
        Flow(name=name, project_name="server-test-reregistered", prefect_flow=flow).register()
    before = flow_fingerprint(FlowOfFlows.from_yaml(chain).compose("chain"), None, [])
    Flow(name="doubler", project_name="server-test-reregistered", prefect_flow=ft.doubler,
         labels=["lume-services", "v2"]).register()

    after = flow_fingerprint(FlowOfFlows.from_yaml(chain).compose("chain"), None, [])

    assert after != before


def test_registering_a_composed_flow_twice_gives_the_same_id_and_leaves_its_storage_as_it_was(test_flows):
    import warnings

    fof = FlowOfFlows.from_yaml(CHAIN)
    flow = fof.compose("chain")
    storage_before = flow.storage.serialize()

    with warnings.catch_warnings(record=True) as caught:
        # Prefect warns when a storage already holds the flow ("A flow with the same name ...")
        warnings.simplefilter("always", UserWarning)
        first = fof.register()
        second = fof.register()

    assert [str(w.message) for w in caught] == []
    assert first == second
    assert fof.prefect_flow is flow
    assert flow.storage.serialize() == storage_before
    assert flow.storage.flows == {}


@pytest.mark.slow
def test_flow_run_config_fields_reach_the_composed_run(test_flows, prefect_protocol_double):
    from datetime import datetime, timezone

    store = prefect_protocol_double.store
    fof = FlowOfFlows.from_yaml(CHAIN)
    fof.compose_and_register()
    start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=5)
    run_config = FlowRunConfig(
        poll_interval=timedelta(seconds=0.5),
        labels=["lume-services"],
        run_name="my-chain-run",
        scheduled_start_time=start,
        parameters={"doubler-x": 3},
    )
    before = set(store.flow_runs)

    assert fof.run_and_return(None, run_config, task_name="adder/add") == 16

    (run,) = _runs_of(store, fof.flow_id, before)
    assert run["name"] == "my-chain-run"
    assert run["labels"] == ["lume-services"]
    assert datetime.fromisoformat(run["scheduled_start_time"]) == start
    assert datetime.fromisoformat(run["start_time"]) >= start  # the agent waited for it
    # each child's run is named after the composed run
    (child_run,) = _runs_of(store, fof.composing_flows["doubler"].flow_id, before)
    assert child_run["name"] == "my-chain-run-doubler"
    # before the run starts, only run_and_return reads it by id: its polls
    polls = [t for t, field, args in store.request_log
             if field == "flow_run_by_pk" and args.get("id") == run["id"] and t < start.timestamp()]
    gaps = [b - a for a, b in zip(polls, polls[1:])]
    assert len(gaps) >= 2
    assert all(0.45 <= gap < 3 for gap in gaps)  # the interval, and no 10 s default


SLEEPY = """
name: sleepy
project_name: server-test-deadline
composing_flows:
  - name: sleeper
"""


class JumpingClock(Clock):
    """Real time that a test can move forward: a deadline comes sooner, without a real wait for it."""

    def __init__(self):
        self.jumped = 0.0

    def monotonic(self) -> float:
        return super().monotonic() + self.jumped

    def advance(self, seconds: float) -> None:
        self.jumped += seconds


@pytest.mark.slow
def test_the_timeout_is_a_deadline_for_the_whole_flow_of_flows_run(server_backend, prefect_protocol_double, monkeypatch):
    """The composed run is cancelled while its child still runs, and most of the timeout passes
    (on the backend's clock) as its cancellation is recorded: waiting on the child afterwards
    gets what is left of the timeout, not the whole timeout again. The child goes through the
    agent (a child in the composed run's process ends with it: test_server_children_in_process)."""
    import threading
    import time

    import prefect

    from lume_services.errors import FlowRunTimeoutError

    store = prefect_protocol_double.store
    Flow(name="sleeper", project_name="server-test-deadline", prefect_flow=ft.sleeper).register()
    fof = FlowOfFlows.from_yaml(SLEEPY)
    fof.compose_and_register()
    child_id = fof.composing_flows["sleeper"].flow_id
    before = set(store.flow_runs)
    clock = JumpingClock()
    monkeypatch.setattr(server_backend, "clock", clock)
    monkeypatch.setattr(server_backend.config, "children_in_process", False)

    timeout, jump = 30, 20
    child_running = threading.Event()

    def follow_the_runs(field, args):  # under the double's lock: no poll sees a state before this ran
        if field != "set_flow_run_states":
            return
        if any(r["state"] == "Running" for r in _runs_of(store, child_id, before)):
            child_running.set()
        cancelled = [r for r in _runs_of(store, fof.flow_id, before) if r["state"] == "Cancelled"]
        if cancelled and not clock.jumped:
            clock.advance(jump)  # the waits of this run are seen to take most of their time

    store.on_request.append(follow_the_runs)

    def cancel_the_composed_run_while_its_child_runs():
        if not child_running.wait(timeout):
            return  # the test fails on its own; do not cancel later tests' runs
        (parent,) = _runs_of(store, fof.flow_id, before)
        prefect.Client().cancel_flow_run(parent["id"])

    canceller = threading.Thread(target=cancel_the_composed_run_while_its_child_runs, daemon=True)
    canceller.start()
    started = time.monotonic()
    try:
        with pytest.raises(FlowRunTimeoutError) as info:
            fof.run_and_return({"sleeper-seconds": 60}, FAST, timeout=timeout)
    finally:
        store.on_request.remove(follow_the_runs)
    elapsed = time.monotonic() - started
    canceller.join(timeout=5)

    assert clock.jumped == jump
    # the whole timeout again for the child would end no sooner than `timeout` after the cancel
    assert elapsed < timeout
    assert "'sleeper'" in str(info.value) and "flow of flows 'sleepy'" in str(info.value)
    (child_run,) = _runs_of(store, child_id, before)
    assert child_run["state"] in ("Cancelling", "Cancelled")



def _record_graphql_calls(monkeypatch):
    """Times of the requests Prefect's client sends from this process."""
    import time

    import prefect

    calls = []
    graphql = prefect.Client.graphql

    def recorded(self, *args, **kwargs):
        calls.append(time.time())
        return graphql(self, *args, **kwargs)

    monkeypatch.setattr(prefect.Client, "graphql", recorded)
    return calls


def test_waiting_for_a_child_polls_at_the_runs_poll_interval_and_ends_when_the_child_finished(
    server_backend, prefect_protocol_double, monkeypatch
):
    from datetime import datetime

    import prefect

    from lume_services.flows._child_runs import WaitForChildRun
    from lume_services.services.scheduling.backends.server.runs import POLL_INTERVAL_CONTEXT_KEY

    child = Flow(name="sleeper", project_name="server-test-child-wait", prefect_flow=ft.sleeper)
    child.register()
    flow_run_id = child.run({"seconds": 2})
    calls = _record_graphql_calls(monkeypatch)

    # the interval comes with the composed run's context; the task's own is the fallback
    with prefect.context(**{POLL_INTERVAL_CONTEXT_KEY: 0.3}):
        assert WaitForChildRun(poll_interval=5).run(flow_run_id) == flow_run_id

    run = prefect_protocol_double.store.flow_runs[flow_run_id]
    gaps = [b - a for a, b in zip(calls, calls[1:])]
    assert len(gaps) >= 4
    assert all(0.28 <= gap < 1.2 for gap in gaps), gaps  # 0.3 s, not 2-10 s nor the task's 5 s
    # the first poll after the end was the last: no sleep after the child finished
    assert calls[-1] - datetime.fromisoformat(run["end_time"]).timestamp() < 1.2


def test_waiting_for_a_failed_child_fails_with_its_state(server_backend):
    from prefect.engine import signals

    from lume_services.flows._child_runs import WaitForChildRun

    child = Flow(name="failing", project_name="server-test-child-wait", prefect_flow=ft.failing)
    child.register()
    flow_run_id = child.run({"x": 1})

    with pytest.raises(signals.FAIL) as info:
        WaitForChildRun(poll_interval=0.2).run(flow_run_id)

    assert flow_run_id in str(info.value)
    assert "Failed" in str(info.value)
