"""The run history: what ran, with which parameters, what failed and what it returned.

Local backend: every run is recorded in ``$LUME_HOME/history/runs.sqlite``.
Server backend (the Prefect 1 Server protocol double and a real LocalAgent):
the same questions are answered from the server's flow runs and task runs.
"""

import json
import logging
import os
import sqlite3
import subprocess
import sys
import textwrap
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from prefect import Flow as PrefectFlow
from prefect import Parameter, task
from pydantic import SecretStr

import flows_for_tests as ft
from lume_services import config
from lume_services.cli.main import main
from lume_services.config import LUMEServicesSettings
from lume_services.errors import (
    InvalidRunFilterError,
    RunHistoryCorruptError,
    RunHistoryNotPrunableError,
    RunNotFoundError,
    RunResultNotRecordedError,
    StoreUnusableError,
    TaskNotInFlowError,
)
from lume_services.flows.flow import Flow, FlowRunConfig
from lume_services.flows.flow_of_flows import FlowOfFlows
from lume_services.services.scheduling.backends.local.run_history import RunHistory
from lume_services.services.scheduling.run_records import MASK, RunRecord, mermaid

TESTS_DIR = Path(__file__).resolve().parent


@task
def connect(url, password, api_token, options):
    return f"connected to {url}"


@task
def big(n):
    return list(range(n))


@task
def opaque():
    return object()


with PrefectFlow("secrets") as secrets_flow:
    connect(Parameter("url"), Parameter("password"), Parameter("api_token", default="t0ken"),
            Parameter("options", default={"client_secret": "abc", "retries": 3}))

@task
def own_run_id():
    import prefect

    return prefect.context.get("flow_run_id")


with PrefectFlow("run-id") as run_id_flow:
    own_run_id()

with PrefectFlow("results") as results_flow:
    big(Parameter("n", default=10))
    opaque()


@pytest.fixture
def service(lume_home):
    """The SchedulingService of the local backend under this test's LUME_HOME."""
    return config.configure(LUMEServicesSettings(backend="local", home=lume_home)).scheduling_service()


def registered(flow, service, project="history") -> Flow:
    model = Flow(name=flow.name, project_name=project, prefect_flow=flow)
    model.register(scheduling_service=service)
    return model


def only_run(service, **filters) -> RunRecord:
    found = service.list_runs(**filters)
    assert len(found) == 1, found
    return service.get_run(found[0].run_id)


# --- what a local run records ------------------------------------------------------


def test_a_run_is_recorded_with_its_flow_project_version_parameters_executor_and_times(service):
    model = registered(ft.adder, service)
    before = datetime.now(timezone.utc)

    model.run_and_return({"a": 1}, scheduling_service=service)

    run = only_run(service)
    assert (run.flow_name, run.project_name, run.flow_id, run.flow_version) == ("adder", "history", model.flow_id, 1)
    assert run.parameters == {"a": 1, "b": 10}  # defaults recorded as the run used them
    assert run.executor == "local"
    assert run.state == "Success" and run.message == "All reference tasks succeeded."
    assert before <= run.start <= run.end <= datetime.now(timezone.utc)
    assert (run.host, run.pid) == (os.uname().nodename, os.getpid())


def test_each_task_is_recorded_with_its_state_duration_and_small_json_result(service):
    registered(ft.two_incs, service).run_and_return({"x": 5}, scheduling_service=service)

    run = only_run(service)

    assert [(t.name, t.slug, t.state, t.result) for t in run.tasks] == [
        ("inc", "inc-1", "Success", 6), ("inc", "inc-2", "Success", 7), ("x", "x", "Success", 5),
    ]
    assert all(t.duration is not None and t.duration >= 0 for t in run.tasks)
    first, second = run.tasks[0], run.tasks[1]
    assert first.end <= second.start  # inc-2 takes inc-1's result


def test_the_run_id_is_prefects_flow_run_id_inside_the_run(service):
    registered(run_id_flow, service).run(scheduling_service=service)

    run = only_run(service)

    assert run.task("own_run_id")[0].result == run.run_id


