"""The protocol double ages runs as a real server does: its zombie killer and Lazarus, and its last leniencies closed.

Pinned to the real services (PrefectHQ/server at ``SERVER_VERSION``,
``src/prefect_server/services/towel/zombie_killer.py`` and ``lazarus.py``):
both act on runs whose heartbeat is more than 10 minutes old. Tests move the
double's clock forward instead of waiting, and run a service once where a real
server would run it on its loop. Runs here have no agent: a run set
``Running`` by the test is a run whose runner died.
"""

import json
from pathlib import Path

import pytest
import requests

from fixtures.protocol_double import client, double, register  # noqa: F401  (pytest fixtures)
from prefect_server_double import SERVER_VERSION
from prefect_server_double.http import REQUEST_BODY_LIMIT
from prefect_server_double.services import HEARTBEAT_CUTOFF_SECONDS, RESURRECTION_ATTEMPT_LIMIT

REPO = Path(__file__).resolve().parent.parent
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
STALE = HEARTBEAT_CUTOFF_SECONDS + 60


def _flow(max_retries=0):
    from datetime import timedelta

    from prefect import Flow, Parameter, task
    from prefect.storage import Local

    @task(max_retries=max_retries, retry_delay=timedelta(seconds=5) if max_retries else None)
    def add(x):
        return x + 1

    with Flow("aging", storage=Local(path="/nonexistent/flow.py", stored_as_script=True)) as flow:
        add(Parameter("x", default=1))
    return flow


def _running_run(client, max_retries=0) -> str:
    """A flow run its runner set Running and then died (no more heartbeats)."""
    from prefect.engine.state import Running

    run = client.create_flow_run(flow_id=register(client, _flow(max_retries)))
    client.set_flow_run_state(run, Running())
    return run


def _task_run(double, run):
    """The run of the flow's ``add`` task."""
    store = double.store
    (task_run,) = [t for t in store.task_runs.values()
                   if t["flow_run_id"] == run and store.tasks[t["task_id"]]["name"] == "add"]
    return task_run


def _logs(double, run):
    return [entry["message"] for entry in double.store.logs if entry["flow_run_id"] == run]


# --- Lazarus -----------------------------------------------------------------------


def test_lazarus_reschedules_a_running_run_whose_heartbeat_stopped(client, double):
    run = _running_run(client)
    double.store.clock.advance(STALE)

    assert double.store.services.lazarus() == 1

    row = double.store.flow_runs[run]
    assert (row["state"], row["state_message"]) == ("Scheduled", "Rescheduled by a Lazarus process.")
    assert row["times_resurrected"] == 1
    assert "Rescheduled by a Lazarus process. This is attempt 1." in _logs(double, run)


def test_lazarus_leaves_a_run_whose_heartbeat_is_recent(client, double):
    run = _running_run(client)
    double.store.clock.advance(HEARTBEAT_CUTOFF_SECONDS - 60)

    assert double.store.services.lazarus() == 0
    assert double.store.flow_runs[run]["state"] == "Running"


def test_lazarus_leaves_a_run_with_a_running_task_run(client, double):
    from prefect.engine.state import Running

    run = _running_run(client)
    client.set_task_run_state(_task_run(double, run)["id"], Running(), version=None)
    double.store.clock.advance(STALE)

    assert double.store.services.lazarus() == 0
    assert double.store.flow_runs[run]["state"] == "Running"


def test_lazarus_fails_a_run_after_its_resurrection_attempts(client, double):
    from prefect.engine.state import Running

    run = _running_run(client)
    for _ in range(RESURRECTION_ATTEMPT_LIMIT):
        double.store.clock.advance(STALE)
        assert double.store.services.lazarus() == 1
        client.set_flow_run_state(run, Running())  # taken again, and lost again
    double.store.clock.advance(STALE)

    assert double.store.services.lazarus() == 0

    row = double.store.flow_runs[run]
    assert row["state"] == "Failed"
    assert f"reschedule this run {RESURRECTION_ATTEMPT_LIMIT} times without success" in row["state_message"]


# --- zombie killer -------------------------------------------------------------------


