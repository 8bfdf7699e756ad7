"""A composed flow of flows on a server runs its children in its own flow-run process where they would
run where it runs, each still its own flow run on the server (issue 23); other children go through the agent.

An agent-run child's ``Submitted`` state comes from the agent (the double records
the agent's id on the run, from the request's ``X-Prefect-Agent-Id``); a child run
in the parent's process is claimed by the parent, with no agent id.
"""

from datetime import timedelta

import pytest

import flows_for_tests as ft
from fixtures.server import running_local_agent
from lume_services import config
from lume_services.errors import FlowFailedError
from lume_services.flows._child_in_process import CLAIM_MESSAGE
from lume_services.flows.flow import Flow, FlowRunConfig
from lume_services.flows.flow_of_flows import FlowOfFlows

pytestmark = [pytest.mark.server, pytest.mark.slow]

FAST = FlowRunConfig(poll_interval=timedelta(seconds=0.2))


def chain(name: str, project: str, adder_labels=None) -> str:
    labels = "" if adder_labels is None else f"\n    labels: {list(adder_labels)}"
    return f"""
name: {name}
project_name: {project}
composing_flows:
  - name: doubler
  - name: adder{labels}
    mapped_parameters:
      a: {{parent_flow_name: doubler, parent_task_name: double}}
"""


def _register(project, flows, labels=None):
    extra = {} if labels is None else {"labels": labels}
    for name, flow in flows:
        Flow(name=name, project_name=project, prefect_flow=flow, **extra).register()


def _new_runs(store, flow_id, since):
    return [r for r in store.flow_runs.values() if r["flow_id"] == flow_id and r["id"] not in since]


def _run_chain(store, yaml, parameters, run_config=FAST):
    fof = FlowOfFlows.from_yaml(yaml)
    fof.compose_and_register()
    before = set(store.flow_runs)
    try:
        results = fof.run_and_return(parameters, run_config)
    except FlowFailedError as exc:
        results = exc
    runs = {name: _new_runs(store, child.flow_id, before) for name, child in fof.composing_flows.items()}
    runs[fof.name] = _new_runs(store, fof.flow_id, before)
    return results, runs


def _submitted_by(run):
    """``(message, agent id)`` of a run's Submitted state."""
    (submitted,) = [s for s in run["_states"] if s["state"] == "Submitted"]
    return submitted["message"], run["agent_id"]


def test_children_with_the_parents_labels_run_in_its_process_each_as_its_own_flow_run(
    server_backend, prefect_protocol_double
):
    store = prefect_protocol_double.store
    _register("in-process", [("doubler", ft.doubler), ("adder", ft.adder)])

    results, runs = _run_chain(store, chain("chain-here", "in-process"), {"doubler-x": 4})

    assert results == {"doubler": {"double": 8, "x": 4}, "adder": {"a": 8, "b": 10, "add": 18}}
    (parent,) = runs["chain-here"]
    assert parent["agent_id"] is not None  # the agent started the composed run's process
    for name in ("doubler", "adder"):
        (child,) = runs[name]
        assert _submitted_by(child) == (CLAIM_MESSAGE, None)  # no agent picked it up
        assert child["name"] == f"{parent['name']}-{name}"


def test_an_in_process_child_leaves_the_states_task_runs_and_logs_an_agent_run_child_leaves(
    server_backend, prefect_protocol_double
):
    import threading

    store = prefect_protocol_double.store
    _register("in-process-records", [("doubler", ft.doubler), ("adder", ft.adder)])
    logged = threading.Event()

    def child_logs_arrived(field, args):  # Prefect uploads logs in batches (every 5 s, and at exit)
        if field != "write_run_logs":
            return
        claimed = {e["flow_run_id"] for e in store.logs if CLAIM_MESSAGE in (e.get("message") or "")}
        if any("Flow run SUCCESS" in (e.get("message") or "") for e in store.logs if e["flow_run_id"] in claimed):
            logged.set()

    store.on_request.append(child_logs_arrived)
    try:
        _, runs = _run_chain(store, chain("chain-records", "in-process-records"), {"doubler-x": 1})
        assert logged.wait(30)
    finally:
        store.on_request.remove(child_logs_arrived)

    (adder,) = runs["adder"]
    assert [s["state"] for s in adder["_states"]] == ["Scheduled", "Submitted", "Running", "Success"]
    assert adder["parameters"] == {"a": 2, "b": 10}
    task_runs = [t for t in store.task_runs.values() if t["flow_run_id"] == adder["id"]]
    assert sorted(t["state"] for t in task_runs) == ["Success"] * 3  # a, b, add
    assert all(t["start_time"] and t["end_time"] for t in task_runs if t["state"] == "Success")
    logs = [entry["message"] for entry in store.logs if entry.get("flow_run_id") == adder["id"]]
    assert any(CLAIM_MESSAGE in m for m in logs)
    assert any("Beginning Flow run" in m for m in logs)
    assert any("Flow run SUCCESS" in m for m in logs)
    assert adder["heartbeat"] is not None


