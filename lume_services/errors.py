"""Errors raised by lume-services.

One class per failure a user can act on. Every message names what is wrong and
what would be right (the flow's parameters, its tasks, the configured
filesystems, ...). All classes derive from :class:`LUMEServicesError`.

These errors deliberately do not derive from ``ValueError``: pydantic 1 wraps
``ValueError`` raised inside validators into a generic ``ValidationError``,
and a flow of flows must refuse bad compositions with the specific class.
"""

from typing import Iterable, List, Optional, Sequence


def _names(names: Iterable[str]) -> str:
    names = sorted(str(n) for n in names)
    return ", ".join(repr(n) for n in names) if names else "(none)"


class LUMEServicesError(Exception):
    """Base class of every error raised by lume-services."""


# --- configuration -----------------------------------------------------------


class EnvironmentNotConfiguredError(LUMEServicesError):
    """The ``LUME_*`` environment variables do not form valid settings.

    Args:
        env_vars: every environment variable lume-services reads.
        validation_error: the pydantic error describing what is invalid.
    """

    def __init__(self, env_vars: Sequence[str], validation_error: Exception):
        self.env_vars = list(env_vars)
        self.validation_error = validation_error
        super().__init__(
            "lume-services could not be configured from the environment: "
            f"{validation_error}\nVariables read: {', '.join(self.env_vars)}"
        )


class ExecutorNotAvailableError(LUMEServicesError):
    """An executor was requested whose optional dependency is not installed."""


class UnsupportedRunConfigError(LUMEServicesError):
    """The scheduling backend cannot honour this kind of run config."""


# --- flows and registry ------------------------------------------------------


class FlowNotFoundError(LUMEServicesError):
    """No flow with this name is registered in the project.

    Args:
        flow_name: the name looked up.
        project_name: the project searched.
        registered: names of the flows registered in that project.
    """

    def __init__(self, flow_name: str, project_name: str, registered: Iterable[str]):
        self.flow_name = flow_name
        self.project_name = project_name
        self.registered = sorted(registered)
        super().__init__(
            f"flow {flow_name!r} is not registered in project {project_name!r}; "
            f"registered flows of {project_name!r}: {_names(self.registered)}"
        )


class ProjectNotFoundError(LUMEServicesError):
    """The project does not exist on the scheduling backend.

    Args:
        project_name: the project looked up.
        projects: the projects that exist.
    """

    def __init__(self, project_name: str, projects: Iterable[str]):
        self.project_name = project_name
        self.projects = sorted(projects)
        super().__init__(
            f"project {project_name!r} does not exist; existing projects: "
            f"{_names(self.projects)}"
        )


class FlowNotLoadedError(LUMEServicesError):
    """An operation needs the Prefect flow, but it is neither set nor loadable."""


class FlowFailedError(LUMEServicesError):
    """A flow run ended in a failed state.

    Args:
        flow_name: the flow that failed.
        failed_tasks: ``{task name: message}`` for each failed task (for a flow
            of flows the task name is ``"<child>/<task>"``).
        message: the flow run's own state message.
        flow_run_id: the id of the run, where there is one.
    """

    def __init__(
        self,
        flow_name: str,
        failed_tasks: Optional[dict] = None,
        message: Optional[str] = None,
        flow_run_id: Optional[str] = None,
    ):
        self.flow_name = flow_name
        self.failed_tasks = dict(failed_tasks or {})
        self.message = message
        self.flow_run_id = flow_run_id
        run = f" (flow run {flow_run_id})" if flow_run_id else ""
        if self.failed_tasks:
            details = "; ".join(
                f"task {task!r} failed: {msg}" for task, msg in self.failed_tasks.items()
            )
        else:
            details = message or "no task reported a failure"
        super().__init__(f"flow {flow_name!r} failed{run}: {details}")


class FlowRunTimeoutError(LUMEServicesError):
    """A flow run did not finish in the time allowed; it was cancelled."""


class TaskNotInFlowError(LUMEServicesError):
    """A task name does not name a task of the flow.

    Args:
        flow_name: the flow searched.
        task_name: the name asked for.
        task_names: the valid task names.
        context: optional prefix saying who asked (e.g. a mapped parameter).
    """

    def __init__(
        self,
        flow_name: str,
        task_name: str,
        task_names: Iterable[str],
        context: Optional[str] = None,
    ):
        self.flow_name = flow_name
        self.task_name = task_name
        self.task_names = sorted(set(task_names))
        prefix = f"{context}, but " if context else ""
        super().__init__(
            f"{prefix}flow {flow_name!r} has no task {task_name!r}; "
            f"tasks of {flow_name!r}: {_names(self.task_names)}"
        )


