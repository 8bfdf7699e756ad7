"""The errors of a flow run and of the runs recorded, whichever backend ran it."""

from typing import List, Optional

from lume_services.errors._base import LUMEServicesError


class RunError(LUMEServicesError):
    """Base class of the errors of a flow run, on any backend: the run failed
    (:class:`FlowFailedError`; its process ended first: :class:`FlowRunProcessEndedError`), did not finish in its time
    (:class:`FlowRunTimeoutError`), a task has no result
    (:class:`EmptyResultError`, LUME-services' :class:`TaskNotCompletedError`); or
    the runs recorded do not hold what was asked: no such run
    (:class:`RunNotFoundError`), no recorded result (:class:`RunResultNotRecordedError`),
    a malformed filter of a listing (:class:`InvalidRunFilterError`), a shortened run id
    that several runs' ids begin with (:class:`AmbiguousRunIdError`), nothing recorded
    produced a result or file asked about (:class:`LineageNotFoundError`).

    A run history file that cannot be read is a :class:`StorageError`
    (:class:`RunHistoryCorruptError`); a server's history that lume-services
    does not prune is a :class:`ServerError` (:class:`RunHistoryNotPrunableError`).
    """


class FlowFailedError(RunError):
    """A flow run ended in a failed state (:class:`FlowRunProcessEndedError`: its process ended before it did).

    Args:
        flow_name: the flow that failed.
        failed_tasks: ``{task name: message}`` for each failed task (for a flow
            of flows the task name is ``"<child>/<task>"``).
        message: the flow run's own state message.
        flow_run_id: the id of the run, where there is one.
    """

    def __init__(
        self,
        flow_name: str,
        failed_tasks: Optional[dict] = None,
        message: Optional[str] = None,
        flow_run_id: Optional[str] = None,
    ):
        self.flow_name = flow_name
        self.failed_tasks = dict(failed_tasks or {})
        self.message = message
        self.flow_run_id = flow_run_id
        run = f" (flow run {flow_run_id})" if flow_run_id else ""
        if self.failed_tasks:
            details = "; ".join(
                f"task {task!r} failed: {msg}" for task, msg in self.failed_tasks.items()
            )
            if message:
                details = f"{message}: {details}"
        else:
            details = message or "no task reported a failure"
        super().__init__(f"flow {flow_name!r} failed{run}: {details}")


class FlowRunProcessEndedError(FlowFailedError):
    """A flow run failed because the process running it ended first: killed (``SIGKILL``, out of memory) or exited.

    The agent that started the process (``lume-services agent``) saw it end
    while the run was still running and marked the run ``Failed``, with the
    child runs the process ran in itself. Children that finished before keep
    their results: a flow of flows can be resumed, running only the others.

    Args:
        flow_name: the flow whose run failed.
        flow_run_id: the run.
        pid: the process that ended.
        signal: the name of the signal that killed it (``"SIGKILL"``), ``None`` when it exited.
        exit_code: its exit code (negative: the signal's number).
        child_of: for a child run, the parent run whose process ran it.
    """

    def __init__(self, flow_name: str, flow_run_id: Optional[str], pid: Optional[int],
                 signal: Optional[str] = None, exit_code: Optional[int] = None, child_of: Optional[str] = None):
        self.pid = pid
        self.signal = signal
        self.exit_code = exit_code
        self.child_of = child_of
        whose = f" of flow run {child_of}, which ran it," if child_of else ""
        how = f"was killed by {signal}" if signal else f"exited with code {exit_code}"
        if signal == "SIGKILL":
            how += " (the machine may have run out of memory, or it was killed)"
        rerun = child_of or flow_run_id
        message = (
            f"the flow-run process (pid {pid}){whose} {how} before the run finished; "
            f"if it is a flow of flows, `lume-services flow-of-flows resume {rerun}` runs only the children "
            "that did not finish, otherwise run the flow again"
        )
        super().__init__(flow_name, message=message, flow_run_id=flow_run_id)


class FlowRunTimeoutError(RunError):
    """A flow run did not finish in the time allowed; it was cancelled.

    Server backends cancel the run on the server. The local backend (``local=True``)
    raises it too: there the run is stopped, tasks not started yet are
    cancelled, and a task that is running finishes in the background (Python
    cannot stop a thread), its result discarded.

    Args:
        flow_run_id: the run (``None`` for a local run, which has no id).
        timeout: the seconds allowed.
        state: the name of the run's last state (``Running``, ``Scheduled``, ...).
        flow_name: the run's flow, where known.
        waited_for: what the time limit was for, when more than this run
            (e.g. ``"flow of flows 'diamond'"``).
        local: whether the run was a local one (the local backend).
    """

    def __init__(
        self,
        flow_run_id: Optional[str],
        timeout: float,
        state: str,
        flow_name: Optional[str] = None,
        waited_for: Optional[str] = None,
        local: bool = False,
    ):
        self.flow_run_id = flow_run_id
        self.timeout = timeout
        self.state = state
        self.flow_name = flow_name
        self.waited_for = waited_for
        self.local = local
        of_flow = f" of flow {flow_name!r}" if flow_name else ""
        run = f"the local run{of_flow}" if local else f"flow run {flow_run_id}{of_flow}"
        within = f"within {timeout:g} s" + (f" (the timeout of {waited_for})" if waited_for else "")
        if local:
            outcome = (
                "it was stopped: tasks not started were cancelled, a task still running finishes "
                "in the background and its result is dropped. Give a longer timeout (timeout=..., "
                "or LUME_PREFECT__RUN_TIMEOUT)"
            )
        else:
            outcome = (
                "it was cancelled. Give a longer timeout (timeout=...) or check that an agent "
                "with the run's labels is running"
            )
        super().__init__(f"{run} did not finish {within} (its state was {state}); {outcome}")


