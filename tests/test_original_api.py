"""Every public module path and name of LUME-services (57027da and 8adfccc) imports here.

The list was derived once from the original's sources: each module under
``lume_services/`` (not its tests or its cookiecutter template), with the
top-level classes, functions and assignments of each module not starting with
``_`` and the names each package's ``__init__`` imports from its submodules.
Left out: the model database and models (``lume_services.services.models``,
``lume_services.models`` and the errors ``ModelNotFoundError``,
``DeploymentNotFoundError``, ``ProjectNotFoundError``), which the other half of
issue 21 checks beside its contract.
"""

import importlib

import pytest

ORIGINAL_PUBLIC_API = [
    ("lume_services", []),
    ("lume_services.cli", []),
    ("lume_services.cli.cli", ["main"]),
    ("lume_services.cli.modeling", []),
    ("lume_services.cli.docker_compose", ["docker", "start_docker_services", "start_services", "wait"]),
    ("lume_services.config", [
        "Context", "LUMEServicesSettings", "configure", "context", "get_env_vars", "list_env_vars",
    ]),
    ("lume_services.docker", []),
    ("lume_services.docker.compose", [
        "DockerComposeExecutor", "Services", "check_mongodb_ready", "check_mysql_ready", "check_prefect_ready",
        "execute", "get_cleanup_commands", "get_docker_ip", "get_setup_command", "run_docker_services",
        "str_to_list",
    ]),
    ("lume_services.docker.files", ["DOCKER_COMPOSE", "ENVIRONMENT_YAML", "MODEL_DB_INIT"]),
    ("lume_services.environment", ["Source"]),
    ("lume_services.environment.solver", ["Source", "VALID_KEYS", "load_environment_yaml", "validate_keys"]),
    ("lume_services.errors", [
        "DeploymentNotRegisteredError", "EmptyResultError", "EnvironmentNotConfiguredError", "FlowFailedError",
        "FlowNotFoundError", "FlowOfFlowsNotFoundError", "LocalBackendError", "MissingEnvironmentYamlError",
        "NoCondaEnvironmentFoundError", "NoFlowFoundInPackageError", "NoPackagesToInstallError",
        "ParameterNotInFlowError", "ParentFlowNotInFlowsError", "PathNotInMount", "TaskNotCompletedError",
        "TaskNotInFlowError", "UnableToIndexLocalChannelError", "UnableToInstallCondaDependenciesError",
        "UnableToInstallPipDependenciesError", "WritePermissionError",
    ]),
    ("lume_services.files", [
        "File", "HDF5File", "ImageFile", "TextFile", "YAMLFile", "get_file_from_serializer_string",
    ]),
    ("lume_services.files.file", ["File", "HDF5File", "ImageFile", "TextFile", "YAMLFile"]),
    ("lume_services.files.serializers", ["ImageSerializer", "TextSerializer", "YAMLSerializer"]),
    ("lume_services.files.serializers.image", ["ImageSerializer"]),
    ("lume_services.files.serializers.text", ["TextSerializer"]),
    ("lume_services.files.serializers.yaml", ["YAMLSerializer"]),
    ("lume_services.files.utils", ["get_file_from_serializer_string"]),
    ("lume_services.flows", ["Flow", "FlowOfFlows"]),
    ("lume_services.flows.flow", [
        "DBMappedParameter", "FileMappedParameter", "Flow", "FlowConfig", "FlowRunConfig", "MappedParameter",
        "RawMappedParameter",
    ]),
    ("lume_services.flows.flow_of_flows", ["FlowOfFlows"]),
    ("lume_services.results", [
        "ImpactResult", "Result", "get_collections", "get_result_from_string", "get_result_types",
        "get_unique_hash",
    ]),
    ("lume_services.results.generic", ["Result", "get_bson_dict", "load_db_dict", "round_datetime_to_milliseconds"]),
    ("lume_services.results.impact", ["ImpactResult"]),
    ("lume_services.results.utils", [
        "get_collections", "get_result_from_string", "get_result_types", "get_unique_hash",
    ]),
    ("lume_services.services", []),
    ("lume_services.services.files", ["FileService"]),
    ("lume_services.services.files.filesystems", [
        "Filesystem", "LocalFilesystem", "MountedFilesystem", "PathNotInMount",
        "get_filesystem_from_serializer_string",
    ]),
    ("lume_services.services.files.filesystems.filesystem", ["Filesystem"]),
    ("lume_services.services.files.filesystems.local", ["LocalFilesystem"]),
    ("lume_services.services.files.filesystems.mounted", ["MountedFilesystem", "PathNotInMount"]),
    ("lume_services.services.files.service", ["FileService", "FilesystemNotConfigured"]),
    ("lume_services.services.results", [
        "MongodbResultsDB", "MongodbResultsDBConfig", "ResultsDB", "ResultsDBConfig", "ResultsDBService",
    ]),
    ("lume_services.services.results.db", ["ResultsDB", "ResultsDBConfig"]),
    ("lume_services.services.results.mongodb", ["MongodbCollection", "MongodbResultsDB", "MongodbResultsDBConfig"]),
    ("lume_services.services.results.service", ["ResultsDBService"]),
    ("lume_services.services.scheduling", [
        "PrefectConfig", "PrefectServerConfig", "PrefectTelemetryConfig", "PrefectUIConfig", "SchedulingService",
    ]),
    ("lume_services.services.scheduling.backends", [
        "Backend", "DockerBackend", "DockerRunConfig", "KubernetesBackend", "KubernetesRunConfig", "LocalBackend",
        "LocalRunConfig", "PrefectConfig", "PrefectServerConfig", "PrefectTelemetryConfig", "PrefectUIConfig",
        "RunConfig",
    ]),
    ("lume_services.services.scheduling.backends.backend", ["Backend", "RunConfig"]),
    ("lume_services.services.scheduling.backends.docker", ["DockerBackend", "DockerRunConfig"]),
    ("lume_services.services.scheduling.backends.kubernetes", [
        "KUBERNETES_REQUEST_SUFFIXES", "KubernetesBackend", "KubernetesRunConfig",
    ]),
    ("lume_services.services.scheduling.backends.local", ["LocalBackend", "LocalRunConfig"]),
    ("lume_services.services.scheduling.backends.server", [
        "PrefectAgentConfig", "PrefectConfig", "PrefectServerConfig", "PrefectTelemetryConfig", "PrefectUIConfig",
        "ServerBackend",
    ]),
    ("lume_services.services.scheduling.files", ["KUBERNETES_JOB_TEMPLATE"]),
    ("lume_services.services.scheduling.service", ["SchedulingService"]),
    ("lume_services.tasks", [
        "LoadDBResult", "LoadFile", "SaveDBResult", "SaveFile", "check_local_execution", "configure_lume_services",
        "configure_services", "prepare_lume_model_variables",
    ]),
    ("lume_services.tasks.configure", [
        "check_local_execution", "configure_lume_services", "configure_services", "prepare_lume_model_variables",
    ]),
    ("lume_services.tasks.db", ["LoadDBResult", "SaveDBResult"]),
    ("lume_services.tasks.file", ["LoadFile", "SaveFile"]),
    ("lume_services.utils", [
        "CallableModel", "JSON_ENCODERS", "ObjLoader", "ObjType", "SignatureModel", "docker_api_version",
        "filter_keys_in_settings", "fingerprint_dict", "flatten_dict", "flatten_dict_for_query",
        "get_callable_from_string", "get_jsonable_dict", "select_python_version", "validate_and_compose_signature",
    ]),
]


