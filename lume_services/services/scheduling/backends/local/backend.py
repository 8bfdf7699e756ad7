"""The embedded local backend: flows registered on disk, runs in this process."""

import contextlib
import os
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from pydantic import Field, validator

from lume_services.errors import (
    EmptyResultError,
    FlowFailedError,
    FlowRunTimeoutError,
    UnsupportedRunConfigError,
)
from lume_services.masking import mask_logs
from lume_services.services.scheduling.backend import (
    DEFAULT_LABELS,
    DEFAULT_PROJECT,
    Backend,
    RunConfig,
    check_parameters,
    check_task_name,
)
from lume_services.services.scheduling.backends.local.executors import ExecutorConfig, TemporaryClusters
from lume_services.services.scheduling.backends.local.lean_context import lean
from lume_services.services.scheduling.backends.local.registry import LocalFlowRegistry
from lume_services.services.scheduling.backends.local.run_history import RunHistory
from lume_services.services.scheduling.backends.local.run_recorder import RunRecorder
from lume_services.services.scheduling.backends.local.shipped_tasks import keeping_file_names
from lume_services.services.scheduling.run_options import carried_children, carried_declaration
from lume_services.services.scheduling.clock import SYSTEM_CLOCK, Clock
from lume_services.services.scheduling.run_records import MAX_RESULT_BYTES, recorded_result
from lume_services.services.scheduling.run_options import run_options
from lume_services.services.scheduling.task_events import observed
from lume_services.services.scheduling.task_order import tasks_in_slug_order
from lume_services.services.scheduling.task_results import results_by_task
from lume_services.services.scheduling.waiting import as_timedelta


class LocalRunConfig(RunConfig):
    """Run in the current process (local backend) or by a Prefect ``LocalAgent``.

    Attributes:
        working_dir: directory the run executes in; it must exist. Defaults to
            the current directory when the config is made, as in LUME-services.
        executor: executor for the local backend; ``None`` uses the configured one.
    """

    working_dir: Optional[str] = Field(default_factory=os.getcwd)
    executor: Optional[ExecutorConfig] = None

    @validator("working_dir")
    def working_dir_exists(cls, v):
        if v is not None and not Path(v).is_dir():
            raise ValueError(
                f"working_dir {v!r} is not an existing directory; give an existing "
                "directory or leave working_dir unset to run in the current one"
            )
        return v

    def build(self):
        from prefect.run_configs import LocalRun

        return LocalRun(env=self.env, working_dir=self.working_dir, labels=self.labels)



@contextlib.contextmanager
def _run_environment(env: Optional[Dict[str, str]], working_dir: Optional[str]):
    """Set environment variables and the working directory for one run, then restore them."""
    if working_dir and os.path.abspath(working_dir) == os.getcwd():
        working_dir = None  # already there: no need to hold the lock for it
    if not env and not working_dir:
        yield
        return
    with _ENVIRONMENT_LOCK:
        saved_env = {k: os.environ.get(k) for k in (env or {})}
        saved_cwd = os.getcwd()
        try:
            os.environ.update({k: str(v) for k, v in (env or {}).items()})
            if working_dir:
                os.chdir(working_dir)
            yield
        finally:
            os.chdir(saved_cwd)
            for k, v in saved_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


# Environment variables and the working directory belong to the process: runs that
# change them are serialized.
_ENVIRONMENT_LOCK = threading.RLock()


