"""Local runs hand tasks the run's Prefect configuration without copying it per task
(backends/local/lean_context.py): tasks still see the configuration of their run,
on every local executor, and a run's own configuration reaches worker threads."""

import threading

import prefect
import pytest
from prefect import Flow as PrefectFlow
from prefect import Parameter, task

from lume_services.flows.flow import Flow
from lume_services.services.scheduling.backends import ExecutorConfig, LocalRunConfig

EXECUTORS = {
    "local": ExecutorConfig(type="local"),
    "local_dask threads": ExecutorConfig(type="local_dask", num_workers=2),
}


@task
def seen_config(x):
    config = prefect.context.config
    return {
        "thread": threading.get_ident(),
        "checkpointing": config.flows.checkpointing,
        "marker": config.get("lume_test_marker"),
        "x": x,
    }


with PrefectFlow("config-reader") as CONFIG_READER:
    x = Parameter("x", default=1)
    for i in range(4):
        seen_config(x)


@pytest.fixture
def reader():
    flow = Flow(name="config-reader", project_name="lean", prefect_flow=CONFIG_READER)
    flow.register()
    return flow


@pytest.mark.parametrize("executor", EXECUTORS.values(), ids=EXECUTORS.keys())
def test_tasks_see_the_configuration_prefect_gives_a_run(reader, executor):
    results = reader.run_and_return({"x": 2}, LocalRunConfig(executor=executor), task_name="seen_config")

    assert [r["checkpointing"] for r in results] == [prefect.context.config.flows.checkpointing] * 4
    assert [r["x"] for r in results] == [2] * 4


@pytest.mark.parametrize("executor", EXECUTORS.values(), ids=EXECUTORS.keys())
def test_a_configuration_set_around_a_run_reaches_tasks_in_worker_threads(reader, executor):
    with prefect.context(config={"lume_test_marker": "set-around-the-run"}):
        results = reader.run_and_return({"x": 3}, LocalRunConfig(executor=executor), task_name="seen_config")

    assert [r["marker"] for r in results] == ["set-around-the-run"] * 4


def test_a_worker_thread_gets_its_own_configuration_back_after_the_task():
    from prefect.executors import LocalDaskExecutor

    from lume_services.services.scheduling.backends.local.lean_context import lean

    with prefect.context(config={"lume_test_marker": "run"}):
        state = CONFIG_READER.run(parameters={"x": 1}, executor=lean(LocalDaskExecutor(num_workers=2)))
    after = []

    def read():
        after.append(prefect.context.config.get("lume_test_marker"))

    worker = threading.Thread(target=read)
    worker.start()
    worker.join()

    assert state.is_successful()
    assert after == [None]  # a fresh thread's configuration is Prefect's own


def test_an_executor_that_sends_tasks_elsewhere_is_left_as_it_is():
    from prefect.executors import DaskExecutor

    from lume_services.services.scheduling.backends.local.lean_context import lean

    executor = DaskExecutor(address="tcp://127.0.0.1:1")  # never started

    assert lean(executor) is executor