@pytest.mark.parametrize("module, names", ORIGINAL_PUBLIC_API, ids=[m for m, _ in ORIGINAL_PUBLIC_API])
def test_each_public_module_path_of_the_original_imports_with_its_names(module, names):
    imported = importlib.import_module(module)
    missing = [name for name in names if not hasattr(imported, name)]
    assert not missing, f"{module} lacks {missing}"


def test_the_list_covers_both_commits_of_the_original():
    assert len(ORIGINAL_PUBLIC_API) == 51
    assert sum(len(names) for _, names in ORIGINAL_PUBLIC_API) == 180


def test_the_re_exports_are_the_one_implementation():
    from lume_services.errors import FilesystemNotConfiguredError
    from lume_services.files.file import get_file_type
    from lume_services.files.utils import get_file_from_serializer_string
    from lume_services.services.files.service import FilesystemNotConfigured

    assert get_file_from_serializer_string is get_file_type
    assert FilesystemNotConfigured is FilesystemNotConfiguredError


def test_a_filesystem_type_string_names_its_class_and_anything_else_is_refused():
    from lume_services.errors import UnknownFilesystemTypeError
    from lume_services.services.files.filesystems import LocalFilesystem, get_filesystem_from_serializer_string

    found = get_filesystem_from_serializer_string("lume_services.services.files.filesystems.local:LocalFilesystem")
    assert found is LocalFilesystem
    with pytest.raises(UnknownFilesystemTypeError, match="not a Filesystem subclass"):
        get_filesystem_from_serializer_string("lume_services.files.file:TextFile")


