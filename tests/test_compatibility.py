"""Code written for LUME-services (slaclab/lume-services) runs here: its module paths,
names, signatures, settings and flows, as its documentation describes them.

Each test is one thing the original's users do; where this package deliberately
differs, docs/compatibility.md says so and the test pins this package's behaviour.
"""

import importlib
import os
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from prefect import Flow

import compat_flows as cf
from lume_services import config
from lume_services.errors import EmptyResultError, LocalBackendError, TaskNotInFlowError

DOCS = Path(__file__).resolve().parent.parent / "docs"

PUBLIC_NAMES = [
    ("lume_services.config", ["Context", "LUMEServicesSettings", "configure", "context", "list_env_vars",
                              "get_env_vars", "_settings"]),
    ("lume_services.errors", ["EnvironmentNotConfiguredError", "FlowNotFoundError", "ParameterNotInFlowError",
                              "ParentFlowNotInFlowsError", "TaskNotInFlowError", "FlowFailedError",
                              "EmptyResultError", "LocalBackendError", "PathNotInMount",
                              "TaskNotCompletedError", "FlowOfFlowsNotFoundError"]),
    ("lume_services.files", ["File", "TextFile", "HDF5File", "ImageFile", "YAMLFile"]),
    ("lume_services.files.file", ["File", "TextFile", "HDF5File", "ImageFile", "YAMLFile"]),
    ("lume_services.files.serializers", ["TextSerializer", "YAMLSerializer", "ImageSerializer"]),
    ("lume_services.files.serializers.text", ["TextSerializer"]),
    ("lume_services.files.serializers.yaml", ["YAMLSerializer"]),
    ("lume_services.files.serializers.image", ["ImageSerializer"]),
    ("lume_services.flows", ["Flow", "FlowOfFlows"]),
    ("lume_services.flows.flow", ["Flow", "FlowConfig", "FlowRunConfig", "MappedParameter", "RawMappedParameter",
                                  "FileMappedParameter", "DBMappedParameter"]),
    ("lume_services.flows.flow_of_flows", ["FlowOfFlows"]),
    ("lume_services.results", ["Result", "ImpactResult", "get_result_from_string", "get_result_types",
                               "get_collections", "get_unique_hash"]),
    ("lume_services.results.generic", ["Result", "get_bson_dict", "load_db_dict"]),
    ("lume_services.results.impact", ["ImpactResult"]),
    ("lume_services.results.utils", ["get_result_from_string", "get_result_types", "get_collections",
                                     "get_unique_hash"]),
    ("lume_services.services.files", ["FileService"]),
    ("lume_services.services.files.filesystems", ["Filesystem", "LocalFilesystem", "MountedFilesystem",
                                                  "PathNotInMount"]),
    ("lume_services.services.files.filesystems.filesystem", ["Filesystem"]),
    ("lume_services.services.files.filesystems.local", ["LocalFilesystem"]),
    ("lume_services.services.files.filesystems.mounted", ["MountedFilesystem"]),
    ("lume_services.services.files.service", ["FileService"]),
    ("lume_services.services.results", ["ResultsDB", "ResultsDBService", "MongodbResultsDB",
                                        "MongodbResultsDBConfig"]),
    ("lume_services.services.results.mongodb", ["MongodbResultsDB", "MongodbResultsDBConfig"]),
    ("lume_services.services.results.service", ["ResultsDBService"]),
    ("lume_services.services.scheduling", ["SchedulingService", "PrefectConfig", "PrefectTelemetryConfig",
                                           "PrefectUIConfig", "PrefectServerConfig"]),
    ("lume_services.services.scheduling.service", ["SchedulingService"]),
    ("lume_services.services.scheduling.backends", ["Backend", "RunConfig", "KubernetesBackend",
                                                    "KubernetesRunConfig", "LocalBackend", "LocalRunConfig",
                                                    "DockerBackend", "DockerRunConfig", "PrefectConfig",
                                                    "PrefectTelemetryConfig", "PrefectUIConfig",
                                                    "PrefectServerConfig"]),
    ("lume_services.services.scheduling.backends.backend", ["Backend", "RunConfig"]),
    ("lume_services.services.scheduling.backends.docker", ["DockerBackend", "DockerRunConfig"]),
    ("lume_services.services.scheduling.backends.kubernetes", ["KubernetesBackend", "KubernetesRunConfig"]),
    ("lume_services.services.scheduling.backends.local", ["LocalBackend", "LocalRunConfig"]),
    ("lume_services.services.scheduling.backends.server", ["ServerBackend", "PrefectConfig", "PrefectAgentConfig",
                                                           "PrefectServerConfig", "PrefectUIConfig",
                                                           "PrefectTelemetryConfig"]),
    ("lume_services.tasks", ["SaveDBResult", "LoadDBResult", "LoadFile", "SaveFile", "configure_services",
                             "configure_lume_services", "prepare_lume_model_variables", "check_local_execution"]),
    ("lume_services.tasks.db", ["SaveDBResult", "LoadDBResult"]),
    ("lume_services.tasks.file", ["SaveFile", "LoadFile"]),
    ("lume_services.tasks.configure", ["configure_services", "configure_lume_services",
                                       "prepare_lume_model_variables", "check_local_execution"]),
    ("lume_services.utils", ["docker_api_version", "fingerprint_dict", "flatten_dict", "get_jsonable_dict",
                             "get_callable_from_string", "JSON_ENCODERS", "select_python_version",
                             "flatten_dict_for_query", "ObjLoader", "ObjType", "CallableModel", "SignatureModel",
                             "validate_and_compose_signature"]),
]


