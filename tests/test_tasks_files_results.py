"""The packaged tasks SaveFile, load_file, SaveDBResult, LoadDBResult and configure_lume_services.

Flows are real Prefect flows run by the local backend; the "second flow run"
tests load the references in a separate Python process.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from prefect import Flow, Parameter, task
from prefect.engine.results import PrefectResult

from lume_services import config
from lume_services.errors import (
    FlowFailedError,
    InvalidResultReferenceError,
    ResultAttributeError,
    ResultKeyError,
    ResultNotFoundError,
)
from lume_services.files import JSONFile, TextFile
from lume_services.flows.flow import Flow as LUMEFlow
from lume_services.results import Result
from lume_services.services.results import ResultsDBService
from lume_services.services.results.sqlite import SQLiteResultsDB
from lume_services.tasks import (
    ConfigureLUMEServices,
    LoadDBResult,
    LoadFile,
    SaveDBResult,
    SaveFile,
    configure_lume_services,
    load_db_result_value,
    load_file,
)

LOAD_SCRIPT = Path(__file__).parent / "fixtures" / "load_references.py"
ALIAS = "/lume/data"


@task
def make_result(text):
    return Result(
        project_name="issue3",
        inputs={"text": text},
        outputs={"text": text.upper(), "length": len(text), "rows": [{"x": 1}, {"x": 2}]},
    )


def save_flow() -> LUMEFlow:
    """A flow that saves its text to a file and a result, returning both references."""
    with Flow("save-text-and-result") as flow:
        text = Parameter("text")
        filename = Parameter("filename")
        filesystem = Parameter("filesystem_identifier", default="local")
        SaveFile()(text, filename, filesystem)
        SaveDBResult()(make_result(text))
    return LUMEFlow(name=flow.name, prefect_flow=flow)


def run_save_flow(**parameters) -> dict:
    results = save_flow().run_and_return(parameters)
    return {"file_rep": results["save_file"], "result_rep": results["save_db_result"]}


def load_in_another_process(references: dict, env: dict) -> dict:
    out = subprocess.run(
        [sys.executable, str(LOAD_SCRIPT), json.dumps(references)],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- the done-when: a second flow run in another process ---------------------------


def test_a_run_in_another_process_loads_the_file_and_result_with_default_configuration(
    tmp_path,
):
    references = run_save_flow(text="hello", filename=str(tmp_path / "out" / "text.txt"))
    assert references["file_rep"] == {
        "file_type_string": "lume_services.files.file:TextFile",
        "filename": str(tmp_path / "out" / "text.txt"),
        "filesystem_identifier": "local",
    }
    loaded = load_in_another_process(references, dict(os.environ))
    assert loaded == {
        "text": "hello",
        "db_text": "HELLO",
        "outputs": {"text": "HELLO", "length": 5, "rows": [{"x": 1}, {"x": 2}]},
    }


def test_a_run_in_another_process_loads_them_through_a_mounted_filesystem(
    tmp_path, monkeypatch
):
    host = tmp_path / "host-folder"
    host.mkdir()
    monkeypatch.setenv("LUME_MOUNTED_FILESYSTEM__MOUNT_PATH", str(host))
    monkeypatch.setenv("LUME_MOUNTED_FILESYSTEM__MOUNT_ALIAS", ALIAS)
    config.configure()
    references = run_save_flow(
        text="mounted", filename=f"{ALIAS}/run1/text.txt", filesystem_identifier="mounted"
    )
    assert references["file_rep"]["filename"] == f"{ALIAS}/run1/text.txt"
    assert (host / "run1" / "text.txt").read_text() == "mounted"

    # the second run sees the same folder at another place, as a container would
    other_view = tmp_path / "container-view"
    other_view.symlink_to(host)
    env = {**os.environ, "LUME_MOUNTED_FILESYSTEM__MOUNT_PATH": str(other_view)}
    loaded = load_in_another_process(references, env)
    assert loaded["text"] == "mounted"
    assert loaded["db_text"] == "MOUNTED"


# --- task defaults -------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, name",
    [
        (SaveFile, "save_file"),
        (LoadFile, "load_file"),
        (SaveDBResult, "save_db_result"),
        (LoadDBResult, "load_db_result"),
        (ConfigureLUMEServices, "configure_lume_services"),
    ],
)
def test_tasks_have_default_names_that_users_may_change(make, name):
    assert make().name == name
    assert make(name="renamed").name == "renamed"


def test_packaged_instances_are_named_for_their_use():
    assert load_file.name == "load_file"
    assert configure_lume_services.name == "configure_lume_services"


@pytest.mark.parametrize("make", [SaveFile, SaveDBResult])
def test_saving_tasks_keep_their_reference_with_a_prefect_result(make):
    assert isinstance(make().result, PrefectResult)


def test_references_can_be_kept_in_a_prefect_result(tmp_path):
    file_rep = SaveFile().run("x", str(tmp_path / "a.txt"))
    result = Result(project_name="p", inputs={"x": 1})
    result_rep = SaveDBResult().run(result)
    for rep in (file_rep, result_rep):
        kept = PrefectResult().write(rep)
        assert PrefectResult().read(kept.location).value == rep


# --- SaveFile and load_file -------------------------------------------------------------


def test_save_file_creates_directories_and_returns_the_reference(tmp_path):
    rep = SaveFile().run("text", str(tmp_path / "a" / "b" / "t.txt"))
    assert (tmp_path / "a" / "b" / "t.txt").read_text() == "text"
    assert load_file.run(rep) == "text"


def test_save_file_takes_the_file_type_as_a_class_or_a_string(tmp_path):
    rep = SaveFile().run({"a": [1, 2]}, str(tmp_path / "d.json"), file_type=JSONFile)
    assert rep["file_type_string"] == "lume_services.files.file:JSONFile"
    rep2 = SaveFile().run({"b": 1}, str(tmp_path / "e.json"),
                          file_type="lume_services.files.file:JSONFile")
    assert load_file.run(rep) == {"a": [1, 2]}
    assert load_file.run(json.dumps(rep2)) == {"b": 1}


def test_load_file_in_a_flow_reads_what_save_file_wrote(tmp_path):
    with Flow("save-and-load") as flow:
        rep = SaveFile()("round trip", str(tmp_path / "t.txt"))
        load_file(rep)
    results = LUMEFlow(name=flow.name, prefect_flow=flow).run_and_return()
    assert results["load_file"] == "round trip"
    assert TextFile(filename=str(tmp_path / "t.txt")).read() == "round trip"


def test_save_file_to_an_unconfigured_filesystem_fails_the_flow_naming_the_configured_ones(
    tmp_path,
):
    with Flow("save-mounted") as flow:
        SaveFile()("x", str(tmp_path / "t.txt"), "mounted")
    expected = r"'save_file' failed.*configured filesystems: 'local'"
    with pytest.raises(FlowFailedError, match=expected):
        LUMEFlow(name=flow.name, prefect_flow=flow).run_and_return()


# --- SaveDBResult and LoadDBResult ------------------------------------------------------


@pytest.fixture
def stored_rep():
    result = Result(
        project_name="p",
        inputs={"x": 3},
        outputs={"cube": 27, "nested": {"a": {"b": "deep"}}, "rows": [10, 20]},
    )
    return SaveDBResult().run(result)


def test_save_db_result_stores_once_and_returns_the_unique_rep(stored_rep):
    again = SaveDBResult().run(
        Result(project_name="p", inputs={"x": 3},
               outputs={"cube": 27, "nested": {"a": {"b": "deep"}}, "rows": [10, 20]})
    )
    assert again == stored_rep
    assert config.context.results_db_service().count("p") == 1


def test_load_db_result_without_attribute_index_returns_the_attribute(stored_rep):
    assert LoadDBResult().run(stored_rep, "inputs") == {"x": 3}


def test_load_db_result_indexes_the_attribute_by_each_key_in_turn(stored_rep):
    assert LoadDBResult().run(stored_rep, "outputs", ["cube"]) == 27
    assert LoadDBResult().run(stored_rep, "outputs", ["nested", "a", "b"]) == "deep"
    assert LoadDBResult().run(stored_rep, "outputs", ["rows", "1"]) == 20


def test_load_db_result_without_attribute_returns_the_result(stored_rep):
    loaded = LoadDBResult().run(stored_rep, None)
    assert isinstance(loaded, Result)
    assert loaded.outputs["cube"] == 27


def test_load_db_result_configured_in_init_loads_with_those_defaults(stored_rep):
    assert LoadDBResult(attribute="outputs", attribute_index=["nested", "a", "b"]).run(stored_rep) == "deep"


def test_load_db_result_call_arguments_win_over_those_given_in_init(stored_rep):
    assert LoadDBResult(attribute="inputs", attribute_index=["x"]).run(stored_rep, "outputs", ["cube"]) == 27


def test_load_db_result_configured_in_init_loads_in_a_flow(stored_rep):
    with Flow("load-configured") as flow:
        LoadDBResult(attribute="outputs", attribute_index=["rows", "0"], name="first_row")(stored_rep)
    assert LUMEFlow(name=flow.name, prefect_flow=flow).run_and_return(task_name="first_row") == 10


def test_load_file_configured_with_a_reference_in_init_loads_it(tmp_path):
    rep = SaveFile().run("known when the flow is written", str(tmp_path / "k.txt"))
    assert LoadFile(file_rep=rep).run() == "known when the flow is written"
    other = SaveFile().run("given at the call", str(tmp_path / "o.txt"))
    assert LoadFile(file_rep=rep).run(other) == "given at the call"


def test_load_db_result_value_is_the_same_logic_as_a_plain_function(stored_rep, tmp_path):
    assert load_db_result_value(stored_rep, "outputs", ["cube"]) == 27
    other = ResultsDBService(SQLiteResultsDB(tmp_path / "other.sqlite"))
    with pytest.raises(ResultNotFoundError, match="0 result"):
        load_db_result_value(stored_rep, "outputs", results_db_service=other)


def test_a_missing_attribute_names_the_result_attributes(stored_rep):
    with pytest.raises(ResultAttributeError, match=r"no attribute 'output'.*'inputs'.*'outputs'"):
        LoadDBResult().run(stored_rep, "output")


def test_a_missing_key_names_the_keys_that_exist(stored_rep):
    with pytest.raises(ResultKeyError, match=r"outputs\['nested'\] has no key 'b'; keys.*'a'"):
        LoadDBResult().run(stored_rep, "outputs", ["nested", "b"])
    with pytest.raises(ResultKeyError, match=r"no key '5'; keys.*'0', '1'"):
        LoadDBResult().run(stored_rep, "outputs", ["rows", "5"])
    with pytest.raises(ResultKeyError, match=r"outputs\['cube'\] has no key 'x'"):
        LoadDBResult().run(stored_rep, "outputs", ["cube", "x"])


def test_a_result_that_is_not_stored_is_not_found():
    rep = Result(project_name="p", inputs={"never": "stored"}).unique_rep()
    with pytest.raises(ResultNotFoundError, match="no result of project 'p'"):
        LoadDBResult().run(rep, "outputs")


@pytest.mark.parametrize(
    "rep, reason",
    [({"project_name": "p"}, "missing result_type_string, query"), ("{not json", "not JSON"),
     (42, "a int")],
)
def test_a_value_that_is_not_a_result_reference_is_refused(rep, reason):
    with pytest.raises(InvalidResultReferenceError, match=reason):
        LoadDBResult().run(rep, "outputs")


def test_a_failing_load_db_result_fails_the_flow_with_its_message(stored_rep):
    with Flow("load-missing") as flow:
        LoadDBResult()(stored_rep, "outputs", ["nope"])
    with pytest.raises(FlowFailedError, match=r"'load_db_result' failed: ResultKeyError.*'cube'"):
        LUMEFlow(name=flow.name, prefect_flow=flow).run_and_return()


def test_results_saved_in_a_flow_record_the_flow_id():
    with Flow("save-with-id") as flow:
        rep = SaveDBResult()(make_result("x"))
        LoadDBResult()(rep, "flow_id")
    results = LUMEFlow(name=flow.name, prefect_flow=flow).run_and_return()
    # a local Prefect run's context names the flow; a server run gives its flow id
    assert results["load_db_result"] == "save-with-id"


def test_results_pass_between_flow_runs_through_mongodb_too(monkeypatch):
    # mongomock stands in for a MongoDB server (none can run here)
    import mongomock

    monkeypatch.setenv("LUME_RESULTS_DB__TYPE", "mongodb")
    monkeypatch.setenv("LUME_RESULTS_DB__MONGODB__HOST", "mongo.test")
    monkeypatch.setenv("LUME_RESULTS_DB__MONGODB__PORT", "27017")
    monkeypatch.setenv("LUME_RESULTS_DB__MONGODB__USERNAME", "lume")
    monkeypatch.setenv("LUME_RESULTS_DB__MONGODB__PASSWORD", "pw")
    with mongomock.patch(servers=(("mongo.test", 27017),)):
        config.configure()
        with Flow("save-in-mongo") as flow:
            SaveDBResult()(make_result("mongo"))
        rep = LUMEFlow(name=flow.name, prefect_flow=flow).run_and_return(
            task_name="save_db_result"
        )
        with Flow("load-from-mongo") as flow2:
            LoadDBResult()(Parameter("rep"), "outputs", ["text"])
        loaded = LUMEFlow(name=flow2.name, prefect_flow=flow2).run_and_return(
            {"rep": rep}, task_name="load_db_result"
        )
    assert loaded == "MONGO"
    assert type(config.context.results_db()).__name__ == "MongodbResultsDB"


# --- configure_lume_services -----------------------------------------------------------


def test_configure_lume_services_applies_the_run_environment(tmp_path, monkeypatch):
    assert config.context.file_service().identifiers == ["local"]
    host = tmp_path / "host"
    host.mkdir()
    monkeypatch.setenv("LUME_MOUNTED_FILESYSTEM__MOUNT_PATH", str(host))
    monkeypatch.setenv("LUME_MOUNTED_FILESYSTEM__MOUNT_ALIAS", ALIAS)
    with Flow("configure-then-save") as flow:
        configured = configure_lume_services()
        SaveFile()("x", f"{ALIAS}/a.txt", "mounted", upstream_tasks=[configured])
    LUMEFlow(name=flow.name, prefect_flow=flow).run_and_return()
    assert (host / "a.txt").read_text() == "x"
