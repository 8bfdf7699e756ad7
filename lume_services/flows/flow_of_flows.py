"""Flows of flows: registered flows composed into one, by mapped parameters.

A :class:`FlowOfFlows` names registered flows (its *composing flows*, or
children) and, for each child, which of its parameters take their value from a
task result of another child (its *mapped parameters*). Validation loads every
child and refuses anything that could not run; :meth:`FlowOfFlows.compose`
builds one Prefect flow that runs the children in dependency order.

On the local backend the composed flow holds a copy of every child's tasks,
named ``"<child>/<task>"``: a mapped parameter is replaced by the parent task
that produces its value (``raw`` and ``file``) or by a ``LoadDBResult`` task
reading the stored result (``db``), and the first tasks of a child wait for
the reference tasks of every parent, so a child starts only when its parents
succeeded. Independent children run concurrently under a parallel executor.
Server backends compose with one flow run per child instead (see
``docs/flow_of_flows.md``).
"""

import re
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import yaml
from dependency_injector.wiring import Provide, inject
from pydantic import root_validator

from lume_services import config
from lume_services.config import Context
from lume_services.errors import (
    DuplicateFlowNameError,
    FlowCycleError,
    FlowFailedError,
    FlowNotLoadedError,
    InvalidFlowOfFlowsError,
    MissingDBAttributeError,
    ParameterNotInFlowError,
    ParentFlowNotInFlowsError,
    TaskNotInFlowError,
    UnknownMapTypeError,
)
from lume_services.flows.flow import (
    MAPPED_PARAMETER_TYPES,
    DBMappedParameter,
    Flow,
    FlowRunConfig,
    MappedParameter,
)
from lume_services.services.scheduling.backends.backend import (
    RunConfig,
    slug_order,
    tasks_in_slug_order,
)
from lume_services.services.scheduling.service import SchedulingService

# passes the scheduling service given to from_yaml() into the validator
_SERVICE_KEY = "__scheduling_service__"


def exposed_parameter_name(child: str, parameter: str) -> str:
    """Name of the composed flow's parameter for an unmapped parameter of a child."""
    return f"{child}-{parameter}"