@pytest.mark.parametrize("module, names", PUBLIC_NAMES, ids=[m for m, _ in PUBLIC_NAMES])
def test_the_originals_public_names_import_from_its_module_paths(module, names):
    imported = importlib.import_module(module)
    missing = [name for name in names if not hasattr(imported, name)]
    assert not missing, f"{module} lacks {missing}"


def test_each_old_path_is_the_home_of_its_class_or_re_exports_it():
    from lume_services.results.generic import Result as generic_result
    from lume_services.results.result import Result
    from lume_services.services.files.filesystems import MountedFilesystem
    from lume_services.services.files.filesystems.mounted import MountedFilesystem as home
    from lume_services.services.scheduling.backends import PrefectConfig as from_backends
    from lume_services.services.scheduling.backends.server import PrefectConfig

    assert generic_result is Result and MountedFilesystem is home and from_backends is PrefectConfig


# --- files ------------------------------------------------------------------------


def test_filesystem_dir_exists_creates_the_directory_when_asked(tmp_path):
    from lume_services.services.files.filesystems.local import LocalFilesystem

    fs = LocalFilesystem()
    new = str(tmp_path / "new")
    assert not fs.dir_exists(new, create_dir=False)
    assert fs.dir_exists(new, create_dir=True)
    assert fs.dir_exists(new, create_dir=False)
    fs.create_dir(str(tmp_path / "made"))
    assert (tmp_path / "made").is_dir()


def test_a_directory_or_create_mount_creates_its_folder_and_a_directory_mount_does_not(tmp_path):
    from lume_services.services.files.filesystems.mounted import MountedFilesystem

    created = MountedFilesystem(mount_path=str(tmp_path / "data"), mount_alias="/User/data", identifier="mounted")
    assert created.mount_type == "DirectoryOrCreate" and (tmp_path / "data").is_dir()
    MountedFilesystem(mount_path=str(tmp_path / "absent"), mount_alias="/data", mount_type="Directory")
    assert not (tmp_path / "absent").exists()


def test_the_file_service_lists_its_mounted_filesystems(tmp_path):
    from lume_services.services.files import FileService
    from lume_services.services.files.filesystems import LocalFilesystem, MountedFilesystem

    mounted = MountedFilesystem(mount_path=str(tmp_path), mount_alias="/lume/data")
    service = FileService([LocalFilesystem(), mounted])
    assert service.get_mounted_filesystems() == {"mounted": mounted}


# --- results -----------------------------------------------------------------------


def make_generic_result():
    from lume_services.results import Result

    return Result(flow_id="test_flow_id", inputs={"input1": 2.0, "input2": [1, 2, 3, 4, 5]},
                  outputs={"output1": 2.0, "output2": [1, 2, 3, 4, 5]})


def test_a_result_without_a_project_is_stored_in_its_types_collection():
    from lume_services.results import ImpactResult, Result

    assert make_generic_result().model_type == "generic"
    assert Result(collection="beams", inputs={}, outputs={}).project_name == "beams"
    assert ImpactResult.__fields__["project_name"].default == "Impact"