def test_a_large_or_non_json_result_is_noted_by_type_not_kept(service, lume_home):
    backend = config.context.scheduling_backend()
    backend.max_result_bytes = 1024
    registered(results_flow, service).run(parameters={"n": 1000}, scheduling_service=service)

    tasks = {t.name: t for t in only_run(service).tasks}

    assert not tasks["big"].result_recorded and "larger than 1 KiB" in tasks["big"].result_note
    assert not tasks["opaque"].result_recorded
    assert tasks["opaque"].result_note == "builtins.object, not JSON-serializable"
    assert tasks["n"].result == 1000


def test_file_references_are_kept_as_the_references_they_are(service, tmp_path):
    target = tmp_path / "out.txt"
    registered(ft.write_text, service).run_and_return({"filename": str(target)}, scheduling_service=service)

    saved = only_run(service).task("save_file")[0]

    assert saved.result == {
        "file_type_string": "lume_services.files.file:TextFile",
        "filename": str(target),
        "filesystem_identifier": "local",
    }


def test_secrets_are_masked_by_type_and_by_name_in_parameters_and_task_results(service):
    registered(secrets_flow, service).run_and_return(
        {"url": "db://host", "password": SecretStr("hunter2")}, scheduling_service=service
    )

    run = only_run(service)

    assert run.parameters == {
        "url": "db://host", "password": MASK, "api_token": MASK, "options": {"client_secret": MASK, "retries": 3},
    }
    tasks = {t.name: t.result for t in run.tasks}
    assert tasks["password"] == MASK and tasks["api_token"] == MASK
    assert tasks["options"] == {"client_secret": MASK, "retries": 3}
    raw = Path(config.context.scheduling_backend().history.path).read_bytes()
    assert b"hunter2" not in raw and b"t0ken" not in raw and b"abc" not in raw


def test_a_failed_run_records_the_failed_task_and_its_message(service):
    model = registered(ft.failing, service)
    model.run(parameters={"x": 3}, scheduling_service=service)

    run = only_run(service)

    assert run.state == "Failed"
    failed = run.task("fail")[0]
    assert failed.state == "Failed" and "cannot handle 3" in failed.message
    assert not failed.result_recorded


def test_the_executor_of_the_run_config_is_recorded(service):
    from lume_services.services.scheduling.backends import ExecutorConfig, LocalRunConfig

    run_config = LocalRunConfig(executor=ExecutorConfig(type="local_dask", num_workers=2))
    registered(ft.doubler, service).run(run_config=run_config, scheduling_service=service)

    assert only_run(service).executor == "local_dask (threads, 2 workers)"


# --- listing and reading ------------------------------------------------------------


def test_runs_are_listed_newest_first_and_filtered_by_flow_project_state_and_time(service):
    doubler = registered(ft.doubler, service, project="p1")
    failing = registered(ft.failing, service, project="p2")
    doubler.run(scheduling_service=service)
    middle = datetime.now(timezone.utc)
    failing.run(scheduling_service=service)
    doubler.run(parameters={"x": 7}, scheduling_service=service)

    newest_first = [(r.flow_name, r.parameters) for r in service.list_runs()]
    assert newest_first == [("doubler", {"x": 7}), ("failing", {"x": 1}), ("doubler", {"x": 1})]
    assert [r.flow_name for r in service.list_runs(flow_name="doubler")] == ["doubler", "doubler"]
    assert [r.flow_name for r in service.list_runs(project_name="p2")] == ["failing"]
    assert [r.flow_name for r in service.list_runs(state="failed")] == ["failing"]
    assert [r.parameters for r in service.list_runs(since=middle)] == [{"x": 7}, {"x": 1}]
    assert [r.parameters for r in service.list_runs(until=middle)] == [{"x": 1}]
    assert len(service.list_runs(limit=2)) == 2
    assert doubler.runs(scheduling_service=service)[0].parameters == {"x": 7}
    assert doubler.last_run(scheduling_service=service).tasks[0].result == 14


