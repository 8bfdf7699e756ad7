"""The scheduling backend interface: everything the flow models ask of a backend.

A :class:`Backend` is the one place a deployment differs: the local backend
runs flows in this process, server backends hand them to a Prefect 1 Server
and its agents. Every ability the models, the CLI and the flow-of-flows
composers use is declared here (abstract, or with a default that is right for
every backend), and reached only through ``SchedulingService``.
"""

from abc import ABC, abstractmethod
from typing import Any, Dict, List, Literal, Optional

from lume_services.errors import MissingParameterError, ParameterNotInFlowError, TaskNotInFlowError
from lume_services.services.scheduling.run_options import (  # noqa: F401 (RunConfig: its API home)
    DEFAULT_LABELS,
    RunConfig,
    RunOptions,
    run_options,
)
from lume_services.services.scheduling.clock import SYSTEM_CLOCK, Clock
from lume_services.services.scheduling.task_order import slug_order, tasks_in_slug_order  # noqa: F401 (their old home)
from lume_services.services.scheduling.waiting import Deadline, as_timedelta

#: the project of flows registered or loaded without one
DEFAULT_PROJECT = "default"


def check_task_name(flow, task_name: Optional[str]) -> None:
    """Refuse, before anything runs, a task name the flow does not have.

    Raises:
        TaskNotInFlowError: ``task_name`` is not ``None`` and no task of the flow has it.
    """
    if task_name is None:
        return
    names = {t.name for t in flow.tasks}
    if task_name not in names:
        raise TaskNotInFlowError(flow.name, task_name, names)


def check_parameters(flow, parameters: Dict[str, Any]) -> None:
    """Refuse parameters a flow does not have, and required parameters without a value.

    Raises:
        ParameterNotInFlowError: a parameter is not one of the flow's.
        MissingParameterError: a required parameter has no value.
    """
    flow_params = {p.name: p for p in flow.parameters()}
    unknown = set(parameters) - set(flow_params)
    if unknown:
        raise ParameterNotInFlowError(flow.name, unknown, flow_params)
    missing = {n for n, p in flow_params.items() if p.required and n not in parameters}
    if missing:
        raise MissingParameterError(flow.name, missing, flow_params)



