"""The Context container, settings from the environment, and configure()."""

import pytest

import flows_for_tests as ft
from lume_services import config
from lume_services.errors import EnvironmentNotConfiguredError
from lume_services.flows.flow import Flow
from lume_services.services.scheduling import SchedulingService
from lume_services.services.scheduling.backends import ExecutorConfig, LocalBackend


def test_with_no_configuration_the_local_backend_under_lume_home_is_injected(lume_home):
    flow = Flow(name="doubler", project_name="p", prefect_flow=ft.doubler)
    flow_id = flow.register()
    backend = config.context.scheduling_backend()
    assert isinstance(backend, LocalBackend) and backend.home == lume_home
    assert (lume_home / "registry.sqlite").is_file()
    assert flow.run_and_return({"x": 2}, task_name="double") == 4
    loaded = Flow(name="doubler", project_name="p")
    loaded.load_flow()
    assert loaded.flow_id == flow_id


def test_configure_with_settings_replaces_the_injected_services(tmp_path):
    before = config.context.scheduling_service()
    settings = config.LUMEServicesSettings(home=tmp_path / "elsewhere", executor={"type": "local_dask"})
    config.configure(settings)
    service = config.context.scheduling_service()
    assert service is not before
    assert service.backend.home == tmp_path / "elsewhere"
    assert service.backend.executor.type == "local_dask"
    Flow(name="doubler", prefect_flow=ft.doubler).register()
    assert (tmp_path / "elsewhere" / "registry.sqlite").is_file()


def test_configure_without_settings_reads_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LUME_HOME", str(tmp_path / "env-home"))
    monkeypatch.setenv("LUME_EXECUTOR__TYPE", "local_dask")
    monkeypatch.setenv("LUME_EXECUTOR__SCHEDULER", "processes")
    monkeypatch.setenv("LUME_PREFECT__SERVER__HOST_PORT", "4300")
    config.configure()
    settings = config.context.settings()
    assert settings.home == tmp_path / "env-home"
    assert settings.executor == ExecutorConfig(type="local_dask", scheduler="processes")
    assert settings.prefect.server.host_port == 4300
    assert config.context.scheduling_backend().executor.scheduler == "processes"


def test_unconfigured_services_are_also_built_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LUME_EXECUTOR__TYPE", "local_dask")
    assert config.context.scheduling_backend().executor.type == "local_dask"


def test_invalid_environment_raises_listing_the_variables(monkeypatch):
    monkeypatch.setenv("LUME_BACKEND", "carrier-pigeon")
    with pytest.raises(EnvironmentNotConfiguredError) as info:
        config.configure()
    message = str(info.value)
    assert "backend" in message and "carrier-pigeon" in message
    assert "LUME_BACKEND" in message and "LUME_EXECUTOR__TYPE" in message


def test_a_nested_variable_that_is_not_json_is_reported_the_same_way(monkeypatch):
    monkeypatch.setenv("LUME_EXECUTOR", "{bad")
    with pytest.raises(EnvironmentNotConfiguredError, match="LUME_EXECUTOR"):
        config.configure()


def test_get_env_vars_lists_every_setting():
    names = config.env_var_names()
    for expected in [
        "LUME_BACKEND",
        "LUME_HOME",
        "LUME_EXECUTOR__TYPE",
        "LUME_EXECUTOR__ADDRESS",
        "LUME_PREFECT__SERVER__HOST",
        "LUME_RESULTS_DB__TYPE",
        "LUME_RESULTS_DB__MONGODB__PASSWORD",
        "LUME_MOUNTED_FILESYSTEM",
    ]:
        assert expected in names


def test_an_explicit_scheduling_service_wins_over_the_injected_one(tmp_path, lume_home):
    explicit = SchedulingService(LocalBackend(home=tmp_path / "explicit"))
    Flow(name="doubler", prefect_flow=ft.doubler).register(scheduling_service=explicit)
    assert (tmp_path / "explicit" / "registry.sqlite").is_file()
    assert not (lume_home / "registry.sqlite").exists()


def test_a_service_can_be_overridden_and_is_restored_after(tmp_path):
    before = config.context.scheduling_service()
    backend = LocalBackend(home=tmp_path / "override")
    with config.context.scheduling_service.override(SchedulingService(backend)):
        assert Flow(name="doubler", prefect_flow=ft.doubler).run_and_return(task_name="double") == 2
        Flow(name="doubler", prefect_flow=ft.doubler).register()
        assert config.context.scheduling_service().backend is backend
    assert (tmp_path / "override" / "registry.sqlite").is_file()
    assert config.context.scheduling_service().backend is before.backend


# --- overrides after the services were used (issue 9, item 5) --------------------
# Overriding a backend, the filesystems or the results DB on the context must take
# effect on the next use, even when the service built on it was used before in the
# process, and reset_override() must undo it.