class LocalBackend(Backend):
    """Registers flows in an on-disk registry and runs them in this process.

    Every run is recorded in the run history (``run_history``), unless
    ``record_runs`` is off; a failure to record is logged, never raised.

    Args:
        home: the lume-services home; the registry lives in ``home/registry.sqlite``.
        executor: the executor runs use unless their run config names another.
        default_project: the project used for flows registered without one.
        record_runs: record every run in the run history.
        history_path: the run history file; ``None`` means ``home/history/runs.sqlite``.
        max_result_bytes: the largest task result (as JSON) the history keeps as a value.
        timeout: seconds (or a ``timedelta``) a run may take unless it is given
            its own ``timeout``; ``None``: no limit.
        clock: the clock time limits and the run history's times are measured
            on; ``None``: real time.
    """

    requires_registration = False
    composition = "inline"
    reports_task_events = True

    def __init__(
        self,
        home: Union[str, Path, None] = None,
        executor: Optional[ExecutorConfig] = None,
        default_project: str = DEFAULT_PROJECT,
        record_runs: bool = True,
        history_path: Union[str, Path, None] = None,
        max_result_bytes: int = MAX_RESULT_BYTES,
        timeout=None,
        clock: Optional[Clock] = None,
    ):
        self.clock = clock or SYSTEM_CLOCK
        self.home = Path(home or "~/.lume_services").expanduser()
        self.timeout = as_timedelta(timeout)
        self.executor = executor or ExecutorConfig()
        self.default_project = default_project
        self.registry = LocalFlowRegistry(self.home / "registry.sqlite")
        self.record_runs = record_runs
        self.max_result_bytes = max_result_bytes
        self.history = RunHistory(history_path or self.home / "history" / "runs.sqlite", self.clock)
        self.clusters = TemporaryClusters()  # dask clusters kept across runs (reuse_cluster)

    # --- registry -------------------------------------------------------------

    def create_project(self, project_name: str) -> None:
        """Create a project in the local registry (idempotent)."""
        self.registry.create_project(project_name)

    def register_flow(self, flow, project_name, image=None, labels=None) -> str:
        """Register a Prefect flow in the local registry and return its flow id.

        The project is created when missing. Registering an unchanged flow again
        returns the same id and writes nothing; a changed flow becomes a new version.
        """
        labels = list(DEFAULT_LABELS) if labels is None else list(labels)
        return self.registry.register(flow, project_name or self.default_project, image, labels)

    def load_flow(self, flow_name: str, project_name: Optional[str]) -> dict:
        """Return ``{"flow_id", "flow", "version"}`` of the latest registered version.

        Raises:
            FlowNotFoundError: the flow is not registered in the project.
        """
        return self.registry.load(flow_name, project_name or self.default_project)

    def list_flows(self, project_name: Optional[str] = None) -> List[dict]:
        """The metadata of the latest version of every registered flow (of one project, if given)."""
        return self.registry.list_flows(project_name)

    # --- runs -----------------------------------------------------------------

    def start_run(self, options, *, flow=None, flow_id=None, task_events=None, timeout=None, **runner_kwargs):
        """Run ``flow`` in this process and return its final Prefect state.

        With a time limit (``timeout``, else the backend's) the run goes on in a
        worker thread, and this call gives up at the limit: tasks not started
        by then are cancelled, a task that is running finishes in the background
        (a thread cannot be stopped) and its result is dropped.

        Args:
            options: the resolved run options; their run config may be a
                ``LocalRunConfig``, a Prefect ``LocalRun`` or ``None``.
            flow: the Prefect flow to run.
            flow_id: the registered flow's id, recorded in the run history (the flow object is what runs).
            task_events: a :class:`~lume_services.services.scheduling.task_events.TaskEvents`
                told, in this process, when each task starts and finishes, under
                every executor (it is never sent to the tasks).
            timeout: seconds or a ``timedelta`` the run may take; ``None`` uses the backend's.
            **runner_kwargs: passed to Prefect's ``FlowRunner.run``, for example
                ``task_runner_state_handlers`` to follow task states as they change.

        Returns:
            The flow run's final state (it does not raise when the run fails).

        Raises:
            ParameterNotInFlowError: a parameter is not one of the flow's.
            MissingParameterError: a required parameter has no value.
            UnsupportedRunConfigError: the run config is not a local one.
            FlowRunTimeoutError: the run did not finish within the time limit.
        """
        env, working_dir, executor = self._local_run_config(options.run_config)
        check_parameters(flow, options.parameters)
        mask_logs()  # Prefect's log lines (a failed task's message) with secrets masked
        recorder = self._recorder(options, flow, flow_id, executor) if self.record_runs else None
        if recorder is not None:
            recorder.start()
            # the run's id inside the run (prefect.context.flow_run_id) is the one recorded
            runner_kwargs.setdefault("flow_run_id", recorder.run_id)
            handlers = runner_kwargs.get("task_runner_state_handlers") or []
            runner_kwargs["task_runner_state_handlers"] = [recorder.timer, *handlers]
        if flow_id is not None:
            # Prefect sets prefect.context.flow_id to the flow's *name* in local runs; results
            # stored in the run record the registered id from here, as on a server
            runner_kwargs["context"] = {"lume_flow_id": flow_id, **(runner_kwargs.get("context") or {})}
        def run(**kwargs):
            prefect_executor = executor.build(flow=flow, clusters=self.clusters)
            if task_events is not None:
                prefect_executor = observed(prefect_executor, task_events)
            # tasks sent to other processes keep their code's file names (tracebacks name them)
            prefect_executor = keeping_file_names(prefect_executor)
            prefect_executor = lean(prefect_executor)  # no configuration copy per task
            with _run_environment(env, working_dir):
                return flow.run(
                    parameters=options.parameters,
                    executor=prefect_executor,
                    run_on_schedule=False,
                    **kwargs,
                )

        limit = self.time_limit(timeout)
        try:
            if limit is None:
                state = run(**runner_kwargs)
            else:
                state = _run_with_time_limit(run, runner_kwargs, limit, flow.name, self.clock)
        except BaseException as exc:
            if recorder is not None:
                recorder.finish(error=exc)
            raise
        if recorder is not None:
            recorder.finish(state)
        return state

    def _recorder(self, options, flow, flow_id, executor: ExecutorConfig) -> RunRecorder:
        registered = None
        if flow_id is not None:
            try:
                registered = self.registry.describe(flow_id)
            except Exception:  # the registry's own errors surface where it is used, not here
                registered = None
        recorder = RunRecorder(
            self.history,
            flow,
            {**{p.name: p.default for p in flow.parameters() if not p.required}, **options.parameters},
            flow_id=flow_id,
            flow_version=registered["version"] if registered else None,
            project_name=registered["project_name"] if registered else options.project_name,
            executor=executor.describe(),
            # a composed flow of flows started as a plain flow: what the flow itself carries
            children=options.children if options.children is not None else carried_children(flow),
            max_result_bytes=self.max_result_bytes,
            clock=self.clock,
        )
        if options.run_id is not None:
            recorder.run_id = options.run_id
        recorder.declaration = options.declaration if options.declaration is not None else carried_declaration(flow)
        return recorder

    def run_and_return(self, parameters, run_config=None, task_name=None, *, flow=None, flow_id=None,
                       timeout=None, **kwargs):
        """Run a flow and return a task's result (see :meth:`Backend.run_and_return`).

        A local run has finished when :meth:`start_run` returns, so the time
        limit is applied there: the run is stopped at it.

        Raises:
            FlowRunTimeoutError: the run did not finish within ``timeout`` (else the backend's).
        """
        check_task_name(flow, task_name)
        finished = self.start_run(run_options(parameters, run_config), flow=flow, flow_id=flow_id,
                                  timeout=timeout, **kwargs)
        self.raise_if_failed(finished, flow.name)
        return self.collect_results(finished, flow, task_name)

    def time_limit(self, timeout):
        """``timeout`` when given, else the backend's (``None``: no limit)."""
        return self.timeout if timeout is None else as_timedelta(timeout)

    def wait(self, handle, poll_interval=None, deadline=None, flow_name=None, waited_for=None):
        """A local run has finished when :meth:`run` returns: its state is the finished run."""
        return handle

    def close(self) -> None:
        """Close the dask clusters kept for this backend's runs (``reuse_cluster``)."""
        self.clusters.close()

    def _local_run_config(self, run_config):
        executor = self.executor
        if run_config is None:
            return None, None, executor
        if isinstance(run_config, LocalRunConfig):
            return run_config.env, run_config.working_dir, run_config.executor or executor
        if isinstance(run_config, RunConfig):
            raise UnsupportedRunConfigError(
                type(self).__name__,
                run_config,
                [LocalRunConfig.__name__],
                backends=["docker", "kubernetes", "server"],
            )
        from prefect.run_configs import LocalRun

        if not isinstance(run_config, LocalRun):
            raise UnsupportedRunConfigError(
                type(self).__name__, run_config, [LocalRunConfig.__name__, "Prefect LocalRun", "FlowRunConfig"]
            )
        return run_config.env, run_config.working_dir, executor

    # --- reading a finished run ---------------------------------------------------

    def failed_tasks(self, finished) -> Dict[str, str]:
        """``{task name: message}`` of the tasks that failed on their own (not ``TriggerFailed``)."""
        from prefect.engine.state import TriggerFailed

        failed = {}
        task_states = finished.result if isinstance(finished.result, dict) else {}
        for task, task_state in task_states.items():
            # a mapped task (a flow-of-flows sweep) failed in its items: "<task>[<index>]"
            items = [(f"{task.name}[{i}]", s) for i, s in enumerate(getattr(task_state, "map_states", None) or [])]
            for name, state in [(task.name, task_state), *items]:
                if state.is_failed() and not isinstance(state, TriggerFailed):
                    result = state.result
                    if isinstance(result, BaseException):
                        message = f"{type(result).__name__}: {result}"
                    else:
                        message = state.message or repr(result)
                    failed[name] = message
        return failed

    def raise_if_failed(self, finished, flow_name: str) -> None:
        """Raise :class:`FlowFailedError` when the run's final state is failed."""
        if finished.is_failed():
            failed = self.failed_tasks(finished)
            raise FlowFailedError(flow_name, failed, message=None if failed else finished.message)

    def collect_results(self, finished, flow, task_name: Optional[str]):
        """The named task's result from a finished run, or all results by task name."""
        task_states = finished.result if isinstance(finished.result, dict) else {}
        return results_by_task(
            flow.name,
            ((task.name, task) for task in tasks_in_slug_order(flow)),
            task_name,
            lambda _, task: _task_value(flow.name, task, task_states.get(task)),
        )

    def results_by_slug(self, finished, flow) -> Dict[str, Any]:
        """``{task slug: result}`` of the successful tasks of a finished run."""
        task_states = finished.result if isinstance(finished.result, dict) else {}
        return {
            flow.slugs[task]: task_states[task].result
            for task in tasks_in_slug_order(flow)
            if task in task_states and task_states[task].is_successful()
        }


    # --- run history ----------------------------------------------------------------

    def list_runs(self, query):
        """The recorded runs ``query`` selects, newest first (a dead run's process is checked: ``Crashed``)."""
        return self.history.list_runs(query)

    def get_run(self, run_id: str):
        """One recorded run with its tasks and children.

        Raises:
            RunNotFoundError: no run has this id.
        """
        return self.history.get_run(run_id)

    def run_result(self, run_id: str, task_name: str):
        """A task's result as the history recorded it (small JSON values and references)."""
        return recorded_result(self.history.get_run(run_id), task_name)

    def find_reusable_child(self, child: str, cache_key: str):
        """The newest run in which ``child`` succeeded with ``cache_key`` (see ``RunHistory.find_reusable``)."""
        return self.history.find_reusable(child, cache_key)

    def child_durations(self, flow_name: str):
        """Each child's last recorded duration in runs of flow of flows ``flow_name``."""
        return self.history.child_durations(flow_name)

    def find_results(self, needle: str):
        """``(run_id, task name)`` of recorded results whose JSON holds ``needle``, newest first."""
        return self.history.find_results(needle)

    def run_declaration(self, run_id: str):
        """The flow-of-flows declaration run ``run_id`` was made from, or ``None``."""
        return self.history.declaration(run_id)

    def prune_runs(self, older_than) -> int:
        """Forget the finished runs that started more than ``older_than`` ago."""
        return self.history.prune(older_than)