@pytest.mark.parametrize(
    "filters, named",
    [
        ({"state": "Sucess"}, "state='Sucess' is not valid; expected one of Scheduled"),
        ({"limit": 0}, "limit=0 is not valid; expected a whole number from 1 to 10000"),
        ({"limit": "5"}, "limit='5'"),
        ({"since": "last tuesday"}, "since='last tuesday' is not valid; expected an ISO 8601 date"),
        ({"since": "2024-05-02", "until": "2024-05-01"}, "until='2024-05-01' is not valid; expected a time after"),
        ({"flow_name": ""}, "flow=''"),
    ],
)
def test_a_malformed_filter_is_a_one_line_error_naming_it(service, filters, named):
    with pytest.raises(InvalidRunFilterError) as info:
        service.list_runs(**filters)
    assert named in str(info.value) and "\n" not in str(info.value)


def test_an_unknown_run_id_is_a_one_line_error_naming_where_it_was_looked_for(service, lume_home):
    with pytest.raises(RunNotFoundError) as info:
        service.get_run("no-such-run")
    message = str(info.value)
    assert "no run with id 'no-such-run'" in message and str(lume_home / "history" / "runs.sqlite") in message
    assert "lume-services runs list" in message and "\n" not in message


def test_a_finished_runs_task_result_is_read_back_without_running_again(service, tmp_path):
    path = tmp_path / "ran.txt"
    model = registered(ft.marker, service)
    model.run_and_return({"x": 41, "path": str(path)}, scheduling_service=service)
    run_id = service.list_runs()[0].run_id

    assert service.run_result(run_id, "inc") == 42
    assert model.run_result("inc", scheduling_service=service) == 42  # its latest successful run
    assert path.read_text() == "ran\n"  # the flow ran once


def test_a_result_that_was_not_kept_or_a_missing_task_says_why(service):
    registered(results_flow, service).run(scheduling_service=service)
    registered(ft.failing, service).run(scheduling_service=service)
    results_run = service.list_runs(flow_name="results")[0].run_id
    failing_run = service.list_runs(flow_name="failing")[0].run_id

    with pytest.raises(RunResultNotRecordedError, match="builtins.object, not JSON-serializable; the history"):
        service.run_result(results_run, "opaque")
    with pytest.raises(RunResultNotRecordedError, match="its state is Failed"):
        service.run_result(failing_run, "fail")
    with pytest.raises(TaskNotInFlowError, match="tasks of 'results': 'big', 'n', 'opaque'"):
        service.run_result(results_run, "nope")
    with pytest.raises(RunNotFoundError, match="flow 'adder' has no successful run"):
        Flow(name="adder", prefect_flow=ft.adder).run_result("add", scheduling_service=service)


def test_prune_forgets_finished_runs_older_than_the_cutoff_and_keeps_running_ones(service):
    history = config.context.scheduling_backend().history
    old = datetime.now(timezone.utc) - timedelta(days=10)
    history.insert_many([
        RunRecord(run_id="old-done", flow_name="f", state="Success", start=old, end=old),
        RunRecord(run_id="old-running", flow_name="f", state="Running", start=old,
                  host=os.uname().nodename, pid=os.getpid()),
    ])
    registered(ft.doubler, service).run(scheduling_service=service)

    assert service.prune_runs(7) == 1

    assert sorted(r.run_id for r in service.list_runs(flow_name="f")) == ["old-running"]
    assert len(service.list_runs(flow_name="doubler")) == 1
    with pytest.raises(InvalidRunFilterError, match="older_than=-1"):
        service.prune_runs(-1)


# --- runs that die, stores that break ------------------------------------------------


CRASHING_SCRIPT = """
import sys, time
from prefect import Flow, task
from lume_services.flows.flow import Flow as Model

@task
def wait_to_be_killed():
    print("started", flush=True)
    time.sleep(120)

with Flow("killed") as flow:
    wait_to_be_killed()

Model(name="killed", prefect_flow=flow).run()
"""


