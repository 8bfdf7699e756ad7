"""Results of a finished run by task name: the one grouping every backend's reader uses.

A run's results are asked for by task name (``run_and_return(task_name=...)``)
or all at once (``{task name: result}``). Several tasks may share a name:
their results come as a list, in slug order. The local backend reads task
states, a server backend task runs; both hand their tasks here, in slug
order, with how to read one task's value.
"""

from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, TypeVar

from lume_services.errors import EmptyResultError, TaskNotInFlowError

T = TypeVar("T")


def results_by_task(
    flow_name: str,
    tasks: Iterable[Tuple[str, T]],
    task_name: Optional[str],
    value: Callable[[str, T], Any],
    known_names: Optional[Iterable[str]] = None,
) -> Any:
    """The named task's result, or ``{task name: result}`` of every task.

    Args:
        flow_name: the run's flow, named in errors.
        tasks: ``(task name, task)`` pairs in slug order; a task is whatever
            ``value`` reads (a task and its state, a task run).
        task_name: the task whose result to return; ``None`` for all.
        value: reads one task's result; raises ``EmptyResultError`` when it has none.
        known_names: the flow's task names, named when ``task_name`` is not
            one; ``None``: the names in ``tasks``.

    Returns:
        For ``task_name``, its result (a list when several tasks share the
        name); else every task's result by name, ``None`` for a task without one.

    Raises:
        TaskNotInFlowError: no task has the name ``task_name``.
        EmptyResultError: a task named ``task_name`` has no result.
    """
    grouped: Dict[str, List[T]] = {}
    for name, task in tasks:
        grouped.setdefault(name, []).append(task)
    if task_name is not None:
        if task_name not in grouped:
            raise TaskNotInFlowError(flow_name, task_name, set(grouped if known_names is None else known_names))
        return one_or_list([value(task_name, task) for task in grouped[task_name]])
    return {name: one_or_list([_or_none(value, name, task) for task in named]) for name, named in grouped.items()}


def one_or_list(values: List[Any]) -> Any:
    """A task name's results: the one result, or the list of results of the tasks sharing it."""
    return values[0] if len(values) == 1 else values


def _or_none(value: Callable[[str, Any], Any], name: str, task: Any) -> Any:
    try:
        return value(name, task)
    except EmptyResultError:
        return None