@pytest.fixture
def overrides_undone():
    """Whatever a test overrides on the context is undone after it."""
    yield
    for provider in (config.context.scheduling_backend, config.context.filesystems, config.context.results_db):
        provider.reset_override()


def test_overriding_the_scheduling_backend_takes_effect_after_the_service_was_used(
    tmp_path, lume_home, overrides_undone
):
    Flow(name="doubler", project_name="p", prefect_flow=ft.doubler).register()  # first use
    other = LocalBackend(home=tmp_path / "other")

    config.context.scheduling_backend.override(other)
    Flow(name="adder", project_name="p", prefect_flow=ft.adder).register()

    assert SchedulingService(other).load_flow("adder", "p")["flow"].name == "adder"


def test_reset_override_of_the_scheduling_backend_brings_the_configured_one_back(
    tmp_path, lume_home, overrides_undone
):
    from lume_services.errors import FlowNotFoundError

    Flow(name="doubler", project_name="p", prefect_flow=ft.doubler).register()  # first use
    other = LocalBackend(home=tmp_path / "other")
    config.context.scheduling_backend.override(other)
    Flow(name="adder", project_name="p", prefect_flow=ft.adder).register()
    assert SchedulingService(other).load_flow("adder", "p")["flow"].name == "adder"  # it took effect

    config.context.scheduling_backend.reset_override()
    Flow(name="two-incs", project_name="p", prefect_flow=ft.two_incs).register()

    assert SchedulingService(LocalBackend(home=lume_home)).load_flow("two-incs", "p")["flow"].name == "two-incs"
    with pytest.raises(FlowNotFoundError):
        SchedulingService(other).load_flow("two-incs", "p")


def _filesystems_with_a_mount(mount):
    from lume_services.services.files.filesystems import LocalFilesystem, MountedFilesystem

    return [LocalFilesystem(), MountedFilesystem(str(mount), "/lume/data")]


def test_overriding_the_filesystems_takes_effect_after_the_file_service_was_used(tmp_path, overrides_undone):
    from lume_services.files import TextFile

    TextFile(filename=str(tmp_path / "first.txt")).write("first")  # first use
    mount = tmp_path / "mount"
    mount.mkdir()

    config.context.filesystems.override(_filesystems_with_a_mount(mount))
    TextFile(filename="/lume/data/second.txt", filesystem_identifier="mounted").write("second")

    assert (mount / "second.txt").read_text() == "second"


def test_reset_override_of_the_filesystems_brings_the_configured_ones_back(tmp_path, overrides_undone):
    from lume_services.errors import FilesystemNotConfiguredError
    from lume_services.files import TextFile

    TextFile(filename=str(tmp_path / "first.txt")).write("first")  # first use
    mount = tmp_path / "mount"
    mount.mkdir()
    config.context.filesystems.override(_filesystems_with_a_mount(mount))
    TextFile(filename="/lume/data/second.txt", filesystem_identifier="mounted").write("second")
    assert (mount / "second.txt").read_text() == "second"  # it took effect

    config.context.filesystems.reset_override()

    with pytest.raises(FilesystemNotConfiguredError):
        TextFile(filename="/lume/data/third.txt", filesystem_identifier="mounted").write("third")
    assert not (mount / "third.txt").exists()


def test_overriding_the_results_db_takes_effect_after_the_results_service_was_used(tmp_path, overrides_undone):
    from lume_services.results import Result
    from lume_services.services.results.sqlite import SQLiteResultsDB

    Result(project_name="p", inputs={"n": 1}, outputs={}).insert()  # first use
    other = SQLiteResultsDB(tmp_path / "other.sqlite")

    config.context.results_db.override(other)
    Result(project_name="p", inputs={"n": 2}, outputs={}).insert()

    assert [d["inputs"] for d in other.find("p", {"inputs.n": 2})] == [{"n": 2}]


def test_reset_override_of_the_results_db_brings_the_configured_one_back(tmp_path, lume_home, overrides_undone):
    from lume_services.results import Result
    from lume_services.services.results.sqlite import SQLiteResultsDB

    Result(project_name="p", inputs={"n": 1}, outputs={}).insert()  # first use
    other = SQLiteResultsDB(tmp_path / "other.sqlite")
    config.context.results_db.override(other)
    Result(project_name="p", inputs={"n": 2}, outputs={}).insert()
    assert other.count("p") == 1  # it took effect

    config.context.results_db.reset_override()
    Result(project_name="p", inputs={"n": 3}, outputs={}).insert()

    assert other.find("p", {"inputs.n": 3}) == []
    assert len(SQLiteResultsDB(lume_home / "results.sqlite").find("p", {"inputs.n": 3})) == 1


# --- the composition root: public names, and wiring on first use, not on import --------

import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402