class Backend(ABC):
    """A place flows are registered, loaded and run.

    A flow run is seen in three steps, so that one ``run_and_return`` serves
    every backend: :meth:`run` starts it and returns a handle, :meth:`wait`
    turns the handle into the finished run, and :meth:`raise_if_failed`,
    :meth:`failed_tasks`, :meth:`collect_results` and :meth:`results_by_slug`
    read the finished run. On the local backend the handle is already the
    finished Prefect state; on server backends it is a flow run id.
    """

    #: whether a flow must be registered (have a flow id) before it can run
    requires_registration: bool = False

    #: how a flow of flows runs here: ``inline`` (one Prefect run holding every
    #: child's tasks) or ``per_child`` (one flow run per child, on a server)
    composition: Literal["inline", "per_child"] = "inline"

    #: whether images are built from base images as they are on the engine
    #: (never pulled); only container backends build images
    local_images: bool = False

    #: whether :meth:`start_run` takes ``task_events`` (a
    #: :class:`~lume_services.services.scheduling.task_events.TaskEvents`)
    #: and reports each task's start and finish to it, from the process running
    #: the flow; only backends that run flows in this process can
    reports_task_events: bool = False

    #: the clock waits, deadlines and recorded times are measured on (a
    #: backend made with ``clock=`` has its own; tests pass a ``ManualClock``)
    clock: Clock = SYSTEM_CLOCK

    # --- registry -------------------------------------------------------------

    @abstractmethod
    def create_project(self, project_name: str) -> None:
        """Create a project; creating an existing project does nothing."""

    @abstractmethod
    def register_flow(
        self,
        flow,
        project_name: Optional[str],
        image: Optional[str] = None,
        labels: Optional[List[str]] = None,
    ) -> str:
        """Register a Prefect flow and return its flow id."""

    @abstractmethod
    def load_flow(self, flow_name: str, project_name: Optional[str]) -> dict:
        """Return ``{"flow_id": ..., "flow": prefect.Flow, "version": int}`` for the latest version.

        Raises:
            FlowNotFoundError: no flow of that name is registered in the project.
        """

    @abstractmethod
    def list_flows(self, project_name: Optional[str] = None) -> List[dict]:
        """Return ``{"name", "project_name", "flow_id", "version", ...}`` of the latest version of each flow."""

    def registered_image(self, flow_id: str) -> Optional[str]:
        """The image a registered flow runs in, when this backend built one (container backends)."""
        return None

    # --- runs -----------------------------------------------------------------

    def run(self, parameters: Optional[Dict[str, Any]], run_config=None, *, flow=None,
            flow_id: Optional[str] = None, **kwargs):
        """Start a flow run.

        Args:
            parameters: values of the flow's parameters; they win over
                ``FlowRunConfig.parameters``.
            run_config: a ``FlowRunConfig``, a run config this backend accepts, or ``None``.
            flow: the Prefect flow (the local backend runs it; servers check
                parameters against it before anything is sent).
            flow_id: the registered flow's id (server backends).
            **kwargs: backend-specific run options.

        Returns:
            The run's handle: the final Prefect state on the local backend, the
            flow run id on server backends.

        Raises:
            ParameterNotInFlowError: a parameter is not one of the flow's.
            MissingParameterError: a required parameter has no value.
            UnsupportedRunConfigError: the run config is not one this backend runs.
        """
        return self.start_run(run_options(parameters, run_config), flow=flow, flow_id=flow_id, **kwargs)

    @abstractmethod
    def start_run(self, options, *, flow=None, flow_id: Optional[str] = None, **kwargs):
        """Start a flow run with resolved :class:`~lume_services.services.scheduling.run_options.RunOptions`.

        Returns:
            The run's handle (see :meth:`run`).
        """

    @abstractmethod
    def wait(self, handle, poll_interval=None, deadline=None, flow_name: Optional[str] = None,
             waited_for: Optional[str] = None):
        """Wait for a run started by :meth:`run` and return the finished run.

        Args:
            handle: what :meth:`run` returned.
            poll_interval: seconds or a ``timedelta`` between looks at the run;
                ``None`` uses the backend's.
            deadline: a :class:`~lume_services.services.scheduling.waiting.Deadline`;
                ``None`` uses the backend's timeout.
            flow_name: the run's flow, named in a timeout error.
            waited_for: what the deadline is for, when more than this run.

        Raises:
            FlowRunTimeoutError: the run did not finish before the deadline.
        """

    @abstractmethod
    def failed_tasks(self, finished) -> Dict[str, str]:
        """``{task name: message}`` of the tasks of a finished run that failed on their own.

        Tasks that only failed because an upstream task did are left out.
        """

    @abstractmethod
    def raise_if_failed(self, finished, flow_name: str) -> None:
        """Raise :class:`~lume_services.errors.FlowFailedError` when a finished run did not succeed."""

    @abstractmethod
    def collect_results(self, finished, flow, task_name: Optional[str]):
        """The named task's result from a finished run, or ``{task name: result}`` of all tasks.

        Where several tasks share a name, their results come as a list in slug order.

        Raises:
            TaskNotInFlowError: no task has that name.
            EmptyResultError: the task finished without a result.
        """

    @abstractmethod
    def results_by_slug(self, finished, flow) -> Dict[str, Any]:
        """``{task slug: result}`` of the successful, unmapped tasks of a finished run."""

    def run_and_return(
        self,
        parameters: Optional[Dict[str, Any]],
        run_config=None,
        task_name: Optional[str] = None,
        *,
        flow=None,
        flow_id: Optional[str] = None,
        timeout=None,
        **kwargs,
    ):
        """Run a flow, wait for it and return a task's result (or all results).

        The task name is checked before anything runs.

        Args:
            parameters: values of the flow's parameters.
            run_config: as for :meth:`run`.
            task_name: the task whose result to return; ``None`` returns
                ``{task name: result}`` of every task.
            flow: the Prefect flow (see :meth:`run`); server backends load it
                by ``flow_id`` when not given.
            flow_id: the registered flow's id (server backends).
            timeout: seconds or a ``timedelta`` to wait; ``None`` uses the backend's.
            **kwargs: passed to :meth:`start_run`.

        Returns:
            The task's result (a list when several tasks share the name), or
            the dict of all results.

        Raises:
            TaskNotInFlowError: the flow has no task ``task_name``.
            FlowFailedError: the run failed; names each failed task and its error.
            FlowRunTimeoutError: the run did not finish in time.
            EmptyResultError: the task finished without a result.
        """
        flow = self.flow_for_run(flow, flow_id)
        check_task_name(flow, task_name)
        options = run_options(parameters, run_config)
        handle = self.start_run(options, flow=flow, flow_id=flow_id, **kwargs)
        deadline = self.deadline(timeout)
        finished = self.wait(handle, poll_interval=options.poll_interval, deadline=deadline, flow_name=flow.name)
        self.raise_if_failed(finished, flow.name)
        return self.collect_results(finished, flow, task_name)

    def archived_versions(self, flow_ids: List[str]) -> Dict[str, dict]:
        """Of ``flow_ids``, the versions that can no longer run because a newer one replaced them.

        Returns:
            archived flow id -> ``{"name", "project_name", "version",
            "current_flow_id", "current_version"}``; none on backends that run
            any registered version (the local backend).
        """
        return {}

    def flow_for_run(self, flow, flow_id: Optional[str]):
        """The Prefect flow a run is checked against: ``flow``, or (servers) the one registered as ``flow_id``."""
        return flow

    def time_limit(self, timeout):
        """A wait's time limit as a ``timedelta``: ``timeout`` when given, else the backend's (``None``: no limit)."""
        return as_timedelta(timeout)

    def deadline(self, timeout) -> Deadline:
        """A :class:`Deadline` from now on this backend's clock, at :meth:`time_limit` of ``timeout``."""
        return Deadline(self.time_limit(timeout), self.clock)

    # --- run history ----------------------------------------------------------

    @abstractmethod
    def list_runs(self, query) -> list:
        """The recorded runs a :class:`~lume_services.services.scheduling.run_records.RunQuery` selects.

        Returns:
            ``RunRecord`` s, newest first, without their tasks or children.

        Raises:
            StorageError: the local history file cannot be used (full disk, read-only, not ours, damaged).
        """

    @abstractmethod
    def get_run(self, run_id: str):
        """One recorded run, with its tasks and, for a flow of flows, its children.

        Raises:
            RunNotFoundError: no run has this id.
        """

    @abstractmethod
    def run_result(self, run_id: str, task_name: str):
        """A finished run's task result, read from the history (the flow does not run again).

        A task name several tasks share gives their results as a list, in slug order.

        Raises:
            RunNotFoundError: no run has this id.
            TaskNotInFlowError: the run has no task of that name.
            RunResultNotRecordedError: the task did not finish, or its result was not kept.
        """

    @abstractmethod
    def prune_runs(self, older_than) -> int:
        """Forget the finished runs that started more than ``older_than`` (a ``timedelta``) ago.

        Returns:
            How many runs were forgotten.

        Raises:
            RunHistoryNotPrunableError: the history is a server's.
        """

    # --- reuse of a flow-of-flows child's recorded results (issue 22) -------------
    # Not abstract: backends without a history in this process find nothing to reuse.

    def find_reusable_child(self, child: str, cache_key: str) -> Optional[str]:
        """The newest recorded run in which flow-of-flows child ``child`` succeeded with ``cache_key``.

        Returns:
            The run's id, or ``None`` when no run can be reused (always, here).
        """
        return None

    def child_durations(self, flow_name: str) -> Dict[str, float]:
        """Each child's duration in the newest run of flow of flows ``flow_name`` where it ran (``{}`` here)."""
        return {}

    def find_results(self, needle: str) -> List[tuple]:
        """``(run_id, task name)`` of recorded results whose JSON holds ``needle`` (``[]`` here)."""
        return []

    def run_declaration(self, run_id: str) -> Optional[dict]:
        """The flow-of-flows declaration run ``run_id`` was made from (``None`` here)."""
        return None

    def close(self) -> None:
        """Release what the backend keeps for the runs of this process (kept dask clusters).

        The backend stays usable: what a later run needs is made again.
        """

    # --- flows of flows -------------------------------------------------------

    def package_composed_flow(self, flow, labels: List[str], image: Optional[str], image_name: str,
                              image_tag: Optional[str] = None, local: Optional[bool] = None,
                              project_name: Optional[str] = None) -> None:
        """Give a composed flow of flows what it needs to run here: storage, run config, result.

        The local backend runs the composed flow as it is; server backends set
        its storage (container backends: an image ``image_name:image_tag`` built
        on ``image``), run config (``labels``) and result type.
        """