def test_a_result_is_inserted_and_loaded_from_a_query_as_in_the_first_releases(lume_home):
    from lume_services.results import Result

    result = make_generic_result()
    result.insert()
    loaded = Result.load_from_query({"flow_id": result.flow_id, "inputs": result.inputs,
                                     "outputs": result.outputs})
    assert (loaded.flow_id, loaded.inputs, loaded.outputs) == (result.flow_id, result.inputs, result.outputs)


def test_the_results_service_takes_an_item_holding_its_collection_and_finds_by_keyword(lume_home):
    service = config.context.results_db_service()
    result = make_generic_result()
    assert service.insert_one(result.jsonable_dict())
    found = service.find(collection=result.model_type, query={"flow_id": result.flow_id}, fields=["outputs"])
    assert found == [{"outputs": result.outputs}]
    assert len(service.find_all(collection=result.model_type)) == 1


def test_numpy_values_are_accepted_in_queries_as_in_inserts(lume_home):
    from lume_services.results import Result, get_bson_dict

    result = Result(project_name="generic", flow_id="f", inputs={"input2": np.array([1, 2, 3])}, outputs={})
    result.insert()
    service = config.context.results_db_service()
    assert len(service.find("generic", {"inputs.input2": np.array([1, 2, 3]), "flow_id": "f"})) == 1
    assert len(service.find("generic", get_bson_dict({"inputs.input2": np.array([1, 2, 3])}))) == 1


@pytest.mark.parametrize("type_string", ["lume_services.results.generic:Result", "lume_services.results.generic.Result",
                                         "lume_services.results.impact:ImpactResult",
                                         "lume_services.results.impact.ImpactResult"])
def test_result_type_strings_load_in_both_the_colon_and_the_dotted_form(type_string):
    from lume_services.results import get_result_from_string

    assert get_result_from_string(type_string).__name__ == type_string.replace(":", ".").rsplit(".", 1)[1]


def test_the_packaged_result_types_and_their_collections_are_listed():
    from lume_services.results import ImpactResult, Result, get_collections, get_result_types

    assert set(get_result_types().values()) == {Result, ImpactResult}
    assert get_collections() == {"generic": ["inputs", "outputs"], "Impact": ["inputs", "outputs"]}


def test_an_impact_result_keeps_its_files_and_says_loading_its_archive_needs_lume_impact(tmp_path, lume_home):
    from lume_services.errors import ImpactNotAvailableError
    from lume_services.files import HDF5File, ImageFile
    from lume_services.results import ImpactResult, load_db_dict

    result = ImpactResult(
        flow_id="test_flow_id", inputs={"input1": 2.0}, outputs={"output1": 2.0},
        plot_file=ImageFile(filename=str(tmp_path / "plot.png")),
        archive=HDF5File(filename=str(tmp_path / "archive.h5")),
        pv_collection_isotime=datetime(2022, 5, 1, 12, 0), config={"config1": 1},
    )
    result.insert()
    loaded = ImpactResult.load_from_query({"flow_id": "test_flow_id"})
    assert loaded.archive == result.archive and loaded.plot_file == result.plot_file
    assert loaded.pv_collection_isotime == result.pv_collection_isotime
    assert isinstance(load_db_dict(result.jsonable_dict())["archive"], HDF5File)
    with pytest.raises(ImpactNotAvailableError, match="needs lume-impact"):
        loaded.load_impact()


def test_mongodb_needs_a_password_and_connects_when_asked():
    import mongomock
    from pydantic import ValidationError

    from lume_services.services.results import MongodbResultsDB, MongodbResultsDBConfig

    with pytest.raises(ValidationError, match="password"):
        MongodbResultsDBConfig(database="results", host="localhost", username="user", port=3030)
    db_config = MongodbResultsDBConfig(host="mongo.test", port=27017, username="user", password="pw",
                                       authMechanism="DEFAULT")
    MongodbResultsDB(db_config, connect=False)
    with mongomock.patch(servers=(("mongo.test", 27017),)):
        db = MongodbResultsDB(db_config, connect=True)
        assert db._client is not None
        db.disconnect()


# --- settings ------------------------------------------------------------------------