def test_a_child_with_other_labels_goes_through_the_agent_that_has_them(
    server_backend, prefect_protocol_double, tmp_path
):
    store = prefect_protocol_double.store
    other = ["lume-services-other"]
    _register("in-process-labels", [("doubler", ft.doubler)])
    _register("in-process-labels", [("adder", ft.adder)], labels=other)
    (tmp_path / "other").mkdir()

    with running_local_agent(prefect_protocol_double, tmp_path / "other", labels=other):
        results, runs = _run_chain(store, chain("chain-labels", "in-process-labels", other), {"doubler-x": 2})

    assert results["adder"]["add"] == 14
    (doubler,) = runs["doubler"]
    (adder,) = runs["adder"]
    assert _submitted_by(doubler) == (CLAIM_MESSAGE, None)
    message, agent_id = _submitted_by(adder)
    assert message != CLAIM_MESSAGE
    assert agent_id is not None and store.agents[agent_id]["labels"] == other


def test_a_failing_in_process_child_fails_the_composed_run_naming_the_child_and_its_task(
    server_backend, prefect_protocol_double
):
    store = prefect_protocol_double.store
    _register("in-process-failing", [("doubler", ft.doubler), ("failing", ft.failing), ("adder", ft.adder)])
    yaml = ft.failing_chain("chain-failing", "in-process-failing")

    failure, runs = _run_chain(store, yaml, {"doubler-x": 4})

    assert isinstance(failure, FlowFailedError)
    assert list(failure.failed_tasks) == ["failing/fail"]
    assert "cannot handle 8" in failure.failed_tasks["failing/fail"]
    (failing,) = runs["failing"]
    assert _submitted_by(failing) == (CLAIM_MESSAGE, None)
    assert failing["state"] == "Failed"
    assert runs["adder"] == []


def test_with_children_in_process_turned_off_the_agent_runs_every_child(
    server_settings, local_agent, prefect_protocol_double
):
    store = prefect_protocol_double.store
    settings = server_settings.copy(update={"prefect": server_settings.prefect.copy(
        update={"children_in_process": False})})
    config.configure(settings)
    _register("in-process-off", [("doubler", ft.doubler), ("adder", ft.adder)])

    results, runs = _run_chain(store, chain("chain-off", "in-process-off"), {"doubler-x": 3})

    assert results["adder"]["add"] == 16
    for name in ("doubler", "adder"):
        (child,) = runs[name]
        message, agent_id = _submitted_by(child)
        assert message != CLAIM_MESSAGE and agent_id is not None


def test_an_in_process_child_gets_its_secret_from_the_agent_not_the_server(
    server_settings, prefect_protocol_double, tmp_path
):
    from test_server_secrets import LABEL, PASSWORD, _everything_the_double_stores, _with_secrets

    store = prefect_protocol_double.store
    (tmp_path / "agent").mkdir()
    agent_env = {"LUME_RESULTS_DB__MONGODB__PASSWORD": PASSWORD}
    yaml = f"""
name: secrets-chain
project_name: in-process-secrets
labels: [{LABEL}]
composing_flows:
  - name: secret-check
    labels: [{LABEL}]
"""
    with running_local_agent(prefect_protocol_double, tmp_path / "agent", labels=[LABEL], env=agent_env):
        config.configure(_with_secrets(server_settings))
        _register("in-process-secrets", [("secret-check", ft.secret_check)], labels=[LABEL])
        results, runs = _run_chain(store, yaml, {})

    assert results["secret-check"]["env_is_set"] is True
    assert results["secret-check"]["read_env"] == "flows"
    (child,) = runs["secret-check"]
    assert _submitted_by(child) == (CLAIM_MESSAGE, None)
    assert PASSWORD not in _everything_the_double_stores(store)


