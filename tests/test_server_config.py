"""Prefect settings for server backends, and which backend the settings build (no server needed)."""

from datetime import timedelta

import pytest

from lume_services.config import LUMEServicesSettings, PrefectConfig, build_scheduling_backend
from lume_services.flows.flow import FlowRunConfig
from lume_services.services.scheduling.backends.kubernetes import KubernetesBackend, KubernetesRunConfig
from lume_services.services.scheduling.backends.server.local_agent import LocalAgentBackend
from lume_services.services.scheduling.run_options import run_options


@pytest.fixture
def prefect_config_restored():
    """Prefect's in-process configuration as it was before the test."""
    import copy

    import prefect

    saved = copy.deepcopy(prefect.config.to_dict())
    yield prefect.config
    prefect.config.update(saved)


def test_prefect_settings_come_from_lume_prefect_environment_variables(monkeypatch):
    monkeypatch.setenv("LUME_BACKEND", "server")
    monkeypatch.setenv("LUME_PREFECT__SERVER__HOST", "http://prefect.example")
    monkeypatch.setenv("LUME_PREFECT__SERVER__HOST_PORT", "4300")
    monkeypatch.setenv("LUME_PREFECT__SERVER__GRAPHQL_PATH", "/api")
    monkeypatch.setenv("LUME_PREFECT__POLL_INTERVAL", "0.5")

    settings = LUMEServicesSettings()

    assert settings.prefect.api_url == "http://prefect.example:4300/api"
    assert settings.prefect.poll_interval == 0.5


def test_apply_points_prefect_at_the_server_and_saves_only_the_backend(prefect_config_restored, tmp_path):
    import prefect
    from prefect.utilities.backend import load_backend, save_backend

    save_backend("cloud")
    applied = PrefectConfig(server={"host": "http://prefect.example", "host_port": 4300}).apply()

    assert applied is prefect.config
    assert prefect.config.backend == "server"
    assert prefect.config.cloud.api == "http://prefect.example:4300/graphql"
    assert prefect.Client().api_server == "http://prefect.example:4300/graphql"
    assert load_backend() == {"backend": "server"}
    assert not (__import__("pathlib").Path(prefect.config.home_dir) / "config.toml").exists()


def test_write_user_config_writes_prefects_user_configuration(prefect_config_restored, tmp_path):
    import toml

    home = tmp_path / "prefect-home"
    PrefectConfig(server={"host_port": 4300}, home_dir=str(home), write_user_config=True).apply()

    assert toml.loads((home / "backend.toml").read_text()) == {"backend": "server"}
    assert toml.loads((home / "config.toml").read_text())["server"]["endpoint"] == "http://localhost:4300/graphql"


def test_server_settings_build_the_local_agent_backend_under_the_home(prefect_config_restored, tmp_path):
    settings = LUMEServicesSettings(backend="server", home=tmp_path, prefect=PrefectConfig(poll_interval=0.3))

    backend = build_scheduling_backend(settings)

    assert isinstance(backend, LocalAgentBackend)
    assert backend.storage_dir == tmp_path / "server"
    assert backend.poll_interval == timedelta(seconds=0.3)
    assert backend.requires_registration


def test_kubernetes_settings_build_the_kubernetes_backend(prefect_config_restored, tmp_path):
    backend = build_scheduling_backend(LUMEServicesSettings(backend="kubernetes", home=tmp_path))

    assert isinstance(backend, KubernetesBackend)


def test_docker_settings_build_the_docker_backend(prefect_config_restored, tmp_path):
    from lume_services.services.scheduling.backends.docker import DockerBackend

    backend = build_scheduling_backend(LUMEServicesSettings(backend="docker", home=tmp_path))

    assert isinstance(backend, DockerBackend)


def test_kubernetes_backend_registers_flows_with_a_kubernetes_run_in_their_image():
    from prefect.run_configs import KubernetesRun

    run_config = KubernetesBackend().build_run_config(None, labels=["lume-services", "k8s"], image="flows:1")

    assert isinstance(run_config, KubernetesRun)
    assert run_config.image == "flows:1"
    assert run_config.labels == {"lume-services", "k8s"}
    assert run_config.job_template["kind"] == "Job"


def test_a_flow_run_config_on_kubernetes_builds_the_runs_kubernetes_run():
    from prefect.run_configs import KubernetesRun

    options = KubernetesBackend().prefect_run_options(run_options(
        {"x": 1},
        FlowRunConfig(
            run_config=KubernetesRunConfig(cpu_limit="500m", memory_request="1Gi"),
            labels=["k8s"],
            run_name="named",
        ),
    ))

    assert isinstance(options.run_config, KubernetesRun)
    assert options.run_config.cpu_limit == "500m"
    assert options.run_config.memory_request == "1Gi"
    assert options.labels == ["k8s"]
    assert options.run_name == "named"
    assert options.parameters == {"x": 1}


def test_a_flow_run_config_without_a_poll_interval_leaves_the_backends_poll_interval():
    options = run_options(None, FlowRunConfig(run_name="named"))

    assert options.poll_interval is None  # wait_for_flow_run then uses the backend's 0.3 s


def test_a_poll_interval_set_in_the_flow_run_config_wins_even_when_it_equals_the_default():
    run_config = FlowRunConfig(poll_interval=timedelta(seconds=10))

    options = run_options(None, run_config)

    assert options.poll_interval == timedelta(seconds=10)


def test_recheck_interval_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("LUME_PREFECT__SERVER__RECHECK_INTERVAL", "5")

    assert LUMEServicesSettings().prefect.server.recheck_interval == 5


def test_the_server_backends_runs_get_the_callers_results_db_and_mounted_filesystem(prefect_config_restored, tmp_path):
    from lume_services.config import MountedFilesystemSettings

    settings = LUMEServicesSettings(
        backend="server",
        home=tmp_path,
        mounted_filesystem=MountedFilesystemSettings(mount_path=str(tmp_path / "data"), mount_alias="/data"),
        results_db={"type": "mongodb", "mongodb": {"host": "db.example", "port": 27018, "username": "lume", "password": "s3cret"}},
    )

    run_config = build_scheduling_backend(settings).build_run_config()

    env = run_config.env
    assert env["LUME_RESULTS_DB__TYPE"] == "mongodb"
    assert env["LUME_RESULTS_DB__MONGODB__HOST"] == "db.example"
    assert env["LUME_RESULTS_DB__MONGODB__PORT"] == "27018"
    assert env["LUME_RESULTS_DB__MONGODB__USERNAME"] == "lume"
    # the run config is stored on the server in clear: the run gets the password from its agent
    assert "LUME_RESULTS_DB__MONGODB__PASSWORD" not in env
    assert "s3cret" not in repr(env)
    assert env["LUME_MOUNTED_FILESYSTEM__MOUNT_PATH"] == str((tmp_path / "data").resolve())
    assert env["LUME_MOUNTED_FILESYSTEM__MOUNT_ALIAS"] == "/data"
    assert env["LUME_HOME"] == str(tmp_path.resolve())


def test_a_local_run_configs_own_env_wins_over_the_backends(prefect_config_restored, tmp_path):
    from lume_services.services.scheduling.backends.local.backend import LocalRunConfig

    backend = build_scheduling_backend(LUMEServicesSettings(backend="server", home=tmp_path))

    env = backend.build_run_config(LocalRunConfig(env={"LUME_RESULTS_DB__PATH": "/elsewhere.sqlite"})).env

    assert env["LUME_RESULTS_DB__PATH"] == "/elsewhere.sqlite"
    assert env["LUME_RESULTS_DB__TYPE"] == "sqlite"