def test_a_run_whose_process_was_killed_is_listed_as_crashed_not_running(service, lume_home, tmp_path):
    script = tmp_path / "crashing.py"
    script.write_text(CRASHING_SCRIPT)
    env = {**os.environ, "LUME_HOME": str(lume_home), "PREFECT__LOGGING__LEVEL": "ERROR",
           "PYTHONPATH": os.pathsep.join([str(TESTS_DIR.parent), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "started"  # the run is under way
        assert [r.state for r in service.list_runs(flow_name="killed")] == ["Running"]
    finally:
        process.kill()
        process.wait()
        process.stdout.close()

    run = only_run(service, flow_name="killed")

    assert run.state == "Crashed"
    assert f"pid {process.pid}" in run.message and "ended before the run finished" in run.message
    assert [r.run_id for r in service.list_runs(state="Crashed")] == [run.run_id]


def test_a_run_is_not_marked_crashed_while_its_process_runs_it(service):
    history = config.context.scheduling_backend().history
    history.begin("in-flight", "f", None, None, None, {}, "local", datetime.now(timezone.utc))

    assert service.get_run("in-flight").state == "Running"
    with pytest.raises(RunResultNotRecordedError, match=r"the run has not finished \(Running\)"):
        service.run_result("in-flight", "anything")


def test_a_history_that_cannot_be_written_never_fails_the_run_and_is_logged(lume_home, caplog):
    (lume_home / "history").mkdir(parents=True)
    (lume_home / "history" / "runs.sqlite").write_bytes(b"this is not a database" * 100)
    service = config.configure(LUMEServicesSettings(backend="local", home=lume_home)).scheduling_service()

    with caplog.at_level(logging.WARNING, logger="lume_services.run_history"):
        result = Flow(name="doubler", prefect_flow=ft.doubler).run_and_return(
            {"x": 4}, task_name="double", scheduling_service=service)

    assert result == 8
    warnings = [r.getMessage() for r in caplog.records if r.name == "lume_services.run_history"]
    assert len(warnings) == 1 and "the start of run" in warnings[0] and "could not be recorded" in warnings[0]


def test_a_corrupt_history_is_a_one_line_error_naming_the_file_and_the_fix(lume_home, service):
    path = lume_home / "history" / "runs.sqlite"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"garbage" * 1000)

    with pytest.raises(StoreUnusableError) as info:
        service.list_runs()

    assert (info.value.store, info.value.cause) == ("run_history", "not_a_database")
    message = str(info.value)
    assert str(path) in message and "not an SQLite database" in message
    assert "move it aside" in message and "LUME_RUN_HISTORY__PATH" in message and "\n" not in message


def test_a_sqlite_database_of_something_else_is_refused(lume_home, service):
    path = lume_home / "history" / "runs.sqlite"
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as other:
        other.execute("CREATE TABLE invoices (id INTEGER)")

    with pytest.raises(RunHistoryCorruptError, match="a SQLite database of something else .tables invoices."):
        service.get_run("x")
    with sqlite3.connect(path) as other:  # and it was left as it was
        assert [r[0] for r in other.execute("SELECT name FROM sqlite_master")] == ["invoices"]


def test_the_history_folder_and_file_are_private(service, lume_home):
    registered(ft.doubler, service).run(scheduling_service=service)

    path = lume_home / "history" / "runs.sqlite"
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert path.stat().st_mode & 0o777 == 0o600


def _record_runs(path: str, worker: int, count: int) -> None:
    history = RunHistory(path)
    for i in range(count):
        run_id = f"{worker}-{i}"
        history.begin(run_id, "f", None, None, None, {"i": i}, "local", datetime.now(timezone.utc))
        history.finish(run_id, datetime.now(timezone.utc), "Success", None)


def test_concurrent_first_use_from_several_processes_is_safe(tmp_path):
    import multiprocessing

    path = str(tmp_path / "fresh" / "runs.sqlite")
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_record_runs, args=(path, w, 10)) for w in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)

    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    from lume_services.services.scheduling.run_records import run_query

    assert len(RunHistory(path).list_runs(run_query(limit=100))) == 40


