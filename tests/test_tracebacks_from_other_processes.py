"""Where a task failed, and when tasks ran, under executors that run tasks in other processes.

``local_dask`` with processes and a ``dask`` cluster send each task to a worker: the run
history still keeps where a failed task raised (file, line, source line, message) and when
each task started and ended, carried back with the task's state from where it ran
(``backends/local/run_recorder.py``); the task's code keeps its file's name there
(``backends/local/shipped_tasks.py``).
"""

import json
import textwrap

import pytest
from click.testing import CliRunner

import flows_for_tests as ft
from lume_services.cli._collect import import_file
from lume_services.cli.main import main
from lume_services.flows.flow import Flow
from lume_services.services.scheduling import SchedulingService
from lume_services.services.scheduling.backends import ExecutorConfig, LocalBackend

# StageError is the flow's own: dask's pickling of tracebacks (tblib, installed when dask
# is imported) knows only the exception classes that existed then, so this one would come
# back from a worker without its traceback
FLOW_MODULE = textwrap.dedent(
    """\
    from prefect import Flow, Parameter, task


    class StageError(Exception):
        pass


    @task
    def fail(x):
        y = x + 1
        raise StageError(f"bad {y}")


    with Flow("raiser") as raiser:
        fail(Parameter("x"))
    """
)
RAISING_LINE = 11  # `raise StageError(...)` in FLOW_MODULE

OTHER_PROCESSES = pytest.mark.parametrize(
    "executor",
    [ExecutorConfig(type="local_dask", scheduler="processes", num_workers=2), ExecutorConfig(type="dask", num_workers=1)],
    ids=["local_dask-processes", "dask-temporary-cluster"],
)


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def run_once(lume_home, executor, prefect_flow, parameters):
    """Run ``prefect_flow`` on the local backend with ``executor``; the run's record."""
    service = SchedulingService(LocalBackend(home=lume_home, executor=executor))
    Flow(name=prefect_flow.name, prefect_flow=prefect_flow).run(parameters=parameters, scheduling_service=service)
    (listed,) = service.list_runs()
    return service.get_run(listed.run_id)


@pytest.fixture
def raiser_source(tmp_path):
    source = tmp_path / "raising_flows.py"
    source.write_text(FLOW_MODULE)
    return source


@OTHER_PROCESSES
def test_a_task_that_raised_in_another_process_is_recorded_with_its_file_line_and_message(
    lume_home, raiser_source, executor
):
    run = run_once(lume_home, executor, import_file(raiser_source).raiser, {"x": 1})

    (failed,) = run.task("fail")
    assert failed.state == "Failed"
    assert failed.message.startswith("Error during execution of task: StageError('bad 2')\nTraceback")
    assert "<dynamic-code>" not in failed.message
    assert failed.message.endswith(f'File "{raiser_source}", line {RAISING_LINE}, in fail\n    raise StageError(f"bad {{y}}")')


@OTHER_PROCESSES
def test_runs_show_prints_where_a_task_raised_in_another_process(lume_home, raiser_source, executor):
    run = run_once(lume_home, executor, import_file(raiser_source).raiser, {"x": 1})

    errors = invoke("runs", "show", run.run_id).stdout.split("\nerrors:\n", 1)[1].splitlines()
    shown = json.loads(invoke("runs", "show", run.run_id, "--json").stdout)

    assert errors[:2] == ["  fail:", "    Error during execution of task: StageError('bad 2')"]
    assert f'      File "{raiser_source}", line {RAISING_LINE}, in fail' in errors
    assert '        raise StageError(f"bad {y}")' in errors
    message = next(t["message"] for t in shown["tasks"] if t["name"] == "fail")
    assert f'File "{raiser_source}", line {RAISING_LINE}, in fail' in message


@OTHER_PROCESSES
def test_tasks_run_in_another_process_are_recorded_with_their_start_and_end(lume_home, executor):
    run = run_once(lume_home, executor, ft.two_incs, {"x": 5})

    first, second = run.tasks[0], run.tasks[1]
    assert (first.slug, second.slug) == ("inc-1", "inc-2")
    assert all(t.start is not None and t.end is not None and t.start <= t.end for t in run.tasks)
    assert run.start <= first.start and second.end <= run.end
    assert first.end <= second.start  # inc-2 takes inc-1's result


@OTHER_PROCESSES
def test_a_mapped_task_run_in_another_process_is_recorded_with_its_start_and_end(lume_home, executor):
    from prefect import Flow as PrefectFlow
    from prefect import Parameter

    with PrefectFlow("mapped-incs") as mapped_incs:
        ft.inc.map(Parameter("xs"))

    run = run_once(lume_home, executor, mapped_incs, {"xs": [1, 2, 3]})

    (mapped,) = run.task("inc")
    assert mapped.state == "Mapped" and mapped.result == [2, 3, 4]
    assert mapped.start is not None and mapped.end is not None
    assert run.start <= mapped.start <= mapped.end <= run.end
