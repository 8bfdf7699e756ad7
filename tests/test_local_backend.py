"""The local backend: in-process runs, results, errors, run configs and executors.

What every backend does (register, load, run and return, errors, flows of flows) is
in ``test_backend_contract.py``; this file holds what is the local backend's own.
"""

import os

import pytest
from pydantic import ValidationError

import flows_for_tests as ft
from lume_services.errors import (
    EmptyResultError,
    FlowFailedError,
    MissingParameterError,
    ParameterNotInFlowError,
    TaskNotInFlowError,
    UnsupportedRunConfigError,
)
from lume_services.flows.flow import Flow, FlowRunConfig
from lume_services.services.scheduling import SchedulingService
from lume_services.services.scheduling.backends import (
    DockerRunConfig,
    ExecutorConfig,
    KubernetesRunConfig,
    LocalBackend,
    LocalRunConfig,
)


@pytest.fixture
def service(tmp_path):
    return SchedulingService(LocalBackend(home=tmp_path / "home"))


def test_run_and_return_gives_the_named_tasks_result(service):
    flow = Flow(name="doubler", prefect_flow=ft.doubler)
    assert flow.run_and_return({"x": 21}, task_name="double", scheduling_service=service) == 42


def test_run_returns_the_final_state(service):
    state = Flow(name="doubler", prefect_flow=ft.doubler).run({"x": 2}, scheduling_service=service)
    assert state.is_successful()


def test_failed_run_raises_naming_the_task_and_its_error(service):
    flow = Flow(name="failing", prefect_flow=ft.failing)
    with pytest.raises(FlowFailedError) as info:
        flow.run_and_return({"x": 7}, task_name="fail", scheduling_service=service)
    assert info.value.failed_tasks == {"fail": "ValueError: cannot handle 7"}
    assert "flow 'failing' failed" in str(info.value) and "cannot handle 7" in str(info.value)


def test_task_without_result_raises_empty_result(service):
    flow = Flow(name="skipping", prefect_flow=ft.skipping)
    with pytest.raises(EmptyResultError, match="'skipped'.*Skipped"):
        flow.run_and_return(task_name="skipped", scheduling_service=service)


def test_missing_parameter_is_an_error_before_anything_runs(service):
    flow = Flow(name="side-effect", prefect_flow=ft.side_effect)
    with pytest.raises(MissingParameterError, match="'path'"):
        flow.run({}, scheduling_service=service)


def test_unknown_parameter_is_an_error_naming_the_flows_parameters(service, tmp_path):
    marker = tmp_path / "ran.txt"
    flow = Flow(name="side-effect", prefect_flow=ft.side_effect)
    with pytest.raises(ParameterNotInFlowError) as info:
        flow.run({"path": str(marker), "colour": "red"}, scheduling_service=service)
    assert "'colour'" in str(info.value) and "parameters of 'side-effect': 'path'" in str(info.value)
    assert not marker.exists()


def test_flow_run_config_parameters_are_used_and_explicit_ones_win(service):
    flow = Flow(name="adder", prefect_flow=ft.adder)
    config = FlowRunConfig(parameters={"a": 1, "b": 2})
    assert flow.run_and_return(None, config, task_name="add", scheduling_service=service) == 3
    assert flow.run_and_return({"b": 5}, config, task_name="add", scheduling_service=service) == 6


def test_local_run_config_sets_env_and_working_dir_for_the_run_only(service, tmp_path):
    flow = Flow(name="environment", prefect_flow=ft.environment)
    config = LocalRunConfig(env={"LUME_TEST_VALUE": "from-run-config"}, working_dir=str(tmp_path))
    before = os.getcwd()
    results = flow.run_and_return(run_config=FlowRunConfig(run_config=config), scheduling_service=service)
    assert results["read_env"] == "from-run-config"
    assert results["cwd"] == str(tmp_path)
    assert os.getcwd() == before and "LUME_TEST_VALUE" not in os.environ