class EmptyResultError(LUMEServicesError):
    """A task ran but holds no result (for example it was skipped)."""

    def __init__(self, flow_name: str, task_name: str, state: str):
        self.flow_name = flow_name
        self.task_name = task_name
        super().__init__(
            f"task {task_name!r} of flow {flow_name!r} has no result (its state is "
            f"{state}); only tasks that ran to completion have results"
        )


class ParameterNotInFlowError(LUMEServicesError):
    """A parameter name is not a parameter of the flow.

    Args:
        flow_name: the flow.
        parameter_names: the unknown names.
        valid: the flow's parameter names.
        context: optional prefix saying who asked.
    """

    def __init__(
        self,
        flow_name: str,
        parameter_names: Iterable[str],
        valid: Iterable[str],
        context: Optional[str] = None,
    ):
        self.flow_name = flow_name
        self.parameter_names = sorted(parameter_names)
        self.valid = sorted(valid)
        prefix = f"{context}, but " if context else ""
        unknown = _names(self.parameter_names)
        super().__init__(
            f"{prefix}flow {flow_name!r} has no parameter {unknown}; "
            f"parameters of {flow_name!r}: {_names(self.valid)}"
        )


class MissingParameterError(LUMEServicesError):
    """A required parameter of the flow was given no value."""

    def __init__(self, flow_name: str, missing: Iterable[str], valid: Iterable[str]):
        self.flow_name = flow_name
        self.missing = sorted(missing)
        self.valid = sorted(valid)
        super().__init__(
            f"flow {flow_name!r} needs a value for required parameter(s) "
            f"{_names(self.missing)}; parameters of {flow_name!r}: {_names(self.valid)}"
        )


# --- flows of flows ----------------------------------------------------------


class ParentFlowNotInFlowsError(LUMEServicesError):
    """A mapped parameter names a parent flow that is not a composing flow."""

    def __init__(self, child: str, parameter: str, parent: str, flows: Iterable[str]):
        self.child = child
        self.parameter = parameter
        self.parent = parent
        self.flows = sorted(flows)
        super().__init__(
            f"flow {child!r} maps parameter {parameter!r} from flow {parent!r}, which "
            f"is not one of the composing flows; composing flows: {_names(self.flows)}"
        )


class UnknownMapTypeError(LUMEServicesError):
    """A mapped parameter has a ``map_type`` other than raw, file or db."""

    ALLOWED = ("raw", "file", "db")

    def __init__(self, parameter: str, map_type: object, child: Optional[str] = None):
        self.parameter = parameter
        self.map_type = map_type
        where = f" of flow {child!r}" if child else ""
        super().__init__(
            f"mapped parameter {parameter!r}{where} has unknown map_type {map_type!r}; "
            f"allowed map types: {', '.join(repr(t) for t in self.ALLOWED)}"
        )


class MissingDBAttributeError(LUMEServicesError):
    """A ``db`` mapped parameter does not say which attribute of the result to pass."""

    def __init__(self, child: str, parameter: str):
        self.child = child
        self.parameter = parameter
        super().__init__(
            f"flow {child!r} maps parameter {parameter!r} with map_type 'db' but gives "
            "no 'attribute'; a db mapping needs the attribute of the stored result to "
            "pass (for example attribute: outputs, attribute_index: [key])"
        )


class DuplicateFlowNameError(LUMEServicesError):
    """Two composing flows of a flow of flows have the same name."""

    def __init__(self, names: Iterable[str]):
        self.names = sorted(set(names))
        super().__init__(
            f"composing flows must have distinct names; duplicated: {_names(self.names)}"
        )


class FlowCycleError(LUMEServicesError):
    """The mapped parameters of a flow of flows form a cycle."""

    def __init__(self, cycle: List[str]):
        self.cycle = list(cycle)
        path = " -> ".join(repr(n) for n in self.cycle + self.cycle[:1])
        super().__init__(
            f"the mapped parameters form a cycle: {path}; a flow of flows must be "
            "acyclic (a flow cannot depend, directly or not, on its own results)"
        )
