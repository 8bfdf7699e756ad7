"""The root-level errors: about a flow itself, its tasks and parameters, or what it needs installed.

They belong to no family, because every backend raises them (the local one,
the server ones, a flow model before it asks a backend), and derive from
:class:`LUMEServicesError` directly. :class:`FlowNotLoadedError` is also the
base of errors in two families (:class:`FlowNotRegisteredError` of
:class:`ServerError`, :class:`FlowOfFlowsNotComposedError` of
:class:`FlowOfFlowsError`), so ``except FlowNotLoadedError`` catches a flow not
loaded wherever that happens.
"""

from typing import Iterable, Optional

from lume_services.errors._base import LUMEServicesError, _alternatives, _names


class FlowNotFoundError(LUMEServicesError):
    """No flow with this name is registered in the project.

    The base of :class:`FlowNotInModelDBError`, a flow not stored in the model database.

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


class FlowNotSerializableError(LUMEServicesError):
    """A flow cannot be pickled for registration.

    Args:
        flow_name: the flow.
        error: what the pickler raised.
    """

    def __init__(self, flow_name: str, error: Exception):
        self.flow_name = flow_name
        self.error = error
        super().__init__(
            f"flow {flow_name!r} cannot be registered: it cannot be pickled "
            f"({type(error).__name__}: {error}); a registered flow's tasks and their "
            "arguments must be picklable (no open files, locks, connections or clients: "
            "create those inside the task's run)"
        )


class FlowNotLoadedError(LUMEServicesError):
    """An operation needs a flow that is neither set, nor registered, nor loadable.

    The base of :class:`FlowOfFlowsNotComposedError`, :class:`FlowNotRegisteredError`
    and :class:`FlowIdNotFoundError`.
    """


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


class UnsupportedRunConfigError(LUMEServicesError):
    """The scheduling backend cannot honour this kind of run config.

    Args:
        backend: the backend's class name.
        run_config: the run config given.
        accepted: the kinds of run config the backend runs flows with
            (none: it takes no run config).
        backends: the backends that do run this kind, where known
            (``docker``, ``kubernetes``, ``server``).
    """

    def __init__(
        self,
        backend: str,
        run_config: object,
        accepted: Iterable[str],
        backends: Iterable[str] = (),
    ):
        self.backend = backend
        self.run_config = run_config
        self.run_config_type = type(run_config).__name__
        self.accepted = list(accepted)
        self.backends = list(backends)
        if self.accepted:
            right = f"it runs flows with {_alternatives(self.accepted, article='a ')}"
        else:
            right = "it takes no run config"
        if self.backends:
            right += f", or configure the {_alternatives(self.backends)} backend"
        super().__init__(f"the {backend} cannot honour a {self.run_config_type}; {right}")


class ExecutorNotAvailableError(LUMEServicesError):
    """An executor was requested whose optional dependency is not installed.

    Args:
        executor: the executor type asked for (e.g. ``dask``).
        module: the package it needs.
        extra: the lume-services extra that installs it.
        alternatives: executor types that need nothing more.
    """

    def __init__(self, executor: str, module: str, extra: str, alternatives: Iterable[str] = ()):
        self.executor = executor
        self.module = module
        self.extra = extra
        self.alternatives = list(alternatives)
        instead = (
            f", or use executor {_alternatives(repr(a) for a in self.alternatives)}"
            if self.alternatives
            else ""
        )
        super().__init__(
            f"executor {executor!r} needs the {module!r} package; install it with "
            f"pip install 'lume-services[{extra}]'{instead}"
        )


class MissingExtraError(LUMEServicesError, ImportError):
    """An optional dependency that a feature needs is not installed.

    Args:
        feature: what needs it (e.g. ``HDF5File``).
        module: the module that could not be imported.
        extra: the lume-services extra that installs it.
    """

    def __init__(self, feature: str, module: str, extra: str):
        self.feature = feature
        self.module = module
        self.extra = extra
        super().__init__(
            f"{feature} needs the optional package {module!r}, which is not installed; "
            f"install it with: pip install 'lume-services[{extra}]'"
        )


class GraphvizNotFoundError(LUMEServicesError):
    """Rendering a picture as svg or png needs Graphviz's ``dot`` program, which is not on PATH.

    Args:
        format: the format asked for (``svg`` or ``png``).
    """

    def __init__(self, format: str = "svg"):
        self.format = format
        super().__init__(
            f"rendering {format} needs Graphviz's 'dot' program on PATH (Debian: apt-get install "
            "graphviz); '--format dot' or '--format mermaid' need nothing"
        )


class LocalBackendError(LUMEServicesError):
    """A server-backend operation was asked of the local backend.

    LUME-services' local backend raised it for registration and loading; this
    package's local backend registers and loads flows in its own registry, so
    it is kept for code that catches it.
    """

    def __init__(self, operation: str = "this operation"):
        self.operation = operation
        super().__init__(
            f"the local backend cannot do {operation}; configure a server backend "
            "(LUME_BACKEND=server, docker or kubernetes)"
        )