def test_set_up_waits_while_another_process_holds_the_set_up_lock(tmp_path):
    # the one set-up lock of every store (lume_services.storage), as the registry and results DB take it
    import threading

    from lume_services.storage import setup_lock

    path = tmp_path / "fresh" / "runs.sqlite"
    done = threading.Event()
    from lume_services.services.scheduling.run_records import run_query

    path.parent.mkdir(mode=0o700)
    with setup_lock(path):  # as another process setting the file up would
        setting_up = threading.Thread(target=lambda: (RunHistory(path).list_runs(run_query()), done.set()))
        setting_up.start()
        assert not done.wait(0.5)  # it waits for the lock instead of setting up beside the holder
        tables = sqlite3.connect(path).execute("SELECT name FROM sqlite_master").fetchall() if path.exists() else []
        assert tables == []
    setting_up.join(10)
    assert done.is_set() and path.exists()


def test_recording_can_be_turned_off_by_the_environment(lume_home, monkeypatch):
    monkeypatch.setenv("LUME_RUN_HISTORY__ENABLED", "false")
    service = config.configure().scheduling_service()

    Flow(name="doubler", prefect_flow=ft.doubler).run_and_return(scheduling_service=service)

    assert not (lume_home / "history" / "runs.sqlite").exists()
    assert service.list_runs() == []


# --- flows of flows, locally ----------------------------------------------------------


DIAMOND = """
name: diamond
project_name: history
composing_flows:
  - name: doubler
  - name: adder
    mapped_parameters:
      a: {parent_flow_name: doubler, parent_task_name: double}
  - name: failing
    mapped_parameters:
      x: {parent_flow_name: doubler, parent_task_name: double}
  - name: two-incs
    mapped_parameters:
      x: {parent_flow_name: adder, parent_task_name: add}
"""


@pytest.fixture
def diamond(service):
    for flow in (ft.doubler, ft.adder, ft.failing, ft.two_incs):
        registered(flow, service)
    return FlowOfFlows.from_yaml(DIAMOND, scheduling_service=service)


def test_a_flow_of_flows_run_records_each_child_with_its_state_times_and_mapped_values(service, diamond):
    diamond.run(parameters={"doubler-x": 3}, scheduling_service=service)

    run = only_run(service)

    assert (run.flow_name, run.project_name, run.state) == ("diamond", "history", "Failed")
    children = {c.name: c for c in run.children}
    assert list(children) == ["doubler", "adder", "failing", "two-incs"]
    assert {n: c.state for n, c in children.items()} == {
        "doubler": "Success", "adder": "Success", "failing": "Failed", "two-incs": "Success",
    }
    assert children["adder"].mapped == {"a": 6} and children["two-incs"].mapped == {"x": 16}
    assert children["adder"].parents == ["doubler"] and children["two-incs"].parents == ["adder"]
    assert children["doubler"].end <= children["adder"].start


def test_a_flow_of_flows_task_result_is_read_back_by_child(service, tmp_path):
    for flow in (ft.doubler, ft.adder):
        registered(flow, service)
    chain = FlowOfFlows.from_yaml(
        "name: chain\nproject_name: history\ncomposing_flows:\n  - name: doubler\n  - name: adder\n"
        "    mapped_parameters:\n      a: {parent_flow_name: doubler, parent_task_name: double}\n",
        scheduling_service=service,
    )
    chain.run_and_return({"doubler-x": 2, "adder-b": 1}, scheduling_service=service)

    assert chain.run_result("adder/add", scheduling_service=service) == 5
    assert chain.run_result("double", scheduling_service=service) == 4  # unique across children
    assert chain.run_result("adder/a", scheduling_service=service) == 4  # the value adder received


