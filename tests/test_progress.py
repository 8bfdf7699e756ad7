"""Progress of a flow of flows, child by child, under every local executor."""

import logging

import pytest

import flows_for_tests as ft
from lume_services.errors import FlowFailedError
from lume_services.flows.flow import Flow
from lume_services.flows.flow_of_flows import ChildEvent, FlowOfFlows
from lume_services.services.scheduling.backends import ExecutorConfig, LocalRunConfig

EXECUTORS = {
    "local": ExecutorConfig(type="local"),
    "local_dask threads": ExecutorConfig(type="local_dask", scheduler="threads", num_workers=2),
    "local_dask processes": ExecutorConfig(type="local_dask", scheduler="processes", num_workers=2),
    "dask": ExecutorConfig(type="dask", num_workers=1),
}


@pytest.fixture
def chain(lume_home):
    """doubler -> adder, and failing beside them, registered in project ``test``."""
    for name, flow in [("doubler", ft.doubler), ("adder", ft.adder), ("failing", ft.failing)]:
        Flow(name=name, project_name="test", prefect_flow=flow).register()
    return FlowOfFlows(
        name="chain",
        project_name="test",
        composing_flows=[
            {"name": "doubler"},
            {"name": "adder", "mapped_parameters": {"a": {"parent_flow_name": "doubler", "parent_task_name": "double"}}},
        ],
    )


@pytest.mark.parametrize("executor", EXECUTORS.values(), ids=EXECUTORS.keys())
def test_each_child_starts_then_finishes_once_with_its_state_and_elapsed_time(chain, executor):
    events = []
    results = chain.run_and_return({"doubler-x": 2}, LocalRunConfig(executor=executor), progress=events.append)
    assert results["adder"]["add"] == 14
    assert [(e.child, e.event, e.state) for e in events] == [
        ("doubler", "started", None),
        ("doubler", "finished", "Success"),
        ("adder", "started", None),
        ("adder", "finished", "Success"),
    ]
    assert all(e.elapsed >= 0 for e in events if e.event == "finished")


def test_a_progress_callback_that_raises_does_not_change_the_run(chain, caplog):
    def broken(event):
        raise BrokenPipeError("stderr is closed")

    with caplog.at_level(logging.WARNING):
        assert chain.run_and_return({"doubler-x": 2}, task_name="adder/add", progress=broken) == 14
    assert "progress callback" in caplog.text  # said once, then no longer called
    assert caplog.text.count("progress callback") == 1


def test_a_child_that_never_ran_is_reported_with_the_state_that_stopped_it(chain):
    fof = FlowOfFlows(
        name="partly-failing",
        project_name="test",
        composing_flows=[
            {"name": "failing"},
            {"name": "adder", "mapped_parameters": {"a": {"parent_flow_name": "failing", "parent_task_name": "fail"}}},
        ],
    )
    events = []
    with pytest.raises(FlowFailedError):
        fof.run_and_return({"failing-x": 1}, progress=events.append)
    finished = {e.child: e.state for e in events if e.event == "finished"}
    assert finished == {"failing": "Failed", "adder": "TriggerFailed"}


def test_a_child_event_reads_as_a_line():
    assert str(ChildEvent("save-text", "started")) == "flow 'save-text' started"
    assert str(ChildEvent("save-text", "finished", "Success", 1.234)) == "flow 'save-text' finished: Success in 1.23 s"


def test_tasks_of_a_child_log_under_the_childs_name(chain):
    chain.ensure_composed()
    loggers = {t.name: t.logger.name for t in chain.prefect_flow.tasks if "/" in t.name}
    assert loggers == {"doubler/double": "prefect.doubler/double", "adder/add": "prefect.adder/add"}


# --- the CLI's display: a live table in a terminal, plain lines elsewhere ------------------------


def test_plain_progress_is_a_line_per_start_and_finish_with_the_last_runs_time(chain, capsys):
    from lume_services.cli._progress import ProgressDisplay, last_durations

    chain.run_and_return({"doubler-x": 2})
    estimates = last_durations(chain.name)
    assert set(estimates) >= {"doubler", "adder", "chain"} and all(v >= 0 for v in estimates.values())
    capsys.readouterr()
    with ProgressDisplay(chain.execution_order(), estimates, live=False) as display:
        chain.run_and_return({"doubler-x": 2}, progress=display)
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" (")[0].split(" in ")[0] for line in lines] == [
        "flow 'doubler' started", "flow 'doubler' finished: Success",
        "flow 'adder' started", "flow 'adder' finished: Success",
    ]
    assert "(last run took " in lines[0]


def test_in_a_terminal_progress_is_a_live_table_of_children(chain, capsys):
    from io import StringIO

    from rich.console import Console

    from lume_services.cli._progress import ProgressDisplay

    screen = StringIO()
    console = Console(file=screen, force_terminal=True, width=100)
    fof = FlowOfFlows(
        name="partly-failing", project_name="test",
        composing_flows=[
            {"name": "doubler"},
            {"name": "failing"},
            {"name": "adder", "mapped_parameters": {"a": {"parent_flow_name": "failing", "parent_task_name": "fail"}}},
        ],
    )
    with ProgressDisplay(fof.execution_order(), {"doubler": 0.5}, console=console) as display:
        with pytest.raises(FlowFailedError):
            fof.run_and_return({"failing-x": 1, "doubler-x": 1}, progress=display)
    drawn = screen.getvalue()
    assert "\x1b[" in drawn  # drawn for a terminal, in place
    final = drawn.rsplit("flow", 1)[-1]  # the last frame: header "flow status elapsed last run"
    assert "status" in final and "last run" in final
    for child, status in (("doubler", "done"), ("failing", "failed"), ("adder", "not run")):
        assert child in final and status in final
    assert "500 ms" in final  # the estimate from the last recorded run
    assert capsys.readouterr().err == ""  # no plain lines besides the table


def test_with_json_the_progress_never_reaches_stdout(chain):
    from click.testing import CliRunner

    from lume_services.cli.main import main

    result = CliRunner().invoke(main, ["flows", "run", "doubler", "--project", "test", "--param", "x=1", "--json"])
    assert result.exit_code == 0, result.output
    assert "flow 'doubler' started" in result.stderr
    import json

    assert json.loads(result.stdout)["state"] == "Success"


def test_a_child_heard_of_before_its_parent_is_reported_after_it(chain):
    """Under ``dask`` finished tasks are heard of in no set order; the events keep the chain's."""
    from lume_services.flows.progress import ChildProgress

    chain.ensure_composed()
    events = []
    progress = ChildProgress(chain, events.append)
    tasks = [t.name for t in chain.prefect_flow.tasks if "/" in t.name]
    for name in sorted(tasks, key=lambda n: not n.startswith("adder/")):  # adder's tasks first
        progress.task_finished(name, None, _success())
    assert [(e.child, e.event) for e in events] == [
        ("doubler", "started"), ("doubler", "finished"), ("adder", "started"), ("adder", "finished"),
    ]
    assert all(e.elapsed >= 0 for e in events if e.event == "finished")


def _success():
    from prefect.engine.state import Success

    return Success()
