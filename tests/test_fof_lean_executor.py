"""The executor of a composed flow of flows' run and of its in-process children: no configuration copy per task.

Prefect's ``LocalExecutor`` hands each task run a copy of Prefect's whole
configuration; ``LeanLocalExecutor`` runs each task with the run's own
configuration object, the same values, one task at a time in the runner's thread.
"""

import threading

import prefect
from prefect import Flow, task
from prefect.executors import LocalExecutor

from lume_services.flows._child_in_process import LeanLocalExecutor

seen = []


@task
def look(i):
    seen.append((i, prefect.context.config, prefect.context.config.cloud.api,  # kept: ids are not reused
                 threading.current_thread() is threading.main_thread()))
    return i


def _run(executor):
    seen.clear()
    with Flow("lean") as flow:
        look.map([1, 2, 3])
        look(4)
    state = flow.run(executor=executor)
    assert state.is_successful()
    return list(seen)


def test_the_lean_executors_tasks_share_one_configuration_object():
    configs = {id(config) for _, config, _, _ in _run(LeanLocalExecutor())}

    assert len(configs) == 1


def test_prefects_local_executor_gives_each_task_its_own_copy():  # what the lean executor saves
    configs = {id(config) for _, config, _, _ in _run(LocalExecutor())}

    assert len(configs) == 4


def test_the_lean_executors_tasks_see_the_same_configuration_values_in_the_main_thread():
    lean, plain = _run(LeanLocalExecutor()), _run(LocalExecutor())

    assert [(i, api, main) for i, _, api, main in lean] == [(i, api, main) for i, _, api, main in plain]
    assert all(main for _, _, _, main in lean)


def test_a_composed_flow_of_flows_runs_with_the_lean_executor(tmp_path):
    from lume_services import config
    from lume_services.config import LUMEServicesSettings
    from lume_services.examples import register_example_flows, yaml_path
    from lume_services.flows._compose_per_child import compose_per_child
    from lume_services.flows.flow_of_flows import FlowOfFlows

    config.configure(LUMEServicesSettings(backend="local", home=tmp_path))
    try:
        register_example_flows()
        composed = compose_per_child(FlowOfFlows.from_yaml(yaml_path("flow_of_flows")))
    finally:
        config.reset()

    assert type(composed.executor) is LeanLocalExecutor


def test_a_child_run_in_the_parents_process_gets_the_lean_executor_in_place_of_a_local_one():
    from prefect.executors import LocalDaskExecutor

    from lume_services.flows._child_in_process import _executor

    plain, local, dask = Flow("plain"), Flow("local", executor=LocalExecutor()), Flow("dask")
    dask.executor = LocalDaskExecutor()

    assert type(_executor(plain)) is LeanLocalExecutor
    assert type(_executor(local)) is LeanLocalExecutor
    assert _executor(dask) is dask.executor  # the child's own executor, as an agent's run would use
