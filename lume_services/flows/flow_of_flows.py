"""Flows of flows: registered flows composed into one, by mapped parameters.

A :class:`FlowOfFlows` names registered flows (its *composing flows*, or
children) and, for each child, which of its parameters take their value from a
task result of another child (its *mapped parameters*). Validation loads every
child and refuses anything that could not run; :meth:`FlowOfFlows.compose`
builds one Prefect flow that runs the children in dependency order, in the
way the scheduling backend runs flows:

- **inline** (the local backend): one Prefect flow holding a copy of every
  child's tasks, named ``"<child>/<task>"`` (``_compose_inline``);
- **per child** (server backends): one Prefect flow that starts a flow run
  of each registered child and hands mapped values on (``_compose_per_child``).

Both share the declaration parser (``_spec``), the dependency graph
(``_graph``) and the naming of results (``_names``, ``_results``). See
``docs/flow_of_flows.md`` and ``docs/architecture.md``.
"""

import uuid
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, Union, cast

from dependency_injector.wiring import Provide
from prefect import Flow as PrefectFlow
from pydantic import PrivateAttr, ValidationError, root_validator

from lume_services.composition import Context, inject
from lume_services.errors import (
    ChildFlowArchivedError,
    FlowFailedError,
    InvalidDeclarationValueError,
    TaskNotInFlowError,
)
from lume_services.flows._compose_inline import child_plans, compose_inline, run_inline, start_inline
from lume_services.flows._compose_per_child import compose_per_child, per_child_states, run_per_child, start_per_child
from lume_services.flows._graph import parents, topological_order
from lume_services.flows._names import composed_task_name, exposed_parameter_name
from lume_services.flows._picture import Edge, FlowOfFlowsPictures
from lume_services.flows._results import group_inline_results, recorded_child_result
from lume_services.flows._reuse import (
    REUSED_STATE, PlanStep, declaration_of, plan_reuse, resumable_run, reuse_for_run)
from lume_services.flows._spec import (
    cached_by_declaration,
    check_sweeps,
    sweeps_by_declaration,
    check_cache_option,
    check_exposed_names,
    check_mappings,
    check_top_level,
    child_flows,
    load_yaml,
)
from lume_services.flows.flow import Flow, FlowRunConfig
from lume_services.flows.progress import ChildEvent, ChildProgress
from lume_services.image_names import image_name
from lume_services.services.scheduling.backend import RunConfig
from lume_services.services.scheduling.run_options import carry
from lume_services.services.scheduling.service import SchedulingService

__all__ = [
    "ChildEvent", "ChildProgress", "ChildReregisteredWarning", "PlanStep", "Edge",
    "FlowOfFlows", "composed_task_name", "exposed_parameter_name", "topological_order",
]

class ChildReregisteredWarning(UserWarning):
    """A composing flow was registered again after the flow of flows was built: it would run the old version."""


# passes the scheduling service given to from_yaml() into the validator
_SERVICE_KEY = "__scheduling_service__"


@inject
def _injected_scheduling_service(
    scheduling_service: SchedulingService = Provide[Context.scheduling_service],
) -> SchedulingService:
    return scheduling_service