def lume_services_settings(tmp_path):
    """Settings built as the original's users build them."""
    from lume_services.services.files.filesystems.mounted import MountedFilesystem
    from lume_services.services.results.mongodb import MongodbResultsDBConfig
    from lume_services.services.scheduling.backends.server import (
        PrefectAgentConfig,
        PrefectConfig,
        PrefectServerConfig,
    )

    return config.LUMEServicesSettings(
        model_db={"host": "127.0.0.1", "port": 3306, "user": "root", "password": "root", "database": "model_db"},
        results_db=MongodbResultsDBConfig(port=27017, host="mongo.test", username="root", database="test",
                                          password="password"),
        prefect=PrefectConfig(
            server=PrefectServerConfig(host="http://127.0.0.1", host_port="4200", tag="latest"),
            agent=PrefectAgentConfig(host="127.0.0.1", host_port="5000"),
            backend="server",
        ),
        backend="local",
        mounted_filesystem=MountedFilesystem(mount_path=str(tmp_path / "mounted_dir"),
                                             mount_alias="/User/my_user/data", identifier="mounted"),
    )


def test_the_originals_settings_objects_configure_this_package(tmp_path):
    from lume_services.services.files.filesystems.mounted import MountedFilesystem
    from lume_services.services.results.mongodb import MongodbResultsDB

    settings = lume_services_settings(tmp_path)
    config.context = None
    config.configure(settings)
    assert config.context is not None and config._settings is settings
    assert isinstance(config.context.mounted_filesystem(), MountedFilesystem)
    assert isinstance(config.context.results_db(), MongodbResultsDB)
    assert settings.results_db.host == "mongo.test" and settings.results_db.password.get_secret_value() == "password"
    assert settings.prefect.server.host_port == 4200 and settings.prefect.server.tag == "latest"


def test_the_originals_deployment_variables_configure_this_package(monkeypatch, tmp_path):
    for name, value in {
        "LUME_BACKEND": "server",
        "LUME_PREFECT__SERVER__HOST": "http://apollo",
        "LUME_PREFECT__SERVER__HOST_PORT": "4300",
        "LUME_PREFECT__SERVER__TAG": "core-1.2.4",
        "LUME_PREFECT__AGENT__HOST_PORT": "5001",
        "LUME_PREFECT__UI__HOST_PORT": "8081",
        "LUME_PREFECT__TELEMETRY__ENABLED": "false",
        "LUME_PREFECT__HOME_DIR": str(tmp_path / "prefect"),
        "LUME_PREFECT__DEBUG": "false",
        "LUME_PREFECT__BACKEND": "server",
        "LUME_RESULTS_DB__HOST": "mongodb",
        "LUME_RESULTS_DB__PORT": "27017",
        "LUME_RESULTS_DB__USERNAME": "root",
        "LUME_RESULTS_DB__PASSWORD": "password",
        "LUME_RESULTS_DB__DATABASE": "lume_services_results",
        "LUME_MOUNTED_FILESYSTEM__IDENTIFIER": "mounted",
        "LUME_MOUNTED_FILESYSTEM__MOUNT_PATH": str(tmp_path / "data"),
        "LUME_MOUNTED_FILESYSTEM__MOUNT_ALIAS": "/lume-services/data",
        "LUME_MOUNTED_FILESYSTEM__MOUNT_TYPE": "DirectoryOrCreate",
        "LUME_MODEL_DB__HOST": "mysql",
    }.items():
        monkeypatch.setenv(name, value)
    settings = config.LUMEServicesSettings()
    assert settings.prefect.api_url == "http://apollo:4300/graphql"
    assert (settings.prefect.agent.host_port, settings.prefect.ui.host_port) == (5001, 8081)
    assert settings.prefect.telemetry.enabled is False
    assert settings.results_db.type == "mongodb" and settings.results_db.mongodb.database == "lume_services_results"
    assert settings.mounted_filesystem.mount_alias == "/lume-services/data"


def test_apply_returns_the_prefect_config_it_applied_and_saves_the_backend(tmp_path):
    import prefect
    from prefect.utilities.backend import load_backend, save_backend

    from lume_services.services.scheduling.backends.server import PrefectConfig

    save_backend("cloud")
    prefect_config = PrefectConfig(server={"host": "http://0.0.0.0", "host_port": 4000}, debug=True)
    with prefect.context(config=prefect_config.apply()):
        for key, value in prefect_config.server.dict().items():
            assert getattr(prefect.config.server, key) == value
        for key, value in prefect_config.telemetry.dict().items():
            assert getattr(prefect.config.server.telemetry, key) == value
        assert prefect.config.debug is True
    assert load_backend()["backend"] == "server"


