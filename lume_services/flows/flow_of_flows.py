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

import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from dependency_injector.wiring import Provide, inject
from pydantic import root_validator

from lume_services.config import Context
from lume_services.errors import ChildFlowArchivedError, TaskNotInFlowError
from lume_services.flows._compose_inline import compose_inline, run_inline
from lume_services.flows._compose_per_child import compose_per_child, run_per_child
from lume_services.flows._graph import parents, topological_order
from lume_services.flows._names import composed_task_name, exposed_parameter_name
from lume_services.flows._results import group_inline_results
from lume_services.flows._spec import check_exposed_names, check_mappings, child_flows, load_yaml
from lume_services.flows.flow import Flow, FlowRunConfig
from lume_services.flows.progress import ChildProgress
from lume_services.services.scheduling.backends.backend import RunConfig
from lume_services.services.scheduling.service import SchedulingService

__all__ = [
    "ChildProgress",
    "FlowOfFlows",
    "composed_task_name",
    "exposed_parameter_name",
    "topological_order",
]

# passes the scheduling service given to from_yaml() into the validator
_SERVICE_KEY = "__scheduling_service__"


@inject
def _injected_scheduling_service(
    scheduling_service: SchedulingService = Provide[Context.scheduling_service],
) -> SchedulingService:
    return scheduling_service


class FlowOfFlows(Flow):
    """Registered flows composed into one flow by mapped parameters.

    Attributes:
        composing_flows: child name -> :class:`Flow`, each loaded from the
            scheduling backend. Given as a dict, or as the list used in YAML
            (items with ``name``, optional ``project_name`` and ``mapped_parameters``).
    """

    composing_flows: dict

    @root_validator(pre=True)
    def validate(cls, values):  # noqa: N805 (pydantic root validator; the reference API name)
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
        children = child_flows(values.get("composing_flows"), values.get("project_name"))
        for child in children.values():
            if child.prefect_flow is None:
                if service is None:
                    service = _injected_scheduling_service()
                child.load_flow(scheduling_service=service)
        check_mappings(children)
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
        image_tag: str = "latest",
        local: bool = False,
        scheduling_service: SchedulingService = Provide[Context.scheduling_service],
    ):
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
        return cls(**data, **{_SERVICE_KEY: scheduling_service})

    def _compose_for(self, scheduling_service: SchedulingService) -> None:
        """Compose with the image from the model's fields and the backend's pull default."""
        name, tag = self.composed_image_name()
        local = scheduling_service.local_images
        self.compose(name, image_tag=tag, local=local, scheduling_service=scheduling_service)

    def composed_image_name(self) -> Tuple[str, Optional[str]]:
        """Image name and tag for the composed flow on container backends.

        The name is ``lume-flow-<project>-<name>`` (Docker-valid, distinct from
        ``image``, which the composed image is built on, and from flows of flows
        of the same name in other projects); the tag is ``None``: the image
        builder tags the image with the composed flow's hash, so each version
        of the composition keeps its own image.
        """
        parts = ["lume-flow", self.project_name or "", self.name]
        slug = "-".join(re.sub(r"[^a-z0-9]+", "-", p.lower()).strip("-") for p in parts if p)
        return re.sub(r"-{2,}", "-", slug)[:120], None

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
        **kwargs,
    ):
        """Run the flow of flows (composing it first when needed).

        Args:
            parameters: values of the composed flow's parameters, named
                ``"<child>-<parameter>"``.
            run_config: a backend run config, a ``FlowRunConfig``, or ``None``.
            scheduling_service: the service to run with; injected when omitted.

        Returns:
            What the backend returns for a run (the final state locally).
        """
        self.ensure_composed(scheduling_service=scheduling_service)
        return super().run(parameters, run_config, scheduling_service=scheduling_service, **kwargs)

    @inject
    def run_and_return(
        self,
        parameters: Optional[Dict[str, Any]] = None,
        run_config: Union[RunConfig, FlowRunConfig, None] = None,
        task_name: Optional[str] = None,
        scheduling_service: SchedulingService = Provide[Context.scheduling_service],
        **kwargs,
    ):
        """Run the flow of flows and return results by child.

        Args:
            parameters: values of the composed flow's parameters (``"<child>-<parameter>"``).
            run_config: a backend run config, a ``FlowRunConfig``, or ``None``.
            task_name: ``None`` for ``{child: {task: result}}``; ``"<child>/<task>"``
                for one task's result; or a bare task name unique across children.
            scheduling_service: the service to run with; injected when omitted.

        Returns:
            The results. A child's results include its parameters, with the
            values it actually received.

        Raises:
            TaskNotInFlowError: ``task_name`` names no task (checked before running).
            FlowFailedError: a child failed; names the child, its failed task and the error.
        """
        wanted = self.resolve_task_name(task_name) if task_name is not None else None
        self.ensure_composed(scheduling_service=scheduling_service)
        if scheduling_service.composition == "per_child":
            return run_per_child(self, scheduling_service, parameters, run_config, wanted, **kwargs)
        return run_inline(self, scheduling_service, parameters, run_config, wanted, **kwargs)

    def group_results(self, flat: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
        """Turn the composed flow's results into ``{child: {task: result}}``.

        A mapped parameter's result is the value the child received.
        """
        return group_inline_results(self, flat)