def test_prefect_local_run_is_accepted(service):
    from prefect.run_configs import LocalRun

    flow = Flow(name="environment", prefect_flow=ft.environment)
    result = flow.run_and_return(
        run_config=LocalRun(env={"LUME_TEST_VALUE": "prefect"}), task_name="read_env", scheduling_service=service
    )
    assert result == "prefect"


def test_local_backend_refuses_container_run_configs(service):
    flow = Flow(name="doubler", prefect_flow=ft.doubler)
    with pytest.raises(UnsupportedRunConfigError, match="cannot honour a DockerRunConfig"):
        flow.run(run_config=DockerRunConfig(image="x"), scheduling_service=service)


def test_local_run_config_working_dir_must_exist(tmp_path):
    with pytest.raises(ValidationError, match="not an existing directory"):
        LocalRunConfig(working_dir=str(tmp_path / "missing"))


def test_run_configs_build_prefect_run_configs(tmp_path):
    from prefect.run_configs import DockerRun, KubernetesRun, LocalRun

    local = LocalRunConfig(env={"A": "1"}, working_dir=str(tmp_path)).build()
    assert isinstance(local, LocalRun) and local.env == {"A": "1"} and local.labels == {"lume-services"}
    docker = DockerRunConfig(image="img:1", host_config={"network_mode": "host"}, ports=[8080]).build()
    assert isinstance(docker, DockerRun) and docker.image == "img:1" and docker.ports == [8080]
    k8s = KubernetesRunConfig(image="img:1", cpu_request="500m", memory_limit="1Gi").build()
    assert isinstance(k8s, KubernetesRun) and k8s.cpu_request == "500m" and k8s.memory_limit == "1Gi"


@pytest.mark.parametrize("host_config", [{"no_such_option": 1}, {"mem_limit": [1]}, {"port_bindings": "x"}])
def test_docker_host_config_is_validated_with_the_docker_sdk(host_config):
    with pytest.raises(ValidationError, match="host_config is not valid"):
        DockerRunConfig(host_config=host_config)


@pytest.mark.parametrize("field,value", [("cpu_limit", "two"), ("memory_request", "1GB"), ("memory_limit", "-1")])
def test_kubernetes_resources_need_kubernetes_units(field, value):
    with pytest.raises(ValidationError, match="Kubernetes"):
        KubernetesRunConfig(**{field: value})


@pytest.mark.parametrize(
    "executor",
    [
        ExecutorConfig(type="local"),
        ExecutorConfig(type="local_dask", scheduler="threads"),
        ExecutorConfig(type="local_dask", scheduler="processes", num_workers=2),
        ExecutorConfig(type="dask", num_workers=1),
    ],
    ids=["local", "local_dask-threads", "local_dask-processes", "dask-temporary-cluster"],
)
def test_each_executor_runs_the_flow(tmp_path, executor):
    service = SchedulingService(LocalBackend(home=tmp_path, executor=executor))
    flow = Flow(name="two-incs", prefect_flow=ft.two_incs)
    assert flow.run_and_return({"x": 1}, task_name="inc", scheduling_service=service) == [2, 3]


@pytest.fixture
def port_8787_taken():
    """Port 8787, dask's default dashboard port, held by a listening socket for the test.

    Bound on every IPv4 address when possible (that includes 127.0.0.1), else on
    127.0.0.1 alone; when another process holds the port already, that is as good.
    """
    import socket

    held = []
    for host in ("0.0.0.0", "127.0.0.1"):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((host, 8787))
        except OSError:
            sock.close()
            continue
        sock.listen()
        held.append(sock)
        break
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", 8787)) == 0, "nothing listens on 127.0.0.1:8787"
    yield
    for sock in held:
        sock.close()


def test_a_temporary_dask_cluster_runs_the_flow_while_port_8787_is_taken(tmp_path, port_8787_taken):
    # dask opens its dashboard on 8787 unless told otherwise, and warns when the port
    # is taken; with warnings as errors that warning would fail the run
    service = SchedulingService(LocalBackend(home=tmp_path, executor=ExecutorConfig(type="dask", num_workers=1)))
    flow = Flow(name="two-incs", prefect_flow=ft.two_incs)

    assert flow.run_and_return({"x": 1}, task_name="inc", scheduling_service=service) == [2, 3]


