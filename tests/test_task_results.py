"""Results by task name: the one grouping the local and server readers use (services/scheduling/task_results.py)."""

import pytest

from lume_services.errors import EmptyResultError, TaskNotInFlowError
from lume_services.services.scheduling.task_results import results_by_task


def read(name, task):
    if task is None:
        raise EmptyResultError("f", name, "not run")
    return task


def test_tasks_sharing_a_name_give_their_results_as_a_list_in_the_order_given():
    assert results_by_task("f", [("inc", 2), ("x", 1), ("inc", 3)], "inc", read) == [2, 3]


def test_all_results_come_by_name_with_none_for_a_task_without_one():
    assert results_by_task("f", [("x", 1), ("skipped", None)], None, read) == {"x": 1, "skipped": None}


def test_a_named_task_without_a_result_is_an_empty_result_error():
    with pytest.raises(EmptyResultError, match="not run"):
        results_by_task("f", [("skipped", None)], "skipped", read)


def test_an_unknown_name_is_refused_naming_the_flows_tasks():
    with pytest.raises(TaskNotInFlowError) as info:
        results_by_task("f", [("x", 1)], "nope", read, known_names=["x", "mapped"])
    assert "'nope'" in str(info.value) and "'mapped'" in str(info.value) and "'x'" in str(info.value)