def test_the_flat_prefect_names_of_earlier_versions_still_work_with_a_warning(monkeypatch):
    from lume_services.services.scheduling.backends.server import PrefectConfig

    with pytest.warns(DeprecationWarning, match="server.host_port"):
        flat = PrefectConfig(server_host="http://prefect", server_port=4300, storage_dir="/tmp/flows")
    assert flat.api_url == "http://prefect:4300/graphql" and flat.agent.storage_dir == "/tmp/flows"
    monkeypatch.setenv("LUME_PREFECT__SERVER_PORT", "4301")
    with pytest.warns(DeprecationWarning):
        assert config.LUMEServicesSettings().prefect.server.host_port == 4301
    with pytest.warns(DeprecationWarning, match="server.host"):
        assert flat.server_host == "http://prefect"


def test_the_environment_variables_are_listed_as_the_original_groups_them():
    groups = config.list_env_vars()
    assert groups == config.get_env_vars()
    assert "LUME_BACKEND" in groups["base"]
    assert "LUME_PREFECT__SERVER__HOST_PORT" in groups["prefect"]
    assert "LUME_MOUNTED_FILESYSTEM__MOUNT_TYPE" in groups["mounted_filesystem"]


def test_the_documented_list_of_environment_variables_is_current():
    page = (DOCS / "environment.md").read_text()
    assert config.env_vars_markdown() in page, "regenerate docs/environment.md: python scripts/environment_docs.py"


# --- scheduling -----------------------------------------------------------------------


def test_a_local_run_config_runs_in_the_current_directory_by_default():
    from lume_services.services.scheduling.backends.local import LocalRunConfig

    run_config = LocalRunConfig(labels=["test"], env={"LUME_BACKEND": "local"})
    assert run_config.working_dir == str(os.getcwd())
    assert run_config.build().working_dir == run_config.working_dir


def test_a_kubernetes_run_config_loads_its_job_template_when_made():
    from lume_services.services.scheduling.backends.kubernetes import KubernetesRunConfig

    run_config = KubernetesRunConfig(labels=["test"], env={"LUME_BACKEND": "kubernetes"})
    assert run_config.job_template is not None and run_config.job_template["kind"] == "Job"


def test_the_local_backend_runs_and_returns_as_the_originals_does(tmp_path, lume_home):
    from lume_services.services.scheduling.backends.local import LocalBackend, LocalRunConfig

    backend, run_config = LocalBackend(home=lume_home), LocalRunConfig(labels=["test"])
    data = {"text1": "hey", "text2": " you", "filename": str(tmp_path / "local.txt"),
            "filesystem_identifier": "local"}
    backend.run(data, run_config, flow=cf.text_flow)
    assert isinstance(backend.run_and_return(data, run_config, flow=cf.text_flow), dict)
    assert backend.run_and_return(data, run_config, flow=cf.text_flow, task_name="join_texts") == "hey you"
    with pytest.raises(TaskNotInFlowError):
        backend.run_and_return(data, run_config, flow=cf.text_flow, task_name="missing_task")
    with pytest.raises(EmptyResultError, match="returned None"):
        backend.run_and_return(data, run_config, flow=cf.text_flow, task_name="configure_services")


def test_local_backend_error_names_what_the_local_backend_cannot_do():
    assert "cannot do" in str(LocalBackendError("remote execution"))


# --- tasks with explicit services, as the original's tests use them ---------------------


def test_save_and_load_file_tasks_take_the_file_service(tmp_path, lume_home):
    from lume_services.files import TextFile
    from lume_services.services.files import FileService
    from lume_services.services.files.filesystems import LocalFilesystem
    from lume_services.tasks import LoadFile, SaveFile

    file_service = FileService([LocalFilesystem()])
    filepath = f"{tmp_path}/tmp_file.txt"
    with Flow("save_file_task_flow") as flow:
        saved = SaveFile()(obj="text", file_type=TextFile, filename=filepath, filesystem_identifier="local",
                           file_service=file_service)
        loaded = LoadFile()(saved, file_service=file_service)
    state = flow.run()
    assert state.is_successful()
    assert state.result[saved].result == TextFile(filename=filepath, filesystem_identifier="local").jsonable_dict()
    assert state.result[loaded].result == "text"