def _run_with_time_limit(run, runner_kwargs: Dict[str, Any], limit, flow_name: str, clock: Clock = SYSTEM_CLOCK):
    """Run ``run(**runner_kwargs)`` in a worker thread; at ``limit`` (on ``clock``) cancel the tasks not started and raise."""
    from prefect.engine.state import Cancelled

    stopped = threading.Event()

    def cancel_once_stopped(task_runner, old_state, new_state):
        if stopped.is_set() and new_state.is_running():
            return Cancelled(f"the local run of flow {flow_name!r} was stopped at its time limit")
        return new_state

    outcome: Dict[str, Any] = {}
    finished = threading.Event()

    def worker():
        try:
            handlers = [*runner_kwargs.get("task_runner_state_handlers", ()), cancel_once_stopped]
            outcome["state"] = run(**{**runner_kwargs, "task_runner_state_handlers": handlers})
        except BaseException as exc:  # handed to the caller
            outcome["error"] = exc
        finally:
            finished.set()

    thread = threading.Thread(target=worker, name=f"lume-services run of {flow_name}", daemon=True)
    thread.start()
    if not clock.wait(finished, limit.total_seconds()):
        stopped.set()
        raise FlowRunTimeoutError(None, limit.total_seconds(), "Running", flow_name=flow_name, local=True)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["state"]


def _task_value(flow_name: str, task, task_state):
    from prefect.engine.result import NoResultType

    if task_state is None:
        raise EmptyResultError(flow_name, task.name, "not run")
    if task_state.is_skipped() or isinstance(task_state._result, NoResultType):
        raise EmptyResultError(flow_name, task.name, type(task_state).__name__)
    if task_state.result is None:  # a task that returns nothing has no result, as in LUME-services
        raise EmptyResultError(flow_name, task.name, f"{type(task_state).__name__}, but it returned None")
    return task_state.result