def test_the_zombie_killer_fails_a_cancelling_run_nobody_cancels(client, double):
    run = _running_run(client)
    client.cancel_flow_run(run)
    assert double.store.flow_runs[run]["state"] == "Cancelling"
    double.store.clock.advance(STALE)

    assert double.store.services.zombie_killer() == 1

    row = double.store.flow_runs[run]
    assert (row["state"], row["state_message"]) == (
        "Failed", "No heartbeat detected from the flow run; marking the run as failed.")


def test_the_zombie_killer_fails_a_running_task_run_of_a_run_without_heartbeat(client, double):
    from prefect.engine.state import Running

    run = _running_run(client)
    task_run = _task_run(double, run)
    client.set_task_run_state(task_run["id"], Running(), version=None)
    double.store.clock.advance(STALE)

    assert double.store.services.zombie_killer() == 1

    assert task_run["state"] == "Failed"
    assert task_run["state_message"].startswith("No heartbeat detected from the remote task; marking the task run")


def test_the_zombie_killer_retries_a_task_run_with_retries_left(client, double):
    from prefect.engine.state import Running

    run = _running_run(client, max_retries=2)
    task_run = _task_run(double, run)
    client.set_task_run_state(task_run["id"], Running(), version=None)
    double.store.clock.advance(STALE)

    double.store.services.zombie_killer()

    assert task_run["state"] == "Retrying"
    assert "This will be retry 1 of 2." in task_run["state_message"]


def test_the_services_leave_runs_alone_while_the_clock_stands(client, double):
    run = _running_run(client)
    client.cancel_flow_run(_running_run(client))

    double.store.services.run_once()

    assert double.store.flow_runs[run]["state"] == "Running"
    assert sorted(r["state"] for r in double.store.flow_runs.values()) == ["Cancelling", "Running"]


def test_the_clock_also_ends_the_submitted_lock(client, double):
    from prefect.engine.state import Submitted

    run = client.create_flow_run(flow_id=register(client, _flow()))
    client.set_flow_run_state(run, Submitted())
    double.store.clock.advance(31)

    client.set_flow_run_state(run, Submitted())

    assert [s["state"] for s in double.store.flow_runs[run]["_states"]] == ["Scheduled", "Submitted", "Submitted"]


def test_the_clock_never_moves_back(double):
    with pytest.raises(ValueError, match="only moves forward"):
        double.store.clock.advance(-1)


# --- leniencies closed -------------------------------------------------------------------


def test_edges_naming_a_task_the_flow_does_not_have_are_refused(client, double):
    from prefect.exceptions import ClientError

    flow_id = register(client, _flow())
    edges_before = list(double.store.edges)

    with pytest.raises(ClientError, match="some edges reference tasks that do not exist"):
        client.graphql(
            {"mutation($input: register_edges_input!)": {"register_edges(input: $input)": {"success"}}},
            variables={"input": {"flow_id": flow_id, "serialized_edges": [
                {"upstream_task": {"slug": "x"}, "downstream_task": {"slug": "no-such-task-1"}, "key": "x",
                 "mapped": False}]}},
        )
    assert double.store.edges == edges_before


def test_logs_for_a_run_the_server_does_not_have_are_refused(client, double):
    from prefect.exceptions import ClientError

    with pytest.raises(ClientError, match="Foreign key violation"):
        client.write_run_logs([dict(flow_run_id=UNKNOWN_ID, name="test", message="lost", level="INFO")])
    assert double.store.logs == []


def test_a_request_over_apollos_body_limit_is_answered_with_http_413(double):
    body = json.dumps({"query": "query { hello }", "variables": json.dumps({"pad": "x" * REQUEST_BODY_LIMIT})})

    response = requests.post(double.url, data=body, headers={"Content-Type": "application/json"}, timeout=30)

    assert response.status_code == 413


def test_the_double_names_the_server_version_it_was_read_from():
    import prefect_server_double.schema as schema

    assert SERVER_VERSION == "2022.09.23"
    assert SERVER_VERSION in schema.__doc__.replace("\n", " ")
    assert f"PrefectHQ/server {SERVER_VERSION}" in (REPO / "docs" / "server.md").read_text()
