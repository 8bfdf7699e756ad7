"""Server backends: register, load and run flows on a Prefect 1 Server.

:class:`ServerBackend` holds what every server backend shares, each part in
its own module: the connection and its reachability check
(``server_connection``), registration and reading registered flows back
(``server_registration``), creating and waiting for flow runs
(``server_runs``) and reading finished runs (``server_results``). A concrete
backend differs only in where its runs execute, which it says through its
hooks (:meth:`ServerBackend.build_run_config`, :meth:`ServerBackend.build_storage`,
:meth:`ServerBackend.build_result`, :meth:`ServerBackend.build_flow_of_flows_storage`):

- ``LocalAgentBackend`` (``local_agent``; settings ``backend: server``): a
  Prefect ``LocalAgent`` on this machine, ``Local`` storage, ``LocalResult`` files;
- ``DockerBackend`` (``docker``; settings ``backend: docker``): a ``DockerAgent``,
  flow images;
- ``KubernetesBackend`` (``kubernetes``; settings ``backend: kubernetes``): a
  ``KubernetesAgent``, flow images pushed to a registry.

:class:`PrefectConfig` (and its sections ``PrefectServerConfig``,
``PrefectUIConfig``, ``PrefectTelemetryConfig``, ``PrefectAgentConfig``, kept in
``prefect_config`` and importable from here as in LUME-services) says where the
server is.
"""

import copy
from abc import ABC, abstractmethod
from datetime import timedelta
from typing import Any, Dict, List, Optional, Type, Union

from pydantic import SecretStr

from lume_services.errors import (
    EmptyLabelsError,
    FlowIdNotFoundError,
    FlowNotFoundError,
    RunHistoryNotPrunableError,
    UnsupportedRunConfigError,
)
from lume_services.services.scheduling.backend import (
    DEFAULT_LABELS,
    DEFAULT_PROJECT,
    Backend,
    RunConfig,
)
from lume_services.services.scheduling.backends.server.prefect_config import (  # noqa: F401 (their home in LUME-services)
    PrefectAgentConfig,
    PrefectConfig,
    PrefectServerConfig,
    PrefectTelemetryConfig,
    PrefectUIConfig,
)
from lume_services.services.scheduling.backends.server.connection import ServerConnection
from lume_services.services.scheduling.backends.server.run_env import (
    check_no_secrets,
    public_run_env,
    secret_names,
)
from lume_services.services.scheduling.backends.server.history import child_durations as history_durations
from lume_services.services.scheduling.backends.server.history import find_reusable_child as history_reusable
from lume_services.services.scheduling.backends.server.history import get_run as history_run
from lume_services.services.scheduling.backends.server.history import list_runs as history_runs
from lume_services.services.scheduling.backends.server.history import find_results as history_find_results
from lume_services.services.scheduling.backends.server.history import run_declaration as history_declaration
from lume_services.services.scheduling.backends.server.history import run_result as history_result
from lume_services.services.scheduling.backends.server.registration import (
    flow_names,
    flow_versions,
    list_flows,
    query_flow,
    register_completely,
    registration_key,
    storage_without,
)
from lume_services.services.scheduling.backends.server.results import (
    collect_results,
    failed_tasks,
    raise_if_failed,
    results_by_slug,
)
from lume_services.services.scheduling.backends.server.runs import create_flow_run, wait_for_flow_run
from lume_services.services.scheduling.clock import SYSTEM_CLOCK, Clock
from lume_services.services.scheduling.waiting import Deadline, as_timedelta

DEFAULT_TENANT = "default"


