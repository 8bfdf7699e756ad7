"""The Prefect 1 Server protocol double refuses what a real Prefect 1 Server refuses.

These tests pin the double (``tests/prefect_server_double``) to the real
server's rules (PrefectHQ/server ``api/runs.py``, ``api/states.py``,
``api/flows.py``, ``graphql/states.py``, apollo's validation), so that it cannot
drift back to being more lenient than production. They talk to the double
through Prefect 1.4.1's own ``prefect.Client`` wherever the client can send the
request, and over raw HTTP for documents the client would never build.
"""

import json

import pendulum
import pytest
import requests

from fixtures.protocol_double import client, double, register  # noqa: F401  (pytest fixtures)

UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


def _flow(name="adder", required=False, tasks=1):
    from prefect import Flow, Parameter, task
    from prefect.storage import Local

    @task
    def add(x):
        return x + 1

    with Flow(name, storage=Local(path="/nonexistent/flow.py", stored_as_script=True)) as flow:
        x = Parameter("x", required=True) if required else Parameter("x", default=1)
        for _ in range(tasks):
            x = add(x)
    return flow


def _register(client, flow=None, **kwargs) -> str:
    return register(client, flow or _flow(), **kwargs)


def _post(double, query, variables=None):
    payload = {"query": query}
    if variables is not None:
        payload["variables"] = json.dumps(variables)  # a JSON string, as Prefect's client sends
    return requests.post(double.url, json=payload, timeout=10)


def _task_runs(double, flow_run_id):
    return [t for t in double.store.task_runs.values() if t["flow_run_id"] == flow_run_id]


def _queue(client, labels, before=None):
    """``get_runs_in_queue`` as Prefect's agent sends it."""
    result = client.graphql(
        {"mutation($input: get_runs_in_queue_input!)": {"get_runs_in_queue(input: $input)": {"flow_run_ids"}}},
        variables={"input": {"before": (before or pendulum.now("UTC")).isoformat(),
                             "labels": list(labels), "tenant_id": client.tenant_id}},
    )
    return list(result.data.get_runs_in_queue.flow_run_ids)


# --- validation, as apollo does it --------------------------------------------------


def test_a_field_the_schema_does_not_have_is_answered_with_http_400(double):
    response = _post(double, "query { flow { id no_such_column } }")

    assert response.status_code == 400
    assert "data" not in response.json()
    assert "no_such_column" in response.json()["errors"][0]["message"]


def test_a_column_the_real_tables_do_not_have_is_answered_with_http_400(double):
    # a task run's slug is on its task (``task_run { task { slug } }``), not on the task run
    response = _post(double, "query { task_run { id task_slug } }")

    assert response.status_code == 400
    assert "task_slug" in response.json()["errors"][0]["message"]


def test_a_missing_required_tenant_id_is_answered_with_http_400(double):
    response = _post(double, "mutation($input: get_runs_in_queue_input!) "
                             "{ get_runs_in_queue(input: $input) { flow_run_ids } }",
                     {"input": {"labels": []}})

    assert response.status_code == 400
    assert "tenant_id" in response.json()["errors"][0]["message"]


def test_a_missing_required_argument_is_answered_with_http_400(double):
    response = _post(double, "mutation { create_flow_run { id } }")

    assert response.status_code == 400
    assert "input" in response.json()["errors"][0]["message"]


def test_a_malformed_uuid_literal_is_answered_with_http_400(double):
    response = _post(double, 'query { flow_run_by_pk(id: "not-a-uuid") { id } }')

    assert response.status_code == 400
    assert "not-a-uuid" in response.json()["errors"][0]["message"]


def test_a_malformed_uuid_in_variables_is_answered_with_http_400(double):
    response = _post(double, "mutation($input: cancel_flow_run_input!) "
                             "{ cancel_flow_run(input: $input) { state } }",
                     {"input": {"flow_run_id": "not-a-uuid"}})

    assert response.status_code == 400
    assert "not-a-uuid" in response.json()["errors"][0]["message"]


def test_prefects_client_raises_client_error_for_an_invalid_document(client):
    from prefect.exceptions import ClientError

    with pytest.raises(ClientError, match="400 Client Error"):
        client.graphql({"query": {"flow": {"no_such_column"}}})