#: every public name of the one-file ``lume_services.config`` (LUME-services' first among them)
ROOT_NAMES = [
    "Context", "LUMEServicesSettings", "configure", "context", "_settings", "list_env_vars", "get_env_vars",
    "ENV_PREFIX", "ENV_DELIMITER", "ResultsDBSettings", "MountedFilesystemSettings", "DockerSettings",
    "RunHistorySettings", "ModelDBConnectionSettings", "ModelDBSettings", "env_var_names", "env_vars_markdown",
    "secret_field_names", "shown_env_value", "OTHER_ENV_VARS", "warn_unknown_env_vars", "settings_from_environment",
    "build_scheduling_backend", "run_environment", "docker_run_container_settings", "build_filesystems",
    "build_results_db", "WIRED_MODULES", "mounted_filesystem_of", "wire", "current_settings", "reset",
    "PrefectConfig", "ExecutorConfig", "MongodbResultsDBConfig", "SchedulingService", "FileService",
    "ResultsDBService", "ResultsDB", "Backend", "EnvironmentNotConfiguredError",
]


@pytest.mark.parametrize("name", ROOT_NAMES)
def test_every_name_of_the_one_file_root_is_still_in_config(name):
    assert hasattr(config, name)


def test_setting_context_to_none_makes_the_next_use_make_a_new_container_the_package_is_wired_to(lume_home):
    from lume_services.files.file import TextFile
    from lume_services.services.files.filesystems.local import LocalFilesystem

    old = config.context
    config.context = None
    assert config.context is None
    try:
        TextFile(filename=str(lume_home / "a.txt")).write("before", create_dir=True)
        assert config.context is not None and config.context is not old
        config.context.filesystems.override([])  # the new container is the one injected
        with pytest.raises(Exception, match="local"):
            TextFile(filename=str(lume_home / "b.txt")).write("after", create_dir=True)
        config.context.filesystems.reset_override()
        assert isinstance(config.context.filesystems()[0], LocalFilesystem)
    finally:
        config.context = old


def test_settings_given_to_configure_are_read_back_from_config(tmp_path):
    settings = config.LUMEServicesSettings(home=tmp_path)
    config.configure(settings)
    assert config._settings is settings
    config._settings = None
    assert config._settings is None


def _fresh_python(code: str, home) -> str:
    env = {**os.environ, "LUME_HOME": str(home)}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_importing_the_root_wires_nothing_and_imports_no_model_and_no_prefect(lume_home):
    out = _fresh_python(
        """
        import json, sys
        import lume_services.config
        print(json.dumps(sorted(m for m in sys.modules if m == "prefect" or m in lume_services.config.WIRED_MODULES)))
        """,
        lume_home,
    )
    assert json.loads(out) == []


#: the packages a program may import first; each must find the services injected on first use
FIRST_IMPORTS = [
    "lume_services.flows.flow",
    "lume_services.flows",
    "lume_services.flows.flow_of_flows",
    "lume_services.files",
    "lume_services.results",
    "lume_services.tasks",
    "lume_services.examples",
]


@pytest.mark.parametrize("first", FIRST_IMPORTS)
def test_in_any_import_order_the_first_call_of_an_injected_function_gets_its_service(lume_home, first):
    rest = [m for m in FIRST_IMPORTS if m != first]
    out = _fresh_python(
        f"""
        import importlib, json, os
        for name in {[first] + rest!r}:
            importlib.import_module(name)
        from prefect import Flow as PrefectFlow, Parameter, task
        from lume_services.files.file import TextFile
        from lume_services.flows.flow import Flow
        from lume_services.results.result import Result, load_result

        @task
        def double(x):
            return 2 * x

        with PrefectFlow("doubler") as doubler:
            double(Parameter("x"))

        file = TextFile(filename=os.path.join(os.environ["LUME_HOME"], "t.txt"))
        file.write("hello", create_dir=True)
        result = Result(project_name="p", inputs={{"x": 1}}, outputs={{"y": 2}})
        result.insert()
        flow = Flow(name="doubler", project_name="p", prefect_flow=doubler)
        flow.register()
        print(json.dumps([file.read(), load_result(result.unique_rep()).outputs, flow.run_and_return({{"x": 3}}, task_name="double")]))
        """,
        lume_home,
    )
    assert json.loads(out) == ["hello", {"y": 2}, 6]


def test_after_the_container_is_set_back_every_module_is_injected_from_it_again(lume_home, tmp_path):
    """Wiring one module binds the classes it imports too (``Flow``'s methods, for the flow-of-flows
    module), so setting the container back must re-wire every module, not only those wired since."""
    from lume_services.flows import flow_of_flows
    from lume_services.flows.flow import Flow

    registered = Flow(name="doubler", project_name="p", prefect_flow=ft.doubler).register()  # wires flows.flow
    old = config.context
    config.context = None
    try:
        config.configure(config.LUMEServicesSettings(home=tmp_path / "other"))
        assert flow_of_flows._injected_scheduling_service().backend.home == tmp_path / "other"
    finally:
        config.context = old
    flow = Flow(name="doubler", project_name="p")
    flow.load_flow()
    assert flow.flow_id == registered
