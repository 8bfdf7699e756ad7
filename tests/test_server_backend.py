"""The server backend against the Prefect 1 Server protocol double, with a real LocalAgent.

Everything on our side of the wire is real Prefect 1.4.1 code: ``prefect.Client``,
``FlowView`` / ``FlowRunView`` / ``TaskRunView``, the ``LocalAgent`` and the flow
runner it starts (``prefect execute flow-run``), pointed at the double by
configuration only. What every backend does is in ``test_backend_contract.py``;
this file holds what is the server backend's own.
"""

import json
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest

import flows_for_tests as ft
from fixtures.server import REPO_DIR, TESTS_DIR
from lume_services.errors import (
    FlowFailedError,
    FlowNotFoundError,
    FlowRunTimeoutError,
    MissingParameterError,
    ServerUnreachableError,
    TaskNotInFlowError,
    UnsupportedRunConfigError,
)
from lume_services.flows.flow import Flow, FlowRunConfig
from lume_services.services.scheduling.backends import DockerRunConfig, LocalRunConfig
from lume_services.services.scheduling.backends.server.local_agent import LocalAgentBackend
from lume_services.services.scheduling.clock import ManualClock

pytestmark = pytest.mark.server

FAST = FlowRunConfig(poll_interval=timedelta(seconds=0.2))


def register(flow, project):
    model = Flow(name=flow.name, project_name=project, prefect_flow=flow)
    model.register()
    return model


def test_configured_server_settings_give_the_local_agent_backend(server_backend, prefect_protocol_double):
    import prefect

    assert isinstance(server_backend, LocalAgentBackend)
    assert prefect.config.backend == "server"
    assert prefect.config.cloud.api == prefect_protocol_double.url


def test_create_project_is_idempotent(server_backend, prefect_protocol_double):
    first = server_backend.create_project("projects-idempotent")
    second = server_backend.create_project("projects-idempotent")

    assert first == second
    names = [p["name"] for p in prefect_protocol_double.store.projects.values()]
    assert names.count("projects-idempotent") == 1


def test_register_creates_the_missing_project(server_backend, prefect_protocol_double):
    register(ft.adder, "created-on-register")

    assert "created-on-register" in [p["name"] for p in prefect_protocol_double.store.projects.values()]


def test_registering_a_flow_with_its_own_storage_twice_gives_the_same_id_and_leaves_the_flow_as_it_was(
    server_backend, tmp_path
):
    import warnings

    from prefect.storage import Local

    flow = ft.adder.copy()
    flow.storage = Local(directory=str(tmp_path / "own-storage"), add_default_labels=False)
    storage_before = flow.storage.serialize()

    with warnings.catch_warnings(record=True) as caught:
        # Prefect warns when a storage already holds the flow ("A flow with the same name ...")
        warnings.simplefilter("always", UserWarning)
        first = register(flow, "own-storage").flow_id
        second = register(flow, "own-storage").flow_id

    assert [str(w.message) for w in caught] == []
    assert first == second
    assert flow.storage.serialize() == storage_before
    assert (flow.run_config, flow.result) == (None, None)


def test_a_changed_flow_becomes_the_latest_version(server_backend, prefect_protocol_double):
    first = register(ft.adder, "versions").flow_id
    changed = ft.adder.copy()
    changed.name = "adder"
    model = Flow(name="adder", project_name="versions", prefect_flow=changed, labels=["lume-services", "v2"])
    second = model.register()

    loaded = Flow(name="adder", project_name="versions")
    loaded.load_flow()
    assert second != first
    assert loaded.flow_id == second
    assert prefect_protocol_double.store.flows[first]["archived"] is True


def test_load_flow_in_another_process_configured_from_environment(server_backend, server_settings, local_agent):
    registered = register(ft.adder, "other-process")
    prefect = server_settings.prefect
    env = {
        "LUME_BACKEND": "server",
        "LUME_PREFECT__SERVER__HOST": prefect.server.host,
        "LUME_PREFECT__SERVER__HOST_PORT": str(prefect.server.host_port),
        "LUME_PREFECT__SERVER__GRAPHQL_PATH": prefect.server.graphql_path,
    }
    code = (
        "import json; from lume_services.flows.flow import Flow;"
        "f = Flow(name='adder', project_name='other-process'); f.load_flow();"
        "print(json.dumps({'flow_id': f.flow_id, 'parameters': sorted(f.parameters),"
        " 'task_slugs': f.task_slugs}))"
    )
    import os

    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env, "PYTHONPATH": f"{TESTS_DIR}{os.pathsep}{REPO_DIR}"},
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    loaded = json.loads(out.stdout.strip().splitlines()[-1])

    assert loaded == {
        "flow_id": registered.flow_id,
        "parameters": ["a", "b"],
        "task_slugs": {"a": "a", "add": "add-1", "b": "b"},
    }


