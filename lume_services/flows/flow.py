"""Prefect flows as pydantic models: register, load, run, and map parameters between flows."""

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Union, cast

from dependency_injector.wiring import Provide
from prefect import Flow as PrefectFlow
from prefect import Parameter
from pydantic import BaseModel, PrivateAttr, root_validator, validator

from lume_services.composition import Context, inject
from lume_services.errors import FlowNotRegistrableError, FlowOfFlowsError, FlowVersionArchivedError, RunNotFoundError
from lume_services.flows._mapping import (  # noqa: F401 (their API home is this module)
    MAPPED_PARAMETER_TYPES,
    DBMappedParameter,
    FileMappedParameter,
    MappedParameter,
    RawMappedParameter,
    parse_mapping,
)
from lume_services.services.scheduling.run_options import DEFAULT_LABELS, RunConfig
from lume_services.services.scheduling.run_options import FlowRunConfig  # noqa: F401 (API home)

if TYPE_CHECKING:  # named in signatures only: the run records and the service are imported when a run is asked for
    from lume_services.services.scheduling.run_records import RunRecord
    from lume_services.services.scheduling.service import SchedulingService


def parse_mapped_parameter(name: str, value: Any, flow_name: str = "?") -> MappedParameter:
    """Turn a mapping given as a dict into the MappedParameter of its ``map_type``.

    The rules are those of a flow-of-flows declaration (one parser for both,
    ``flows/_mapping.py``), reported as a ``ValueError`` so that pydantic
    validation of a ``Flow`` reports them as a ``ValidationError``.

    Args:
        name: the mapped parameter.
        value: the mapping: a dict or a ``MappedParameter``.
        flow_name: the flow whose parameter is mapped, named in the message.

    Raises:
        ValueError: the value is neither a MappedParameter nor a dict, its map
            type is unknown, it gives a key its map type does not take, or a
            ``db`` mapping gives no attribute; the message names the parameter
            and what would be right.
    """
    try:
        return parse_mapping(flow_name, name, value)
    except FlowOfFlowsError as exc:
        raise ValueError(str(exc)) from exc


class FlowConfig(BaseModel):
    """How a flow is packaged.

    Attributes:
        image: the image the flow runs in.
        env: environment variables (``NAME=value``) set in its runs.
    """

    image: Optional[str]
    env: Optional[List[str]]


