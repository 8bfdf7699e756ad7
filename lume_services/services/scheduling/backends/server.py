"""Server backends: register, load, run and compose flows on a Prefect 1 Server.

:class:`ServerBackend` holds everything that talks to the server through
Prefect's own client (projects, registration, loading, flow runs, results,
flows of flows). A concrete backend differs only in where its runs execute,
which it says through two hooks, :meth:`ServerBackend.build_run_config` and
:meth:`ServerBackend.build_storage`:

- :class:`LocalAgentBackend` (settings ``backend: server``): runs go to a
  Prefect ``LocalAgent`` on this machine (``LocalRun``), flows are kept in
  Prefect ``Local`` storage and task results in ``LocalResult`` files under one
  directory that this process and the agent's flow runs share.
- ``DockerBackend`` (settings ``backend: docker``, in ``backends/docker.py``):
  runs go to a Prefect ``DockerAgent`` (``DockerRun``, ``Docker`` storage).
- :class:`KubernetesBackend` (settings ``backend: kubernetes``): runs go to a
  Prefect ``KubernetesAgent`` (``KubernetesRun``, ``Docker`` storage pushed to a
  registry the cluster pulls from).

Prefect's client retries a refused connection for about a minute; every
backend here first checks within ``PrefectConfig.check_timeout`` seconds that
the server answers and raises :class:`~lume_services.errors.ServerUnreachableError`
naming the URL otherwise. The check is made again before the next request once
the last successful one is older than ``PrefectConfig.recheck_interval`` seconds,
so a server that went away is reported in seconds then too.
"""

import copy
import hashlib
import json
import logging
import time
from abc import ABC, abstractmethod
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Type, Union

from lume_services.errors import (
    EmptyResultError,
    FlowFailedError,
    FlowNotFoundError,
    FlowNotLoadedError,
    FlowRunTimeoutError,
    ServerRequestError,
    ServerUnreachableError,
    TaskNotInFlowError,
    UnsupportedRunConfigError,
)
from lume_services.services.scheduling.backends.backend import (
    Backend,
    KubernetesRunConfig,
    LocalRunConfig,
    RunConfig,
    slug_order,
)

if TYPE_CHECKING:  # pragma: no cover
    from lume_services.config import LUMEServicesSettings, PrefectConfig

logger = logging.getLogger(__name__)

DEFAULT_PROJECT = "default"
DEFAULT_TENANT = "default"


def _as_timedelta(value: Union[None, float, int, timedelta]) -> Optional[timedelta]:
    if value is None or isinstance(value, timedelta):
        return value
    return timedelta(seconds=float(value))


def storage_without(storage, flow_name: str):
    """A copy of a Prefect storage without the flow ``flow_name``, to register that flow with.

    Registering builds the storage: it adds the flow (Prefect warns "A flow with
    the same name is already contained in storage" when it is there already)
    and may set fields such as an image tag. Done on the caller's storage, a
    second registration of the same flow would warn, and would see a changed
    serialized storage (part of the flow's fingerprint), so a new version.
    Other flows the storage holds are kept; nothing is shared with ``storage``.
    """
    held = {name: f for name, f in storage._flows.items() if name != flow_name}
    fresh = copy.copy(storage)
    for name, value in vars(storage).items():
        if name not in ("flows", "_flows"):
            setattr(fresh, name, copy.deepcopy(value))
    fresh.flows = {name: location for name, location in storage.flows.items() if name != flow_name}
    fresh._flows = held
    return fresh


def _utc(value: datetime) -> datetime:
    """A naive datetime is read as local time; the server gets UTC."""
    if value.tzinfo is None:
        value = value.astimezone()
    return value.astimezone(timezone.utc)


class _Deadline:
    """When a wait (for one run, or for all runs of a flow of flows) must end.

    Args:
        limit: the time allowed from now; ``None`` allows any time.
    """

    def __init__(self, limit: Optional[timedelta]):
        self.limit = limit
        self._at = None if limit is None else time.monotonic() + limit.total_seconds()

    def passed(self) -> bool:
        return self._at is not None and time.monotonic() >= self._at

    def capped(self, seconds: float) -> float:
        """``seconds``, or less when the deadline comes sooner."""
        if self._at is None:
            return seconds
        return min(seconds, max(0.0, self._at - time.monotonic()))