def test_db_result_tasks_take_the_results_service(tmp_path):
    from lume_services.services.results import ResultsDBService
    from lume_services.services.results.sqlite import SQLiteResultsDB
    from lume_services.tasks import LoadDBResult, SaveDBResult

    results_db_service = ResultsDBService(SQLiteResultsDB(tmp_path / "results.sqlite"))
    result = make_generic_result()
    with Flow("save_db_result_task_flow") as flow:
        saved = SaveDBResult()(result, results_db_service=results_db_service)
        first = LoadDBResult()(saved, "inputs", attribute_index=["input1"], results_db_service=results_db_service)
        later = LoadDBResult()(saved, attribute_index=["outputs", "output1"], results_db_service=results_db_service)
    state = flow.run()
    assert state.is_successful()
    assert state.result[saved].result == result.unique_rep()
    assert (state.result[first].result, state.result[later].result) == (2.0, 2.0)


def test_configure_services_configures_a_context_that_was_set_to_none():
    config.context = None
    with Flow("configure") as flow:
        configured = configure_services_task()
    state = flow.run()
    assert state.result[configured].is_successful()
    assert config.context is not None


def configure_services_task():
    from lume_services.tasks import configure_services

    return configure_services()


def test_check_local_execution_and_prepare_lume_model_variables(lume_home):
    from lume_services.tasks import check_local_execution, prepare_lume_model_variables

    class Variable:
        def __init__(self, default):
            self.default, self.value = default, None

    variables = {"x": Variable(1.0), "y": Variable(2.0)}
    prepared = prepare_lume_model_variables.run({"x": 5.0}, variables)
    assert (prepared["x"].value, prepared["y"].value, variables["x"].value) == (5.0, 2.0, None)
    with pytest.raises(ValueError, match="z"):
        prepare_lume_model_variables.run({"z": 1}, variables)
    assert check_local_execution.run() is True


# --- the original's example flows -----------------------------------------------------


def run_the_example_flows(model, tmp_path, results_db_service, collection, run_config=None):
    """Run the three example flows one after another, each fed the one before's output.

    The result, made without a project, is stored in ``collection``.
    """
    filename = str(tmp_path / "flow1_res.txt")
    file_rep = model(cf.text_flow, "compat-text").run_and_return(
        {"text1": "hey", "text2": " you", "filename": filename, "filesystem_identifier": "local"},
        run_config, task_name="save_text_file",
    )
    result_rep = model(cf.result_flow, "compat-result").run_and_return(
        {"file_rep": file_rep}, run_config, task_name="save_db_result",
    )
    from lume_services.results import get_result_from_string
    from lume_services.tasks import LoadDBResult

    stored = get_result_from_string(result_rep["result_type_string"]).load_from_query(
        result_rep["project_name"], result_rep["query"], results_db_service=results_db_service,
    )
    assert stored.outputs["output1"] == "hey you" and stored.model_type == collection
    text1 = LoadDBResult().run(result_rep, attribute="outputs", attribute_index=["output1"],
                               results_db_service=results_db_service)
    return model(cf.equality_flow, "compat-equality").run_and_return(
        {"text1": text1, "text2": "hey you"}, run_config, task_name="check_text_equivalence",
    )


def test_the_example_flows_run_on_the_local_backend(tmp_path, lume_home):
    from lume_services.flows import Flow as LUMEFlow

    def model(prefect_flow, name):
        return LUMEFlow(name=name, prefect_flow=prefect_flow)

    # no project in a local run: Result's default collection
    assert run_the_example_flows(model, tmp_path, config.context.results_db_service(), "generic") is True


@pytest.mark.server
def test_the_example_flows_run_on_the_server_backend(server_backend, local_agent, tmp_path):
    from datetime import timedelta

    from lume_services.flows import Flow as LUMEFlow
    from lume_services.flows.flow import FlowRunConfig
    def model(prefect_flow, name):
        flow = LUMEFlow(name=name, project_name="test", prefect_flow=prefect_flow)
        flow.register()
        return flow

    # the agent's flow runs are given the caller's stores (the run's environment), so the
    # results they save are in this process's results database, not the agent's
    fast = FlowRunConfig(poll_interval=timedelta(seconds=0.2))
    # a server run's context names the flow's project, which the result takes
    assert run_the_example_flows(model, tmp_path, config.context.results_db_service(), "test", fast) is True


# --- found by running the original's own test suite here (docs/compatibility.md) --------


def area(x, y=1, *rest, **options):
    return x * y, rest, options