def test_run_returns_a_flow_run_id_that_the_agent_runs(server_backend):
    flow = register(ft.adder, "run-id")
    flow_run_id = flow.run({"a": 2})

    view = server_backend.wait_for_flow_run(flow_run_id, poll_interval=0.2, timeout=60)
    assert view.state.is_successful()


def test_unknown_task_name_is_refused_before_running(server_backend, prefect_protocol_double):
    flow = register(ft.adder, "unknown-task")
    runs_before = len(prefect_protocol_double.store.flow_runs)

    with pytest.raises(TaskNotInFlowError) as info:
        flow.run_and_return({"a": 1}, FAST, "multiply")
    assert "'add'" in str(info.value)
    assert len(prefect_protocol_double.store.flow_runs) == runs_before


def test_a_failing_flow_raises_flow_failed_error_naming_the_task(server_backend):
    flow = register(ft.failing, "failing")

    with pytest.raises(FlowFailedError) as info:
        flow.run_and_return({"x": 7}, FAST, "fail")
    assert list(info.value.failed_tasks) == ["fail"]
    assert "cannot handle 7" in info.value.failed_tasks["fail"]
    assert info.value.flow_run_id


def test_a_run_exceeding_its_timeout_is_cancelled_and_raises(server_backend, prefect_protocol_double):
    flow = register(ft.sleeper, "timeout")
    store = prefect_protocol_double.store

    started = time.monotonic()
    with pytest.raises(FlowRunTimeoutError) as info:
        flow.run_and_return({"seconds": 60}, FAST, timeout=4)
    assert time.monotonic() - started < 15
    assert "cancelled" in str(info.value)
    (run,) = [r for r in store.flow_runs.values() if r["flow_id"] == flow.flow_id]
    assert run["state"] in ("Cancelling", "Cancelled")
    # the flow runner notices the cancellation and stops the run
    view = server_backend.wait_for_flow_run(run["id"], poll_interval=0.2, timeout=30)
    assert type(view.state).__name__ == "Cancelled"


@pytest.mark.slow
def test_flow_run_config_fields_reach_the_run(server_backend, prefect_protocol_double):
    from prefect.backend import FlowRunView

    flow = register(ft.context_flow, "run-config-fields")
    start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=5)
    run_config = FlowRunConfig(
        poll_interval=timedelta(seconds=0.5),
        labels=["lume-services"],
        run_name="my-named-run",
        scheduled_start_time=start,
    )

    result = flow.run_and_return(None, run_config, "run_context")

    (run,) = [r for r in prefect_protocol_double.store.flow_runs.values() if r["flow_id"] == flow.flow_id]
    view = FlowRunView.from_flow_run_id(run["id"])
    assert view.name == "my-named-run" == result["flow_run_name"]
    assert view.labels == ["lume-services"]
    assert datetime.fromisoformat(run["scheduled_start_time"]) == start
    assert datetime.fromisoformat(run["start_time"]) >= start  # the agent waited for it
    # before the run starts, only run_and_return reads it by id: its polls
    polls = [t for t, field, args in prefect_protocol_double.store.request_log
             if field == "flow_run_by_pk" and args.get("id") == run["id"] and t < start.timestamp()]
    gaps = [b - a for a, b in zip(polls, polls[1:])]
    assert len(gaps) >= 2
    assert all(0.45 <= gap < 3 for gap in gaps)  # the interval, and no 10 s default


def test_labels_route_the_run_to_matching_agents_only(server_backend, prefect_protocol_double):
    flow = register(ft.adder, "labels")
    run_config = FlowRunConfig(poll_interval=timedelta(seconds=0.2), labels=["lume-services", "gpu"])

    with pytest.raises(FlowRunTimeoutError):
        flow.run_and_return({"a": 1}, run_config, timeout=3)

    (run,) = [r for r in prefect_protocol_double.store.flow_runs.values() if r["flow_id"] == flow.flow_id]
    assert run["labels"] == ["gpu", "lume-services"]
    assert run["state"] == "Cancelled"  # never picked up: no agent has the label 'gpu'