class ServerBackend(Backend, ABC):
    """Registers, loads and runs flows on a Prefect 1 Server with Prefect's client.

    Subclasses say where runs execute by implementing two hooks, and may
    override two more:

    - :meth:`build_run_config` ``(run_config, labels, image) -> prefect RunConfig``:
      the Prefect run config of a registered flow (``run_config=None``) or of one
      run (from the user's backend ``RunConfig``); must accept ``run_config_type``.
    - :meth:`build_storage` ``(flow, image, project_name) -> prefect Storage``: where the
      registered flow is kept so that the agent's flow runner can load it
      (called by :meth:`register_flow` for flows that bring no storage).
    - :meth:`build_result` ``(flow) -> prefect Result``: where task results are
      written so that :meth:`run_and_return` can read them (default:
      ``PrefectResult``, which keeps JSON-serializable values in the task run's
      state, so it works wherever the run executes, and refuses values over
      the server's 1 MB state limit with ``TaskResultTooLargeError``).
    - :meth:`build_flow_of_flows_storage` ``(image, image_name, image_tag, local,
      project_name) -> prefect Storage``: the storage of a composed flow of flows
      (default: lume-services' ``Docker`` storage, image ``image_name:image_tag``
      built on the flow of flows' image; with ``local=True`` the base image is
      not pulled, with ``local=None`` the backend's :attr:`local_images` decides).

    Args:
        config: where the server is (``PrefectConfig``); ``None`` uses the defaults.
        default_project: the project of flows registered or loaded without one.
        poll_interval: how often a run is polled when no ``FlowRunConfig`` gives
            a ``poll_interval``.
        timeout: how long :meth:`run_and_return` waits for a run before
            cancelling it; a ``timeout=`` keyword of the call wins. ``None``
            waits without limit.
        tenant_name: the tenant created when the server has none yet.
        clock: the clock polls, deadlines and reachability rechecks are
            measured on; ``None``: real time.
    """

    requires_registration = True
    composition = "per_child"

    #: the lume-services run config class runs on this backend accept
    run_config_type: Type[RunConfig] = RunConfig

    #: the registry flow images built by this backend are pushed to (``None``: not pushed)
    registry_url: Optional[str] = None

    def __init__(
        self,
        config: Optional[PrefectConfig] = None,
        default_project: str = DEFAULT_PROJECT,
        poll_interval: Union[float, timedelta] = timedelta(seconds=1),
        timeout: Union[None, float, timedelta] = timedelta(hours=1),
        tenant_name: str = DEFAULT_TENANT,
        clock: Optional[Clock] = None,
    ):
        self.clock = clock or SYSTEM_CLOCK
        self.config = config if config is not None else PrefectConfig()
        self.default_project = default_project
        self.poll_interval = as_timedelta(poll_interval)
        self.timeout = as_timedelta(timeout)
        self.tenant_name = tenant_name
        self.connection = ServerConnection(self.config, tenant_name, self.clock)
        #: ``LUME_*`` settings every run gets (the secrets among them only from the agent: ``run_env``)
        self.env: Dict[str, Union[str, SecretStr]] = {}

    # --- hooks ------------------------------------------------------------------

    @abstractmethod
    def build_run_config(
        self,
        run_config: Optional[RunConfig] = None,
        labels: Optional[List[str]] = None,
        image: Optional[str] = None,
    ):
        """Return the Prefect run config for a registered flow or for one run.

        Args:
            run_config: the user's run config (an instance of ``run_config_type``),
                or ``None`` for the flow's default.
            labels: agent labels; ``None`` keeps the run config's.
            image: the image runs execute in, on container backends.
        """

    @abstractmethod
    def build_storage(self, flow, image: Optional[str] = None, project_name: Optional[str] = None):
        """Return the Prefect storage the registered flow is kept in.

        Args:
            flow: the Prefect flow being registered.
            image: the image the flow model names (container backends build
                the flow's image from it).
            project_name: the project the flow is registered in.
        """

    def build_result(self, flow):
        """Return the Prefect result task results are written with.

        The default is lume-services' ``PrefectResult`` (``server_state_result``):
        Prefect's, serialized under Prefect's name, which refuses a value too
        large for a task run's state with ``TaskResultTooLargeError`` when the
        task's result is written, instead of the run dying on the server's refusal.
        """
        from lume_services.services.scheduling.backends.server.state_result import PrefectResult  # lazy: prefect

        return PrefectResult()

    def build_flow_of_flows_storage(
        self,
        image: Optional[str],
        image_name: str,
        image_tag: Optional[str] = None,
        local: Optional[bool] = None,
        project_name: Optional[str] = None,
    ):
        """Return the storage of a composed flow of flows: a Docker image ``image_name:image_tag``.

        The storage is lume-services' ``Docker`` storage (``flow_images``),
        built from ``image`` when the composed flow is registered and pushed to
        :attr:`registry_url` when one is set. With ``local=True`` the base image
        is used as it is on the engine, never pulled; with ``local=False`` it is
        pulled first; ``None`` uses :attr:`local_images`.

        Args:
            image: the image the composed flow's image is built on.
            image_name: the composed image's name.
            image_tag: its tag; ``None`` tags it with the composed flow's hash.
            local: whether the base image is used as it is on the engine.
            project_name: the project recorded in the image's labels.
        """
        from lume_services.services.scheduling.backends.images.flow_images import Docker  # lazy: image building

        return Docker(
            base_image=image,
            image_name=image_name,
            image_tag=image_tag,
            local_image=self.local_images if local is None else local,
            registry_url=self.registry_url,
            project_name=project_name,
        )

    def _run_config_update(self, run_config: RunConfig, labels: Optional[List[str]], env) -> Dict[str, object]:
        """The fields every server backend sets on a run config: the labels, and ``env`` under the run config's own.

        Only the variables of ``env`` that hold no secret are set (``run_env``):
        a run config is stored on the server in clear, and runs get secrets
        from where their agent runs. A run config whose own ``env`` holds a
        secret is refused.

        Raises:
            SecretInRunConfigError: ``run_config.env`` holds a secret.
        """
        check_no_secrets(run_config.env, type(run_config).__name__)
        update: Dict[str, object] = {}
        if labels is not None:
            update["labels"] = list(labels)
        public = public_run_env(env)
        if public:
            update["env"] = {**public, **(run_config.env or {})}
        return update

    def run_env(self) -> Dict[str, str]:
        """The non-secret ``LUME_*`` settings every run of this backend carries (none by default)."""
        return public_run_env(self.env)

    # --- connection ---------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """The server's GraphQL URL."""
        return self.config.api_url

    def connect(self):
        """Point Prefect at the server and return a client (see ``ServerConnection.client``).

        Raises:
            ServerUnreachableError: the server does not answer; names the URL.
        """
        return self.connection.client()

    def ensure_reachable(self) -> None:
        """Check that the server answers, unless a check succeeded recently.

        Raises:
            ServerUnreachableError: the server does not answer; names the URL.
        """
        self.connection.ensure_reachable()

    def storage_identity(self) -> str:
        """Where this backend keeps registered flows and their results, as text.

        Part of the registration idempotency key: an unchanged flow registered
        through a backend that stores it elsewhere becomes a new version whose
        storage is that backend's.
        """
        import json

        places = {"backend": type(self).__name__, **{k: str(v) for k, v in self.storage_places().items()}}
        # what a run needs is part of what makes a registration new: two callers with
        # different settings never share a flow id whose run config carries one's settings
        places["run_env"] = json.dumps(self.run_env(), sort_keys=True)
        places["run_secrets"] = ",".join(secret_names(self.env))
        return json.dumps(places, sort_keys=True)

    def storage_places(self) -> Dict[str, Any]:
        """Where this backend keeps flows and results (folders, registry); none by default."""
        return {"registry_url": self.registry_url} if self.registry_url else {}

    # --- projects and flows ---------------------------------------------------------

    def create_project(self, project_name: str) -> str:
        """Create a project; an existing project is left as it is.

        Returns:
            The project id.
        """
        return self.connect().create_project(project_name=project_name)

    def register_flow(self, flow, project_name: Optional[str], image: Optional[str] = None,
                      labels: Optional[List[str]] = None) -> str:
        """Register a Prefect flow, creating its project when missing.

        The caller's flow and its storage are left as they are: a copy is
        registered. Unless the flow brings its own, the copy gets this
        backend's storage (:meth:`build_storage`), run config
        (:meth:`build_run_config` with ``labels`` and ``image``; a run config
        the flow brings gets ``labels``) and result (:meth:`build_result`); a
        storage the flow brings (a composed flow of flows') is copied without
        this flow in it. Registering an unchanged flow with the same image and
        labels again returns the same flow id; a changed flow becomes a new
        version and archives the previous one.

        Returns:
            The flow id.

        Raises:
            EmptyLabelsError: ``labels`` is empty: no lume-services agent would run the flow.
        """
        flow_id, _ = self._register(flow, project_name, image, labels)
        return flow_id

    def _register(self, flow, project_name: Optional[str], image: Optional[str], labels: Optional[List[str]]):
        """Register a copy of ``flow``; return the flow id and the copy (its storage built)."""
        labels = list(DEFAULT_LABELS) if labels is None else list(labels)
        if not labels:
            raise EmptyLabelsError(kind="flow", model="Flow", name=flow.name)
        project_name = project_name or self.default_project
        client = self.connect()
        with self.connection.answering(f"creating project {project_name!r}"):
            client.create_project(project_name=project_name)
        # the fingerprint before storage is attached, and where this backend keeps flows
        key = registration_key(flow, image, labels, self.storage_identity())
        flow = flow.copy()  # shallow: storage, run config and result are the caller's objects
        if flow.storage is None:
            flow.storage = self.build_storage(flow, image, project_name=project_name)
        else:  # a storage given with the flow (a composed flow's) is kept, as a copy
            flow.storage = storage_without(flow.storage, flow.name)
        if flow.run_config is None:
            flow.run_config = self.build_run_config(None, labels=labels, image=image)
        else:
            flow.run_config = copy.copy(flow.run_config)
            flow.run_config.labels = set(labels)
        if flow.result is None:
            flow.result = self.build_result(flow)
        flow_id = register_completely(self.connection, client, flow, project_name, key)
        return flow_id, flow

    def flow_names(self, project_name: str) -> List[str]:
        """Return the names of the unarchived flows of a project."""
        return flow_names(self.connection, project_name)

    def list_flows(self, project_name: Optional[str] = None) -> List[dict]:
        """The latest unarchived version of every registered flow (of one project, if given)."""
        return list_flows(self.connection, project_name)

    def load_flow(self, flow_name: str, project_name: Optional[str]) -> dict:
        """Return the latest unarchived version of a registered flow.

        Returns:
            ``{"flow_id", "flow", "version", "project_name", "storage",
            "run_config"}``; ``flow`` is the flow as the server knows it: its
            parameters (with defaults) and its tasks (names and slugs), not its
            task code, which stays in the flow's storage.

        Raises:
            FlowNotFoundError: the project has no such flow; lists its flows.
        """
        project_name = project_name or self.default_project
        where = {
            "name": {"_eq": flow_name},
            "archived": {"_eq": False},
            "project": {"name": {"_eq": project_name}},
        }
        found = query_flow(self.connection, where)
        if found is None:
            raise FlowNotFoundError(flow_name, project_name, self.flow_names(project_name))
        return found

    def load_flow_by_id(self, flow_id: str) -> dict:
        """Return a registered flow by id, as :meth:`load_flow` does.

        Raises:
            FlowIdNotFoundError: no flow has this id (a ``FlowNotLoadedError``).
        """
        found = query_flow(self.connection, {"id": {"_eq": flow_id}})
        if found is None:
            raise FlowIdNotFoundError(flow_id, self.api_url)
        return found

    # --- runs ---------------------------------------------------------------------------

    def start_run(self, options, *, flow=None, flow_id: Optional[str] = None, deadline: Optional[Deadline] = None,
                  **kwargs) -> str:
        """Create a flow run of a registered flow and return its id.

        Args:
            options: the resolved run options (see :meth:`prefect_run_options`).
            flow: the Prefect flow (as loaded), used to check the parameters
                before anything is sent.
            flow_id: the registered flow's id.
            deadline: when the run's own waits for other runs (a composed flow
                of flows' children) must end; goes into the run's context.

        Returns:
            The flow run id.

        Raises:
            FlowNotRegisteredError: no ``flow_id`` was given (a ``FlowNotLoadedError``).
            ParameterNotInFlowError: a parameter is not one of the flow's.
            MissingParameterError: a required parameter has no value.
            UnsupportedRunConfigError: the run config is not one this backend runs.
            EmptyLabelsError: the run's labels are empty: no lume-services agent would run it.
            StateTooLargeError: a parameter's value is too large for a task run's state.
            FlowVersionArchivedError: ``flow_id`` is an archived version.
        """
        poll_interval = (options.poll_interval or self.poll_interval).total_seconds()
        return create_flow_run(self.connection, self.prefect_run_options(options), flow_id=flow_id, flow=flow,
                               poll_interval=poll_interval, deadline=deadline,
                               children_in_process=self.config.children_in_process)

    def prefect_run_options(self, options):
        """The run options with their run config as the Prefect run config this backend sends.

        A run config of this backend's ``run_config_type`` is built with
        :meth:`build_run_config` (its labels become the run's, unless the
        options name labels); a Prefect run config is sent as it is.

        Raises:
            UnsupportedRunConfigError: the run config is neither.
            EmptyLabelsError: the labels are empty (``FlowRunConfig(labels=[])``, or
                a run config's): no lume-services agent would run it.
        """
        options = copy.copy(options)
        if options.labels is not None and not options.labels:
            raise EmptyLabelsError(kind="run", model="FlowRunConfig")
        run_config = options.run_config
        if isinstance(run_config, RunConfig):
            if not isinstance(run_config, self.run_config_type):
                raise UnsupportedRunConfigError(
                    type(self).__name__, run_config, [self.run_config_type.__name__]
                )
            if options.labels is None and not run_config.labels:
                raise EmptyLabelsError(kind="run", model=type(run_config).__name__)
            options.run_config = self.build_run_config(run_config, labels=run_config.labels)
            if options.labels is None:
                options.labels = list(run_config.labels)
        elif run_config is not None:
            from prefect.run_configs import RunConfig as PrefectRunConfig

            if not isinstance(run_config, PrefectRunConfig):
                raise UnsupportedRunConfigError(
                    type(self).__name__,
                    run_config,
                    [self.run_config_type.__name__, "Prefect run config", "FlowRunConfig"],
                )
            if options.labels is None and run_config.labels:
                options.labels = sorted(run_config.labels)
        return options

    def archived_versions(self, flow_ids: List[str]) -> Dict[str, dict]:
        """Of ``flow_ids``, the versions the server has archived, with their flows' current versions.

        Returns:
            archived flow id -> ``{"name", "project_name", "version",
            "current_flow_id", "current_version"}``.
        """
        return {flow_id: v for flow_id, v in flow_versions(self.connection, flow_ids).items() if v["archived"]}

    def flow_for_run(self, flow, flow_id: Optional[str]):
        """``flow``, or the flow registered as ``flow_id`` when ``flow`` is not given."""
        if flow is None and flow_id:
            return self.load_flow_by_id(flow_id)["flow"]
        return flow

    def time_limit(self, timeout) -> Optional[timedelta]:
        """A wait's time limit: ``timeout`` when given, else the backend's."""
        return as_timedelta(timeout) if timeout is not None else self.timeout

    def wait(self, handle, poll_interval=None, deadline=None, flow_name=None, waited_for=None):
        """Poll the flow run ``handle`` (its id) until it finishes; cancel it at the deadline.

        Returns:
            The finished run's ``FlowRunView``.

        Raises:
            FlowRunTimeoutError: not finished before the deadline; the run was cancelled.
            ServerUnreachableError: the server stopped answering.
        """
        interval = (as_timedelta(poll_interval) or self.poll_interval).total_seconds()
        deadline = deadline if deadline is not None else Deadline(self.timeout, self.clock)
        return wait_for_flow_run(self.connection, handle, interval, deadline, flow_name, waited_for)

    def wait_for_flow_run(self, flow_run_id: str, poll_interval=None, timeout=None, flow_name: Optional[str] = None):
        """Poll a flow run until it finishes; cancel it when it takes too long.

        Args:
            flow_run_id: the run.
            poll_interval: seconds or a ``timedelta`` between polls; ``None``
                uses the backend's.
            timeout: seconds or a ``timedelta``; ``None`` uses the backend's.
            flow_name: the run's flow, named in the timeout error.

        Returns:
            The finished run's ``FlowRunView``.
        """
        return self.wait(flow_run_id, poll_interval, self.deadline(timeout), flow_name)

    # --- reading a finished run -------------------------------------------------------

    def _task_names(self, view, flow=None) -> Dict[str, str]:
        """Task slug -> task name for the flow of a run."""
        if flow is None:
            flow = self.load_flow_by_id(view.flow_id)["flow"]
        return {slug: task.name for task, slug in flow.slugs.items()}

    def failed_tasks(self, finished) -> Dict[str, str]:
        """``{task name: message}`` of the task runs that failed on their own."""
        return failed_tasks(finished, self._task_names(finished))

    def raise_if_failed(self, finished, flow_name: str) -> None:
        """Raise :class:`FlowFailedError` when a finished run did not succeed, naming its failed tasks."""
        if not finished.state.is_successful():
            raise_if_failed(finished, flow_name, self._task_names(finished))

    def collect_results(self, finished, flow, task_name: Optional[str]):
        """The named task's result from a finished run, or all results by task name."""
        flow_name = flow.name if flow is not None else finished.name
        return collect_results(finished, flow_name, self._task_names(finished, flow), task_name)

    def results_by_slug(self, finished, flow=None) -> Dict[str, Any]:
        """``{task slug: result}`` of the successful, unmapped task runs of a finished run."""
        return results_by_slug(finished)

    # --- run history ----------------------------------------------------------------------

    def list_runs(self, query):
        """The server's flow runs ``query`` selects, newest (by creation) first."""
        return history_runs(self.connection, query)

    def get_run(self, run_id: str):
        """One flow run of the server with its task runs and, for a flow of flows, its children.

        Raises:
            RunNotFoundError: the server has no run with this id.
        """
        return history_run(self.connection, run_id)

    def run_result(self, run_id: str, task_name: str):
        """A finished run's task result, read from where the run kept it."""
        return history_result(self.connection, run_id, task_name)

    def prune_runs(self, older_than) -> int:
        """The server keeps its runs: lume-services does not delete them.

        Raises:
            RunHistoryNotPrunableError: always, naming the server.
        """
        raise RunHistoryNotPrunableError(type(self).__name__, self.api_url)

    def find_reusable_child(self, child: str, cache_key: str) -> Optional[str]:
        """The newest composed run in which ``child`` succeeded with ``cache_key`` (a ``cache-key:`` task's result)."""
        return history_reusable(self.connection, child, cache_key)

    def child_durations(self, flow_name: str) -> Dict[str, float]:
        """Each child's duration in the newest recent run of flow of flows ``flow_name`` where it ran and succeeded."""
        return history_durations(self.connection, flow_name)

    def find_results(self, needle: str):
        """``(run_id, task name)`` of results in the server's newest runs whose JSON holds ``needle``.

        A flow-of-flows child's task is named as in the composed run: ``(composed run, "<child>/<task>")``
        (see ``history.find_results``).
        """
        return history_find_results(self.connection, needle)

    def run_declaration(self, run_id: str):
        """The flow-of-flows declaration a composed run was started with, kept in the run's context."""
        return history_declaration(self.connection, run_id)

    # --- flows of flows -----------------------------------------------------------------

    def package_composed_flow(self, flow, labels, image, image_name, image_tag=None, local=None,
                              project_name=None) -> None:
        """Set the composed flow's storage, run config (``labels``) and result for this backend."""
        if not labels:
            raise EmptyLabelsError(kind="flow of flows", model="FlowOfFlows", name=flow.name)
        flow.storage = self.build_flow_of_flows_storage(image, image_name, image_tag, local, project_name)
        flow.run_config = self.build_run_config(None, labels=list(labels), image=image)
        flow.result = self.build_result(flow)
