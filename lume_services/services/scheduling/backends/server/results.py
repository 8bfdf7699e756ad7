"""Reading a finished flow run on a Prefect 1 Server: its failures and its task results."""

from typing import Any, Dict, Optional

from lume_services.errors import EmptyResultError
from lume_services.services.scheduling.task_order import slug_order
from lume_services.services.scheduling.task_results import results_by_task
from lume_services.services.scheduling.waiting import raise_for_failed_run


def check_result_file(task_run) -> None:
    """:func:`.private_store.check_result_file` (imported on use: it imports Prefect)."""
    from lume_services.services.scheduling.backends.server.private_store import check_result_file as check

    check(task_run)


def failed_tasks(view, task_names: Dict[str, str]) -> Dict[str, str]:
    """``{task name: message}`` of the task runs that failed on their own (not ``TriggerFailed``).

    Args:
        view: the finished run's ``FlowRunView``.
        task_names: task slug -> task name.
    """
    from prefect.engine.state import TriggerFailed

    failed = {}
    if not view.state.is_failed():
        return failed
    for task_run in view.get_all_task_runs():
        st = task_run.state
        if st.is_failed() and not isinstance(st, TriggerFailed):
            name = task_names.get(task_run.task_slug, task_run.task_slug)
            if task_run.map_index != -1:
                name = f"{name}[{task_run.map_index}]"
            failed[name] = st.message or type(st).__name__
    return failed


def raise_if_failed(view, flow_name: str, task_names: Dict[str, str]) -> None:
    """Raise :class:`FlowFailedError` when a finished run did not succeed, naming its failed tasks
    (:class:`FlowRunProcessEndedError` when its process ended first)."""
    if view.state.is_successful():
        return
    raise_for_failed_run(flow_name, failed_tasks(view, task_names), view.state, view.flow_run_id)


def collect_results(view, flow_name: str, task_names: Dict[str, str], task_name: Optional[str]):
    """The named task's result from a finished run, or all results by task name."""
    task_runs = sorted((t for t in view.get_all_task_runs() if t.map_index == -1), key=lambda t: slug_order(t.task_slug))

    def value(name: str, task_run) -> Any:
        result = task_run_value(flow_name, name, task_run)
        if result is None:  # a task that returns nothing has no result, as in LUME-services
            raise EmptyResultError(flow_name, name, f"{type(task_run.state).__name__}, but it returned None")
        return result

    return results_by_task(
        flow_name,
        ((task_names.get(t.task_slug, t.task_slug), t) for t in task_runs),
        task_name,
        value,
        known_names=task_names.values(),
    )


def results_by_slug(view) -> Dict[str, Any]:
    """``{task slug: result}`` of the successful task runs of a finished run.

    A mapped task (a flow of flows' sweep) gives the list of its items'
    results in item order, ``None`` for an item that did not succeed.
    """
    results: Dict[str, Any] = {}
    items: Dict[str, Dict[int, Any]] = {}
    for task_run in view.get_all_task_runs():
        if task_run.map_index != -1:
            items.setdefault(task_run.task_slug, {})[task_run.map_index] = _value_or_none(task_run)
            continue
        if not task_run.state.is_successful() or task_run.state.is_mapped():
            continue
        check_result_file(task_run)  # a LocalResult file is unpickled: only when it is ours
        try:
            results[task_run.task_slug] = task_run.get_result()
        except (TypeError, ValueError, OSError):
            continue
    for slug, by_index in items.items():
        results[slug] = [by_index.get(i) for i in range(max(by_index) + 1)]
    return results


def _value_or_none(task_run) -> Any:
    if not task_run.state.is_successful():
        return None
    check_result_file(task_run)
    try:
        return task_run.get_result()
    except (TypeError, ValueError, OSError):
        return None


def task_run_value(flow_name: str, task_name: str, task_run):
    """The result of one finished task run.

    Raises:
        EmptyResultError: the task run was skipped, did not finish, or its result cannot be read.
        UntrustedStoreError: its ``LocalResult`` file, or the folder, could have
            been written by another user (it is not unpickled).
    """
    state = task_run.state
    if state.is_skipped() or not state.is_finished():
        raise EmptyResultError(flow_name, task_name, type(state).__name__)
    check_result_file(task_run)  # a LocalResult file is unpickled: only when it is ours
    try:
        return task_run.get_result()
    except (TypeError, ValueError, OSError) as exc:
        raise EmptyResultError(flow_name, task_name, f"{type(state).__name__}, unreadable: {exc}") from exc