class EmptyResultError(RunError):
    """A task ran but holds no result (for example it was skipped)."""

    def __init__(self, flow_name: str, task_name: str, state: str):
        self.flow_name = flow_name
        self.task_name = task_name
        super().__init__(
            f"task {task_name!r} of flow {flow_name!r} has no result (its state is "
            f"{state}); only tasks that ran to completion have results"
        )


class TaskNotCompletedError(RunError):
    """A task of a flow run did not complete successfully (LUME-services' name).

    Kept for code that raises or catches it; this package's backends report a
    failed run with :class:`FlowFailedError` and a task without a result with
    :class:`EmptyResultError`.

    Args:
        task_slug: the slug of the task.
        flow_id: the id of the flow.
        flow_run_id: the id of the flow run.
    """

    def __init__(self, task_slug: str, flow_id: str, flow_run_id: str):
        self.task_slug = task_slug
        self.flow_id = flow_id
        self.flow_run_id = flow_run_id
        super().__init__(
            f"task {task_slug!r} did not complete in flow run {flow_run_id!r} of flow {flow_id!r}"
        )


class RunNotFoundError(RunError):
    """No run with this id is in the run history.

    Args:
        run_id: the id looked up; ``None`` when the latest successful run of
            ``flow_name`` was asked for.
        where: where the history was searched (a file, a server's URL).
        flow_name: the flow whose latest successful run was asked for.
    """

    def __init__(self, run_id: Optional[str], where: Optional[str] = None, flow_name: Optional[str] = None):
        self.run_id = run_id
        self.where = where
        self.flow_name = flow_name
        history = f"the run history at {where}" if where else "the run history"
        if run_id is None:
            message = (
                f"flow {flow_name!r} has no successful run in {history}; run it first, or give "
                "the id of one of its runs (`lume-services runs list --flow NAME` lists them)"
            )
        else:
            message = (
                f"no run with id {run_id!r} in {history}; "
                "`lume-services runs list` lists the recorded runs and their ids"
            )
        super().__init__(message)


class RunResultNotRecordedError(RunError):
    """A task of a recorded run has no recorded result to return.

    Args:
        run_id: the run.
        task_name: the task.
        reason: why there is no result.
    """

    def __init__(self, run_id: str, task_name: str, reason: str):
        self.run_id = run_id
        self.task_name = task_name
        self.reason = reason
        super().__init__(
            f"task {task_name!r} of run {run_id!r} has no recorded result: {reason}; the "
            "history keeps small JSON results, so return a file or results-database "
            "reference (SaveFile, SaveDBResult) to keep a large one, or run the flow again"
        )


class InvalidRunFilterError(RunError):
    """A filter of a run listing is malformed.

    Args:
        name: the filter (``state``, ``limit``, ``since``, ...).
        value: the value given.
        expected: what the filter accepts.
    """

    def __init__(self, name: str, value, expected: str):
        self.name = name
        self.value = value
        super().__init__(f"run filter {name}={value!r} is not valid; expected {expected}")


class AmbiguousRunIdError(RunError):
    """A shortened run id is the beginning of more than one recorded run's id.

    Args:
        prefix: the id as given.
        candidates: the ids of the runs it could mean.
    """

    def __init__(self, prefix: str, candidates: List[str]):
        self.prefix = prefix
        self.candidates = list(candidates)
        shown = ", ".join(self.candidates[:10]) + (", ..." if len(self.candidates) > 10 else "")
        super().__init__(
            f"run id {prefix!r} is the beginning of {len(self.candidates)} runs' ids ({shown}); "
            "give more of the id"
        )


class LineageNotFoundError(RunError):
    """No recorded run produced the result or file asked about.

    Args:
        ref: the result's unique hash or the file's path given.
        where: where the history was searched.
    """

    def __init__(self, ref: str, where: Optional[str] = None):
        self.ref = ref
        self.where = where
        history = f"the run history at {where}" if where else "the run history"
        super().__init__(
            f"no recorded run produced {ref!r} in {history}; give a stored result's unique hash or the path "
            "of a file that a flow stored with SaveDBResult or SaveFile on this backend "
            "(`lume-services runs show RUN_ID` lists a run's results)"
        )
