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
    monkeypatch.setenv("LUME_PREFECT__SERVER_PORT", "4300")
    config.configure()
    settings = config.context.settings()
    assert settings.home == tmp_path / "env-home"
    assert settings.executor == ExecutorConfig(type="local_dask", scheduler="processes")
    assert settings.prefect.server_port == 4300
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
    names = config.get_env_vars()
    for expected in [
        "LUME_BACKEND",
        "LUME_HOME",
        "LUME_EXECUTOR__TYPE",
        "LUME_EXECUTOR__ADDRESS",
        "LUME_PREFECT__SERVER_HOST",
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