def test_a_children_whose_parent_failed_did_not_run_and_the_dag_shows_it(service):
    for flow in (ft.doubler, ft.failing, ft.adder):
        registered(flow, service)
    fof = FlowOfFlows.from_yaml(ft.failing_chain("broken", "history"), scheduling_service=service)
    fof.run(scheduling_service=service)

    run = only_run(service)
    assert [(c.name, c.state) for c in run.children] == [
        ("doubler", "Success"), ("failing", "Failed"), ("adder", "TriggerFailed"),
    ]
    chart = mermaid(run)
    assert chart.startswith("flowchart TD\n")
    assert 'c0["doubler<br/>Success' in chart and ":::success" in chart
    assert 'c1["failing<br/>Failed' in chart and 'c2["adder<br/>TriggerFailed"]:::notrun' in chart
    assert "c0 --> c1" in chart and "c1 --> c2" in chart


# --- the CLI -------------------------------------------------------------------------


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_cli_lists_shows_and_prunes_runs(service, diamond):
    registered(ft.adder, service).run(parameters={"a": 1}, scheduling_service=service)
    diamond.run(scheduling_service=service)

    listed = invoke("runs", "list", "--flow", "adder")
    assert listed.exit_code == 0 and listed.output.splitlines()[0].split() == [
        "RUN", "ID", "FLOW", "PROJECT", "STATE", "STARTED", "(UTC)", "DURATION"]
    assert " adder " in listed.output and "Success" in listed.output
    as_json = json.loads(invoke("runs", "list", "--json").output)
    assert [r["flow_name"] for r in as_json] == ["diamond", "adder"]

    diamond_id = as_json[0]["run_id"]
    shown = invoke("runs", "show", diamond_id)
    assert shown.exit_code == 0
    assert "flows:" in shown.output and "failing" in shown.output and "tasks:" in shown.output
    assert json.loads(invoke("runs", "show", diamond_id, "--json").output)["children"][1]["mapped"] == {"a": 2}
    assert invoke("runs", "show", diamond_id, "--format", "mermaid").output.startswith("flowchart TD")

    assert invoke("runs", "prune", "--older-than", "0").output == "forgot 2 runs older than 0 days\n"


def test_cli_errors_are_one_line(service):
    unknown = invoke("runs", "show", "no-such-run")
    assert unknown.exit_code == 2 and unknown.stderr.count("\n") == 1
    assert unknown.stderr.startswith("error: no run with id 'no-such-run'")
    bad = invoke("runs", "list", "--state", "sucess")
    assert bad.exit_code == 2 and "run filter state='sucess' is not valid" in bad.stderr
    registered(ft.doubler, service).run(scheduling_service=service)
    plain = invoke("runs", "show", service.list_runs()[0].run_id, "--format", "mermaid")
    assert plain.exit_code == 2 and "is not a flow of flows" in plain.stderr


# --- server backend: the same questions, answered by the server ---------------------------


FAST = FlowRunConfig(poll_interval=timedelta(seconds=0.2))


@pytest.fixture
def project():
    """A project of this test's own: the server double lives for the whole session."""
    return f"history-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def on_server(server_backend):
    return config.context.scheduling_service()


@pytest.mark.server
def test_server_runs_are_listed_from_the_server_filtered_and_newest_first(on_server, project):
    adder = registered(ft.adder, on_server, project)
    failing = registered(ft.failing, on_server, project)
    adder.run_and_return({"a": 1}, FAST, scheduling_service=on_server)
    with pytest.raises(Exception):
        failing.run_and_return({"x": 2}, FAST, scheduling_service=on_server)

    runs = on_server.list_runs(project_name=project)
    assert [(r.flow_name, r.state, r.parameters) for r in runs] == [
        ("failing", "Failed", {"x": 2}), ("adder", "Success", {"a": 1, "b": 10}),
    ]
    assert runs[1].flow_id == adder.flow_id and runs[1].flow_version == 1 and runs[1].project_name == project
    assert [r.flow_name for r in on_server.list_runs(project_name=project, state="Failed")] == ["failing"]
    assert [r.flow_name for r in on_server.list_runs(flow_name="adder", project_name=project)] == ["adder"]
    assert on_server.list_runs(project_name=project, since=timedelta(0)) == []
    assert len(on_server.list_runs(project_name=project, limit=1)) == 1