class Shape:
    def __init__(self, sides=4, name="square"):
        self.sides, self.name = sides, name

    def scaled(self, factor, offset=0):
        return self.sides * factor + offset

    @classmethod
    def kind(cls, x):
        return cls.__name__, x

    @staticmethod
    def double(x):
        return 2 * x


def test_a_signature_keeps_checked_arguments_and_builds_a_call():
    from lume_services.utils import SignatureModel, validate_and_compose_signature

    signature = validate_and_compose_signature(area, 3, extra=True)
    assert isinstance(signature, SignatureModel)
    assert signature.x == 3 and signature.y == 1  # given, and the default
    args, kwargs = signature.build()
    assert area(*args, **kwargs) == (3, (), {"extra": True})
    # arguments given at call time win; more positionals go to *rest
    args, kwargs = signature.build(2, 5, 7)
    assert area(*args, **kwargs) == (10, (7,), {"extra": True})


@pytest.mark.parametrize("args, kwargs", [((1, 2), {"x": 3}), ((), {"unknown": 1})])
def test_arguments_that_do_not_fit_the_signature_are_refused(args, kwargs):
    from lume_services.utils import validate_and_compose_signature

    def keyword_only(*, x=4):
        return x

    with pytest.raises(TypeError):
        validate_and_compose_signature(keyword_only, *args, **kwargs)


def test_a_missing_required_argument_is_left_to_the_call():
    from lume_services.utils import validate_and_compose_signature

    args, kwargs = validate_and_compose_signature(area).build()
    with pytest.raises(TypeError):
        area(*args, **kwargs)


def test_a_callable_model_calls_and_round_trips_through_json():
    from lume_services.utils import CallableModel

    model = CallableModel(callable=f"{__name__}.area", kwargs={"y": 4})
    assert model(2) == (8, (), {})
    again = CallableModel.parse_raw(model.json())
    assert again.callable is area and again(3) == (12, (), {})


def test_a_callable_model_binds_instance_methods_only():
    from pydantic import ValidationError

    from lume_services.utils import CallableModel, get_callable_from_string

    shape = Shape(sides=3)
    assert CallableModel(callable=f"{__name__}.Shape.scaled", bind=shape)(2, offset=1) == 7
    assert CallableModel(callable=f"{__name__}.Shape.kind")(5) == ("Shape", 5)
    for not_an_instance_method in ("kind", "double"):
        with pytest.raises(ValueError):
            get_callable_from_string(f"{__name__}.Shape.{not_an_instance_method}", bind=shape)
        with pytest.raises(ValidationError):
            CallableModel(callable=f"{__name__}.Shape.{not_an_instance_method}", bind=shape)


def test_an_obj_loader_makes_objects_of_its_type_and_round_trips_through_json():
    import json
    from functools import partial

    from pydantic.json import custom_pydantic_encoder

    from lume_services.utils import JSON_ENCODERS, ObjLoader

    loader = ObjLoader[Shape](sides=6, name="hexagon")
    assert loader.object_type is Shape
    made = loader.load()
    assert isinstance(made, Shape) and (made.sides, made.name) == (6, "hexagon") and loader.object is None
    assert loader.load(store=True) is loader.object
    text = json.dumps(loader, default=partial(custom_pydantic_encoder, JSON_ENCODERS))
    again = ObjLoader[Shape].parse_raw(text)
    assert again.load().name == "hexagon"
    with pytest.raises(ValueError):
        ObjLoader[Shape](loader={"callable": f"{__name__}.area"})


def test_the_originals_task_and_flow_of_flows_errors_carry_their_facts():
    from lume_services.errors import FlowOfFlowsNotFoundError, LUMEServicesError, TaskNotCompletedError

    task = TaskNotCompletedError("save_text_file-1", "flow-id", "run-id")
    assert (task.task_slug, task.flow_id, task.flow_run_id) == ("save_text_file-1", "flow-id", "run-id")
    assert "save_text_file-1" in str(task) and "run-id" in str(task)
    missing = FlowOfFlowsNotFoundError({"name": "fof"})
    assert missing.query == {"name": "fof"} and "fof" in str(missing)
    assert isinstance(task, LUMEServicesError) and isinstance(missing, LUMEServicesError)