def composed_task_name(child: str, task: str) -> str:
    """Name of a child's task in the composed flow (and in results: ``"<child>/<task>"``)."""
    return f"{child}/{task}"


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
        specs = _child_specs(values.get("composing_flows"))
        default_project = values.get("project_name")
        children: Dict[str, Flow] = {}
        for name, spec in specs:
            if isinstance(spec, Flow):
                children[name] = spec
                continue
            mapped = _parse_mappings(name, spec.get("mapped_parameters"))
            child_values = {k: v for k, v in spec.items() if k != "mapped_parameters"}
            child_values.setdefault("name", name)
            child_values.setdefault("project_name", default_project)
            children[name] = Flow(**child_values, mapped_parameters=mapped)
        for child in children.values():
            if child.prefect_flow is None:
                if service is None:
                    service = _injected_scheduling_service()
                child.load_flow(scheduling_service=service)
        _check_mappings(children)
        _check_exposed_names(children)
        topological_order(children)  # raises FlowCycleError
        values["composing_flows"] = children
        return values

    # --- structure ------------------------------------------------------------

    def execution_order(self) -> List[str]:
        """Child names in an order where every child comes after the flows it maps from."""
        return topological_order(self.composing_flows)

    def parents(self, child: str) -> List[str]:
        """The composing flows ``child`` takes mapped parameters from."""
        return _parents(self.composing_flows[child])

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
        backend = scheduling_service.backend
        server_compose = getattr(backend, "compose_flow_of_flows", None)
        if server_compose is not None:
            flow = server_compose(self, image_name, image_tag=image_tag, local=local)
        else:
            flow = compose_local(self)
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
        data = _load_yaml(yaml_obj)
        return cls(**data, **{_SERVICE_KEY: scheduling_service})

    def _compose_for(self, scheduling_service: SchedulingService) -> None:
        """Compose with the image from the model's fields and the backend's pull default."""
        name, tag = self.composed_image_name()
        local = bool(getattr(scheduling_service.backend, "local_images", False))
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
        """
        if self.prefect_flow is None:
            self._compose_for(scheduling_service)
        if scheduling_service.backend.requires_registration and self.flow_id is None:
            # a server runs registered flows only
            self.register(scheduling_service=scheduling_service)

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
        backend = scheduling_service.backend
        server_run = getattr(backend, "run_and_return_flow_of_flows", None)
        self.ensure_composed(scheduling_service=scheduling_service)
        if server_run is not None:
            return server_run(self, parameters, run_config, task_name, **kwargs)
        from lume_services.services.scheduling.backends.local import collect_results, failed_tasks

        state = super().run(parameters, run_config, scheduling_service=scheduling_service, **kwargs)
        if state.is_failed():
            failed = failed_tasks(state)
            children = sorted({name.partition("/")[0] for name in failed})
            message = f"composing flow(s) {', '.join(repr(c) for c in children)} failed"
            raise FlowFailedError(self.name, failed, message=message)
        results = self.group_results(collect_results(self.prefect_flow, state, None))
        if wanted is None:
            return results
        child, task = wanted
        return results[child][task]

    def group_results(self, flat: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
        """Turn the composed flow's results into ``{child: {task: result}}``.

        A mapped parameter's result is the value the child received.
        """
        grouped: Dict[str, Dict[str, Any]] = {}
        for child_name in self.execution_order():
            child = self.composing_flows[child_name]
            mapped = child.mapped_parameters or {}
            params = set(child.parameters or {})
            out = {}
            for task in sorted(child.task_slugs or {}):
                if task in mapped and mapped[task].map_type != "db":
                    m = mapped[task]
                    key = composed_task_name(m.parent_flow_name, m.parent_task_name)
                elif task in params and task not in mapped:
                    key = exposed_parameter_name(child_name, task)
                else:
                    key = composed_task_name(child_name, task)
                if key in flat:
                    out[task] = flat[key]
            grouped[child_name] = out
        return grouped


class ChildProgress:
    """A task state handler that reports each composing flow once all its tasks finished.

    Pass it to a local run to follow a flow of flows child by child::

        progress = ChildProgress(fof, lambda child, state: print(child, state))
        fof.run_and_return(task_runner_state_handlers=[progress])

    ``state`` is ``"Success"``, ``"Failed"`` (a task of the child failed) or
    ``"TriggerFailed"`` (not run because a parent failed). Local backend only,
    and only with executors that run tasks in this process (``local``,
    ``local_dask`` with threads).

    Args:
        flow_of_flows: the composed flow of flows.
        callback: called as ``callback(child_name, state)``.
    """

    def __init__(self, flow_of_flows: "FlowOfFlows", callback):
        import threading

        if flow_of_flows.prefect_flow is None:
            raise FlowNotLoadedError(
                f"flow of flows {flow_of_flows.name!r} is not composed yet; call compose() "
                "before creating a ChildProgress for it"
            )
        self.callback = callback
        self._lock = threading.Lock()
        self._pending: Dict[str, int] = defaultdict(int)
        self._states: Dict[str, str] = {}
        for task in flow_of_flows.prefect_flow.tasks:
            child, sep, _ = task.name.partition("/")
            if sep and child in flow_of_flows.composing_flows:
                self._pending[child] += 1
        for child in flow_of_flows.composing_flows:
            self._states[child] = "Success"

    def __call__(self, task_runner, old_state, new_state):
        import prefect
        from prefect.engine.state import TriggerFailed

        if not new_state.is_finished() or prefect.context.get("map_index") is not None:
            return new_state
        child, sep, _ = task_runner.task.name.partition("/")
        if not sep or child not in self._pending:
            return new_state
        with self._lock:
            if isinstance(new_state, TriggerFailed):
                if self._states[child] == "Success":
                    self._states[child] = "TriggerFailed"
            elif new_state.is_failed():
                self._states[child] = "Failed"
            self._pending[child] -= 1
            done = self._pending[child] == 0
        if done:
            self.callback(child, self._states[child])
        return new_state


# --- validation helpers ------------------------------------------------------


def _child_specs(raw) -> List[Tuple[str, Any]]:
    if raw is None:
        raise InvalidFlowOfFlowsError(
            "a flow of flows needs composing_flows: a list of {name, project_name, "
            "mapped_parameters} or a dict of child name -> Flow"
        )
    items: List[Tuple[str, Any]] = []
    if isinstance(raw, dict):
        for name, spec in raw.items():
            items.append((name, _spec(name, spec)))
    elif isinstance(raw, (list, tuple)):
        for i, spec in enumerate(raw):
            name = spec.name if isinstance(spec, Flow) else (spec or {}).get("name") if isinstance(spec, dict) else None
            if not name:
                raise InvalidFlowOfFlowsError(
                    f"composing flow #{i + 1} has no name; each item needs name, and may "
                    "give project_name and mapped_parameters"
                )
            items.append((name, _spec(name, spec)))
    else:
        raise InvalidFlowOfFlowsError(
            f"composing_flows must be a list or a dict; got {type(raw).__name__}"
        )
    names = [n for n, _ in items]
    duplicated = {n for n in names if names.count(n) > 1}
    if duplicated:
        raise DuplicateFlowNameError(duplicated)
    return items


def _spec(name: str, spec):
    if isinstance(spec, Flow):
        if spec.name != name:
            raise InvalidFlowOfFlowsError(
                f"composing flow key {name!r} differs from its Flow's name {spec.name!r}"
            )
        return spec
    if spec is None:
        return {"name": name}
    if not isinstance(spec, dict):
        raise InvalidFlowOfFlowsError(
            f"composing flow {name!r} must be a mapping with name, project_name and "
            f"mapped_parameters, or a Flow; got {type(spec).__name__}"
        )
    return spec


def _parse_mappings(child: str, raw) -> Optional[Dict[str, MappedParameter]]:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidFlowOfFlowsError(
            f"mapped_parameters of flow {child!r} must map parameter names to mappings; "
            f"got {type(raw).__name__}"
        )
    parsed = {}
    for param, m in raw.items():
        if isinstance(m, MappedParameter):
            parsed[param] = m
            continue
        if not isinstance(m, dict):
            raise InvalidFlowOfFlowsError(
                f"mapped parameter {param!r} of flow {child!r} must be a mapping with "
                "parent_flow_name, parent_task_name and map_type"
            )
        map_type = m.get("map_type", "raw")
        if map_type not in MAPPED_PARAMETER_TYPES:
            raise UnknownMapTypeError(param, map_type, child=child)
        if map_type == "db" and not m.get("attribute"):
            raise MissingDBAttributeError(child, param)
        missing = [k for k in ("parent_flow_name", "parent_task_name") if not m.get(k)]
        if missing:
            raise InvalidFlowOfFlowsError(
                f"mapped parameter {param!r} of flow {child!r} needs {' and '.join(missing)}"
            )
        parsed[param] = MAPPED_PARAMETER_TYPES[map_type](**m)
    return parsed


def _check_mappings(children: Dict[str, Flow]) -> None:
    for name, child in children.items():
        mapped = child.mapped_parameters or {}
        params = child.parameters or {}
        unknown = set(mapped) - set(params)
        if unknown:
            raise ParameterNotInFlowError(
                name, unknown, params, context=f"flow {name!r} maps parameter(s) {sorted(unknown)}"
            )
        for param, m in mapped.items():
            if isinstance(m, DBMappedParameter) and not m.attribute:
                raise MissingDBAttributeError(name, param)
            if m.parent_flow_name not in children:
                raise ParentFlowNotInFlowsError(name, param, m.parent_flow_name, children)
            parent = children[m.parent_flow_name]
            tasks = parent.task_slugs or {}
            if m.parent_task_name not in tasks:
                raise TaskNotInFlowError(
                    parent.name,
                    m.parent_task_name,
                    tasks,
                    context=(
                        f"flow {name!r} maps parameter {param!r} from task "
                        f"{m.parent_task_name!r} of {m.parent_flow_name!r}"
                    ),
                )


def _check_exposed_names(children: Dict[str, Flow]) -> None:
    """Unmapped parameters become ``<child>-<parameter>``: two must not get one name."""
    owners: Dict[str, List[str]] = defaultdict(list)
    for name, child in children.items():
        for param in child.parameters or {}:
            if param not in (child.mapped_parameters or {}):
                owners[exposed_parameter_name(name, param)].append(f"{param!r} of {name!r}")
    clashes = {exposed: who for exposed, who in owners.items() if len(who) > 1}
    if clashes:
        details = "; ".join(f"{exposed!r} from {' and '.join(who)}" for exposed, who in sorted(clashes.items()))
        raise InvalidFlowOfFlowsError(
            "unmapped parameters are exposed as '<child>-<parameter>', and these would share "
            f"a name: {details}; rename a flow or a parameter"
        )


def _parents(child: Flow) -> List[str]:
    seen: Dict[str, None] = {}
    for m in (child.mapped_parameters or {}).values():
        seen.setdefault(m.parent_flow_name, None)
    return list(seen)


def topological_order(children: Dict[str, Flow]) -> List[str]:
    """Order children so each comes after its parents; ties keep the declared order.

    Raises:
        FlowCycleError: the mappings form a cycle (the error names its flows).
    """
    index = {name: i for i, name in enumerate(children)}
    downstream: Dict[str, List[str]] = defaultdict(list)
    indegree = {name: 0 for name in children}
    for name, child in children.items():
        for parent in _parents(child):
            if parent in children:
                downstream[parent].append(name)
                indegree[name] += 1
    import heapq

    ready = [(index[n], n) for n, d in indegree.items() if d == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, name = heapq.heappop(ready)
        order.append(name)
        for nxt in downstream[name]:
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                heapq.heappush(ready, (index[nxt], nxt))
    if len(order) < len(children):
        raise FlowCycleError(_find_cycle(children, {n for n, d in indegree.items() if d > 0}))
    return order


def _find_cycle(children: Dict[str, Flow], remaining) -> List[str]:
    # every node left has a parent left: walk parents until a node repeats
    start = min(remaining, key=list(children).index)
    path, seen = [], {}
    node = start
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = next(p for p in _parents(children[node]) if p in remaining)
    cycle = path[seen[node]:]
    cycle.reverse()  # parent -> child order
    first = min(cycle, key=list(children).index)  # start at the first declared
    i = cycle.index(first)
    return cycle[i:] + cycle[:i]


def _is_file(text: str) -> bool:
    try:
        return Path(text).is_file()
    except OSError:  # e.g. a one-line YAML document longer than a file name may be
        return False


def _load_yaml(yaml_obj) -> dict:
    if isinstance(yaml_obj, dict):
        return dict(yaml_obj)
    if isinstance(yaml_obj, str) and "\n" not in yaml_obj and _is_file(yaml_obj):
        yaml_obj = Path(yaml_obj)
    if isinstance(yaml_obj, Path) or (
        isinstance(yaml_obj, str) and "\n" not in yaml_obj and yaml_obj.strip().endswith((".yaml", ".yml"))
    ):
        path = Path(yaml_obj)
        if not path.is_file():
            raise InvalidFlowOfFlowsError(f"flow of flows file {str(path)!r} does not exist")
        yaml_obj = path.read_text()
    if not isinstance(yaml_obj, str):
        raise InvalidFlowOfFlowsError(
            f"from_yaml takes a path, a YAML string or a dict; got {type(yaml_obj).__name__}"
        )
    data = yaml.safe_load(yaml_obj)
    if not isinstance(data, dict):
        raise InvalidFlowOfFlowsError(
            "a flow of flows YAML must be a mapping with name, project_name and "
            f"composing_flows; got {type(data).__name__}"
        )
    return data


# --- local composition -------------------------------------------------------


def compose_local(fof: FlowOfFlows):
    """Build the local composed flow: copies of every child's tasks, wired by the mappings."""
    from prefect import Flow as PrefectFlow
    from prefect import Parameter

    composed = PrefectFlow(fof.name)
    copies: Dict[str, dict] = {}  # child -> {original task: task in the composed flow}
    by_name: Dict[str, Dict[str, Any]] = {}  # child -> {task name: first copy by slug}
    for child_name in fof.execution_order():
        child = fof.composing_flows[child_name]
        flow = child.prefect_flow
        mapped = child.mapped_parameters or {}
        tasks = tasks_in_slug_order(flow)
        replaced: Dict[Any, Any] = {}
        for task in tasks:
            if isinstance(task, Parameter):
                m = mapped.get(task.name)
                if m is None:
                    new = task.copy(name=exposed_parameter_name(child_name, task.name))
                elif m.map_type == "db":
                    new = _db_loader(composed, child_name, task.name, m, by_name[m.parent_flow_name][m.parent_task_name])
                else:
                    new = by_name[m.parent_flow_name][m.parent_task_name]
            else:
                new = task.copy(name=composed_task_name(child_name, task.name), slug=None)
            composed.add_task(new)
            replaced[task] = new
        for edge in flow.edges:
            composed.add_edge(
                replaced[edge.upstream_task],
                replaced[edge.downstream_task],
                key=edge.key,
                mapped=edge.mapped,
                flattened=edge.flattened,
                validate=False,
            )
        for task, constants in flow.constants.items():
            composed.constants[replaced[task]] = dict(constants)
        # a child starts when its parents succeeded: gate its entry tasks on their reference tasks
        gates = [
            copies[parent][ref]
            for parent in fof.parents(child_name)
            for ref in _reference_tasks(fof.composing_flows[parent].prefect_flow)
        ]
        if gates:
            for task in tasks:
                if isinstance(task, Parameter):
                    continue
                upstream = [e.upstream_task for e in flow.edges_to(task)]
                if all(isinstance(u, Parameter) for u in upstream):
                    for gate in gates:
                        if gate is not replaced[task]:
                            composed.add_edge(gate, replaced[task], validate=False)
        copies[child_name] = replaced
        first: Dict[str, Any] = {}
        for task in tasks:
            first.setdefault(task.name, replaced[task])
        by_name[child_name] = first
    reference = [
        copies[c][t] for c in fof.execution_order() for t in _reference_tasks(fof.composing_flows[c].prefect_flow)
    ]
    composed.set_reference_tasks(reference)
    return composed


def _reference_tasks(flow) -> list:
    return sorted(flow.reference_tasks(), key=lambda t: slug_order(flow.slugs[t]))


def _db_loader(composed, child: str, parameter: str, m: DBMappedParameter, parent_task):
    from lume_services.tasks.db import LoadDBResult

    loader = LoadDBResult(name=composed_task_name(child, parameter))
    composed.add_task(loader)
    composed.add_edge(parent_task, loader, key="result_rep", validate=False)
    composed.constants[loader] = {"attribute": m.attribute, "attribute_index": m.attribute_index}
    return loader


config.wire(__name__)