def test_cancelling_the_composed_run_cancels_the_child_running_in_its_process(
    server_backend, prefect_protocol_double
):
    import threading

    import prefect

    store = prefect_protocol_double.store
    _register("in-process-cancel", [("sleeper", ft.sleeper)])
    fof = FlowOfFlows.from_yaml("""
name: sleepy-here
project_name: in-process-cancel
composing_flows:
  - name: sleeper
""")
    fof.compose_and_register()
    child_id = fof.composing_flows["sleeper"].flow_id
    before = set(store.flow_runs)
    child_running = threading.Event()

    def follow_the_runs(field, args):
        if field == "set_flow_run_states" and any(r["state"] == "Running" for r in _new_runs(store, child_id, before)):
            child_running.set()

    store.on_request.append(follow_the_runs)

    def cancel_the_composed_run_while_its_child_runs():
        if child_running.wait(60):
            (parent,) = _new_runs(store, fof.flow_id, before)
            prefect.Client().cancel_flow_run(parent["id"])

    canceller = threading.Thread(target=cancel_the_composed_run_while_its_child_runs, daemon=True)
    canceller.start()
    try:
        with pytest.raises(FlowFailedError) as info:
            fof.run_and_return({"sleeper-seconds": 120}, FAST, timeout=90)
    finally:
        store.on_request.remove(follow_the_runs)
    canceller.join(timeout=5)

    (child,) = _new_runs(store, child_id, before)
    assert _submitted_by(child) == (CLAIM_MESSAGE, None)
    assert child["state"] == "Cancelled"
    assert "sleeper" in info.value.failed_tasks
    assert "cancelled" in info.value.failed_tasks["sleeper"]


def test_a_claimed_child_rescheduled_since_by_lazarus_is_left_to_its_agent(server_backend, prefect_protocol_double):
    from datetime import datetime, timezone

    import prefect
    from prefect.engine.state import Scheduled, Submitted

    from lume_services.flows._child_in_process import Claim, run_claimed
    from lume_services.services.scheduling.clock import SYSTEM_CLOCK

    store = prefect_protocol_double.store
    # labels no agent has: nobody but this test's run_claimed could take the run
    model = Flow(name=ft.adder.name, project_name="in-process-lazarus", prefect_flow=ft.adder,
                 labels=["no-agent-has-this"])
    model.register()
    run_id = model.run({"a": 1, "b": 2})
    client = prefect.Client()
    client.set_flow_run_state(run_id, Submitted(message=CLAIM_MESSAGE, state=Scheduled()))
    # what the server's Lazarus does to a Submitted run whose heartbeat is 10 minutes old: due now
    client.set_flow_run_state(run_id, Scheduled(message="Rescheduled by a Lazarus process.",
                                                start_time=datetime.now(timezone.utc)))
    flow = store.flows[model.flow_id]

    run_claimed(Claim(run_id, model.flow_id, flow["name"], flow["storage"]), None, SYSTEM_CLOCK)

    assert [s["state"] for s in store.flow_runs[run_id]["_states"]] == ["Scheduled", "Submitted", "Scheduled"]


def test_a_child_created_outside_a_server_flow_run_goes_to_its_agent(server_backend, prefect_protocol_double):
    from lume_services.flows._child_in_process import take_claim
    from lume_services.flows._child_runs import CreateChildRun
    from lume_services.services.scheduling.waiting import Deadline

    model = Flow(name=ft.doubler.name, project_name="in-process-no-parent", prefect_flow=ft.doubler)
    model.register()

    run_id = CreateChildRun("doubler").run(flow_id=model.flow_id, parameters={"x": 5})  # no flow run in the context

    assert take_claim(run_id) is None
    finished = server_backend.wait(run_id, 0.2, Deadline(timedelta(seconds=60)), "doubler")
    assert server_backend.collect_results(finished, ft.doubler, "double") == 10
    assert prefect_protocol_double.store.flow_runs[run_id]["agent_id"] is not None