def test_flow_run_config_parameters_and_local_run_config_env_reach_the_run(server_backend):
    flow = register(ft.environment, "env")
    run_config = FlowRunConfig(
        poll_interval=timedelta(seconds=0.2),
        parameters={"name": "LUME_TEST_VALUE"},
        run_config=LocalRunConfig(env={"LUME_TEST_VALUE": "from-the-run-config"}),
    )

    assert flow.run_and_return(None, run_config, "read_env") == "from-the-run-config"


def test_a_missing_required_parameter_is_refused_before_a_run_is_created(server_backend, prefect_protocol_double):
    flow = register(ft.adder, "missing-parameter")
    runs_before = len(prefect_protocol_double.store.flow_runs)

    with pytest.raises(MissingParameterError) as info:
        flow.run({"b": 1})
    assert "'a'" in str(info.value)
    assert len(prefect_protocol_double.store.flow_runs) == runs_before


def test_a_run_config_of_another_backend_is_refused(server_backend):
    flow = register(ft.adder, "wrong-run-config")

    with pytest.raises(UnsupportedRunConfigError) as info:
        flow.run({"a": 1}, DockerRunConfig(image="x"))
    assert "LocalRunConfig" in str(info.value)


def test_an_unreachable_server_errors_within_seconds(lume_home):
    from lume_services import config
    from lume_services.config import LUMEServicesSettings, PrefectConfig
    from fixtures.server import _free_port

    port = _free_port()  # nothing listens there
    config.configure(
        LUMEServicesSettings(
            backend="server",
            home=lume_home,
            prefect=PrefectConfig(server={"host": "http://127.0.0.1", "host_port": port, "check_timeout": 2}),
        )
    )
    started = time.monotonic()
    with pytest.raises(ServerUnreachableError) as info:
        Flow(name="adder", project_name="p", prefect_flow=ft.adder).register()

    assert time.monotonic() - started < 5
    assert f"http://127.0.0.1:{port}/graphql" in str(info.value)


@pytest.mark.slow
def test_without_a_poll_interval_in_the_flow_run_config_the_backends_poll_interval_is_used(
    server_backend, prefect_protocol_double
):
    flow = register(ft.context_flow, "backend-poll-interval")
    start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=5)
    # no poll_interval: FlowRunConfig's default (10 s) must not replace the backend's (0.2 s)
    run_config = FlowRunConfig(run_name="polled-by-the-backend", scheduled_start_time=start)

    flow.run_and_return(None, run_config, "run_context")

    (run,) = [r for r in prefect_protocol_double.store.flow_runs.values() if r["flow_id"] == flow.flow_id]
    polls = [t for t, field, args in prefect_protocol_double.store.request_log
             if field == "flow_run_by_pk" and args.get("id") == run["id"] and t < start.timestamp()]
    gaps = [b - a for a, b in zip(polls, polls[1:])]
    assert server_backend.poll_interval == timedelta(seconds=0.2)
    assert len(gaps) >= 5
    assert all(gap < 3 for gap in gaps)  # the backend's 0.2 s, not the 10 s default


def test_a_wait_polls_without_a_reachability_check_before_each_poll(server_backend, prefect_protocol_double):
    store = prefect_protocol_double.store
    flow = register(ft.sleeper, "unchecked-polls")
    checks_before = store.requests.count("query hello")

    flow.run_and_return({"seconds": 2}, FAST, task_name="sleep_for")

    (run,) = [r for r in store.flow_runs.values() if r["flow_id"] == flow.flow_id]
    polls = [t for t, field, args in store.request_log if field == "flow_run_by_pk" and args.get("id") == run["id"]]
    assert len(polls) >= 5  # 0.2 s polls over a 2 s run
    # within the recheck interval (30 s) a poll that is answered is the check itself
    assert store.requests.count("query hello") - checks_before <= 1


@pytest.fixture
def private_double():
    """A protocol double of this test's own, which the test may stop."""
    from prefect_server_double import ProtocolDouble

    double = ProtocolDouble().start()
    double.store.create_tenant({"input": {"name": "default", "slug": "default"}})
    double.stopped = False
    yield double
    if not double.stopped:
        double.stop()


def _stop(double):
    double.stop()
    double.stopped = True


def _backend_for(double, tmp_path, clock=None, **server):
    from lume_services.config import PrefectConfig

    config = PrefectConfig(server={"host": "http://127.0.0.1", "host_port": double.port,
                                   "graphql_path": double.path, "check_timeout": 2, **server})
    return LocalAgentBackend(config=config, storage_dir=tmp_path / "private-storage", clock=clock)


def _checks(double):
    return double.store.requests.count("query hello")