def _nested(depth: int) -> str:
    """A query whose deepest field is at ``depth`` (root fields at depth 0)."""
    query = "id"
    for level in reversed(range(depth)):  # flow -> flow_runs -> flow -> ...
        query = "%s { %s }" % ("flow" if level % 2 == 0 else "flow_runs", query)
    return "query { %s }" % query


def test_a_query_deeper_than_7_is_answered_with_http_400(double):
    response = _post(double, _nested(8))

    assert response.status_code == 400
    assert "exceeds maximum operation depth of 7" in response.json()["errors"][0]["message"]


def test_a_query_7_deep_is_answered(double):
    response = _post(double, _nested(7))

    assert response.status_code == 200
    assert response.json() == {"data": {"flow": []}}


def test_a_resolver_error_is_answered_with_http_200_beside_the_data(double):
    response = _post(double, "mutation($input: create_flow_run_input!) "
                             "{ create_flow_run(input: $input) { id } }",
                     {"input": {"flow_id": UNKNOWN_ID}})

    assert response.status_code == 200
    assert response.json()["data"] == {"create_flow_run": None}
    assert response.json()["errors"][0]["message"] == f"Flow {UNKNOWN_ID} not found"


# --- flows and their versions -----------------------------------------------------------


def test_create_flow_run_refuses_an_archived_version(client, double):
    from prefect.exceptions import ClientError

    old = _register(client)
    new = _register(client, _flow(tasks=2))

    assert double.store.flows[old]["archived"] is True
    with pytest.raises(ClientError, match=f"Flow {old} is archived."):
        client.create_flow_run(flow_id=old)
    assert client.create_flow_run(flow_id=new)


def test_create_flow_run_by_version_group_runs_the_unarchived_version(client, double):
    old = _register(client)
    new = _register(client, _flow(tasks=2))
    group = double.store.flows[old]["version_group_id"]

    run = client.create_flow_run(version_group_id=group)

    assert double.store.flow_runs[run]["flow_id"] == new


def test_registering_a_new_version_cancels_the_scheduled_runs_of_the_old(client, double):
    old = _register(client)
    run = client.create_flow_run(flow_id=old)

    _register(client, _flow(tasks=2))

    assert double.store.flow_runs[run]["state"] == "Cancelled"
    assert double.store.flow_runs[run]["state_message"] == f"Flow {old} was archived."


def test_an_idempotency_key_equal_to_the_groups_last_returns_the_current_version(client, double):
    first = _register(client, idempotency_key="same")
    again = _register(client, _flow(tasks=2), idempotency_key="same")
    changed = _register(client, _flow(tasks=2), idempotency_key="other")

    assert again == first
    assert changed != first
    assert double.store.flows[first]["archived"] is True


def test_create_flow_run_refuses_missing_required_parameters(client, double):
    from prefect.exceptions import ClientError

    flow_id = _register(client, _flow(required=True))

    with pytest.raises(ClientError, match=r"Required parameters were not supplied: \{'x'\}"):
        client.create_flow_run(flow_id=flow_id)
    assert double.store.flow_runs == {}
    assert client.create_flow_run(flow_id=flow_id, parameters={"x": 2})


def test_idempotency_keys_are_unique_per_flow_not_globally(client, double):
    adder = _register(client)
    other = _register(client, _flow(name="other"))

    first = client.create_flow_run(flow_id=adder, idempotency_key="key")
    same_flow = client.create_flow_run(flow_id=adder, idempotency_key="key")
    other_flow = client.create_flow_run(flow_id=other, idempotency_key="key")

    assert same_flow == first
    assert other_flow != first
    assert double.store.flow_runs[other_flow]["flow_id"] == other


# --- states ---------------------------------------------------------------------------------


def test_a_flow_run_state_over_1_mb_is_refused(client, double):
    from prefect.engine.state import Running
    from prefect.exceptions import ClientError

    run = client.create_flow_run(flow_id=_register(client))

    with pytest.raises(ClientError, match="State payload is too large."):
        client.set_flow_run_state(run, Running(message="x" * 1_000_000))
    assert double.store.flow_runs[run]["state"] == "Scheduled"
    client.set_flow_run_state(run, Running(message="x" * 990_000))  # under the limit
    assert double.store.flow_runs[run]["state"] == "Running"


