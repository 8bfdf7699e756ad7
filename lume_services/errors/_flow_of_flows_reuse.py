"""The errors of a flow of flows' reuse of recorded results (issue 22): cache, sweeps, resume, reproduce."""

from typing import Any, Iterable, Optional

from lume_services.errors._base import _names
from lume_services.errors._flow_of_flows import FlowOfFlowsError, InvalidFlowOfFlowsError


class InvalidCacheOptionError(InvalidFlowOfFlowsError):
    """A flow of flows' ``cache`` option is not one it takes.

    Args:
        flow_of_flows: the flow of flows' name.
        value: the value given.
        child: the child whose ``cache:`` was given (YAML), if one.
        unknown: children named in a ``cache`` list that are not composed.
        valid: the composed children.
    """

    def __init__(self, flow_of_flows: Optional[str], value: Any, child: Optional[str] = None,
                 unknown: Iterable[str] = (), valid: Iterable[str] = ()):
        self.flow_of_flows = flow_of_flows
        self.value = value
        self.child = child
        self.unknown = sorted(unknown)
        self.valid = sorted(valid)
        if self.unknown:
            message = (
                f"flow of flows {flow_of_flows!r}: cache names {_names(self.unknown)}, which are not "
                f"composed; give true, false, or a list of its children ({_names(self.valid)})"
            )
        elif child is not None:
            message = (
                f"flow of flows {flow_of_flows!r}: child {child!r} has cache: {value!r}; give true or false"
            )
        else:
            message = (
                f"flow of flows {flow_of_flows!r}: cache={value!r}; give True, False, or a list of child names"
            )
        super().__init__(message)


class RunNotOfFlowOfFlowsError(FlowOfFlowsError):
    """A run given to resume or reproduce is not a recorded run of this flow of flows.

    Args:
        run_id: the run given.
        flow_of_flows: the flow of flows it was given to (``None``: any).
        run_flow: the flow the run is of.
    """

    def __init__(self, run_id: str, flow_of_flows: Optional[str], run_flow: str):
        self.run_id = run_id
        self.flow_of_flows = flow_of_flows
        self.run_flow = run_flow
        if flow_of_flows is None:
            message = (
                f"run {run_id!r} is a run of flow {run_flow!r}, not of a flow of flows recorded with its "
                "declaration; give the id of a flow-of-flows run (`lume-services runs list` lists them)"
            )
        else:
            message = (
                f"run {run_id!r} is a run of {run_flow!r}, not of flow of flows {flow_of_flows!r}; give the "
                f"id of one of its runs (`lume-services runs list --flow {flow_of_flows}` lists them)"
            )
        super().__init__(message)


class ChildVersionChangedError(FlowOfFlowsError):
    """A child whose recorded results a resume would reuse was registered anew since that run.

    Its recorded results came from another version: reusing them would mix
    versions in one result. Nothing ran.

    Args:
        flow_of_flows: the flow of flows' name.
        run_id: the run being resumed.
        children: child -> ``(flow id recorded in the run, flow id now)``.
    """

    def __init__(self, flow_of_flows: str, run_id: str, children: dict, action: str = "resume"):
        self.flow_of_flows = flow_of_flows
        self.run_id = run_id
        self.children = dict(children)
        self.action = action
        described = "; ".join(
            f"{child!r} ran as flow id {then}, now {now}" for child, (then, now) in sorted(self.children.items())
        )
        if action == "reproduce":
            super().__init__(
                f"cannot reproduce run {run_id!r} of {flow_of_flows!r}: a flow that ran there was registered "
                f"anew since ({described}) and only a flow's current version runs; a run is reproducible while "
                "the versions it ran are current (`lume-services flows list` shows them)"
            )
            return
        super().__init__(
            f"cannot resume run {run_id!r} of flow of flows {flow_of_flows!r}: a child it would reuse was "
            f"registered anew since ({described}); run the flow of flows again instead "
            "(`lume-services flow-of-flows run FILE`)"
        )


class FlowOfFlowsFeatureNotOnBackendError(FlowOfFlowsError):
    """A flow-of-flows feature was asked of a backend that cannot give it.

    No backend of this version raises it: cached children, sweeps, resume and
    plan work on the local backend and on the server backends alike. It is kept
    so that code written against the version that refused them on a server
    still imports and catches it.

    Args:
        feature: ``cache``, ``map_over``, ``resume`` or ``plan``.
        backend: the backend's composition (``per_child``: a server runs each child).
    """

    def __init__(self, feature: str, backend: str):
        self.feature = feature
        self.backend = backend
        super().__init__(
            f"flow-of-flows {feature} needs the local backend's run history (children composed inline); "
            f"this backend composes {backend!r}; run it on the local backend, or without {feature}"
            + (" (`--no-cache`, use_cache=False)" if feature == "cache" else "")
        )


class InvalidMapOverError(InvalidFlowOfFlowsError):
    """A child's ``map_over`` is not a list of its parameters.

    Args:
        child: the child.
        value: the ``map_over`` given.
        parameters: the child's parameters.
    """

    def __init__(self, child: str, value: Any, parameters: Iterable[str]):
        self.child = child
        self.value = value
        self.parameters = sorted(parameters)
        super().__init__(
            f"flow {child!r} has map_over: {value!r}; give a list of its parameters ({_names(self.parameters)}) "
            "whose values are lists: the flow runs once per item"
        )
