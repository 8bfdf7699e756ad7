"""A flow-run process killed while it runs (``SIGKILL``, as the out-of-memory killer sends it), on a server.

The agent is ``lume-services agent`` as docs/server.md starts it, against the
protocol double; the processes are real ``prefect execute flow-run`` processes,
killed by the test at a point a task chose (the ``held`` flow's gate), not
after a sleep. Prefect's own agent would only log the exit code, and the runs
would stay ``Running`` until the server's zombie killer and Lazarus (10 to 20
minutes): a caller would wait until its timeout.
"""

import os
import select
import signal
import threading
from pathlib import Path
from datetime import timedelta

import pytest

import flows_for_tests as ft
from fixtures.process_gate import ProcessGate
from fixtures.server import lume_agent_command, lume_agent_environment, running_local_agent
from lume_services.errors import FlowFailedError, FlowRunProcessEndedError
from lume_services.flows._child_in_process import CLAIM_MESSAGE
from lume_services.flows.flow import Flow, FlowRunConfig
from lume_services.flows.flow_of_flows import FlowOfFlows

pytestmark = [pytest.mark.server, pytest.mark.slow]

LABEL = "killed-process"
HB_LABEL = "killed-process-heartbeat-process"
FAST = FlowRunConfig(poll_interval=timedelta(seconds=0.2))