class _RunOptions:
    """What one flow run is created with, resolved from the run arguments."""

    def __init__(self):
        self.parameters: Dict[str, Any] = {}
        self.run_config = None  # a Prefect run config, or None: the flow's own
        self.labels: Optional[List[str]] = None
        self.run_name: Optional[str] = None
        self.scheduled_start_time: Optional[datetime] = None
        self.poll_interval: Optional[timedelta] = None


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
      state, so it works wherever the run executes).
    - :meth:`build_flow_of_flows_storage` ``(flow_of_flows, image_name, image_tag,
      local) -> prefect Storage``: the storage of a composed flow of flows
      (default: lume-services' ``Docker`` storage, image ``image_name:image_tag``
      built on ``flow_of_flows.image``; with ``local=True`` the base image is
      not pulled, with ``local=None`` the backend's :attr:`local_images` decides).

    ``from_settings(settings)`` builds the backend from ``LUMEServicesSettings``.

    Args:
        config: where the server is (``PrefectConfig``); ``None`` uses the defaults.
        default_project: the project of flows registered or loaded without one.
        poll_interval: how often :meth:`run_and_return` polls a run when no
            ``FlowRunConfig`` gives a ``poll_interval``.
        timeout: how long :meth:`run_and_return` waits for a run before
            cancelling it; a ``timeout=`` keyword of the call wins. ``None``
            waits without limit.
        tenant_name: the tenant created when the server has none yet.
    """

    requires_registration = True

    #: the lume-services run config class runs on this backend accept
    run_config_type: Type[RunConfig] = RunConfig

    #: the registry flow images built by this backend are pushed to (``None``: not pushed)
    registry_url: Optional[str] = None

    #: whether images are built from base images as they are on the engine (never
    #: pulled) when a caller does not say (``local=None``)
    local_images: bool = False

    def __init__(
        self,
        config: Optional["PrefectConfig"] = None,
        default_project: str = DEFAULT_PROJECT,
        poll_interval: Union[float, timedelta] = timedelta(seconds=1),
        timeout: Union[None, float, timedelta] = timedelta(hours=1),
        tenant_name: str = DEFAULT_TENANT,
    ):
        if config is None:
            from lume_services.config import PrefectConfig

            config = PrefectConfig()
        self.config = config
        self.default_project = default_project
        self.poll_interval = _as_timedelta(poll_interval)
        self.timeout = _as_timedelta(timeout)
        self.tenant_name = tenant_name
        #: ``time.monotonic()`` of the last successful reachability check
        self._checked_at: Optional[float] = None
        self._tenant_ready = False

    @classmethod
    def from_settings(cls, settings: "LUMEServicesSettings", **kwargs) -> "ServerBackend":
        """Build the backend from lume-services settings.

        Args:
            settings: the settings.
            **kwargs: constructor arguments that win over the settings'.
        """
        return cls(**{**cls._settings_kwargs(settings), **kwargs})

    @staticmethod
    def _settings_kwargs(settings: "LUMEServicesSettings") -> dict:
        """The constructor arguments every server backend takes from settings."""
        prefect = settings.prefect
        return dict(config=prefect, poll_interval=prefect.poll_interval, timeout=prefect.run_timeout)

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
        """Return the Prefect result task results are written with."""
        from prefect.engine.results import PrefectResult

        return PrefectResult()

    def build_flow_of_flows_storage(
        self, flow_of_flows, image_name: str, image_tag: str = "latest", local: Optional[bool] = None
    ):
        """Return the storage of a composed flow of flows: a Docker image ``image_name:image_tag``.

        The storage is lume-services' ``Docker`` storage (``backends/docker.py``),
        built from ``flow_of_flows.image`` when the composed flow is registered
        and pushed to :attr:`registry_url` when one is set. With ``local=True``
        the base image is used as it is on the engine, never pulled; with
        ``local=False`` it is pulled first; ``None`` uses :attr:`local_images`.
        """
        from lume_services.services.scheduling.backends.docker import Docker  # lazy: image building

        return Docker(
            base_image=flow_of_flows.image,
            image_name=image_name,
            image_tag=image_tag,
            local_image=self.local_images if local is None else local,
            registry_url=self.registry_url,
            project_name=flow_of_flows.project_name,
        )

    # --- connection ---------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """The server's GraphQL URL."""
        return self.config.api_url

    def connect(self):
        """Point Prefect at the server and return a client.

        Checks that the server answers (fast) unless a check succeeded less
        than ``PrefectConfig.recheck_interval`` seconds ago (see
        :meth:`ensure_reachable`); the first call also creates a tenant when the
        server has none.

        Raises:
            ServerUnreachableError: the server does not answer; names the URL.
        """
        import prefect

        self.config.apply()
        self.ensure_reachable()
        client = prefect.Client(api_server=self.api_url)
        if not self._tenant_ready:
            if not client.get_available_tenants():
                client.create_tenant(name=self.tenant_name)
            self._tenant_ready = True
        return client

    def ensure_reachable(self) -> None:
        """Check that the server answers, unless a check succeeded recently.

        Prefect's client retries a refused connection for about a minute, so
        every request that follows a check older than
        ``PrefectConfig.recheck_interval`` seconds is preceded by a fast one
        (within ``check_timeout`` seconds): a server that went away since the
        last check is reported in seconds, not after Prefect's retries.

        Raises:
            ServerUnreachableError: the server does not answer; names the URL.
        """
        now = time.monotonic()
        if self._checked_at is not None and now - self._checked_at < self.config.recheck_interval:
            return
        self._checked_at = None
        self.config.check_reachable()
        self._checked_at = time.monotonic()

    def storage_identity(self) -> str:
        """Where this backend keeps registered flows and their results, as text.

        Part of the registration idempotency key: an unchanged flow registered
        through a backend that stores it elsewhere becomes a new version whose
        storage is that backend's.
        """
        places = {
            "backend": type(self).__name__,
            **{
                name: str(getattr(self, name))
                for name in ("storage_dir", "results_dir", "registry_url")
                if getattr(self, name, None) is not None
            },
        }
        return json.dumps(places, sort_keys=True)

    def _graphql(self, client, query, **kwargs):
        import requests
        from prefect.exceptions import ClientError

        try:
            return client.graphql(query, **kwargs)
        except ClientError as exc:
            raise ServerRequestError(f"the Prefect Server at {self.api_url} refused a request: {exc}") from exc
        except requests.exceptions.ConnectionError as exc:  # after Prefect's own retries
            self._checked_at = None
            raise ServerUnreachableError(self.api_url, f"the connection failed: {exc}") from exc

    # --- projects and flows ---------------------------------------------------------

    def create_project(self, project_name: str) -> str:
        """Create a project; an existing project is left as it is.

        Returns:
            The project id.
        """
        return self.connect().create_project(project_name=project_name)

    def register_flow(self, flow, project_name: Optional[str], image: Optional[str] = None, labels: Optional[List[str]] = None) -> str:
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
        """
        flow_id, _ = self._register(flow, project_name, image, labels)
        return flow_id

    def _register(self, flow, project_name: Optional[str], image: Optional[str], labels: Optional[List[str]]):
        """Register a copy of ``flow``; return the flow id and the copy (its storage built)."""
        from lume_services.services.scheduling.backends.fingerprint import flow_fingerprint

        labels = ["lume-services"] if labels is None else list(labels)
        project_name = project_name or self.default_project
        client = self.connect()
        client.create_project(project_name=project_name)
        # the flow's fingerprint (before storage is attached) and where this backend
        # keeps flows and results: the same flow kept elsewhere is a new version
        key = hashlib.sha256(
            (flow_fingerprint(flow, image, labels) + self.storage_identity()).encode()
        ).hexdigest()
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
        flow_id = client.register(
            flow,
            project_name=project_name,
            build=True,
            set_schedule_active=False,
            no_url=True,
            idempotency_key=key,
        )
        return flow_id, flow

    def flow_names(self, project_name: str) -> List[str]:
        """Return the names of the unarchived flows of a project."""
        from prefect.utilities.graphql import with_args

        query = {
            "query": {
                with_args(
                    "flow",
                    {"where": {"archived": {"_eq": False}, "project": {"name": {"_eq": project_name}}}},
                ): {"name"}
            }
        }
        result = self._graphql(self.connect(), query)
        return sorted({f.name for f in result.data.flow})

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
        found = self._query_flow(where)
        if found is None:
            raise FlowNotFoundError(flow_name, project_name, self.flow_names(project_name))
        return found

    def load_flow_by_id(self, flow_id: str) -> dict:
        """Return a registered flow by id, as :meth:`load_flow` does.

        Raises:
            FlowNotLoadedError: no flow has this id.
        """
        found = self._query_flow({"id": {"_eq": flow_id}})
        if found is None:
            raise FlowNotLoadedError(f"no flow with id {flow_id!r} is registered on {self.api_url}")
        return found

    def _query_flow(self, where: dict) -> Optional[dict]:
        import marshmallow
        from prefect import Task
        from prefect.serialization.flow import FlowSchema
        from prefect.serialization.run_config import RunConfigSchema
        from prefect.serialization.storage import StorageSchema
        from prefect.utilities.graphql import EnumValue, with_args

        query = {
            "query": {
                with_args(
                    "flow", {"where": where, "order_by": {"version": EnumValue("desc")}, "limit": 1}
                ): {
                    "id": True,
                    "name": True,
                    "version": True,
                    "serialized_flow": True,
                    "storage": True,
                    "run_config": True,
                    "project": {"name"},
                    "tasks": {"name", "slug"},
                }
            }
        }
        found = self._graphql(self.connect(), query).data.flow
        if not found:
            return None
        row = found[0]
        # Prefect's client registers the tasks apart from the flow: the flow's
        # parameters stay in the serialized flow, its other tasks come from `tasks`.
        data = row.serialized_flow.to_dict()
        data["tasks"] = list(data.get("parameters") or [])
        data["edges"] = []
        flow = FlowSchema().load(data=data, partial=True, unknown=marshmallow.EXCLUDE)
        known = set(flow.slugs.values()) | {t.slug for t in flow.tasks}
        for t in sorted(row.tasks, key=lambda t: t.slug):
            if t.slug not in known:
                flow.add_task(Task(name=t.name, slug=t.slug))
        return {
            "flow_id": row.id,
            "flow": flow,
            "version": row.version,
            "project_name": row.project.name,
            "storage": StorageSchema().load(row.storage.to_dict()) if row.storage else None,
            "run_config": RunConfigSchema().load(row.run_config.to_dict()) if row.run_config else None,
        }

    # --- runs ---------------------------------------------------------------------------

    def _run_options(self, parameters, run_config) -> _RunOptions:
        from lume_services.flows.flow import FlowRunConfig  # here: flows import this module

        options = _RunOptions()
        options.parameters = dict(parameters or {})
        if isinstance(run_config, FlowRunConfig):
            options.parameters = {**(run_config.parameters or {}), **options.parameters}
            options.labels = list(run_config.labels) if run_config.labels is not None else None
            options.run_name = run_config.run_name
            if run_config.scheduled_start_time is not None:
                options.scheduled_start_time = _utc(run_config.scheduled_start_time)
            # FlowRunConfig.poll_interval has a default (10 s): only an interval the
            # user set wins over the backend's (PrefectConfig.poll_interval)
            if "poll_interval" in run_config.__fields_set__:
                options.poll_interval = run_config.poll_interval
            run_config = run_config.run_config
        if run_config is None:
            return options
        if isinstance(run_config, RunConfig):
            if not isinstance(run_config, self.run_config_type):
                raise UnsupportedRunConfigError(
                    f"the {type(self).__name__} runs flows with a "
                    f"{self.run_config_type.__name__}; got a {type(run_config).__name__}"
                )
            options.run_config = self.build_run_config(run_config, labels=run_config.labels)
            if options.labels is None:
                options.labels = list(run_config.labels)
            return options
        from prefect.run_configs import RunConfig as PrefectRunConfig

        if not isinstance(run_config, PrefectRunConfig):
            raise UnsupportedRunConfigError(
                f"run_config must be a {self.run_config_type.__name__}, a Prefect run "
                f"config or a FlowRunConfig; got {type(run_config).__name__}"
            )
        options.run_config = run_config
        if options.labels is None and run_config.labels:
            options.labels = sorted(run_config.labels)
        return options

    def run(self, parameters=None, run_config=None, *, flow_id: Optional[str] = None, flow=None, **kwargs) -> str:
        """Create a flow run of a registered flow and return its id.

        Args:
            parameters: parameter values; they win over ``FlowRunConfig.parameters``.
            run_config: a ``FlowRunConfig`` (parameters, run config, labels, run
                name, scheduled start time), a run config of this backend's type,
                a Prefect run config, or ``None``.
            flow_id: the registered flow's id.
            flow: the Prefect flow (as loaded), used to check the parameters
                before anything is sent.

        Returns:
            The flow run id.

        Raises:
            FlowNotLoadedError: no ``flow_id`` was given.
            ParameterNotInFlowError: a parameter is not one of the flow's.
            MissingParameterError: a required parameter has no value.
        """
        options = self._run_options(parameters, run_config)
        return self._create_flow_run(options, flow_id=flow_id, flow=flow)

    def _create_flow_run(self, options: _RunOptions, flow_id: Optional[str], flow=None) -> str:
        from lume_services.services.scheduling.backends.local import _check_parameters

        if not flow_id:
            raise FlowNotLoadedError(
                "a flow must be registered before it runs on a server backend; register "
                "it (Flow.register) or load it (Flow.load_flow) to get its flow id"
            )
        if flow is not None:
            _check_parameters(flow, options.parameters)
        client = self.connect()
        return client.create_flow_run(
            flow_id=flow_id,
            parameters=options.parameters,
            run_config=options.run_config,
            labels=options.labels,
            run_name=options.run_name,
            scheduled_start_time=options.scheduled_start_time,
        )

    def run_and_return(self, parameters=None, run_config=None, task_name: Optional[str] = None, *,
                       flow_id: Optional[str] = None, flow=None, timeout=None, **kwargs):
        """Run a registered flow, wait for it and return a task's result, or all results.

        The run is polled every ``FlowRunConfig.poll_interval`` when the
        ``FlowRunConfig`` sets one, else every ``poll_interval`` of the backend
        (``PrefectConfig.poll_interval``). When it has not finished after ``timeout`` (or the
        backend's), it is cancelled and :class:`FlowRunTimeoutError` is raised.

        Args:
            parameters, run_config, flow_id, flow: as for :meth:`run`.
            task_name: the task whose result to return; ``None`` returns
                ``{task name: result}`` for every task.
            timeout: seconds or a ``timedelta``; ``None`` uses the backend's.

        Returns:
            The task's result (a list when several tasks share the name), or the
            dict of all results (a list where several tasks share a name).

        Raises:
            TaskNotInFlowError: ``task_name`` is not a task of the flow (checked
                before the run when ``flow`` is given).
            FlowFailedError: the run failed; names each failed task and its message.
            FlowRunTimeoutError: the run did not finish in time; it was cancelled.
            EmptyResultError: the task finished without a readable result.
        """
        if flow is None and flow_id:
            flow = self.load_flow_by_id(flow_id)["flow"]
        if task_name is not None and flow is not None:
            names = {t.name for t in flow.tasks}
            if task_name not in names:
                raise TaskNotInFlowError(flow.name, task_name, names)
        options = self._run_options(parameters, run_config)
        flow_run_id = self._create_flow_run(options, flow_id=flow_id, flow=flow)
        view = self.wait_for_flow_run(flow_run_id, options.poll_interval, timeout, flow_name=flow.name if flow else None)
        name = flow.name if flow is not None else view.name
        self.raise_if_failed(view, name)
        return self.collect_results(view, flow, task_name)

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

        Raises:
            FlowRunTimeoutError: not finished within ``timeout``; the run was cancelled.
            ServerUnreachableError: the server stopped answering.
        """
        return self._wait_until(flow_run_id, poll_interval, _Deadline(self._limit(timeout)), flow_name)

    def _limit(self, timeout) -> Optional[timedelta]:
        """A wait's time limit: ``timeout`` when given, else the backend's."""
        return _as_timedelta(timeout) if timeout is not None else self.timeout

    def _wait_until(self, flow_run_id: str, poll_interval, deadline: "_Deadline", flow_name: Optional[str] = None,
                    waited_for: Optional[str] = None):
        """Poll a flow run until it finishes, cancelling it when ``deadline`` passes.

        Args:
            waited_for: what the deadline is for, when more than this run
                (named in the timeout error).
        """
        from prefect.backend import FlowRunView
        from prefect.engine.state import State
        from prefect.utilities.graphql import with_args

        interval = (_as_timedelta(poll_interval) or self.poll_interval).total_seconds()
        client = self.connect()
        query = {"query": {with_args("flow_run_by_pk", {"id": flow_run_id}): {"serialized_state"}}}
        while True:
            # a server that goes away during a wait is reported in seconds: a fast
            # check before each poll, not Prefect's minute of retries
            self.config.check_reachable()
            self._checked_at = time.monotonic()
            data = self._graphql(client, query).data.flow_run_by_pk
            state = State.deserialize(data.serialized_state)
            if state.is_finished():
                return FlowRunView.from_flow_run_id(flow_run_id)
            if deadline.passed():
                client.cancel_flow_run(flow_run_id)
                run = f"flow run {flow_run_id}{f' of flow {flow_name!r}' if flow_name else ''}"
                within = f"within {deadline.limit.total_seconds():g} s"
                if waited_for:
                    within += f" (the timeout of {waited_for})"
                raise FlowRunTimeoutError(
                    f"{run} did not finish {within} (its state was "
                    f"{type(state).__name__}); it was cancelled. Give a longer timeout "
                    "(timeout=...) or check that an agent with the run's labels is running"
                )
            time.sleep(deadline.capped(interval))

    def _task_names(self, view, flow) -> Dict[str, str]:
        """Task slug -> task name for the flow of a run."""
        if flow is None:
            flow = self.load_flow_by_id(view.flow_id)["flow"]
        return {slug: task.name for task, slug in flow.slugs.items()}

    def raise_if_failed(self, view, flow_name: str) -> None:
        """Raise :class:`FlowFailedError` when a finished run did not succeed.

        Names each task run that failed on its own (not the ones that only
        failed because an upstream task did) with its state message.
        """
        from prefect.engine.state import TriggerFailed

        if view.state.is_successful():
            return
        failed = {}
        if view.state.is_failed():
            names = self._task_names(view, None)
            for task_run in view.get_all_task_runs():
                st = task_run.state
                if st.is_failed() and not isinstance(st, TriggerFailed):
                    name = names.get(task_run.task_slug, task_run.task_slug)
                    if task_run.map_index != -1:
                        name = f"{name}[{task_run.map_index}]"
                    failed[name] = st.message or type(st).__name__
        raise FlowFailedError(
            flow_name,
            failed,
            message=view.state.message or f"the run ended {type(view.state).__name__}",
            flow_run_id=view.flow_run_id,
        )

    def collect_results(self, view, flow, task_name: Optional[str]):
        """Return the named task's result from a finished run, or all results by task name."""
        names = self._task_names(view, flow)
        flow_name = flow.name if flow is not None else view.name
        grouped: Dict[str, list] = {}
        for task_run in sorted(view.get_all_task_runs(), key=lambda t: slug_order(t.task_slug)):
            if task_run.map_index != -1:
                continue
            name = names.get(task_run.task_slug, task_run.task_slug)
            if task_name is None or name == task_name:
                grouped.setdefault(name, []).append(task_run)
        if task_name is not None:
            if task_name not in grouped:
                raise TaskNotInFlowError(flow_name, task_name, set(names.values()))
            values = [self._task_run_value(flow_name, task_name, t) for t in grouped[task_name]]
            return values[0] if len(values) == 1 else values
        results = {}
        for name, task_runs in grouped.items():
            values = []
            for t in task_runs:
                try:
                    values.append(self._task_run_value(flow_name, name, t))
                except EmptyResultError:
                    values.append(None)
            results[name] = values[0] if len(values) == 1 else values
        return results

    @staticmethod
    def _task_run_value(flow_name: str, task_name: str, task_run):
        state = task_run.state
        if state.is_skipped() or not state.is_finished():
            raise EmptyResultError(flow_name, task_name, type(state).__name__)
        try:
            return task_run.get_result()
        except (TypeError, ValueError, OSError) as exc:
            raise EmptyResultError(flow_name, task_name, f"{type(state).__name__}, unreadable: {exc}") from exc

    # --- flows of flows ---------------------------------------------------------------

    def compose_flow_of_flows(
        self, flow_of_flows, image_name: str, image_tag: str = "latest", local: Optional[bool] = None
    ):
        """Compose a flow of flows into one Prefect flow that runs each child on the server.

        See :func:`compose_server_flow_of_flows`; the storage comes from
        :meth:`build_flow_of_flows_storage`, the run config from
        :meth:`build_run_config` with the flow of flows' labels and image.
        """
        flow = compose_server_flow_of_flows(flow_of_flows)
        flow.storage = self.build_flow_of_flows_storage(flow_of_flows, image_name, image_tag, local)
        flow.run_config = self.build_run_config(None, labels=list(flow_of_flows.labels), image=flow_of_flows.image)
        flow.result = self.build_result(flow)
        return flow

    def run_and_return_flow_of_flows(self, flow_of_flows, parameters=None, run_config=None, task_name: Optional[str] = None, **kwargs):
        """Run a registered flow of flows and return its children's task results.

        The timeout (a ``timeout=`` keyword, else the backend's) is a deadline
        for the whole run: the composed flow's run and every child run it waits
        on afterwards share it.

        Args:
            flow_of_flows: the registered ``FlowOfFlows`` (it has a ``flow_id``).
            parameters: values of the composed flow's parameters (exposed child
                parameters are named ``"<child>-<parameter>"``).
            run_config: as for :meth:`run`.
            task_name: ``None`` for ``{child: {task: result}}``; ``"<child>/<task>"``
                for one child's task; a task name unique across the children.
            **kwargs: ``timeout``: seconds or a ``timedelta``.

        Returns:
            The result(s) asked for.

        Raises:
            TaskNotInFlowError: ``task_name`` names no task, or a task of several
                children; lists the valid names.
            FlowFailedError: a child failed; names the child and its failed task.
            FlowRunTimeoutError: the runs did not finish before the deadline; the
                run waited on then was cancelled.
        """
        from lume_services.services.scheduling.service import SchedulingService

        children = flow_of_flows.composing_flows
        target = flow_of_flows.resolve_task_name(task_name) if task_name is not None else None
        timeout = kwargs.pop("timeout", None)
        if flow_of_flows.flow_id is None:
            flow_of_flows.register(scheduling_service=SchedulingService(self))
        options = self._run_options(parameters, run_config)
        parent_run_id = self._create_flow_run(options, flow_id=flow_of_flows.flow_id, flow=flow_of_flows.prefect_flow)
        deadline = _Deadline(self._limit(timeout))
        waited_for = f"flow of flows {flow_of_flows.name!r}"

        def wait(run_id, flow_name):
            return self._wait_until(run_id, options.poll_interval, deadline, flow_name, waited_for)

        view = wait(parent_run_id, flow_of_flows.name)
        child_runs = self._child_run_ids(view)
        if not view.state.is_successful():
            failed = {}
            for child_name in flow_of_flows.execution_order():
                run_id = child_runs.get(child_name)
                if run_id is None:
                    continue
                child_view = wait(run_id, child_name)
                try:
                    self.raise_if_failed(child_view, child_name)
                except FlowFailedError as exc:
                    for task, message in exc.failed_tasks.items():
                        failed[f"{child_name}/{task}"] = message
                    if not exc.failed_tasks:
                        failed[child_name] = exc.message
            if not failed:  # no child failed: the composed flow's own tasks did
                try:
                    self.raise_if_failed(view, flow_of_flows.name)
                except FlowFailedError as exc:
                    failed = exc.failed_tasks
            raise FlowFailedError(flow_of_flows.name, failed, message=view.state.message, flow_run_id=parent_run_id)
        results = {}
        for child_name in flow_of_flows.execution_order():
            if target is not None and target[0] != child_name:
                continue
            child = children[child_name]
            child_view = wait(child_runs[child_name], child_name)
            results[child_name] = self.collect_results(child_view, child.prefect_flow, target[1] if target else None)
        if target is not None:
            return results[target[0]]
        return results

    def _child_run_ids(self, view) -> Dict[str, str]:
        """Child flow name -> the flow run id its ``create_flow_run`` task returned."""
        ids = {}
        for task_run in view.get_all_task_runs():
            if not task_run.task_slug.startswith(_CREATE_RUN_PREFIX) or task_run.map_index != -1:
                continue
            if not task_run.state.is_successful():
                continue
            child = task_run.task_slug[len(_CREATE_RUN_PREFIX):].rsplit("-", 1)[0]
            try:
                ids[child] = task_run.get_result()
            except (TypeError, ValueError, OSError):
                continue
        return ids


_CREATE_RUN_PREFIX = "create-run:"


def compose_server_flow_of_flows(flow_of_flows):
    """Build the Prefect flow that runs a flow of flows' children as server flow runs.

    Per child, in dependency order: a ``create_flow_run`` task (every child gets
    its own run, mapped parameters or not) whose parameters are the child's
    unmapped parameters, exposed on the composed flow as Parameters named
    ``exposed_parameter_name(child, parameter)`` with the child's defaults, and
    its mapped parameters, taken from the parent's finished run with
    ``get_task_run_result`` (``raw`` and ``file`` by value, ``db`` through
    ``LoadDBResult`` with ``attribute`` and ``attribute_index``); then a
    ``wait_for_flow_run`` with ``raise_final_state=True``, so a failed child fails
    the composed flow and its descendants do not run. Each ``create_flow_run``
    task is tagged with its child's flow id, so that registering a child anew
    changes the composed flow's fingerprint.

    Args:
        flow_of_flows: a ``FlowOfFlows`` whose children are loaded (flow ids,
            Prefect flows, task slugs).

    Returns:
        The Prefect flow (no storage or run config yet).
    """
    from prefect import Flow as PrefectFlow
    from prefect import Parameter
    from prefect.tasks.prefect import create_flow_run, get_task_run_result, wait_for_flow_run

    from lume_services.flows.flow_of_flows import exposed_parameter_name

    children = flow_of_flows.composing_flows
    with PrefectFlow(flow_of_flows.name) as composed:
        created = {}
        finished = {}
        for child_name in flow_of_flows.execution_order():
            child = children[child_name]
            mapped = dict(child.mapped_parameters or {})
            exposed = {}
            for param_name, param in sorted((child.parameters or {}).items()):
                if param_name in mapped:
                    continue
                exposed[param_name] = Parameter(
                    exposed_parameter_name(child_name, param_name),
                    default=param.default,
                    required=param.required,
                )
            mapped_values = {}
            for param_name, mapping in sorted(mapped.items()):
                parent = children[mapping.parent_flow_name]
                slug = parent.task_slugs[mapping.parent_task_name]
                value = get_task_run_result(
                    created[mapping.parent_flow_name],
                    task_slug=slug,
                    poll_time=1,
                    task_args=dict(name=f"result:{mapping.parent_flow_name}/{mapping.parent_task_name}->{child_name}.{param_name}"),
                    upstream_tasks=[finished[mapping.parent_flow_name]],
                )
                if mapping.map_type == "db":
                    from lume_services.tasks.db import LoadDBResult  # lazy: written beside this

                    value = LoadDBResult(name=f"load-db:{child_name}.{param_name}")(
                        value,
                        attribute=mapping.attribute,
                        attribute_index=mapping.attribute_index,
                    )
                mapped_values[param_name] = value
            run_id = create_flow_run(
                flow_id=child.flow_id,
                # Prefect turns a dict holding tasks into a task that builds it at run time
                parameters={**exposed, **mapped_values},
                run_name=None,
                labels=list(child.labels) if child.labels else None,
                task_args=dict(
                    name=f"{_CREATE_RUN_PREFIX}{child_name}",
                    slug=f"{_CREATE_RUN_PREFIX}{child_name}-1",
                    # Prefect does not serialize constant arguments: the tag puts the
                    # child's flow id into the serialized flow, so the composed flow's
                    # fingerprint (registration idempotency, image reuse) changes with it
                    tags=[f"lume-services-child-flow-id:{child.flow_id}"],
                ),
            )
            created[child_name] = run_id
            finished[child_name] = wait_for_flow_run(
                run_id,
                raise_final_state=True,
                stream_states=False,
                # its result is a FlowRunView: not worth (or able to be) checkpointed
                task_args=dict(name=f"wait:{child_name}", checkpoint=False),
            )
    return composed


# --- concrete backends -------------------------------------------------------------


class LocalAgentBackend(ServerBackend):
    """Runs flows registered on a Prefect 1 Server with a Prefect ``LocalAgent`` on this machine.

    Flows are kept in Prefect ``Local`` storage under ``storage_dir/flows``
    and task results in ``LocalResult`` files under ``storage_dir/results``:
    both this process and the agent's flow runs (subprocesses on the same
    machine) read and write there, so ``run_and_return`` returns any
    picklable value. Runs use ``LocalRun`` run configs; a ``LocalRunConfig``
    gives their environment and working directory.

    Args:
        storage_dir: the shared directory; ``None`` means ``~/.lume_services/server``.
        **kwargs: as for :class:`ServerBackend`.
    """

    run_config_type = LocalRunConfig

    def __init__(self, storage_dir: Union[str, Path, None] = None, **kwargs):
        super().__init__(**kwargs)
        self.storage_dir = Path(storage_dir or "~/.lume_services/server").expanduser()

    @classmethod
    def from_settings(cls, settings: "LUMEServicesSettings", **kwargs) -> "LocalAgentBackend":
        kwargs.setdefault("storage_dir", settings.prefect.storage_dir or Path(settings.home) / "server")
        return super().from_settings(settings, **kwargs)

    def build_run_config(self, run_config: Optional[LocalRunConfig] = None, labels=None, image=None):
        """A Prefect ``LocalRun`` from a ``LocalRunConfig`` (env, working dir, labels)."""
        run_config = run_config or LocalRunConfig()
        if labels is not None:
            run_config = run_config.copy(update={"labels": list(labels)})
        return run_config.build()

    def build_storage(self, flow, image: Optional[str] = None, project_name: Optional[str] = None):
        """Prefect ``Local`` storage under ``storage_dir/flows`` (no hostname label added)."""
        from prefect.storage import Local

        return Local(directory=str(self.storage_dir / "flows"), add_default_labels=False)

    def build_result(self, flow):
        """``LocalResult`` files under ``storage_dir/results``."""
        from prefect.engine.results import LocalResult

        return LocalResult(dir=str(self.storage_dir / "results"))

    def build_flow_of_flows_storage(
        self, flow_of_flows, image_name: str, image_tag: str = "latest", local: Optional[bool] = None
    ):
        """The same ``Local`` storage as for single flows: the agent here loads it."""
        return self.build_storage(None)


class KubernetesBackend(ServerBackend):
    """Runs flows registered on a Prefect 1 Server as Kubernetes jobs (``KubernetesRun``).

    Flows are kept in lume-services' ``Docker`` storage (the flow images of
    the Docker backend) built on the flow's image and pushed to
    ``registry_url``, which the cluster must be able to pull from; task results
    use ``PrefectResult`` (JSON values kept in the run's states).

    Args:
        registry_url: the registry images are pushed to (``None``: not pushed,
            for clusters that share the local Docker engine).
        **kwargs: as for :class:`ServerBackend`.
    """

    run_config_type = KubernetesRunConfig
    #: images are built from local base images (flow images and compositions alike)
    local_images = True

    def __init__(self, registry_url: Optional[str] = None, **kwargs):
        super().__init__(**kwargs)
        self.registry_url = registry_url

    def build_run_config(self, run_config: Optional[KubernetesRunConfig] = None, labels=None, image=None):
        """A Prefect ``KubernetesRun`` from a ``KubernetesRunConfig`` (resources, template, image)."""
        run_config = run_config or KubernetesRunConfig(image=image)
        update = {}
        if labels is not None:
            update["labels"] = list(labels)
        if image is not None and run_config.image is None:
            update["image"] = image
        if update:
            run_config = run_config.copy(update=update)
        return run_config.build()

    def build_storage(self, flow, image: Optional[str] = None, project_name: Optional[str] = None):
        """lume-services' ``Docker`` storage built on ``image``, pushed to ``registry_url`` when given.

        The same flow image as on the Docker backend (see
        ``backends/docker.py``: ``flow_image_storage``): named
        ``lume-flow-<project>-<flow>:<flow hash>``, labelled, reused when
        unchanged, built from ``image`` as it is on the engine (never pulled).
        """
        from lume_services.services.scheduling.backends.docker import flow_image_storage  # lazy

        return flow_image_storage(
            flow, base_image=image, project_name=project_name, local=True, registry_url=self.registry_url
        )


def backend_from_settings(settings: "LUMEServicesSettings") -> ServerBackend:
    """Return the server backend ``settings.backend`` names, configured from ``settings.prefect``.

    ``server`` -> :class:`LocalAgentBackend`, ``docker`` -> ``DockerBackend``
    (``backends/docker.py``), ``kubernetes`` -> :class:`KubernetesBackend`.

    Raises:
        UnsupportedRunConfigError: ``settings.backend`` is not a server backend.
    """
    if settings.backend == "server":
        cls: Type[ServerBackend] = LocalAgentBackend
    elif settings.backend == "docker":
        from lume_services.services.scheduling.backends.docker import DockerBackend  # lazy: docker SDK

        cls = DockerBackend
    elif settings.backend == "kubernetes":
        cls = KubernetesBackend
    else:
        raise UnsupportedRunConfigError(
            f"backend {settings.backend!r} is not a server backend; server backends: "
            "'server', 'docker', 'kubernetes'"
        )
    settings.prefect.apply()
    return cls.from_settings(settings)