def test_a_recent_successful_check_is_trusted_for_the_recheck_interval(private_double, tmp_path):
    clock = ManualClock()
    backend = _backend_for(private_double, tmp_path, clock=clock, recheck_interval=3)

    backend.create_project("checked-once")
    clock.advance(2.9)
    backend.create_project("checked-once-again")
    assert _checks(private_double) == 1

    clock.advance(0.2)  # 3.1 s after the check: the interval has passed
    backend.create_project("checked-again")
    assert _checks(private_double) == 2


def test_a_wait_polls_every_interval_until_its_deadline_then_cancels_the_run(private_double, tmp_path):
    clock = ManualClock()
    backend = _backend_for(private_double, tmp_path, clock=clock)
    flow_id = backend.register_flow(ft.adder, "waited-on-a-clock")
    flow_run_id = backend.run({"a": 1}, flow_id=flow_id)  # no agent here: it stays scheduled

    with pytest.raises(FlowRunTimeoutError) as info:
        backend.wait_for_flow_run(flow_run_id, poll_interval=2, timeout=5)

    polls = [a for _, f, a in private_double.store.request_log if f == "flow_run_by_pk" and a.get("id") == flow_run_id]
    assert len(polls) == 4  # at 0, 2, 4 and 5 s: the last sleep is cut short by the deadline
    assert info.value.timeout == 5
    assert private_double.store.flow_runs[flow_run_id]["state"] in ("Cancelling", "Cancelled")


def test_a_server_gone_after_a_successful_check_is_reported_within_seconds(private_double, tmp_path):
    backend = _backend_for(private_double, tmp_path, recheck_interval=0)
    backend.create_project("before-it-went")
    _stop(private_double)

    started = time.monotonic()
    with pytest.raises(ServerUnreachableError) as info:
        backend.create_project("after-it-went")

    assert time.monotonic() - started < 5  # not Prefect's ~62 s of retries
    assert private_double.url in str(info.value)


def test_a_server_gone_during_a_wait_is_reported_within_seconds(private_double, tmp_path):
    import threading

    backend = _backend_for(private_double, tmp_path)  # the default recheck interval (30 s)
    flow_id = backend.register_flow(ft.adder, "gone-during-wait")
    flow_run_id = backend.run({"a": 1}, flow_id=flow_id)  # no agent here: it stays scheduled
    outcome = {}

    def wait():
        started = time.monotonic()
        try:
            backend.wait_for_flow_run(flow_run_id, poll_interval=1, timeout=120)
        except Exception as exc:  # noqa: BLE001 - the test asserts what it is
            outcome["error"] = exc
        outcome["seconds"] = time.monotonic() - started

    polled = threading.Event()
    private_double.store.on_request.append(
        lambda field, args: polled.set() if field == "flow_run_by_pk" and args.get("id") == flow_run_id else None
    )
    waiter = threading.Thread(target=wait)
    waiter.start()
    # stop the server right after the wait's first poll, well before its next one
    assert polled.wait(30)
    _stop(private_double)
    waiter.join(timeout=30)

    assert not waiter.is_alive()
    assert isinstance(outcome.get("error"), ServerUnreachableError)
    assert outcome["seconds"] < 6


def test_runs_of_an_agent_with_its_own_home_use_the_callers_results_db_and_filesystem(
    server_backend, server_settings, prefect_protocol_double, tmp_path
):
    """The agent is started as docs/server.md says, in a shell of its own: no LUME_*
    variables, another HOME. Its runs still save results where the caller reads them."""
    from fixtures.server import running_local_agent

    from lume_services.examples.flows import save_text, store_text
    from lume_services.results import load_result

    labels = ["lume-services-own-home"]  # not the session agent's: this agent takes the runs
    saved = tmp_path / "text.txt"
    (tmp_path / "agent").mkdir()
    with running_local_agent(prefect_protocol_double, tmp_path / "agent", labels, home=tmp_path / "agent-home") as agent:
        saver = Flow(name="save-text", project_name="own-home", prefect_flow=save_text, labels=labels)
        saver.register()
        file_rep = saver.run_and_return({"filename": str(saved)}, FAST, task_name="save_file")
        storer = Flow(name="store-text", project_name="own-home", prefect_flow=store_text, labels=labels)
        storer.register()
        reference = storer.run_and_return({"file_rep": file_rep}, FAST, task_name="save_db_result")

    # read in this process, from this process's results database
    stored = load_result(reference)
    assert stored.outputs == {"text": "hello world", "length": 11}
    assert saved.read_text() == "hello world"
    assert not (agent["lume_home"] / "results.sqlite").exists()
    assert not (tmp_path / "agent-home" / ".lume_services").exists()