@pytest.mark.server
def test_a_server_run_has_its_task_runs_and_results_without_running_again(on_server, project):
    model = registered(ft.two_incs, on_server, project)
    model.run_and_return({"x": 5}, FAST, scheduling_service=on_server)
    run_id = on_server.list_runs(project_name=project)[0].run_id

    run = on_server.get_run(run_id)

    assert run.state == "Success" and run.start <= run.end
    assert [(t.name, t.slug, t.state) for t in run.tasks] == [
        ("inc", "inc-1", "Success"), ("inc", "inc-2", "Success"), ("x", "x", "Success"),
    ]
    assert all(t.duration is not None for t in run.tasks)
    assert "LocalResult" in run.tasks[0].result_note  # the agent's runs keep results in files
    assert on_server.run_result(run_id, "inc") == [6, 7]
    assert model.run_result("inc", scheduling_service=on_server) == [6, 7]
    with pytest.raises(TaskNotInFlowError, match="tasks of 'two-incs': 'inc', 'x'"):
        on_server.run_result(run_id, "nope")


@pytest.mark.server
@pytest.mark.parametrize("run_id", [str(uuid.uuid4()), "not-a-uuid"])
def test_an_unknown_server_run_id_is_a_one_line_error_naming_the_server(on_server, run_id):
    with pytest.raises(RunNotFoundError) as info:
        on_server.get_run(run_id)
    assert f"no run with id {run_id!r}" in str(info.value) and "graphql" in str(info.value)


@pytest.mark.server
def test_server_runs_are_not_pruned_by_lume_services(on_server):
    with pytest.raises(RunHistoryNotPrunableError, match="kept by the Prefect Server at http://127.0.0.1"):
        on_server.prune_runs(30)


@pytest.mark.server
@pytest.mark.slow
def test_a_server_flow_of_flows_run_has_its_children_their_states_and_mapped_values(on_server, project):
    for flow in (ft.doubler, ft.adder):
        registered(flow, on_server, project)
    chain = FlowOfFlows.from_yaml(
        f"name: chain\nproject_name: {project}\ncomposing_flows:\n  - name: doubler\n  - name: adder\n"
        "    mapped_parameters:\n      a: {parent_flow_name: doubler, parent_task_name: double}\n",
        scheduling_service=on_server,
    )
    chain.compose_and_register(scheduling_service=on_server)
    chain.run_and_return({"doubler-x": 2, "adder-b": 1}, FAST, scheduling_service=on_server)

    run = on_server.get_run(on_server.list_runs(flow_name="chain", project_name=project)[0].run_id)

    assert [(c.name, c.state, c.parents, c.mapped) for c in run.children] == [
        ("doubler", "Success", [], {}), ("adder", "Success", ["doubler"], {"a": 4}),
    ]
    assert all(c.run_id and c.start <= c.end for c in run.children)
    assert chain.run_result("adder/add", scheduling_service=on_server) == 5
    assert "c0 --> c1" in mermaid(run)


# --- the clock ---------------------------------------------------------------------------


def test_recorded_times_and_pruning_are_measured_on_the_backends_clock(lume_home):
    from lume_services.services.scheduling.backends import LocalBackend
    from lume_services.services.scheduling.clock import ManualClock
    from lume_services.services.scheduling.service import SchedulingService

    clock = ManualClock(start=datetime(2030, 1, 1, tzinfo=timezone.utc).timestamp())
    service = SchedulingService(LocalBackend(home=lume_home, clock=clock))
    Flow(name="doubler", prefect_flow=ft.doubler).run_and_return({"x": 1}, scheduling_service=service)

    (run,) = service.list_runs(flow_name="doubler")
    assert run.start == run.end == datetime(2030, 1, 1, tzinfo=timezone.utc)

    clock.advance(timedelta(days=2).total_seconds())
    assert service.prune_runs(3) == 0  # two days old on the clock: kept
    clock.advance(timedelta(days=2).total_seconds())
    assert service.prune_runs(3) == 1