class Flow(BaseModel):
    """A Prefect flow and what lume-services knows of it.

    Attributes:
        name: the flow's name; flows are registered and loaded by name.
        flow_id: the id the backend gave it at registration.
        project_name: the project it is registered in.
        prefect_flow: the Prefect flow; loaded from the backend when not given.
        parameters: the flow's parameters by name (filled from ``prefect_flow``).
        mapped_parameters: in a flow of flows, parameters taken from parent flows.
        task_slugs: task name -> task slug (filled from ``prefect_flow``).
        labels: agent labels its runs get.
        image: the image it runs in on container backends.
    """

    name: str
    flow_id: Optional[str]
    project_name: Optional[str]
    prefect_flow: Optional[PrefectFlow]
    parameters: Optional[Dict[str, Parameter]]
    mapped_parameters: Optional[Dict[str, MappedParameter]]
    task_slugs: Optional[Dict[str, str]]
    labels: List[str] = list(DEFAULT_LABELS)
    image: str = "build-test:latest"

    # the Prefect flow as the backend handed it back by load_flow(): on a server
    # that is a description of the registered flow, which cannot be registered again
    _loaded_flow: Any = PrivateAttr(default=None)
    _loaded_with: Any = PrivateAttr(default=None)

    class Config:
        arbitrary_types_allowed = True
        validate_assignment = True

    @validator("mapped_parameters", pre=True)
    @classmethod
    def validate_mapped_parameters(cls, v: Any, values: Dict[str, Any]) -> Any:
        """Turn each mapping into the MappedParameter subclass of its map type."""
        if v is None:
            return v
        if not isinstance(v, dict):
            raise ValueError(
                "mapped_parameters must map parameter names to mappings; got "
                f"{type(v).__name__}"
            )
        flow_name = values.get("name", "?")
        return {name: parse_mapped_parameter(name, value, flow_name) for name, value in v.items()}

    @root_validator(skip_on_failure=True)
    @classmethod
    def derive_from_prefect_flow(cls, values: Dict[str, Any]) -> Dict[str, Any]:
        """Fill ``parameters`` and ``task_slugs`` from the Prefect flow."""
        flow = values.get("prefect_flow")
        if flow is not None:
            values["parameters"] = {p.name: p for p in flow.parameters()}
            values["task_slugs"] = task_slugs(flow)
        return values

    @inject
    def load_flow(
        self,
        scheduling_service: "SchedulingService" = Provide[Context.scheduling_service],
    ) -> None:
        """Load the latest registered version of this flow from the backend.

        Fills ``prefect_flow``, ``flow_id``, ``parameters`` and ``task_slugs``.

        Args:
            scheduling_service: the service to load from; injected when omitted.

        Raises:
            FlowNotFoundError: no flow of this name is registered in the project.
        """
        loaded = scheduling_service.load_flow(self.name, self.project_name)
        self._set(prefect_flow=loaded["flow"], flow_id=loaded["flow_id"])
        self._loaded_flow = loaded["flow"]
        self._loaded_with = (list(self.labels), self.image)

    @inject
    def register(
        self,
        scheduling_service: "SchedulingService" = Provide[Context.scheduling_service],
    ) -> str:
        """Register the flow with the backend, with this model's labels and image.

        Loads the flow first when ``prefect_flow`` is not set; on a server
        backend a flow loaded that way is registered already, and its id is
        returned as it is. The project is created when missing. On container backends that build an image for the
        flow, ``image`` becomes the image it was registered with.

        Args:
            scheduling_service: the service to register with; injected when omitted.

        Returns:
            The flow id (also stored in ``flow_id``).

        Raises:
            FlowNotRegistrableError: on a server backend, the flow was loaded
                (the server keeps a description of it, not its code) and its
                labels or image were changed since: registering them needs the
                Prefect flow itself in ``prefect_flow``.
        """
        if self.prefect_flow is None:
            self.load_flow(scheduling_service=scheduling_service)
        if scheduling_service.requires_registration and self.prefect_flow is self._loaded_flow:
            # A server hands back a description of the registered flow, not its code:
            # the flow is registered already, and registering the description would
            # replace it. To register changes, set prefect_flow to the Prefect flow.
            if (list(self.labels), self.image) != self._loaded_with:
                raise FlowNotRegistrableError(self.name, self.labels, self.image)
            return cast(str, self.flow_id)  # load_flow set it
        flow = cast(PrefectFlow, self.prefect_flow)  # given, or set by load_flow
        if flow.name != self.name:
            # register under the model's name without renaming the caller's flow
            flow = flow.copy()
            flow.name = self.name
        flow_id = scheduling_service.register_flow(
            flow, self.project_name, image=self.image, labels=self.labels
        )
        values = {"prefect_flow": flow, "flow_id": flow_id}
        # container backends build an image for the flow: record the one it runs in
        image = scheduling_service.registered_image(flow_id)
        if image:
            values["image"] = image
        self._set(**values)
        return flow_id

    @inject
    def run(
        self,
        parameters: Optional[Dict[str, Any]] = None,
        run_config: Union[RunConfig, FlowRunConfig, None] = None,
        scheduling_service: "SchedulingService" = Provide[Context.scheduling_service],
        **kwargs: Any,
    ) -> Any:
        """Run the flow, loading it first when needed.

        Args:
            parameters: parameter values by name.
            run_config: a backend run config, a ``FlowRunConfig``, or ``None``.
            scheduling_service: the service to run with; injected when omitted.

        Returns:
            On the local backend, the run's final Prefect state; on server
            backends, the flow run id.

        Raises:
            ParameterNotInFlowError: a parameter is not one of the flow's.
            MissingParameterError: a required parameter has no value.
            FlowVersionArchivedError: on a server, the flow's version was replaced
                by a newer one and this model holds its own Prefect flow (a model
                loaded by name runs the current version instead).
        """
        self._ensure_loaded(scheduling_service)
        return self._on_current_version(
            scheduling_service,
            lambda: scheduling_service.run(
                parameters, run_config, flow=self.prefect_flow, flow_id=self.flow_id, **kwargs
            ),
        )

    @inject
    def run_and_return(
        self,
        parameters: Optional[Dict[str, Any]] = None,
        run_config: Union[RunConfig, FlowRunConfig, None] = None,
        task_name: Optional[str] = None,
        scheduling_service: "SchedulingService" = Provide[Context.scheduling_service],
        **kwargs: Any,
    ) -> Any:
        """Run the flow, wait for it and return a task's result.

        Args:
            parameters: parameter values by name.
            run_config: a backend run config, a ``FlowRunConfig``, or ``None``.
            task_name: the task whose result to return; ``None`` returns
                ``{task name: result}`` for all tasks.
            scheduling_service: the service to run with; injected when omitted.

        Returns:
            The task's result (a list when several tasks share the name), or all results.

        Raises:
            FlowFailedError: the run failed; the error names each failed task.
            TaskNotInFlowError: the flow has no such task.
            EmptyResultError: the task finished without a result.
            FlowVersionArchivedError: as for :meth:`run`.
        """
        self._ensure_loaded(scheduling_service)
        return self._on_current_version(
            scheduling_service,
            lambda: scheduling_service.run_and_return(
                parameters, run_config, task_name, flow=self.prefect_flow, flow_id=self.flow_id, **kwargs
            ),
        )

    # --- run history ------------------------------------------------------------

    @inject
    def runs(
        self,
        state: Optional[str] = None,
        since: Union[None, str, datetime, timedelta] = None,
        until: Union[None, str, datetime, timedelta] = None,
        limit: int = 20,
        scheduling_service: "SchedulingService" = Provide[Context.scheduling_service],
    ) -> list:
        """This flow's recorded runs, newest first (``SchedulingService.list_runs`` for its name).

        A registered flow's runs are those of its project; a flow run without
        being registered is recorded without a project, so all runs of its
        name are listed.

        Args:
            state: only runs in this state (``Success``, ``Failed``, ``Crashed``, ...).
            since: only runs started at or after this time (datetime, ISO 8601 text or timedelta).
            until: only runs started before this time.
            limit: the most runs returned.
            scheduling_service: the service to ask; injected when omitted.

        Returns:
            ``RunRecord`` s without their tasks (:meth:`last_run` and
            ``SchedulingService.get_run`` have them).

        Raises:
            InvalidRunFilterError: a filter is malformed.
        """
        project = self.project_name if self.flow_id is not None else None
        return scheduling_service.list_runs(
            flow_name=self.name, project_name=project, state=state, since=since, until=until, limit=limit
        )

    @inject
    def last_run(
        self,
        state: Optional[str] = None,
        scheduling_service: "SchedulingService" = Provide[Context.scheduling_service],
    ) -> Optional["RunRecord"]:
        """This flow's latest recorded run (in ``state``, if given) with its tasks, or ``None``."""
        found = self.runs(state=state, limit=1, scheduling_service=scheduling_service)
        return scheduling_service.get_run(found[0].run_id) if found else None

    @inject
    def run_result(
        self,
        task_name: str,
        run_id: Optional[str] = None,
        scheduling_service: "SchedulingService" = Provide[Context.scheduling_service],
    ) -> Any:
        """A task's result from a finished run, read from the run history without running again.

        Args:
            task_name: the task.
            run_id: the run; ``None`` reads the latest successful run of this flow.
            scheduling_service: the service to ask; injected when omitted.

        Raises:
            RunNotFoundError: no such run, or this flow has no successful run.
            TaskNotInFlowError: the run has no such task.
            RunResultNotRecordedError: the task did not finish, or its result was not kept.
        """
        return scheduling_service.run_result(self._run_id(run_id, scheduling_service), task_name)

    def _run_id(self, run_id: Optional[str], scheduling_service: "SchedulingService") -> str:
        if run_id is not None:
            return run_id
        found = self.runs(state="Success", limit=1, scheduling_service=scheduling_service)
        if not found:
            raise RunNotFoundError(None, flow_name=self.name)
        return found[0].run_id

    def _on_current_version(self, scheduling_service: "SchedulingService", start: Callable[[], Any]) -> Any:
        """Call ``start``; if the server refused an archived version, and this model was
        loaded by name, load the current version and call it once more."""
        try:
            return start()
        except FlowVersionArchivedError:
            # a model holding its own Prefect flow means that code: running another
            # version would run other code, so only a loaded model follows the server
            loaded_by_name = self._loaded_flow is not None and self.prefect_flow is self._loaded_flow
            if not loaded_by_name:
                raise
        self.load_flow(scheduling_service=scheduling_service)
        return start()

    def _ensure_loaded(self, scheduling_service: "SchedulingService") -> None:
        if self.prefect_flow is None or (scheduling_service.requires_registration and self.flow_id is None):
            self.load_flow(scheduling_service=scheduling_service)

    def _set(self, **values: Any) -> None:
        """Assign fields that come from the backend without re-running the validators.

        Values loaded or returned by the backend are already valid; skipping
        validation keeps a flow of flows from re-validating its composition
        on every assignment.
        """
        for name, value in values.items():
            object.__setattr__(self, name, value)
        flow = values.get("prefect_flow")
        if flow is not None:
            object.__setattr__(self, "parameters", {p.name: p for p in flow.parameters()})
            object.__setattr__(self, "task_slugs", task_slugs(flow))
        self.__fields_set__.update(values)


