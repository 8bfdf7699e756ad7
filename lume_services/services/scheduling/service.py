"""The scheduling service: the one door from the flow models to the configured backend."""

from datetime import datetime, timedelta
from typing import Any, Dict, List, Optional, Union

from lume_services.errors import AmbiguousRunIdError, InvalidRunFilterError
from lume_services.services.scheduling.backend import Backend
from lume_services.services.scheduling.run_records import MAX_LIMIT, RunRecord, run_query


class SchedulingService:
    """Registers, loads and runs flows on a scheduling backend.

    Everything the flow models and the CLI ask of a backend goes through this
    service, so the same script runs on the embedded local backend or on a
    Prefect 1 Server by configuration alone. Each method says what it does on
    any backend; the backend decides how.

    Args:
        backend: the backend that does the work.
    """

    def __init__(self, backend: Backend):
        self.backend = backend

    # --- what the backend is ----------------------------------------------------

    @property
    def requires_registration(self) -> bool:
        """Whether flows must be registered (have a flow id) before they run (server backends)."""
        return self.backend.requires_registration

    @property
    def composition(self) -> str:
        """How a flow of flows runs: ``inline`` (one Prefect run) or ``per_child`` (a run per child)."""
        return self.backend.composition

    @property
    def local_images(self) -> bool:
        """Whether images are built from base images as they are on the engine, never pulled."""
        return self.backend.local_images

    @property
    def reports_task_events(self) -> bool:
        """Whether runs take ``task_events=`` and report each task's start and finish (local backend)."""
        return self.backend.reports_task_events

    # --- registry ---------------------------------------------------------------

    def create_project(self, project_name: str) -> None:
        """Create a project on the backend; an existing project is left as it is."""
        return self.backend.create_project(project_name)

    def register_flow(
        self,
        flow,
        project_name: Optional[str],
        image: Optional[str] = None,
        labels: Optional[List[str]] = None,
    ) -> str:
        """Register a Prefect flow.

        Args:
            flow: the Prefect flow.
            project_name: the project to register it in (created when missing).
            image: the image the flow runs in on container backends.
            labels: agent labels of the flow's runs.

        Returns:
            The flow id.
        """
        return self.backend.register_flow(flow, project_name, image=image, labels=labels)

    def load_flow(self, flow_name: str, project_name: Optional[str]) -> dict:
        """Load the latest registered version of a flow.

        Returns:
            ``{"flow_id": str, "flow": prefect.Flow, "version": int, ...}``.

        Raises:
            FlowNotFoundError: no flow of that name is registered in the project.
        """
        return self.backend.load_flow(flow_name, project_name)

    def list_flows(self, project_name: Optional[str] = None) -> List[dict]:
        """The latest version of every registered flow (of one project, if given).

        Returns:
            One dict per flow with at least ``name``, ``project_name``, ``flow_id`` and ``version``.
        """
        return self.backend.list_flows(project_name)

    def archived_versions(self, flow_ids: List[str]) -> Dict[str, dict]:
        """Of ``flow_ids``, the versions that can no longer run, with their flows' current versions.

        Returns:
            archived flow id -> ``{"name", "project_name", "version",
            "current_flow_id", "current_version"}``.
        """
        return self.backend.archived_versions(flow_ids)

    def registered_image(self, flow_id: str) -> Optional[str]:
        """The image a registered flow runs in, when the backend built one for it (container backends)."""
        return self.backend.registered_image(flow_id)

    # --- runs -------------------------------------------------------------------

    def run(self, parameters: Optional[Dict[str, Any]], run_config=None, **kwargs):
        """Start a flow run; what identifies the flow (``flow``, ``flow_id``) is in ``kwargs``.

        Returns:
            The run's handle: the final state on the local backend, the flow run
            id on server backends.
        """
        return self.backend.run(parameters, run_config, **kwargs)

    def start_run(self, options, **kwargs):
        """Start a flow run with resolved run options (``backends.run_options.run_options``).

        Returns:
            The run's handle, as for :meth:`run`.
        """
        return self.backend.start_run(options, **kwargs)

    def run_and_return(
        self,
        parameters: Optional[Dict[str, Any]],
        run_config=None,
        task_name: Optional[str] = None,
        **kwargs,
    ):
        """Run a flow, wait for it and return the named task's result, or all results.

        Raises:
            FlowFailedError: the run failed.
            TaskNotInFlowError: the flow has no task ``task_name``.
        """
        return self.backend.run_and_return(parameters, run_config, task_name, **kwargs)

    def wait(self, handle, poll_interval=None, deadline=None, flow_name: Optional[str] = None,
             waited_for: Optional[str] = None):
        """Wait for a run started by :meth:`run` and return the finished run.

        Raises:
            FlowRunTimeoutError: the run did not finish before ``deadline``.
        """
        return self.backend.wait(handle, poll_interval, deadline, flow_name, waited_for)

    def time_limit(self, timeout):
        """The time limit of a wait: ``timeout`` when given, else the backend's."""
        return self.backend.time_limit(timeout)

    def deadline(self, timeout):
        """A deadline from now on the backend's clock: ``timeout`` when given, else the backend's limit."""
        return self.backend.deadline(timeout)

    def close(self) -> None:
        """Release what the backend keeps for this process's runs (kept dask clusters); it stays usable."""
        return self.backend.close()

    # --- reading a finished run ---------------------------------------------------

    def failed_tasks(self, finished) -> Dict[str, str]:
        """``{task name: message}`` of the tasks of a finished run that failed on their own."""
        return self.backend.failed_tasks(finished)

    def raise_if_failed(self, finished, flow_name: str) -> None:
        """Raise :class:`~lume_services.errors.FlowFailedError` when a finished run did not succeed."""
        self.backend.raise_if_failed(finished, flow_name)

    def collect_results(self, finished, flow, task_name: Optional[str] = None):
        """The named task's result from a finished run, or all results by task name."""
        return self.backend.collect_results(finished, flow, task_name)

    def results_by_slug(self, finished, flow) -> Dict[str, Any]:
        """``{task slug: result}`` of the successful tasks of a finished run."""
        return self.backend.results_by_slug(finished, flow)

    # --- run history --------------------------------------------------------------

    def list_runs(
        self,
        flow_name: Optional[str] = None,
        project_name: Optional[str] = None,
        state: Optional[str] = None,
        since: Union[None, str, datetime, timedelta] = None,
        until: Union[None, str, datetime, timedelta] = None,
        limit: int = 20,
    ) -> List[RunRecord]:
        """The recorded runs, newest first: on the local backend its run history, on a server the server's runs.

        Args:
            flow_name: only runs of this flow.
            project_name: only runs of flows of this project.
            state: only runs in this state (``Success``, ``Failed``, ``Running``, ``Crashed``, ...; any case).
            since: only runs started at or after this time (a datetime, an ISO 8601
                string, or a timedelta: that long ago).
            until: only runs started before this time.
            limit: the most runs returned (1 to 10,000).

        Returns:
            ``RunRecord`` s without their tasks (:meth:`get_run` has them).

        Raises:
            InvalidRunFilterError: a filter is malformed; names it and what it accepts.
            StorageError: the local history file cannot be used (full disk, read-only, not ours, damaged).
        """
        return self.backend.list_runs(run_query(flow_name, project_name, state, since, until, limit))

    def get_run(self, run_id: str) -> RunRecord:
        """One recorded run with its tasks (state, times, results) and, for a flow of flows, its children.

        Args:
            run_id: the run's id, or the beginning of it that only this run's id has (``"5b0c"``).

        Raises:
            RunNotFoundError: no run has this id.
            AmbiguousRunIdError: several runs' ids begin so; names them.
        """
        return self.backend.get_run(self.resolve_run_id(run_id))

    def resolve_run_id(self, run_id: str) -> str:
        """The full id of the run whose id is ``run_id`` or begins with it.

        Raises:
            RunNotFoundError: no run's id begins so.
            AmbiguousRunIdError: several runs' ids begin so; names them.
        """
        if not isinstance(run_id, str) or len(run_id) >= 36:  # a whole UUID: the backend looks it up
            return run_id
        found = [r.run_id for r in self.list_runs(limit=MAX_LIMIT) if r.run_id.startswith(run_id)]
        if len(found) > 1:
            raise AmbiguousRunIdError(run_id, found)
        return found[0] if found else run_id  # not found: the backend says so in its words

    def run_result(self, run_id: str, task_name: str):
        """A finished run's task result, read back without running the flow again.

        Raises:
            RunNotFoundError: no run has this id.
            TaskNotInFlowError: the run has no task of that name.
            RunResultNotRecordedError: the task did not finish, or its result was not kept.
        """
        return self.backend.run_result(self.resolve_run_id(run_id), task_name)

    def prune_runs(self, older_than: Union[float, timedelta]) -> int:
        """Forget the finished runs that started more than ``older_than`` ago (days, or a ``timedelta``).

        Returns:
            How many runs were forgotten.

        Raises:
            InvalidRunFilterError: ``older_than`` is not a positive number of days.
            RunHistoryNotPrunableError: the backend's runs are kept by a server.
        """
        if not isinstance(older_than, timedelta):
            if isinstance(older_than, bool) or not isinstance(older_than, (int, float)) or older_than < 0:
                raise InvalidRunFilterError(name="older_than", value=older_than, expected="a number of days, 0 or more")
            older_than = timedelta(days=older_than)
        return self.backend.prune_runs(older_than)

    # --- flows of flows ---------------------------------------------------------

    def find_reusable_child(self, child: str, cache_key: str) -> Optional[str]:
        """The newest recorded run in which flow-of-flows child ``child`` succeeded with ``cache_key`` (or ``None``)."""
        return self.backend.find_reusable_child(child, cache_key)

    def child_durations(self, flow_name: str) -> Dict[str, float]:
        """``{child: seconds}``: each child's duration in the newest run of ``flow_name`` where it ran and succeeded."""
        return self.backend.child_durations(flow_name)

    def find_results(self, needle: str) -> List[tuple]:
        """``(run_id, task name)`` of recorded task results whose JSON holds ``needle`` (a result's hash, a path)."""
        return self.backend.find_results(needle)

    def run_declaration(self, run_id: str) -> Optional[dict]:
        """The flow-of-flows declaration a recorded run was made from (``None``: none was recorded)."""
        return self.backend.run_declaration(run_id)

    def package_composed_flow(self, flow, labels: List[str], image: Optional[str], image_name: str,
                              image_tag: Optional[str] = None, local: Optional[bool] = None,
                              project_name: Optional[str] = None) -> None:
        """Give a composed flow of flows the storage, run config and result it runs with on this backend."""
        self.backend.package_composed_flow(flow, labels, image, image_name, image_tag, local, project_name)