class FlowOfFlows(FlowOfFlowsPictures, Flow):
    """Registered flows composed into one flow by mapped parameters.

    Attributes:
        composing_flows: child name -> :class:`Flow`, each loaded from the
            scheduling backend. Given as a dict, or as the list used in YAML
            (items with ``name``, optional ``project_name``, ``mapped_parameters``
            and ``cache``).
        cache: which children reuse their recorded results when their
            registered version, parameters and mapped inputs are those of a
            successful earlier run: ``True`` (all), ``False`` (none, the
            default) or a list of child names; a child's ``cache: true`` in
            YAML adds it.
        map_over: child -> the parameters it sweeps: it runs once per item
            of their (list) values, items in order (a child's ``map_over:`` in YAML).
    """

    composing_flows: dict
    cache: Union[bool, List[str]] = False
    map_over: Dict[str, List[str]] = {}

    # child -> final state of the last run_and_return ("Success", "Failed", "TriggerFailed", "Cached")
    _child_states: Dict[str, str] = PrivateAttr(default_factory=dict)
    # the id of the last run started here (on a server: the composed run)
    _last_run_id: Optional[str] = PrivateAttr(default=None)

    @root_validator(pre=True)
    @classmethod
    def validate(cls, values: Dict[str, Any]) -> Dict[str, Any]:  # noqa: N805 (pydantic root validator; the reference API name)
        """Load every composing flow and refuse a composition that could not run.

        Raises:
            DuplicateFlowNameError: two composing flows share a name.
            UnknownMapTypeError: a mapping has a map_type other than raw, file, db.
            MissingDBAttributeError: a ``db`` mapping gives no ``attribute``.
            FlowNotFoundError: a composing flow is not registered.
            ParameterNotInFlowError: a mapped parameter is not a parameter of its flow.
            ParentFlowNotInFlowsError: a mapping names a flow that is not composed.
            TaskNotInFlowError: a mapping names a task its parent flow does not have.
            FlowCycleError: the mappings form a cycle.
        """
        service = values.pop(_SERVICE_KEY, None)
        check_top_level(values, cls.__fields__)
        cached = cached_by_declaration(values.get("composing_flows"), values.get("name"))
        children = child_flows(values.get("composing_flows"), values.get("project_name"))
        cache = values.get("cache", False)
        check_cache_option(cache, values.get("name"), list(children))
        if cache is not True and cached:
            cache = sorted({*(cache or []), *cached})
        values["cache"] = cache
        for child in children.values():
            if child.prefect_flow is None:
                if service is None:
                    service = _injected_scheduling_service()
                child.load_flow(scheduling_service=service)
        check_mappings(children)
        values["map_over"] = check_sweeps({**sweeps_by_declaration(values.get("composing_flows")),
                                           **(values.get("map_over") or {})}, children, values.get("name"))
        check_exposed_names(children)
        topological_order(children)  # raises FlowCycleError
        values["composing_flows"] = children
        return values

    # --- structure ------------------------------------------------------------

    def execution_order(self) -> List[str]:
        """Child names in an order where every child comes after the flows it maps from."""
        return topological_order(self.composing_flows)

    def parents(self, child: str) -> List[str]:
        """The composing flows ``child`` takes mapped parameters from."""
        return parents(self.composing_flows[child])

    def result_names(self) -> List[str]:
        """Every valid ``"<child>/<task>"`` name for :meth:`run_and_return`."""
        names = []
        for child in self.execution_order():
            for task in sorted(self.composing_flows[child].task_slugs or {}):
                names.append(composed_task_name(child, task))
        return names

    def resolve_task_name(self, task_name: str) -> Tuple[str, str]:
        """Return ``(child, task)`` for ``"<child>/<task>"`` or a bare task name unique across children.

        Raises:
            TaskNotInFlowError: the name is unknown, or a bare name shared by several children.
        """
        valid = self.result_names()
        child, sep, task = task_name.partition("/")
        if sep and child in self.composing_flows:
            if task in (self.composing_flows[child].task_slugs or {}):
                return child, task
        elif not sep:
            owners = [c for c in self.execution_order() if task_name in (self.composing_flows[c].task_slugs or {})]
            if len(owners) == 1:
                return owners[0], task_name
            if len(owners) > 1:
                raise TaskNotInFlowError(
                    self.name,
                    task_name,
                    valid,
                    context=f"task name {task_name!r} is shared by flows {owners}; use '<child>/<task>'",
                )
        raise TaskNotInFlowError(self.name, task_name, valid)

    # --- composition ----------------------------------------------------------

    @inject
    def compose(
        self,
        image_name: str,
        image_tag: Optional[str] = "latest",
        local: bool = False,
        scheduling_service: SchedulingService = Provide[Context.scheduling_service],
    ) -> PrefectFlow:
        """Compose the children into one Prefect flow, which becomes ``prefect_flow``.

        Args:
            image_name: image name for the composed flow's Docker storage (server backends).
            image_tag: image tag.
            local: build the image from a local base image without pulling (server backends).
            scheduling_service: the service to compose for; injected when omitted.

        Returns:
            The composed ``prefect.Flow``. Composing does not change the child
            ``Flow`` models; composing twice gives the same flow.
        """
        if scheduling_service.composition == "per_child":
            flow = compose_per_child(self)
            # any run of the composed flow (a plain Flow.run, the Prefect UI) can be resumed by id
            carry(flow, self.declaration())
            scheduling_service.package_composed_flow(
                flow,
                labels=list(self.labels),
                image=self.image,
                image_name=image_name,
                image_tag=image_tag,
                local=local,
                project_name=self.project_name,
            )
        else:
            flow = compose_inline(self)
            carry(flow, self.declaration(), child_plans(self))
        # a new composition is not the registered one (if any): register it to run it on a server
        self._set(prefect_flow=flow, flow_id=None)
        return flow

    @inject
    def compose_and_register(
        self,
        scheduling_service: SchedulingService = Provide[Context.scheduling_service],
    ) -> str:
        """Compose and register the composed flow, with the image from the model's fields.

        On container backends the composed flow's image is
        :meth:`composed_image_name` (from ``name``), built on ``image``; whether
        ``image`` is pulled is the backend's default (a Docker backend with
        local images never pulls).

        Returns:
            The composed flow's id.
        """
        self._compose_for(scheduling_service)
        return self.register(scheduling_service=scheduling_service)

    @classmethod
    @inject
    def from_yaml(
        cls,
        yaml_obj: Union[str, Path, dict],
        scheduling_service: SchedulingService = Provide[Context.scheduling_service],
    ) -> "FlowOfFlows":
        """Build a flow of flows from YAML.

        Args:
            yaml_obj: a path to a YAML file, a YAML string, or an already-loaded dict.
            scheduling_service: the service children are loaded from; injected when omitted.

        Raises:
            InvalidFlowOfFlowsError: the YAML is not a mapping with a name and composing flows.
        """
        data = load_yaml(yaml_obj)
        try:
            service: Dict[str, Any] = {_SERVICE_KEY: scheduling_service}
            return cls(**data, **service)
        except ValidationError as exc:  # a value of the wrong type at the top level
            raise InvalidDeclarationValueError(data.get("name"), exc) from exc

    def _compose_for(self, scheduling_service: SchedulingService) -> None:
        """Compose with the image from the model's fields and the backend's pull default."""
        name, tag = self.composed_image_name()
        local = scheduling_service.local_images
        self.compose(name, image_tag=tag, local=local, scheduling_service=scheduling_service)

    def composed_image_name(self) -> Tuple[str, Optional[str]]:
        """Image name and tag for the composed flow on container backends.

        The name is ``lume-flow-<project>-<name>`` (Docker-valid, distinct from
        ``image``, which the composed image is built on, and from flows of flows
        of the same name in other projects; a short hash is added when the names
        are not already lower-case ASCII, see :mod:`lume_services.image_names`); the tag is ``None``: the image
        builder tags the image with the composed flow's hash, so each version
        of the composition keeps its own image.
        """
        return image_name(self.name, self.project_name), None

    # --- runs -------------------------------------------------------------------

    @inject
    def ensure_composed(
        self,
        scheduling_service: SchedulingService = Provide[Context.scheduling_service],
    ) -> None:
        """Make the flow of flows ready to run: compose it if it is not, and on a
        server backend register the composition if it is not registered.

        The composed image (container backends) is :meth:`composed_image_name`,
        built on ``image`` with the backend's default for pulling.

        Args:
            scheduling_service: the service to compose for; injected when omitted.

        Raises:
            ChildFlowArchivedError: on a server, a child was registered anew since
                the flow of flows was built: its composed run would start the
                archived version, which the server refuses. Names the child.
        """
        if self.prefect_flow is None:
            self._compose_for(scheduling_service)
        if scheduling_service.requires_registration:
            self._check_children_current(scheduling_service)
            if self.flow_id is None:
                # a server runs registered flows only
                self.register(scheduling_service=scheduling_service)

    def _check_children_current(self, scheduling_service: SchedulingService) -> None:
        """Refuse to run with children whose composed versions the server has archived.

        Re-composing silently would run other code than was validated (a new
        version may have other parameters and tasks): the user builds the flow
        of flows again instead, which loads and checks the current children.
        """
        children = {name: child.flow_id for name, child in self.composing_flows.items()}
        archived = scheduling_service.archived_versions(list(children.values()))
        stale = {
            name: (flow_id, archived[flow_id]["version"], archived[flow_id]["current_flow_id"],
                   archived[flow_id]["current_version"])
            for name, flow_id in children.items() if flow_id in archived
        }
        if stale:
            raise ChildFlowArchivedError(self.name, stale)

    @inject
    def run(
        self,
        parameters: Optional[Dict[str, Any]] = None,
        run_config: Union[RunConfig, FlowRunConfig, None] = None,
        scheduling_service: SchedulingService = Provide[Context.scheduling_service],
        use_cache: bool = True,
        **kwargs: Any,
    ) -> Any:
        """Run the flow of flows (composing it first when needed).

        Args:
            parameters: values of the composed flow's parameters, named
                ``"<child>-<parameter>"``.
            run_config: a backend run config, a ``FlowRunConfig``, or ``None``.
            scheduling_service: the service to run with; injected when omitted.
            use_cache: ``False`` runs every child, cached or not.

        Returns:
            What the backend returns for a run (the final state locally).

        Warns:
            ChildReregisteredWarning: on the local backend, a child was registered
                again since this flow of flows was built (it runs the version it
                was built with; a server refuses with ``ChildFlowArchivedError``).
        """
        self.ensure_composed(scheduling_service=scheduling_service)  # a server refuses archived children
        if not scheduling_service.requires_registration:  # here old code would run without a word
            self.warn_if_children_reregistered(scheduling_service=scheduling_service)
        reuse = reuse_for_run(self, scheduling_service, parameters, run_config, use_cache)
        if scheduling_service.composition == "inline":  # one run: tell the history which task is whose
            return start_inline(self, scheduling_service, parameters, run_config, reuse,
                                run_id=self._new_run_id(), **kwargs)
        self._last_run_id = start_per_child(self, scheduling_service, parameters, run_config, reuse, **kwargs)
        return self._last_run_id

    @inject
    def run_and_return(
        self,
        parameters: Optional[Dict[str, Any]] = None,
        run_config: Union[RunConfig, FlowRunConfig, None] = None,
        task_name: Optional[str] = None,
        scheduling_service: SchedulingService = Provide[Context.scheduling_service],
        progress: Optional[Callable[[ChildEvent], Any]] = None,
        use_cache: bool = True,
        **kwargs: Any,
    ) -> Any:
        """Run the flow of flows and return results by child.

        Cached children (``cache``) with a successful earlier run of the same version,
        parameters and inputs give back its recorded results (``Cached`` in the history).

        Args:
            parameters: values of the composed flow's parameters (``"<child>-<parameter>"``).
            run_config: a backend run config, a ``FlowRunConfig``, or ``None``.
            task_name: ``None`` for ``{child: {task: result}}``; ``"<child>/<task>"``
                for one task's result; or a bare task name unique across children.
            scheduling_service: the service to run with; injected when omitted.
            progress: called with a :class:`ChildEvent` as each child starts
                and finishes, from this process, under every executor; an
                error in it is logged and never changes the run. Reported
                where flows run in this process (the local backend); on
                server backends each child is a flow run of its own, seen in
                the server's UI.
            use_cache: ``False`` runs every child, cached or not.

        Returns:
            The results. A child's results include its parameters, with the
            values it actually received.

        Raises:
            TaskNotInFlowError: ``task_name`` names no task (checked before running).
            FlowFailedError: a child failed; names the child, its failed task and the error.

        Warns:
            ChildReregisteredWarning: on the local backend, a child was registered
                again since this flow of flows was built (it runs the version it
                was built with; a server refuses with ``ChildFlowArchivedError``).
        """
        wanted = self.resolve_task_name(task_name) if task_name is not None else None
        self.ensure_composed(scheduling_service=scheduling_service)  # a server refuses archived children
        if not scheduling_service.requires_registration:  # here old code would run without a word
            self.warn_if_children_reregistered(scheduling_service=scheduling_service)
        self._child_states = {}
        reuse = reuse_for_run(self, scheduling_service, parameters, run_config, use_cache)
        if scheduling_service.composition == "per_child":
            return self._run_per_child(scheduling_service, parameters, run_config, wanted, reuse, **kwargs)
        return self._run_inline(scheduling_service, parameters, run_config, wanted, progress, reuse, **kwargs)

    def _run_per_child(self, scheduling_service: SchedulingService, parameters: Any, run_config: Any, wanted: Any,
                       reuse: Dict[str, Any], **kwargs: Any) -> Any:
        try:
            results = run_per_child(self, scheduling_service, parameters, run_config, wanted, reuse=reuse, **kwargs)
        except FlowFailedError as exc:
            self._child_states = per_child_states(self, reuse, exc)
            raise
        self._child_states = per_child_states(self, reuse)
        return results

    def _run_inline(self, scheduling_service: SchedulingService, parameters: Any, run_config: Any, wanted: Any,
                    progress: Any, reuse: Dict[str, Any], **kwargs: Any) -> Any:
        flow = compose_inline(self, reuse) if reuse else self.prefect_flow
        listener = ChildProgress(self, progress or (lambda event: None), flow=flow)
        if scheduling_service.reports_task_events:
            kwargs["task_events"] = listener
        try:
            return run_inline(self, scheduling_service, parameters, run_config, wanted, reuse, flow,
                              run_id=self._new_run_id(), **kwargs)
        finally:
            self._child_states = listener.final_states()
            for child in reuse:
                if self._child_states.get(child) == "Success":
                    self._child_states[child] = REUSED_STATE

    # --- reuse: cached children, resume, plan (issue 22) --------------------------------

    def cached_children(self) -> set:
        """The names of the children that reuse their recorded results when they can (``cache``)."""
        if self.cache is True:
            return set(self.composing_flows)
        return set(self.cache or [])

    last_run_id = property(lambda self: self._last_run_id, doc="The id of the last run started here (composed run).")

    def _new_run_id(self) -> str:
        self._last_run_id = str(uuid.uuid4())
        return self._last_run_id

    def declaration(self) -> Dict[str, Any]:
        """The flow of flows as a declaration (what ``from_yaml`` takes), kept with each local run."""
        return declaration_of(self)

    @inject
    def plan(
        self,
        parameters: Optional[Dict[str, Any]] = None,
        use_cache: bool = True,
        scheduling_service: SchedulingService = Provide[Context.scheduling_service],
    ) -> List[PlanStep]:
        """What a run with ``parameters`` would do, child by child in execution order; nothing runs.

        Args:
            parameters: the run's parameters (``"<child>-<parameter>"``).
            use_cache: ``False``: plan a run with caching off.
            scheduling_service: the service whose run history (a server's runs) is read; injected when omitted.

        Returns:
            One :class:`PlanStep` per child: ``run`` or ``reuse`` (and from
            which run), why it would run, and its last recorded duration.
        """
        return plan_reuse(self, scheduling_service, dict(parameters or {}), use_cache)[1]

    @inject
    def resume(
        self,
        run_id: str,
        parameters: Optional[Dict[str, Any]] = None,
        run_config: Union[RunConfig, FlowRunConfig, None] = None,
        scheduling_service: SchedulingService = Provide[Context.scheduling_service],
        progress: Optional[Callable[[ChildEvent], Any]] = None,
        **kwargs: Any,
    ) -> Dict[str, Dict[str, Any]]:
        """Run only the children that failed or never ran in run ``run_id``, reusing the others' results.

        Those that succeeded there give back their recorded results (``Cached``
        in the history); the others run, at their current versions, with the run's parameters.

        Args:
            run_id: a recorded run of this flow of flows.
            parameters: parameters to change (the others are the run's).
            run_config: a backend run config, a ``FlowRunConfig``, or ``None``.
            scheduling_service: the service to run with; injected when omitted.
            progress: called with each child's start and finish (see :meth:`run_and_return`).

        Returns:
            The results by child, as :meth:`run_and_return` gives them.

        Raises:
            RunNotFoundError: no run has this id.
            RunNotOfFlowOfFlowsError: the run is not one of this flow of flows.
            ChildVersionChangedError: a child that succeeded there was registered
                anew since; names it (nothing runs).
            FlowFailedError: a child failed again.
        """
        record = resumable_run(self, scheduling_service.get_run(run_id))
        self.ensure_composed(scheduling_service=scheduling_service)
        known = {p.name for p in cast(PrefectFlow, self.prefect_flow).parameters()}
        given = {k: v for k, v in record.parameters.items() if k in known}
        given.update(parameters or {})
        self._child_states = {}
        reuse = reuse_for_run(self, scheduling_service, given, run_config, False, resume=record)
        if scheduling_service.composition == "per_child":
            return self._run_per_child(scheduling_service, given, run_config, None, reuse, **kwargs)
        return self._run_inline(scheduling_service, given, run_config, None, progress, reuse, **kwargs)

    @inject
    def warn_if_children_reregistered(
        self,
        scheduling_service: SchedulingService = Provide[Context.scheduling_service],
    ) -> List[str]:
        """Warn when a composing flow's latest registered version is not the one this flow of flows holds.

        A flow of flows keeps the children it was built with; a child
        registered again since (a notebook cell run twice, a CI job) would
        run its old code. Build the flow of flows again to use the new versions.

        Returns:
            The names of the children registered again.
        """
        latest: Dict[Optional[str], Dict[str, str]] = {}
        stale = []
        for name, child in self.composing_flows.items():
            if child.flow_id is None or child.project_name is None:
                continue
            if child.project_name not in latest:
                rows = scheduling_service.list_flows(child.project_name)
                latest[child.project_name] = {row["name"]: row["flow_id"] for row in rows}
            current = latest[child.project_name].get(name)
            if current is not None and current != child.flow_id:
                stale.append(name)
        if stale:
            warnings.warn(
                f"flow of flows {self.name!r}: {', '.join(repr(c) for c in stale)} "
                "registered again since it was built; it runs the versions it was built with. "
                "Build the flow of flows again (FlowOfFlows.from_yaml(...) or FlowOfFlows(...)) "
                "to run the new versions",
                ChildReregisteredWarning,
                stacklevel=3,
            )
        return stale

    @inject
    def run_result(
        self,
        task_name: str,
        run_id: Optional[str] = None,
        scheduling_service: SchedulingService = Provide[Context.scheduling_service],
    ) -> Any:
        """A child's task result from a finished run of the flow of flows, without running again.

        Args:
            task_name: ``"<child>/<task>"``, or a task name unique across children;
                a child's mapped parameter gives the value it received.
            run_id: the flow of flows' run; ``None`` reads its latest successful run.
            scheduling_service: the service to ask; injected when omitted.

        Raises:
            TaskNotInFlowError: no child has that task (checked first).
            RunNotFoundError: no such run, or no successful run.
            RunResultNotRecordedError: the task did not finish, or its result was not kept.
        """
        child_name, task = self.resolve_task_name(task_name)
        run = scheduling_service.get_run(self._run_id(run_id, scheduling_service))
        return recorded_child_result(scheduling_service, run, child_name, task, self)

    def group_results(self, flat: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
        """Turn the composed flow's results into ``{child: {task: result}}``.

        A mapped parameter's result is the value the child received.
        """
        return group_inline_results(self, flat)