def task_slugs(flow: PrefectFlow) -> Dict[str, str]:
    """Return task name -> slug; where tasks share a name, the first slug."""
    from lume_services.services.scheduling.task_order import slug_order

    slugs: Dict[str, str] = {}
    for task, slug in sorted(flow.slugs.items(), key=lambda item: slug_order(item[1])):
        slugs.setdefault(task.name, slug)
    return slugs


def slugs_by_task_name(flow: PrefectFlow) -> Dict[str, List[str]]:
    """Return task name -> the slugs of every task of that name, in slug order."""
    from lume_services.services.scheduling.task_order import slug_order

    slugs: Dict[str, List[str]] = {}
    for task, slug in sorted(flow.slugs.items(), key=lambda item: slug_order(item[1])):
        slugs.setdefault(task.name, []).append(slug)
    return slugs


def parent_task_slug(flow: PrefectFlow, name_or_slug: str) -> Optional[str]:
    """The slug of the one task a mapping names: by its name when one task has it, else by its slug.

    Returns ``None`` when no task has that name or slug; a name several tasks share
    (a task called in a loop) resolves to nothing by name: callers refuse it, naming
    the slugs (:func:`slugs_by_task_name`).
    """
    named = slugs_by_task_name(flow).get(name_or_slug, [])
    if len(named) == 1:
        return named[0]
    if not named and name_or_slug in set(flow.slugs.values()):
        return name_or_slug
    return None


def __getattr__(name: str) -> Any:
    """``SchedulingService`` and ``RunRecord``, which this module named at import before, on first use (PEP 562)."""
    if name == "SchedulingService":
        from lume_services.services.scheduling.service import SchedulingService

        return SchedulingService
    if name == "RunRecord":
        from lume_services.services.scheduling.run_records import RunRecord

        return RunRecord
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
