"""The embedded local backend: flows registered on disk, runs in this process."""

import contextlib
import os
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from pydantic import validator

from lume_services.errors import (
    EmptyResultError,
    FlowFailedError,
    TaskNotInFlowError,
    UnsupportedRunConfigError,
)
from lume_services.services.scheduling.backends.backend import (
    DEFAULT_LABELS,
    DEFAULT_PROJECT,
    Backend,
    RunConfig,
    check_parameters,
    tasks_in_slug_order,
)
from lume_services.services.scheduling.backends.executors import ExecutorConfig, TemporaryClusters
from lume_services.services.scheduling.backends.registry import LocalFlowRegistry


class LocalRunConfig(RunConfig):
    """Run in the current process (local backend) or by a Prefect ``LocalAgent``.

    Attributes:
        working_dir: directory the run executes in; it must exist.
        executor: executor for the local backend; ``None`` uses the configured one.
    """

    working_dir: Optional[str] = None
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

    Args:
        home: the lume-services home; the registry lives in ``home/registry.sqlite``.
        executor: the executor runs use unless their run config names another.
        default_project: the project used for flows registered without one.
    """

    requires_registration = False
    composition = "inline"

    def __init__(
        self,
        home: Union[str, Path, None] = None,
        executor: Optional[ExecutorConfig] = None,
        default_project: str = DEFAULT_PROJECT,
    ):
        self.home = Path(home or "~/.lume_services").expanduser()
        self.executor = executor or ExecutorConfig()
        self.default_project = default_project
        self.registry = LocalFlowRegistry(self.home / "registry.sqlite")
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

    def start_run(self, options, *, flow=None, flow_id=None, **runner_kwargs):
        """Run ``flow`` in this process and return its final Prefect state.

        Args:
            options: the resolved run options; their run config may be a
                ``LocalRunConfig``, a Prefect ``LocalRun`` or ``None``.
            flow: the Prefect flow to run.
            flow_id: ignored (the local backend runs the flow object itself).
            **runner_kwargs: passed to Prefect's ``FlowRunner.run``, for example
                ``task_runner_state_handlers`` to follow task states as they change.

        Returns:
            The flow run's final state (it does not raise when the run fails).

        Raises:
            ParameterNotInFlowError: a parameter is not one of the flow's.
            MissingParameterError: a required parameter has no value.
            UnsupportedRunConfigError: the run config is not a local one.
        """
        env, working_dir, executor = self._local_run_config(options.run_config)
        check_parameters(flow, options.parameters)
        with _run_environment(env, working_dir):
            return flow.run(
                parameters=options.parameters,
                executor=executor.build(flow=flow, clusters=self.clusters),
                run_on_schedule=False,
                **runner_kwargs,
            )

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
                f"the local backend runs flows in this process and cannot honour a "
                f"{type(run_config).__name__}; use a LocalRunConfig, or configure the "
                "docker, kubernetes or server backend"
            )
        from prefect.run_configs import LocalRun

        if not isinstance(run_config, LocalRun):
            raise UnsupportedRunConfigError(
                f"run_config must be a LocalRunConfig, a prefect LocalRun or a "
                f"FlowRunConfig; got {type(run_config).__name__}"
            )
        return run_config.env, run_config.working_dir, executor

    # --- reading a finished run ---------------------------------------------------

    def failed_tasks(self, finished) -> Dict[str, str]:
        """``{task name: message}`` of the tasks that failed on their own (not ``TriggerFailed``)."""
        from prefect.engine.state import TriggerFailed

        failed = {}
        task_states = finished.result if isinstance(finished.result, dict) else {}
        for task, task_state in task_states.items():
            if task_state.is_failed() and not isinstance(task_state, TriggerFailed):
                result = task_state.result
                if isinstance(result, BaseException):
                    message = f"{type(result).__name__}: {result}"
                else:
                    message = task_state.message or repr(result)
                failed[task.name] = message
        return failed

    def raise_if_failed(self, finished, flow_name: str) -> None:
        """Raise :class:`FlowFailedError` when the run's final state is failed."""
        if finished.is_failed():
            failed = self.failed_tasks(finished)
            raise FlowFailedError(flow_name, failed, message=None if failed else finished.message)

    def collect_results(self, finished, flow, task_name: Optional[str]):
        """The named task's result from a finished run, or all results by task name."""
        task_states = finished.result if isinstance(finished.result, dict) else {}
        grouped: Dict[str, list] = {}
        for task in tasks_in_slug_order(flow):
            if task_name is None or task.name == task_name:
                grouped.setdefault(task.name, []).append(task)
        if task_name is not None:
            if task_name not in grouped:
                raise TaskNotInFlowError(flow.name, task_name, {t.name for t in flow.tasks})
            values = [_task_value(flow.name, t, task_states.get(t)) for t in grouped[task_name]]
            return values[0] if len(values) == 1 else values
        results = {}
        for name, tasks in grouped.items():
            values = [None if task_states.get(t) is None else task_states[t].result for t in tasks]
            results[name] = values[0] if len(values) == 1 else values
        return results

    def results_by_slug(self, finished, flow) -> Dict[str, Any]:
        """``{task slug: result}`` of the successful tasks of a finished run."""
        task_states = finished.result if isinstance(finished.result, dict) else {}
        return {
            flow.slugs[task]: task_states[task].result
            for task in tasks_in_slug_order(flow)
            if task in task_states and task_states[task].is_successful()
        }


def _task_value(flow_name: str, task, task_state):
    from prefect.engine.result import NoResultType

    if task_state is None:
        raise EmptyResultError(flow_name, task.name, "not run")
    if task_state.is_skipped() or isinstance(task_state._result, NoResultType):
        raise EmptyResultError(flow_name, task.name, type(task_state).__name__)
    return task_state.result