def test_a_local_dask_thread_pool_without_num_workers_fits_the_widest_layer(service):
    ft.GATHERING.reset()
    flow = Flow(name="gathering", prefect_flow=ft.gathering)
    config = LocalRunConfig(executor=ExecutorConfig(type="local_dask"))
    # all eight tasks wait for each other: this only finishes with eight threads
    gathered = flow.run_and_return(run_config=config, task_name="gather", scheduling_service=service)
    assert sorted(gathered) == list(range(8))


def test_num_workers_sets_the_local_dask_pool_whatever_the_flow():
    executor = ExecutorConfig(type="local_dask", num_workers=3).build(flow=ft.gathering)
    assert executor.dask_config == {"num_workers": 3}
    sized = ExecutorConfig(type="local_dask").build(flow=ft.gathering)
    assert sized.dask_config == {"num_workers": 8}


@pytest.fixture
def reusing_backend(tmp_path):
    backend = LocalBackend(home=tmp_path, executor=ExecutorConfig(type="dask", num_workers=1, reuse_cluster=True))
    yield backend
    backend.close()  # no test leaves a cluster running


def test_a_kept_dask_cluster_serves_the_next_runs_until_closed(reusing_backend):
    service = SchedulingService(reusing_backend)
    flow = Flow(name="two-incs", prefect_flow=ft.two_incs)
    assert flow.run_and_return({"x": 1}, task_name="inc", scheduling_service=service) == [2, 3]
    (cluster,) = reusing_backend.clusters._clusters.values()
    assert flow.run_and_return({"x": 2}, task_name="inc", scheduling_service=service) == [3, 4]
    assert list(reusing_backend.clusters._clusters.values()) == [cluster]

    service.close()
    assert len(reusing_backend.clusters) == 0 and cluster.status.name == "closed"
    # the backend stays usable: the next run starts a cluster again
    assert flow.run_and_return({"x": 3}, task_name="inc", scheduling_service=service) == [4, 5]


def test_a_kept_dask_cluster_is_closed_cleanly_when_the_process_exits(tmp_path):
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    tests = Path(__file__).parent
    code = """
        import flows_for_tests as ft
        from lume_services.flows.flow import Flow
        from lume_services.services.scheduling import SchedulingService
        from lume_services.services.scheduling.backends import ExecutorConfig, LocalBackend

        executor = ExecutorConfig(type="dask", num_workers=1, reuse_cluster=True)
        service = SchedulingService(LocalBackend(home=%r, executor=executor))
        flow = Flow(name="two-incs", prefect_flow=ft.two_incs)
        print(flow.run_and_return({"x": 1}, task_name="inc", scheduling_service=service))
    """ % str(tmp_path)
    env = {**os.environ, "PYTHONPATH": f"{tests}{os.pathsep}{tests.parent}"}
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[2, 3]"
    assert out.stderr == ""  # no warning, no traceback from a cluster left behind


def test_run_config_executor_overrides_the_backends(service):
    ft.BARRIER.reset()
    flow = Flow(name="meeting", prefect_flow=ft.meeting)
    config = LocalRunConfig(executor=ExecutorConfig(type="local_dask", scheduler="threads", num_workers=2))
    # both tasks wait for each other: this only finishes if they run at the same time
    met = flow.run_and_return(run_config=config, task_name="meet", scheduling_service=service)
    assert [m["value"] for m in met] == [1, 2]


# --- results record the registered flow (issue 21) -----------------------------------


def test_a_result_stored_in_a_local_run_records_the_registered_flow_id_not_the_flow_name(lume_home):
    # Prefect puts the flow's name in prefect.context.flow_id in local runs; a model's
    # results are told apart by deployment through the registered id, as on a server
    import model_flows as mf

    flow = Flow(name="surrogate", project_name=mf.PROJECT, prefect_flow=mf.surrogate_v1)
    flow_id = flow.register()

    result = flow.run_and_return({"x": 1}, task_name="evaluate_v1")

    assert flow_id != "surrogate" and result.flow_id == flow_id