@pytest.fixture(scope="module")
def lume_agent(prefect_protocol_double, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("killed-process-agent")
    with running_local_agent(prefect_protocol_double, workdir, labels=[LABEL], poke=False, tuned=False,
                             command=lume_agent_command([LABEL], poll_interval=0.2),
                             env=lume_agent_environment(prefect_protocol_double)) as agent:
        yield agent


@pytest.fixture(scope="module")
def lume_agent_with_heartbeat_processes(prefect_protocol_double, tmp_path_factory):
    """``lume-services agent --heartbeat process``: each run sends heartbeats from a process of its own."""
    workdir = tmp_path_factory.mktemp("killed-process-agent-hb")
    command = [*lume_agent_command([HB_LABEL], poll_interval=0.2), "--heartbeat", "process"]
    with running_local_agent(prefect_protocol_double, workdir, labels=[HB_LABEL], poke=False, tuned=False,
                             command=command, env=lume_agent_environment(prefect_protocol_double)) as agent:
        yield agent


@pytest.fixture
def gate(tmp_path):
    made = ProcessGate(tmp_path / "gate")
    yield made
    made.close()


def _kill_when_held(gate: ProcessGate, killed: dict) -> threading.Thread:
    """Kill the process whose task reaches the gate, with SIGKILL; note its id in ``killed``."""

    def kill():
        try:
            killed["pid"] = gate.wait_for_process(60)
        except AssertionError as exc:
            killed["error"] = exc
            return
        os.kill(killed["pid"], signal.SIGKILL)

    thread = threading.Thread(target=kill, daemon=True)
    thread.start()
    return thread


def _runs_of(store, flow_id, before):
    return [r for r in store.flow_runs.values() if r["flow_id"] == flow_id and r["id"] not in before]


def test_a_flow_run_whose_process_is_killed_fails_at_once_naming_the_signal(
    server_backend, lume_agent, prefect_protocol_double, gate
):
    store = prefect_protocol_double.store
    model = Flow(name=ft.held.name, project_name="killed-flow", prefect_flow=ft.held, labels=[LABEL])
    model.register()
    before = set(store.flow_runs)
    killed = {}
    killer = _kill_when_held(gate, killed)

    with pytest.raises(FlowRunProcessEndedError) as info:
        model.run_and_return({"x": 1, "gate": str(gate.path)}, FAST, timeout=60)
    killer.join(5)

    (run,) = _runs_of(store, model.flow_id, before)
    assert info.value.flow_run_id == run["id"]
    assert (info.value.pid, info.value.signal, info.value.exit_code) == (killed["pid"], "SIGKILL", -9)
    assert f"pid {killed['pid']}" in str(info.value) and "killed by SIGKILL" in str(info.value)
    assert run["state"] == "Failed"
    assert "killed by SIGKILL" in run["state_message"]
    task_runs = [t for t in store.task_runs.values() if t["flow_run_id"] == run["id"]]
    assert [t["state"] for t in task_runs if t["state"] == "Running"] == []  # nothing left running


def test_a_killed_composed_run_fails_with_its_in_process_child_and_keeps_the_children_that_finished(
    server_backend, lume_agent, prefect_protocol_double, gate
):
    store = prefect_protocol_double.store
    for name, flow in (("doubler", ft.doubler), ("held", ft.held)):
        Flow(name=name, project_name="killed-chain", prefect_flow=flow, labels=[LABEL]).register()
    fof = FlowOfFlows.from_yaml(f"""
name: killed-chain
project_name: killed-chain
labels: [{LABEL}]
composing_flows:
  - name: doubler
    labels: [{LABEL}]
  - name: held
    labels: [{LABEL}]
    mapped_parameters:
      x: {{parent_flow_name: doubler, parent_task_name: double}}
""")
    fof.compose_and_register()
    before = set(store.flow_runs)
    killed = {}
    killer = _kill_when_held(gate, killed)

    with pytest.raises(FlowRunProcessEndedError) as info:
        fof.run_and_return({"doubler-x": 4, "held-gate": str(gate.path)}, FAST, timeout=60)
    killer.join(5)

    (parent,) = _runs_of(store, fof.flow_id, before)
    (doubler,) = _runs_of(store, fof.composing_flows["doubler"].flow_id, before)
    (held,) = _runs_of(store, fof.composing_flows["held"].flow_id, before)
    assert isinstance(info.value, FlowFailedError) and info.value.flow_run_id == parent["id"]
    assert info.value.signal == "SIGKILL"
    assert f"lume-services flow-of-flows resume {parent['id']}" in str(info.value)
    assert doubler["state"] == "Success"  # finished before the kill: resume reuses it
    claimed = [s for s in held["_states"] if s["state"] == "Submitted"]
    assert [s["message"] for s in claimed] == [CLAIM_MESSAGE]  # it ran in the killed process
    assert held["state"] == "Failed"
    assert f"of its parent flow run {parent['id']}" in held["state_message"]
    assert held["serialized_state"]["context"]["lume_services_process_ended"]["child_of"] == parent["id"]
    left_running = [t for t in store.task_runs.values()
                    if t["flow_run_id"] in (parent["id"], held["id"]) and t["state"] == "Running"]
    assert left_running == []

    gate.close()  # the resumed run's held child goes straight on
    results = fof.resume(parent["id"], run_config=FAST, timeout=60)

    assert results["held"]["hold"] == 9
    assert _runs_of(store, fof.composing_flows["doubler"].flow_id, before) == [doubler]  # reused, not run again


def test_runs_show_reports_the_killed_process_of_a_server_run(
    server_backend, lume_agent, prefect_protocol_double, gate
):
    from click.testing import CliRunner

    from lume_services.cli.main import main

    store = prefect_protocol_double.store
    model = Flow(name=ft.held.name, project_name="killed-show", prefect_flow=ft.held, labels=[LABEL])
    model.register()
    before = set(store.flow_runs)
    killed = {}
    killer = _kill_when_held(gate, killed)
    with pytest.raises(FlowRunProcessEndedError):
        model.run_and_return({"x": 1, "gate": str(gate.path)}, FAST, timeout=60)
    killer.join(5)
    (run,) = _runs_of(store, model.flow_id, before)

    shown = CliRunner().invoke(main, ["runs", "show", run["id"]], catch_exceptions=False).stdout

    assert "Failed" in shown
    assert f"the flow-run process (pid {killed['pid']}) was killed by SIGKILL" in shown


def _heartbeat_pids(flow_run_id):
    """Processes whose command line sends heartbeats for ``flow_run_id`` (``prefect heartbeat flow-run -i``)."""
    pids = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"heartbeat" in args and flow_run_id.encode() in args:
            pids.append(int(entry.name))
    return pids


def test_the_heartbeat_process_of_a_killed_run_does_not_outlive_it(
    server_backend, lume_agent_with_heartbeat_processes, prefect_protocol_double, gate
):
    # left running, it would send the dead run's heartbeats forever: not even the server's
    # zombie killer and Lazarus would ever see the run as dead
    store = prefect_protocol_double.store
    model = Flow(name=ft.held.name, project_name="killed-heartbeat", prefect_flow=ft.held, labels=[HB_LABEL])
    model.register()
    before = set(store.flow_runs)
    watched = {}

    def kill():
        pid = gate.wait_for_process(60)
        (run,) = _runs_of(store, model.flow_id, before)
        watched["heartbeats"] = {hb: os.pidfd_open(hb) for hb in _heartbeat_pids(run["id"])}
        os.kill(pid, signal.SIGKILL)

    killer = threading.Thread(target=kill, daemon=True)
    killer.start()
    try:
        with pytest.raises(FlowRunProcessEndedError):
            model.run_and_return({"x": 1, "gate": str(gate.path)}, FAST, timeout=60)
        killer.join(5)
        assert len(watched["heartbeats"]) == 1  # the run had its heartbeat process

        ended, _, _ = select.select(list(watched["heartbeats"].values()), [], [], 10)

        assert len(ended) == 1, "the heartbeat process of the killed run still runs"
    finally:
        for pid, fd in watched.get("heartbeats", {}).items():
            if not select.select([fd], [], [], 0)[0]:
                os.kill(pid, signal.SIGTERM)  # this test's run left it: stop it
            os.close(fd)


def test_a_run_killed_while_it_was_being_cancelled_ends_cancelled_at_once(
    server_backend, lume_agent, prefect_protocol_double, gate
):
    import prefect

    store = prefect_protocol_double.store
    model = Flow(name=ft.held.name, project_name="killed-cancelling", prefect_flow=ft.held, labels=[LABEL])
    model.register()
    before = set(store.flow_runs)
    cancelling = threading.Event()
    killed = {}

    def saw_cancelling(field, args):  # runs under the double's lock, after each answer
        if field == "cancel_flow_run" and any(r["state"] == "Cancelling" for r in _runs_of(store, model.flow_id, before)):
            cancelling.set()

    def cancel_then_kill():
        killed["pid"] = gate.wait_for_process(60)  # blocked at the gate: the cancellation cannot stop it
        (run,) = _runs_of(store, model.flow_id, before)
        prefect.Client().cancel_flow_run(run["id"])
        if cancelling.wait(30):
            os.kill(killed["pid"], signal.SIGKILL)

    store.on_request.append(saw_cancelling)
    worker = threading.Thread(target=cancel_then_kill, daemon=True)
    worker.start()
    try:
        with pytest.raises(FlowFailedError) as info:
            model.run_and_return({"x": 1, "gate": str(gate.path)}, FAST, timeout=60)
    finally:
        store.on_request.remove(saw_cancelling)
    worker.join(5)

    (run,) = _runs_of(store, model.flow_id, before)
    assert [s["state"] for s in run["_states"]][-2:] == ["Cancelling", "Cancelled"]
    assert "killed by SIGKILL" in run["state_message"] and "while it was cancelled" in run["state_message"]
    assert not isinstance(info.value, FlowRunProcessEndedError)  # cancelled, as asked: not a failure of its own
    assert [t["state"] for t in store.task_runs.values() if t["flow_run_id"] == run["id"]
            and t["state"] == "Running"] == []