def test_files_and_the_file_service_take_the_originals_keyword_names(tmp_path):
    from lume_services.files.serializers.text import TextSerializer
    from lume_services.services.files import FileService
    from lume_services.services.files.filesystems import LocalFilesystem

    fs = LocalFilesystem()
    folder = str(tmp_path / "made")
    fs.create_dir(dir=folder)
    assert fs.dir_exists(dir=folder, create_dir=False)
    fs.write(filepath=f"{folder}/a.txt", object="hey", serializer=TextSerializer())
    assert fs.file_exists(filepath=f"{folder}/a.txt")
    assert fs.read(filepath=f"{folder}/a.txt", serializer=TextSerializer()) == "hey"

    service = FileService([fs])
    service.create_dir("local", dir=str(tmp_path / "other"))
    assert service.dir_exists("local", dir=str(tmp_path / "other"), create_dir=False)
    service.write("local", filepath=str(tmp_path / "other/b.txt"), object="you", serializer=TextSerializer())
    assert service.file_exists("local", file=str(tmp_path / "other/b.txt"))
    assert service.read("local", file=str(tmp_path / "other/b.txt"), serializer=TextSerializer()) == "you"
    with pytest.raises(TypeError):
        fs.read(f"{folder}/a.txt", filepath=f"{folder}/a.txt", serializer=TextSerializer())


def test_serializers_deserialize_on_the_class_as_the_originals_did(tmp_path):
    from lume_services.files.serializers.text import TextSerializer
    from lume_services.files.serializers.yaml import YAMLSerializer

    TextSerializer().serialize(str(tmp_path / "a.txt"), "text")
    YAMLSerializer().serialize(str(tmp_path / "a.yml"), {"k": [1, 2]})
    assert TextSerializer.deserialize(str(tmp_path / "a.txt")) == "text"
    assert YAMLSerializer.deserialize(str(tmp_path / "a.yml")) == {"k": [1, 2]}
    assert TextSerializer().deserialize(str(tmp_path / "a.txt")) == "text"


def test_path_not_in_mount_imports_from_the_filesystems_package():
    from lume_services.errors import PathNotInMount
    from lume_services.services.files.filesystems import PathNotInMount as from_filesystems

    assert from_filesystems is PathNotInMount


class ColumnsTable:
    """What results need of a pandas DataFrame (pandas is not a dependency)."""

    def __init__(self, columns):
        self._data = columns
        self.columns = list(columns)

    def to_dict(self, orient="dict"):
        assert orient == "list"
        return {k: list(v) for k, v in self._data.items()}


def test_a_dataframe_in_a_result_is_stored_as_its_columns_and_found_by_a_query(lume_home):
    from lume_services.results import Result
    from lume_services.results.generic import get_bson_dict

    table = ColumnsTable({"x": [0, 1, 2], "y": [1, 2, 3]})
    result = Result(flow_id="f", inputs={"a": np.array([1, 2])}, outputs={"table": table})
    result.insert()
    stored = Result.load_from_query("generic", get_bson_dict({"outputs.table": table}))
    assert stored.outputs["table"] == {"x": [0, 1, 2], "y": [1, 2, 3]}
    assert Result.parse_raw(result.json()).inputs == {"a": [1, 2]}  # .json() encodes numpy values


def test_model_db_settings_read_back_as_the_originals_did(monkeypatch, tmp_path):
    from lume_services.config import LUMEServicesSettings

    monkeypatch.setenv("LUME_MODEL_DB__HOST", "mysql")
    monkeypatch.setenv("LUME_MODEL_DB__USER", "root")
    monkeypatch.setenv("LUME_MODEL_DB__PASSWORD", "secret")
    monkeypatch.setenv("LUME_MODEL_DB__PORT", "3306")
    monkeypatch.setenv("LUME_MODEL_DB__CONNECTION__POOL_SIZE", "2")
    settings = LUMEServicesSettings(home=tmp_path)
    model_db = settings.model_db
    assert (model_db.host, model_db.user, model_db.port) == ("mysql", "root", 3306)
    assert model_db.password.get_secret_value() == "secret" and model_db.connection.pool_size == 2


def test_the_ui_apollo_url_reads_back_as_the_servers_graphql_url():
    import prefect

    from lume_services.services.scheduling.backends.server import PrefectConfig

    config = PrefectConfig(server={"host": "http://prefect", "host_port": 4300})
    assert config.ui.apollo_url == "http://prefect:4300/graphql"
    assert PrefectConfig(ui={"apollo_url": "http://ui/graphql"}).ui.apollo_url == "http://ui/graphql"
    config.apply()
    assert prefect.config.server.ui.apollo_url == config.ui.apollo_url
