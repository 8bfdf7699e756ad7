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