def test_a_task_run_state_over_1_mb_is_refused(client, double):
    from prefect.engine.results import PrefectResult
    from prefect.engine.state import Running, Success
    from prefect.exceptions import ClientError

    run = client.create_flow_run(flow_id=_register(client))
    client.set_flow_run_state(run, Running())
    (task_run, *_) = _task_runs(double, run)
    big = PrefectResult(value="x" * 1_000_000)
    big.location = big.serializer.serialize(big.value).decode()  # as the task runner stores it

    with pytest.raises(ClientError, match="State payload is too large."):
        client.set_task_run_state(task_run["id"], Success(result=big))
    assert double.store.task_runs[task_run["id"]]["state"] == "Pending"


def test_the_version_sent_with_a_flow_run_state_is_ignored(client, double):
    from prefect.engine.state import Running

    run = client.create_flow_run(flow_id=_register(client))
    version = double.store.flow_runs[run]["version"]

    client.set_flow_run_state(run, Running(), version=version + 41)

    assert double.store.flow_runs[run]["state"] == "Running"
    assert double.store.flow_runs[run]["version"] == version + 1


def test_a_second_submitted_state_within_30_seconds_is_refused(client, double):
    from prefect.engine.state import Submitted
    from prefect.exceptions import ClientError

    run = client.create_flow_run(flow_id=_register(client))
    client.set_flow_run_state(run, Submitted())

    with pytest.raises(ClientError, match="this run has already been submitted"):
        client.set_flow_run_state(run, Submitted())


def test_the_submitted_lock_ends_after_its_time(client, double):
    from prefect.engine.state import Submitted

    double.store.submitted_lock_seconds = 0  # the real server's 30 s, shortened
    run = client.create_flow_run(flow_id=_register(client))
    client.set_flow_run_state(run, Submitted())

    client.set_flow_run_state(run, Submitted())

    assert [s["state"] for s in double.store.flow_runs[run]["_states"]] == ["Scheduled", "Submitted", "Submitted"]


@pytest.mark.parametrize("flow_run_state", ["Scheduled", "Submitted", "Cancelling"])
def test_a_task_run_may_not_go_running_unless_its_flow_run_is_running(client, double, flow_run_state):
    from prefect.engine import state as states
    from prefect.exceptions import ClientError

    run = client.create_flow_run(flow_id=_register(client))
    if flow_run_state != "Scheduled":
        client.set_flow_run_state(run, states.Running())
        client.set_flow_run_state(run, getattr(states, flow_run_state)())
    (task_run, *_) = _task_runs(double, run)

    with pytest.raises(ClientError, match="is not in a running state"):
        client.set_task_run_state(task_run["id"], states.Running())


def test_a_task_run_goes_running_while_its_flow_run_is_running(client, double):
    from prefect.engine.state import Running

    run = client.create_flow_run(flow_id=_register(client))
    client.set_flow_run_state(run, Running())
    (task_run, *_) = _task_runs(double, run)

    client.set_task_run_state(task_run["id"], Running())

    assert double.store.task_runs[task_run["id"]]["state"] == "Running"


def test_cancelled_cascades_to_the_unfinished_task_runs(client, double):
    from prefect.engine.state import Cancelled, Running, Success

    run = client.create_flow_run(flow_id=_register(client, _flow(tasks=2)))
    client.set_flow_run_state(run, Running())
    done, *unfinished = _task_runs(double, run)
    client.set_task_run_state(done["id"], Success())

    client.set_flow_run_state(run, Cancelled("stop"))

    assert double.store.task_runs[done["id"]]["state"] == "Success"
    assert {double.store.task_runs[t["id"]]["state"] for t in unfinished} == {"Cancelled"}


def test_cancelling_a_running_run_leaves_it_cancelling_however_often_asked(client, double):
    from prefect.engine.state import Running

    run = client.create_flow_run(flow_id=_register(client))
    client.set_flow_run_state(run, Running())

    assert client.cancel_flow_run(run) == "Cancelling"
    assert client.cancel_flow_run(run) == "Cancelling"
    assert double.store.flow_runs[run]["state_message"] == "Flow run is cancelling"


def test_cancelling_a_run_that_has_not_started_cancels_it_and_a_finished_one_stays(client, double):
    from prefect.engine.state import Success

    flow_id = _register(client)
    waiting, finished = client.create_flow_run(flow_id=flow_id), client.create_flow_run(flow_id=flow_id)
    client.set_flow_run_state(finished, Success())

    assert client.cancel_flow_run(waiting) == "Cancelled"
    assert client.cancel_flow_run(finished) == "Success"


# --- the agent's queue ----------------------------------------------------------------------