def test_a_datetime_is_rounded_to_milliseconds_as_mongodb_keeps_it():
    from datetime import datetime

    from lume_services.results.generic import round_datetime_to_milliseconds

    assert round_datetime_to_milliseconds(datetime(2024, 1, 2, 3, 4, 5, 678901)) == "2024-01-02T03:04:05.678"


def test_kubernetes_memory_suffixes_are_the_ones_run_configs_accept():
    from lume_services.services.scheduling.backends.kubernetes import KUBERNETES_REQUEST_SUFFIXES, KubernetesRunConfig

    for suffix in KUBERNETES_REQUEST_SUFFIXES:
        assert KubernetesRunConfig(memory_request=f"2{suffix}").memory_request == f"2{suffix}"


def test_the_packaged_job_template_is_the_one_run_configs_load():
    from lume_services.services.scheduling.backends.kubernetes import KubernetesRunConfig
    from lume_services.services.scheduling.files import KUBERNETES_JOB_TEMPLATE

    assert KubernetesRunConfig().job_template == KUBERNETES_JOB_TEMPLATE


def test_filter_keys_in_settings_keeps_the_settings_fields_and_logs_the_rest(caplog):
    from lume_services.config import LUMEServicesSettings
    from lume_services.utils import filter_keys_in_settings

    kept = filter_keys_in_settings({"backend": "local", "nonsense": 1}, LUMEServicesSettings)
    assert kept == {"backend": "local"}
    assert "nonsense" in caplog.text


def test_the_originals_results_fixture_configures_mongodb_collections_and_reads_them_back():
    import mongomock

    from lume_services.results import get_collections
    from lume_services.services.results import MongodbResultsDB, MongodbResultsDBConfig, ResultsDBService
    from lume_services.services.results.mongodb import MongodbCollection

    with mongomock.patch(servers=(("results.example", 27017),)):
        db = MongodbResultsDB(MongodbResultsDBConfig(host="results.example", port=27017, username="u",
                                                     password="p", database="test"))
        configured = db.configure(collections=get_collections())
        service = ResultsDBService(results_db=db)
        assert set(service._results_db._collections.get()) == set(get_collections())
        assert all(isinstance(c, MongodbCollection) for c in configured.values())
        assert any("inputs" in str(index["key"]) for index in configured["generic"].indices.values())
        with service._results_db.client() as client:
            client.drop_database("test")


def test_collections_dropped_through_the_client_get_their_unique_index_again():
    """LUME-services' fixtures drop the database through ``client()`` between test classes."""
    import mongomock

    from lume_services.services.results import MongodbResultsDB, MongodbResultsDBConfig

    with mongomock.patch(servers=(("results.example", 27017),)):
        db = MongodbResultsDB(MongodbResultsDBConfig(host="results.example", port=27017, username="u",
                                                     password="p", database="test"))
        document = {"unique_hash": "h1", "flow_id": "f"}
        db.insert_one("generic", dict(document))
        with db.client() as client:
            client.drop_database("test")
        first = db.insert_one("generic", dict(document))
        assert db.insert_one("generic", dict(document)) == first
        assert db.count("generic") == 1