def test_get_runs_in_queue_returns_at_most_25_runs(client):
    flow_id = _register(client)
    for _ in range(30):
        client.create_flow_run(flow_id=flow_id, labels=["a"])

    assert len(_queue(client, ["a"])) == 25


@pytest.mark.parametrize("family_member", ["Paused", "Queued", "Resume", "Retrying"])
def test_get_runs_in_queue_returns_runs_of_the_whole_scheduled_family(client, family_member):
    from prefect.engine import state as states

    run = client.create_flow_run(flow_id=_register(client), labels=["a"])
    client.set_flow_run_state(run, getattr(states, family_member)(start_time=pendulum.now("UTC")))

    assert _queue(client, ["a"]) == [run]


@pytest.mark.parametrize("not_queued", ["Submitted", "Running", "Success"])
def test_get_runs_in_queue_skips_runs_outside_the_scheduled_family(client, not_queued):
    from prefect.engine import state as states

    run = client.create_flow_run(flow_id=_register(client), labels=["a"])
    client.set_flow_run_state(run, getattr(states, not_queued)())

    assert _queue(client, ["a"]) == []


def test_get_runs_in_queue_returns_a_running_run_with_a_due_retrying_task_run(client, double):
    from prefect.engine.state import Retrying, Running

    run = client.create_flow_run(flow_id=_register(client), labels=["a"])
    client.set_flow_run_state(run, Running())
    (task_run, *_) = _task_runs(double, run)
    client.set_task_run_state(task_run["id"], Retrying(start_time=pendulum.now("UTC")))

    assert _queue(client, ["a"]) == [run]


def test_get_runs_in_queue_skips_runs_not_yet_due(client):
    later = pendulum.now("UTC").add(minutes=5)
    client.create_flow_run(flow_id=_register(client), labels=["a"], scheduled_start_time=later)

    assert _queue(client, ["a"]) == []


def test_an_unlabelled_run_is_never_given_to_a_labelled_agent(client):
    run = client.create_flow_run(flow_id=_register(client), labels=[])

    assert _queue(client, ["a"]) == []
    assert _queue(client, []) == [run]


def test_a_run_is_given_only_to_an_agent_with_all_its_labels(client):
    run = client.create_flow_run(flow_id=_register(client), labels=["a", "b"])

    assert _queue(client, ["a"]) == []
    assert _queue(client, ["a", "b", "c"]) == [run]


def test_run_labels_default_to_the_flows_run_config_labels(client, double):
    from prefect.run_configs import LocalRun

    flow = _flow()
    flow.run_config = LocalRun(labels=["from-run-config"])
    run = client.create_flow_run(flow_id=_register(client, flow))

    assert double.store.flow_runs[run]["labels"] == ["from-run-config"]


# --- logs ---------------------------------------------------------------------------------------


def test_write_run_logs_takes_the_single_log_prefect_execute_sends_when_a_flow_fails_to_load(client, double):
    # ``prefect execute flow-run`` passes one dict, not a list, when it cannot load its
    # flow; GraphQL input coercion makes it a list of one, as on the real server
    run = client.create_flow_run(flow_id=_register(client))

    client.write_run_logs(dict(flow_run_id=run, name="execute flow-run",
                               message="Failed to load and execute flow run", level="ERROR"))

    (log,) = [entry for entry in double.store.logs if entry["flow_run_id"] == run]
    assert (log["name"], log["level"], log["message"]) == (
        "execute flow-run", "ERROR", "Failed to load and execute flow run")


def test_write_run_logs_refuses_a_log_level_the_server_does_not_know(double):
    response = _post(double, "mutation($input: write_run_logs_input!) "
                             "{ write_run_logs(input: $input) { success } }",
                     {"input": {"logs": [{"flow_run_id": UNKNOWN_ID, "level": "LOUD"}]}})

    assert response.status_code == 400


def test_contains_on_a_jsonb_column_is_postgres_containment_at_any_depth():
    from prefect_server_double.graphql_exec import matches

    row = {"serialized_state": {"type": "Success", "_result": {"type": "PrefectResult", "location": '"key"'}},
           "labels": ["a", "b"]}
    assert matches(row, {"serialized_state": {"_contains": {"_result": {"location": '"key"'}}}})
    assert not matches(row, {"serialized_state": {"_contains": {"_result": {"location": '"other"'}}}})
    assert matches(row, {"labels": {"_contains": ["b"]}}) and not matches(row, {"labels": {"_contains": ["c"]}})
