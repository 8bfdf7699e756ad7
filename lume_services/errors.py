"""Errors raised by lume-services.

One class per failure a user can act on. Every message names what is wrong and
what would be right (the flow's parameters, its tasks, the configured
filesystems, ...). All classes derive from :class:`LUMEServicesError`.

Each class builds its message in ``__init__`` from structured arguments (names,
paths, types, the valid alternatives), which it keeps as attributes: code that
catches an error reads ``exc.flow_name`` or ``exc.base_image`` instead of
parsing the message, and a message reads the same wherever it is raised.

Errors come in families, each caught by one base class:

* :class:`FlowOfFlowsError`: a flow of flows that cannot be built or run as
  declared: its declaration (:class:`InvalidFlowOfFlowsError` and its
  subclasses), its mappings, duplicate names, cycles, a composition missing.
* :class:`ServerError`: raised only with a Prefect Server backend (``server``,
  ``docker``, ``kubernetes``): the server does not answer or refuses a request,
  a run timed out, a flow is not registered there.
* :class:`DockerError`: the Docker engine is not there, or an image cannot be
  built (:class:`ImageBuildError` and its subclasses).
* :class:`StorageError`: an embedded store under ``LUME_HOME`` (the flow
  registry, the SQLite results database) is not trusted or cannot be used.

The errors of single flows, files and results that any backend raises derive
from :class:`LUMEServicesError` directly. A member of a family may also derive
from a more general class (``FlowOfFlowsNotComposedError`` is a
``FlowNotLoadedError`` as well as a ``FlowOfFlowsError``).

These errors deliberately do not derive from ``ValueError``: pydantic 1 wraps
``ValueError`` raised inside validators into a generic ``ValidationError``,
and a flow of flows must refuse bad compositions with the specific class.
"""

from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple


def _names(names: Iterable[object]) -> str:
    sorted_names = sorted(str(n) for n in names)
    return ", ".join(repr(n) for n in sorted_names) if sorted_names else "(none)"


class LUMEServicesError(Exception):
    """Base class of every error raised by lume-services."""


# --- families ----------------------------------------------------------------


class FlowOfFlowsError(LUMEServicesError):
    """Base class of the errors of a flow of flows: declaration, mappings, composition."""


class ServerError(LUMEServicesError):
    """Base class of the errors only a Prefect Server backend raises."""


class DockerError(LUMEServicesError):
    """Base class of the errors of the Docker engine and of building images."""


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


class UnknownSettingWarning(LUMEServicesError, UserWarning):
    """An environment variable starts with ``LUME_`` but is no setting lume-services reads.

    A misspelled variable (``LUME_BAKEND=server``) would otherwise be ignored silently.

    Args:
        name: the variable.
        suggestion: the closest variable lume-services reads, if any is close.
    """

    def __init__(self, name: str, suggestion: Optional[str] = None):
        self.name = name
        self.suggestion = suggestion
        hint = f"did you mean {suggestion}? " if suggestion else ""
        super().__init__(
            f"environment variable {name} is not a lume-services setting and is ignored; "
            f"{hint}`lume-services env` lists the variables read"
        )


def _alternatives(items: Iterable[str], article: str = "", conjunction: str = "or") -> str:
    items = [f"{article}{item}" for item in items]
    if len(items) < 2:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


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
            if message:
                details = f"{message}: {details}"
        else:
            details = message or "no task reported a failure"
        super().__init__(f"flow {flow_name!r} failed{run}: {details}")


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


class ParentFlowNotInFlowsError(FlowOfFlowsError):
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


class UnknownMapTypeError(FlowOfFlowsError):
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


class MissingDBAttributeError(FlowOfFlowsError):
    """A ``db`` mapped parameter does not say which attribute of the result to pass."""

    def __init__(self, child: str, parameter: str):
        self.child = child
        self.parameter = parameter
        super().__init__(
            f"flow {child!r} maps parameter {parameter!r} with map_type 'db' but gives "
            "no 'attribute'; a db mapping needs the attribute of the stored result to "
            "pass (for example attribute: outputs, attribute_index: [key])"
        )


class InvalidFlowOfFlowsError(FlowOfFlowsError):
    """A flow of flows declaration is not of the expected form (YAML or dict).

    The base of the errors of a declaration's form: :class:`MissingDeclarationKeyError`,
    :class:`MalformedDeclarationError`, :class:`ComposingFlowNameMismatchError`,
    :class:`ExposedParameterClashError` and :class:`FlowOfFlowsFileNotFoundError`.
    """


# The parts of a flow-of-flows declaration, and the form each must have.
_DECLARATION_FORMS = {
    "flow_of_flows": "a mapping with name, project_name and composing_flows",
    "composing_flows": (
        "a list of {name, project_name, mapped_parameters} or a dict of child name -> Flow"
    ),
    "composing_flow": "a mapping with name, project_name and mapped_parameters, or a Flow",
    "mapped_parameters": "a mapping of parameter names to mappings",
    "mapped_parameter": "a mapping with parent_flow_name, parent_task_name and map_type",
    "from_yaml": "a path, a YAML string or a dict",
}


def _declaration_part(part, child=None, parameter=None, position=None) -> str:
    if part == "flow_of_flows":
        return "a flow of flows YAML"
    if part == "composing_flow":
        return f"composing flow #{position}" if child is None else f"composing flow {child!r}"
    if part == "mapped_parameters":
        return f"mapped_parameters of flow {child!r}"
    if part == "mapped_parameter":
        return f"mapped parameter {parameter!r} of flow {child!r}"
    if part == "from_yaml":
        return "the argument of from_yaml"
    return part


class MissingDeclarationKeyError(InvalidFlowOfFlowsError):
    """A part of a flow-of-flows declaration lacks keys it needs.

    Args:
        keys: the missing keys.
        part: the part lacking them: ``flow_of_flows`` (the declaration),
            ``composing_flow`` (an item of ``composing_flows``) or
            ``mapped_parameter``.
        child: the composing flow it belongs to, where it has a name.
        parameter: the mapped parameter, for ``part="mapped_parameter"``.
        position: the 1-based position of a composing flow in the list.
    """

    def __init__(
        self,
        keys: Iterable[str],
        part: str,
        child: Optional[str] = None,
        parameter: Optional[str] = None,
        position: Optional[int] = None,
    ):
        self.keys = list(keys)
        self.part = part
        self.child = child
        self.parameter = parameter
        self.position = position
        self.expected = _DECLARATION_FORMS[part]
        subject = _declaration_part(part, child, parameter, position)
        missing = " and ".join(self.keys)
        if part == "flow_of_flows":
            needs = [f"{k}: {_DECLARATION_FORMS[k]}" if k in _DECLARATION_FORMS else k for k in self.keys]
            message = f"a flow of flows needs {'; '.join(needs)}"
        elif part == "composing_flow":
            message = (
                f"{subject} has no {missing}; each item needs name, and may give "
                "project_name and mapped_parameters"
            )
        else:
            message = f"{subject} needs {missing}; it must be {self.expected}"
        super().__init__(message)


class MalformedDeclarationError(InvalidFlowOfFlowsError):
    """A part of a flow-of-flows declaration is of the wrong type.

    Args:
        value: the value given for that part.
        part: which part: ``flow_of_flows`` (the parsed YAML), ``composing_flows``,
            ``composing_flow``, ``mapped_parameters``, ``mapped_parameter`` or
            ``from_yaml`` (the argument given to ``FlowOfFlows.from_yaml``).
        child: the composing flow the part belongs to.
        parameter: the mapped parameter, for ``part="mapped_parameter"``.
    """

    def __init__(self, value: object, part: str, child: Optional[str] = None, parameter: Optional[str] = None):
        self.value = value
        self.part = part
        self.child = child
        self.parameter = parameter
        self.got = type(value).__name__
        self.expected = _DECLARATION_FORMS[part]
        subject = _declaration_part(part, child, parameter)
        super().__init__(f"{subject} must be {self.expected}; got {self.got}")


class ComposingFlowNameMismatchError(InvalidFlowOfFlowsError):
    """A ``Flow`` in a dict of composing flows is keyed by a name other than its own.

    Args:
        key: the dict key.
        flow_name: the Flow's name.
    """

    def __init__(self, key: str, flow_name: str):
        self.key = key
        self.flow_name = flow_name
        super().__init__(
            f"composing flow key {key!r} differs from its Flow's name {flow_name!r}; "
            f"key each Flow by its name ({flow_name!r}: flow)"
        )


class ExposedParameterClashError(InvalidFlowOfFlowsError):
    """Unmapped parameters of two composing flows would be exposed under one name.

    Args:
        clashes: exposed name -> the ``(child, parameter)`` pairs that would get it.
    """

    def __init__(self, clashes: Mapping[str, Sequence[Tuple[str, str]]]):
        self.clashes = {name: [tuple(owner) for owner in owners] for name, owners in clashes.items()}
        details = "; ".join(
            f"{exposed!r} from "
            + " and ".join(f"{parameter!r} of {child!r}" for child, parameter in owners)
            for exposed, owners in sorted(self.clashes.items())
        )
        super().__init__(
            "unmapped parameters are exposed as '<child>-<parameter>', and these would share "
            f"a name: {details}; rename a flow or a parameter"
        )


class FlowOfFlowsFileNotFoundError(InvalidFlowOfFlowsError):
    """``FlowOfFlows.from_yaml`` was given the path of a file that does not exist.

    Args:
        path: the path given.
    """

    def __init__(self, path):
        self.path = str(path)
        super().__init__(
            f"flow of flows file {self.path!r} does not exist; from_yaml takes "
            f"{_DECLARATION_FORMS['from_yaml']}"
        )


def _closest(key: object, valid: Iterable[str]) -> Optional[str]:
    import difflib

    matches = difflib.get_close_matches(str(key), list(valid), n=1, cutoff=0.6)
    return matches[0] if matches else None


class UnknownDeclarationKeyError(InvalidFlowOfFlowsError):
    """A part of a flow-of-flows declaration has a key that no part of that kind takes.

    A misspelled key would otherwise be dropped and the flow of flows run on
    defaults, so every level (the top, each composing flow, each mapping) is strict.

    Args:
        key: the unknown key.
        part: where it is: ``flow_of_flows``, ``composing_flow`` or ``mapped_parameter``.
        valid: the keys that part takes.
        child: the composing flow it belongs to.
        parameter: the mapped parameter, for ``part="mapped_parameter"``.
    """

    def __init__(
        self,
        key: object,
        part: str,
        valid: Iterable[str],
        child: Optional[str] = None,
        parameter: Optional[str] = None,
    ):
        self.key = key
        self.part = part
        self.valid = sorted(valid)
        self.child = child
        self.parameter = parameter
        self.suggestion = _closest(key, self.valid)
        subject = "the top level of a flow of flows" if part == "flow_of_flows" else _declaration_part(
            part, child, parameter
        )
        hint = f"did you mean {self.suggestion!r}? " if self.suggestion else ""
        super().__init__(
            f"{subject} has unknown key {key!r}; {hint}valid keys there: {_names(self.valid)}"
        )


class KeyNotForMapTypeError(InvalidFlowOfFlowsError):
    """A mapping gives a key that only another map type takes (``attribute`` on a raw mapping).

    Args:
        child: the composing flow.
        parameter: the mapped parameter.
        key: the key given.
        map_type: the mapping's map type.
        belongs_to: the map types that take the key.
    """

    def __init__(self, child: str, parameter: str, key: str, map_type: str, belongs_to: Iterable[str]):
        self.child = child
        self.parameter = parameter
        self.key = key
        self.map_type = map_type
        self.belongs_to = sorted(belongs_to)
        super().__init__(
            f"mapped parameter {parameter!r} of flow {child!r} has map_type {map_type!r}, which "
            f"takes no {key!r}; {key!r} belongs to map_type {_alternatives(repr(t) for t in self.belongs_to)}: "
            f"set map_type: {self.belongs_to[0]} or remove {key!r}"
        )


class DuplicateDeclarationKeyError(InvalidFlowOfFlowsError):
    """A YAML mapping of a declaration gives one key twice (YAML would keep only the last).

    Args:
        key: the repeated key.
        source: the file, or ``"<string>"`` for YAML text.
        line: the 1-based line of the second occurrence.
        column: its 1-based column.
        first_line: the 1-based line of the first occurrence.
    """

    def __init__(self, key: object, source: str, line: int, column: int, first_line: int):
        self.key = key
        self.source = str(source)
        self.line = line
        self.column = column
        self.first_line = first_line
        super().__init__(
            f"{self.source}:{line}:{column}: key {key!r} is given twice in one mapping "
            f"(first on line {first_line}); YAML would silently keep only the last: "
            "remove or rename one"
        )


class DeclarationYAMLError(InvalidFlowOfFlowsError):
    """A flow-of-flows declaration is not well-formed YAML.

    Args:
        source: the file, or ``"<string>"`` for YAML text.
        problem: what the YAML parser reports.
        line: the 1-based line, where the parser knows it.
        column: the 1-based column, where the parser knows it.
    """

    def __init__(self, source: str, problem: str, line: Optional[int] = None, column: Optional[int] = None):
        self.source = str(source)
        self.problem = problem
        self.line = line
        self.column = column
        where = self.source + (f":{line}" if line is not None else "") + (f":{column}" if column is not None else "")
        super().__init__(f"{where}: not valid YAML: {problem}")


# The rules names in a declaration follow, by the role of the name.
_NAME_RULES = {
    "flow_of_flows": "a flow of flows needs a non-empty name",
    "composing_flow": (
        "a composing flow needs a non-empty name without '/' (results are addressed as "
        "'<child>/<task>', so the first '/' ends the child's name)"
    ),
}


class InvalidDeclarationNameError(InvalidFlowOfFlowsError):
    """A name in a flow-of-flows declaration breaks the rule names follow there.

    Args:
        name: the name given.
        role: ``flow_of_flows`` or ``composing_flow``.
        position: the 1-based position of a composing flow in the list, where known.
    """

    def __init__(self, name: object, role: str, position: Optional[int] = None):
        self.name = name
        self.role = role
        self.position = position
        self.rule = _NAME_RULES[role]
        where = f" (composing flow #{position})" if position is not None else ""
        super().__init__(f"name {name!r}{where} is refused: {self.rule}")


class NoComposingFlowsError(InvalidFlowOfFlowsError):
    """A flow of flows declares no composing flows.

    Args:
        flow_of_flows_name: the flow of flows.
    """

    def __init__(self, flow_of_flows_name: object):
        self.flow_of_flows_name = flow_of_flows_name
        super().__init__(
            f"flow of flows {flow_of_flows_name!r} has an empty composing_flows; a flow of "
            "flows composes at least one registered flow (composing_flows: - name: <flow>)"
        )


class InvalidDeclarationValueError(InvalidFlowOfFlowsError):
    """A value in a flow-of-flows declaration is of the wrong type (pydantic refused it).

    Args:
        flow_name: the flow (a composing flow, or the flow of flows) the value is for.
        validation_error: pydantic's ``ValidationError``.
        parameter: the mapped parameter, when the value is inside a mapping.
    """

    def __init__(self, flow_name: object, validation_error: Exception, parameter: Optional[str] = None):
        self.flow_name = flow_name
        self.parameter = parameter
        self.validation_error = validation_error
        problems = getattr(validation_error, "errors", None)
        if callable(problems):
            self.problems = [
                (".".join(str(p) for p in e.get("loc", ())), e.get("msg", "")) for e in problems()
            ]
        else:
            self.problems = [("", str(validation_error))]
        where = f"mapped parameter {parameter!r} of flow {flow_name!r}" if parameter else f"flow {flow_name!r}"
        details = "; ".join(f"{loc or 'value'}: {msg}" for loc, msg in self.problems)
        super().__init__(f"{where} in the declaration has an invalid value: {details}")


class FlowOfFlowsNotComposedError(FlowNotLoadedError, FlowOfFlowsError):
    """An operation needs the composed Prefect flow of a flow of flows, which is not composed yet.

    Args:
        flow_of_flows_name: the flow of flows.
        needed_by: the class that needs the composition (e.g. ``"ChildProgress"``).
    """

    def __init__(self, flow_of_flows_name: str, needed_by: str):
        self.flow_of_flows_name = flow_of_flows_name
        self.needed_by = needed_by
        super().__init__(
            f"flow of flows {flow_of_flows_name!r} is not composed yet; call compose() "
            f"before creating a {needed_by} for it"
        )


class DuplicateFlowNameError(FlowOfFlowsError):
    """Two composing flows of a flow of flows have the same name."""

    def __init__(self, names: Iterable[str]):
        self.names = sorted(set(names))
        super().__init__(
            f"composing flows must have distinct names; duplicated: {_names(self.names)}"
        )


class FlowCycleError(FlowOfFlowsError):
    """The mapped parameters of a flow of flows form a cycle."""

    def __init__(self, cycle: List[str]):
        self.cycle = list(cycle)
        path = " -> ".join(repr(n) for n in self.cycle + self.cycle[:1])
        super().__init__(
            f"the mapped parameters form a cycle: {path}; a flow of flows must be "
            "acyclic (a flow cannot depend, directly or not, on its own results)"
        )


# --- files and results -------------------------------------------------------


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


class FilesystemNotConfiguredError(LUMEServicesError):
    """A file names a filesystem identifier that the file service does not have.

    Args:
        identifier: the identifier asked for.
        configured: the identifiers of the configured filesystems.
    """

    def __init__(self, identifier: str, configured: Iterable[str]):
        self.identifier = identifier
        self.configured = sorted(configured)
        super().__init__(
            f"filesystem {identifier!r} is not configured; configured filesystems: "
            f"{_names(self.configured)} (a mounted filesystem is configured with "
            "LUME_MOUNTED_FILESYSTEM__MOUNT_PATH and LUME_MOUNTED_FILESYSTEM__MOUNT_ALIAS)"
        )


class DuplicateFilesystemError(LUMEServicesError):
    """Two filesystems given to the file service share an identifier."""

    def __init__(self, identifiers: Iterable[str]):
        self.identifiers = sorted(set(identifiers))
        super().__init__(
            "each filesystem needs its own identifier; given more than once: "
            f"{_names(self.identifiers)}"
        )


class PathNotInMount(LUMEServicesError):
    """A path on a mounted filesystem leads outside the mount.

    Raised before anything is read, written or created.

    Args:
        path: the path as given.
        mount_alias: the path the mount is seen under (in containers).
        mount_path: the mounted folder on the host.
        reason: how the path escapes (``..``, a symlink, another absolute path).
    """

    def __init__(self, path: str, mount_alias: str, mount_path: str, reason: str):
        self.path = path
        self.mount_alias = mount_alias
        self.mount_path = mount_path
        self.reason = reason
        super().__init__(
            f"path {path!r} is not inside the mounted filesystem ({reason}); paths must "
            f"lie under the mount alias {mount_alias!r} (host folder {mount_path!r})"
        )


class InvalidMountError(LUMEServicesError):
    """A mounted filesystem is configured with a mount alias that is not an absolute path."""

    def __init__(self, mount_alias: str):
        self.mount_alias = mount_alias
        super().__init__(
            f"mount alias {mount_alias!r} must be an absolute path (the path containers "
            "see the mounted folder under), e.g. '/lume/data'"
        )


class UnknownFileTypeError(LUMEServicesError):
    """A file reference names a file type that cannot be imported or is not a ``File``.

    Args:
        file_type_string: the ``"module:ClassName"`` string of the reference.
        reason: why it cannot be used.
    """

    def __init__(self, file_type_string: object, reason: str):
        self.file_type_string = file_type_string
        super().__init__(
            f"file type {file_type_string!r} cannot be used: {reason}; a file type is "
            "given as 'module:ClassName' of a subclass of lume_services.files.File "
            "(for example 'lume_services.files:TextFile')"
        )


class InvalidFileReferenceError(LUMEServicesError):
    """A value given as a file reference is not one.

    Args:
        reference: the value given.
        reason: what is wrong with it.
    """

    def __init__(self, reference: object, reason: str):
        self.reference = reference
        super().__init__(
            f"not a file reference ({reason}): {reference!r}; a file reference is the "
            "dict returned by File.jsonable_dict() or the SaveFile task, with keys "
            "'file_type_string', 'filename' and 'filesystem_identifier'"
        )


class FileHasNoObjectError(LUMEServicesError):
    """``File.write()`` was called with no object, and the file holds none."""

    def __init__(self, filename: str):
        self.filename = filename
        super().__init__(
            f"nothing to write to {filename!r}: pass the object, file.write(obj), or set "
            "file.obj first"
        )


class UnsupportedQueryError(LUMEServicesError):
    """A results-database query uses something beyond equality on dotted paths.

    Args:
        query: the query given.
        reason: what is not supported.
    """

    def __init__(self, query: object, reason: str):
        self.query = query
        super().__init__(
            f"unsupported results query {query!r}: {reason}; queries map dotted field "
            "paths to the values they must equal, e.g. {'outputs.cube': 27}"
        )


class InvalidIndexError(LUMEServicesError):
    """An index asked of the results database names no field it can index.

    Args:
        fields: the fields given.
        reason: what is wrong with them.
    """

    def __init__(self, fields: object, reason: str):
        self.fields = fields
        super().__init__(
            f"cannot index results on {fields!r}: {reason}; an index is given as a dotted "
            "field path or a list of them, e.g. 'inputs.energy' or ['flow_id', 'outputs.cube']"
        )


class InvalidDocumentError(LUMEServicesError, TypeError):
    """A document given to the results database is not a dict.

    Args:
        document: the value given.
    """

    def __init__(self, document: object):
        self.document = document
        super().__init__(
            f"a results document is a dict of JSON data, not a {type(document).__name__}: "
            f"{document!r:.200}; store a result with Result.insert() or pass a dict"
        )


class UnknownResultTypeError(LUMEServicesError):
    """A stored result names a result type that cannot be imported or is not a ``Result``.

    Args:
        result_type_string: the ``"module:ClassName"`` string.
        reason: why it cannot be used.
    """

    def __init__(self, result_type_string: object, reason: str):
        self.result_type_string = result_type_string
        super().__init__(
            f"result type {result_type_string!r} cannot be used: {reason}; a result "
            "type is given as 'module:ClassName' of a subclass of "
            "lume_services.results.Result, importable where the result is loaded"
        )


class ResultsDBUnreachableError(LUMEServicesError):
    """The MongoDB server that stores results did not answer in time.

    Args:
        host: the configured host (a URI's password masked).
        port: the configured port.
        database: the configured database.
        timeout: the seconds the client waited for a server.
        reason: what pymongo reported.
    """

    def __init__(self, host: str, port: int, database: str, timeout: float, reason: str):
        self.host = host
        self.port = port
        self.database = database
        self.timeout = timeout
        self.reason = reason
        super().__init__(
            f"no MongoDB server answered at {host}:{port} (database {database!r}) within "
            f"{timeout:g} s: {reason}; start it, or check LUME_RESULTS_DB__MONGODB__HOST, "
            "LUME_RESULTS_DB__MONGODB__PORT, LUME_RESULTS_DB__MONGODB__USERNAME/PASSWORD and "
            "LUME_RESULTS_DB__MONGODB__OPTIONS (serverSelectionTimeoutMS sets how long to wait)"
        )


class ResultNotFoundError(LUMEServicesError):
    """No stored result matches the query.

    Args:
        project_name: the collection searched.
        query: the query.
        stored: how many results the collection holds.
    """

    def __init__(self, project_name: str, query: Optional[dict], stored: int):
        self.project_name = project_name
        self.query = query
        self.stored = stored
        super().__init__(
            f"no result of project {project_name!r} matches {query!r} "
            f"({stored} result(s) stored in {project_name!r})"
        )


class MultipleResultsFoundError(LUMEServicesError):
    """A query meant to load one result matches several.

    Args:
        project_name: the collection searched.
        query: the query.
        count: how many results match.
    """

    def __init__(self, project_name: str, query: Optional[dict], count: int):
        self.project_name = project_name
        self.query = query
        self.count = count
        super().__init__(
            f"{count} results of project {project_name!r} match {query!r}; loading one "
            "needs a query that identifies it, such as {'unique_hash': ...} "
            "(see Result.unique_rep())"
        )


class InvalidResultReferenceError(LUMEServicesError):
    """A value given as a result reference is not one.

    Args:
        reference: the value given.
        reason: what is wrong with it.
    """

    def __init__(self, reference: object, reason: str):
        self.reference = reference
        super().__init__(
            f"not a result reference ({reason}): {reference!r}; a result reference is "
            "the dict returned by Result.unique_rep() or the SaveDBResult task, with "
            "keys 'project_name', 'result_type_string' and 'query'"
        )


class ResultAttributeError(LUMEServicesError):
    """A result has no attribute of the name asked for.

    Args:
        result_type: the result's class name.
        attribute: the name asked for.
        available: the result's attributes.
    """

    def __init__(self, result_type: str, attribute: str, available: Iterable[str]):
        self.result_type = result_type
        self.attribute = attribute
        self.available = sorted(available)
        super().__init__(
            f"result of type {result_type!r} has no attribute {attribute!r}; "
            f"attributes: {_names(self.available)}"
        )


class ResultKeyError(LUMEServicesError):
    """An ``attribute_index`` key is missing from the value it indexes.

    Args:
        path: where the key was looked up, e.g. ``outputs['a']``.
        key: the missing key.
        available: the keys (or indices) that exist there.
    """

    def __init__(self, path: str, key: object, available: Iterable[object]):
        self.path = path
        self.key = key
        self.available = list(available)
        super().__init__(
            f"{path} has no key {key!r}; keys of {path}: {_names(self.available)}"
        )


# --- storage -----------------------------------------------------------------


class StorageError(LUMEServicesError):
    """Base class of the errors of the embedded stores under ``LUME_HOME``: the flow
    registry and the SQLite results database (:class:`UntrustedStoreError`,
    :class:`StoreUnusableError`)."""


# The embedded stores, and the settings that say where each one is.
_STORES = {
    "home": ("the lume-services home", "LUME_HOME"),
    "registry": ("the flow registry", "LUME_HOME (the registry is <LUME_HOME>/registry.sqlite)"),
    "results_db": (
        "the results database",
        "LUME_RESULTS_DB__PATH (default <LUME_HOME>/results.sqlite)",
    ),
}

_UNTRUSTED = {
    "other_owner": "it belongs to another user (uid {owner_uid}), who could change what it holds",
    "group_writable": "its group may write to it",
    "world_writable": "every user may write to it",
}


class UntrustedStoreError(StorageError):
    """A store's file or folder could have been written by someone else, so it is not used.

    A registry holds flows as pickled code (cloudpickle): loading a flow runs
    whatever the file holds. Like ssh with keys, lume-services uses a store only
    when the file and its folder belong to this user (or root) and no other user
    may write to them.

    Args:
        store: ``registry``, ``results_db`` or ``home``.
        path: the file or folder refused.
        problem: ``other_owner``, ``group_writable`` or ``world_writable``.
        owner_uid: the uid that owns it.
        uid: the uid of this process.
    """

    def __init__(self, store: str, path, problem: str, owner_uid: int, uid: int):
        self.store = store
        self.path = str(path)
        self.problem = problem
        self.owner_uid = owner_uid
        self.uid = uid
        what, variable = _STORES[store]
        why = _UNTRUSTED[problem].format(owner_uid=owner_uid)
        if problem == "other_owner":
            fix = f"if you trust it, take it over (chown {uid} {self.path}), or set {variable} to a place of your own"
        else:
            fix = f"if you trust what it holds, run chmod go-w {self.path}"
        super().__init__(
            f"{what} at {self.path} is not used: {why}; {what} is trusted only when it and its "
            f"folder belong to you and no one else may write to them. {fix[0].upper()}{fix[1:]}"
        )


_UNUSABLE = {
    "disk_full": ("the disk is full", "free space on it, or point {variable} at another disk"),
    "read_only": ("it is read-only (a read-only filesystem or file)", "make it writable, or point {variable} at a writable place"),
    "permission": ("this user may not write there", "fix its permissions, or point {variable} at a place of your own"),
    "not_a_database": ("the file is not an SQLite database (or is corrupt)", "move it away (a new one is made), or point {variable} at the right file"),
    "is_a_directory": ("it is a folder, where a file belongs", "point {variable} at a file name, not a folder"),
    "not_a_directory": ("a part of the path is a file, where a folder belongs", "point {variable} at a folder (or a file inside one)"),
    "cannot_open": ("it cannot be created or opened", "check that its folder exists and is writable, or point {variable} elsewhere"),
    "io_error": ("the disk reported an I/O error", "check the disk, or point {variable} at another"),
}


class StoreUnusableError(StorageError):
    """A store cannot be read or written; the message names the cause and the setting to change.

    What was stored before stays readable: a failed write is rolled back. The
    original error is the ``__cause__``.

    Args:
        store: ``registry``, ``results_db`` or ``home``.
        path: the file or folder.
        cause: one of ``disk_full``, ``read_only``, ``permission``, ``not_a_database``,
            ``is_a_directory``, ``not_a_directory``, ``cannot_open``, ``io_error``.
        error: the original error's text.
    """

    CAUSES = tuple(_UNUSABLE)

    def __init__(self, store: str, path, cause: str, error: object = None):
        self.store = store
        self.path = str(path)
        self.cause = cause
        self.error = error
        what, variable = _STORES[store]
        self.variable = variable.split(" ")[0]
        reason, fix = _UNUSABLE[cause]
        original = f" ({error})" if error else ""
        super().__init__(f"{what} at {self.path} cannot be used: {reason}{original}; {fix.format(variable=variable)}")


# --- server ------------------------------------------------------------------


class ServerUnreachableError(ServerError):
    """The Prefect 1 Server's GraphQL endpoint does not answer.

    Args:
        url: the endpoint tried.
        reason: what went wrong (connection refused, timeout, ...).
        timeout: the seconds the check waited.
    """

    def __init__(self, url: str, reason: str, timeout: Optional[float] = None):
        self.url = url
        self.reason = reason
        waited = f" within {timeout:g} s" if timeout is not None else ""
        super().__init__(
            f"the Prefect Server at {url} did not answer{waited}: {reason}; start the "
            "server (see docker/docker-compose.yml) or point lume-services at a running "
            "one with LUME_PREFECT__SERVER__HOST, LUME_PREFECT__SERVER__HOST_PORT and "
            "LUME_PREFECT__SERVER__GRAPHQL_PATH"
        )


class ServerRequestError(ServerError):
    """The Prefect 1 Server answered a request with an error.

    Args:
        url: the server's GraphQL endpoint.
        error: what the server answered (Prefect's ``ClientError``).
        flow_id: the flow a refused run was of, where the request was a run.
    """

    def __init__(self, url: str, error: object, flow_id: Optional[str] = None):
        self.url = url
        self.error = error
        self.flow_id = flow_id
        what = f"a run of flow id {flow_id}" if flow_id else "a request"
        super().__init__(f"the Prefect Server at {url} refused {what}: {error}")


class FlowRunTimeoutError(ServerError):
    """A flow run did not finish in the time allowed; it was cancelled.

    Server backends cancel the run on the server. The local backend (``local=True``)
    raises it too: there the run is stopped, tasks not started yet are
    cancelled, and a task that is running finishes in the background (Python
    cannot stop a thread), its result discarded.

    Args:
        flow_run_id: the run (``None`` for a local run, which has no id).
        timeout: the seconds allowed.
        state: the name of the run's last state (``Running``, ``Scheduled``, ...).
        flow_name: the run's flow, where known.
        waited_for: what the time limit was for, when more than this run
            (e.g. ``"flow of flows 'diamond'"``).
        local: whether the run was a local one (the local backend).
    """

    def __init__(
        self,
        flow_run_id: Optional[str],
        timeout: float,
        state: str,
        flow_name: Optional[str] = None,
        waited_for: Optional[str] = None,
        local: bool = False,
    ):
        self.flow_run_id = flow_run_id
        self.timeout = timeout
        self.state = state
        self.flow_name = flow_name
        self.waited_for = waited_for
        self.local = local
        of_flow = f" of flow {flow_name!r}" if flow_name else ""
        run = f"the local run{of_flow}" if local else f"flow run {flow_run_id}{of_flow}"
        within = f"within {timeout:g} s" + (f" (the timeout of {waited_for})" if waited_for else "")
        if local:
            outcome = (
                "it was stopped: tasks not started were cancelled, a task still running finishes "
                "in the background and its result is dropped. Give a longer timeout (timeout=..., "
                "or LUME_PREFECT__RUN_TIMEOUT)"
            )
        else:
            outcome = (
                "it was cancelled. Give a longer timeout (timeout=...) or check that an agent "
                "with the run's labels is running"
            )
        super().__init__(f"{run} did not finish {within} (its state was {state}); {outcome}")


class FlowNotRegisteredError(FlowNotLoadedError, ServerError):
    """A flow was run on a server backend without being registered there first.

    Args:
        flow_name: the flow, where known.
    """

    def __init__(self, flow_name: Optional[str] = None):
        self.flow_name = flow_name
        which = f"flow {flow_name!r}" if flow_name else "a flow"
        super().__init__(
            f"{which} must be registered before it runs on a server backend; register "
            "it (Flow.register) or load it (Flow.load_flow) to get its flow id"
        )


class FlowIdNotFoundError(FlowNotLoadedError, ServerError):
    """No flow with this id is registered on the server.

    Args:
        flow_id: the id looked up.
        url: the server's GraphQL endpoint.
    """

    def __init__(self, flow_id: str, url: str):
        self.flow_id = flow_id
        self.url = url
        super().__init__(
            f"no flow with id {flow_id!r} is registered on {url}; flow ids are returned "
            "by Flow.register and set by Flow.load_flow"
        )


class FlowNotRegistrableError(ServerError):
    """A flow loaded from a server was changed and cannot be registered as it is.

    Args:
        flow_name: the flow.
        labels: the labels it was given since it was loaded.
        image: the image it was given since it was loaded.
    """

    def __init__(self, flow_name: str, labels, image: str):
        self.flow_name = flow_name
        self.labels = list(labels)
        self.image = image
        super().__init__(
            f"flow {flow_name!r} was loaded from the server, which keeps a description "
            "of it, not its code, so it cannot be registered again with labels "
            f"{self.labels!r} and image {image!r}; set prefect_flow to the Prefect flow "
            "and register that"
        )


class FlowVersionArchivedError(LUMEServicesError):
    """A run was asked of a flow version that the server has archived.

    Registering a changed flow makes a new version and archives the older
    ones; a Prefect Server refuses to run an archived version ("Flow {id} is
    archived."). A ``Flow`` model loaded by name runs the current version
    instead; one that holds its own Prefect flow raises this error.

    Args:
        flow_name: the flow.
        project_name: its project.
        flow_id: the archived version's flow id.
        version: its version number.
        current_flow_id: the current version's flow id (``None``: no version is current).
        current_version: the current version's number.
    """

    def __init__(self, flow_name: str, project_name: str, flow_id: str, version: Optional[int],
                 current_flow_id: Optional[str] = None, current_version: Optional[int] = None):
        self.flow_name = flow_name
        self.project_name = project_name
        self.flow_id = flow_id
        self.version = version
        self.current_flow_id = current_flow_id
        self.current_version = current_version
        if current_flow_id:
            current = (
                f"the current version is {current_version} (flow id {current_flow_id}): load it "
                "(Flow.load_flow(), after which runs follow new versions) or register this flow "
                "again to make it the current version"
            )
        else:
            current = "no version of it is current: register it again"
        super().__init__(
            f"flow {flow_name!r} of project {project_name!r}: version {version} (flow id "
            f"{flow_id}) is archived, and a Prefect Server runs only a flow's current version; "
            + current
        )


class ChildFlowArchivedError(LUMEServicesError):
    """A flow of flows was composed with child versions that the server has archived since.

    Its composed flow starts each child's run by the child's flow id; a
    Prefect Server refuses to run an archived version, so the run would fail
    child by child.

    Args:
        flow_of_flows: the flow of flows' name.
        children: child name -> ``(composed flow id, composed version,
            current flow id or None, current version or None)``.
    """

    def __init__(self, flow_of_flows: str, children: dict):
        self.flow_of_flows = flow_of_flows
        self.children = dict(children)
        described = []
        for child, (flow_id, version, current_id, current_version) in sorted(self.children.items()):
            now = (f"now version {current_version} (flow id {current_id})" if current_id
                   else "no version is current")
            described.append(f"{child!r} version {version} (flow id {flow_id}), {now}")
        super().__init__(
            f"flow of flows {flow_of_flows!r} was composed with archived versions of its "
            f"children: {'; '.join(described)}. A Prefect Server runs only a flow's current "
            "version. Build the flow of flows again (FlowOfFlows.from_yaml(...) loads the "
            "current children) and compose_and_register() it, or register the children's "
            "composed versions again"
        )


class EmptyLabelsError(LUMEServicesError):
    """A flow or run on a server backend has no agent labels, so no lume-services agent would run it.

    Args:
        kind: what has the empty labels: ``flow``, ``flow of flows`` or ``run``.
        model: the class the empty labels were given to (``Flow``, ``FlowRunConfig``, ...).
        name: the flow's name, where there is one.
    """

    def __init__(self, kind: str, model: str, name: Optional[str] = None):
        self.kind = kind
        self.model = model
        self.name = name
        self.what = f"{kind} {name!r}" if name else f"the {kind}"
        self.where = f"{model}(labels=[])"
        super().__init__(
            f"{self.what} has no labels ({self.where}): a Prefect Server gives a run without labels only to "
            "an agent without labels, and lume-services' agents have the label 'lume-services', "
            "so the run would wait until it timed out. Leave labels unset for the default "
            "['lume-services'], or name the labels of an agent that runs"
        )


class StateTooLargeError(LUMEServicesError):
    """A value would be kept in a run's state, and is larger than a Prefect Server accepts.

    Prefect keeps a value inside its task run's state where its result is a
    ``PrefectResult``: always for a flow's parameters, and for task results on
    the Kubernetes backend and the Docker backend without a ``results_dir``. A
    Prefect Server refuses states over 1 MB, so the run would fail after it
    started.

    Args:
        flow_name: the flow.
        what: the value (``"parameter 'text'"``).
        size: its size in bytes, as JSON.
        limit: the server's limit in bytes.
        kept: why it is kept in a state (``"Prefect keeps every parameter's value in ..."``).
    """

    def __init__(self, flow_name: str, what: str, size: int, limit: int, kept: str):
        self.flow_name = flow_name
        self.what = what
        self.size = size
        self.limit = limit
        super().__init__(
            f"{what} of flow {flow_name!r} is {size:,} bytes as JSON; {kept}, and a Prefect "
            f"Server refuses states over {limit:,} bytes (1 MB). Pass a file or a "
            "results-database reference instead (SaveFile, SaveDBResult, and a file or db "
            "mapping in a flow of flows)"
        )


class TaskResultTooLargeError(StateTooLargeError):
    """A task's result would be kept in its task run's state, and is larger than a Prefect Server accepts.

    Raised in the flow run, by the task's ``PrefectResult`` when it writes the
    value, before the state is sent: the task run fails with this message
    instead of the flow run dying on the server's refusal of the state.

    Args:
        flow_name: the flow.
        task_name: the task (its full name, with a map index where mapped).
        size: the result's size in bytes, as JSON inside the state.
        limit: the server's limit in bytes.
    """

    def __init__(self, flow_name: Optional[str], task_name: Optional[str], size: int, limit: int):
        self.flow_name = flow_name
        self.task_name = task_name
        self.what = f"the result of task {task_name!r}"
        self.size = size
        self.limit = limit
        LUMEServicesError.__init__(
            self,
            f"{self.what} of flow {flow_name!r} is {size:,} bytes as JSON; it would be kept in its task "
            f"run's state (PrefectResult: the kubernetes backend, and docker without a results_dir), "
            f"and a Prefect Server refuses states over {limit:,} bytes (1 MB). Keep it where the runs "
            "can reach it instead: a results_dir on the docker backend, a LocalResult in a folder the "
            "runs and your process share or an S3Result as the task's or flow's result, or return a "
            "file or results-database reference (SaveFile, SaveDBResult)",
        )

    def __reduce__(self):
        # the flow runner may pickle a failed state and its exception (dask executors)
        return type(self), (self.flow_name, self.task_name, self.size, self.limit)


# --- docker ------------------------------------------------------------------


class DockerEngineUnavailableError(DockerError):
    """No Docker engine answers where lume-services looks for one.

    Args:
        base_url: where the engine was looked for (``DOCKER_HOST`` or the default socket).
        reason: what the Docker client reported.
    """

    def __init__(self, base_url: str, reason: str):
        self.base_url = base_url
        self.reason = reason
        super().__init__(
            f"no Docker engine answers at {base_url} ({reason}); start one (as root on "
            "Debian: scripts/docker-engine.sh start, which installs docker.io if needed), "
            "or set DOCKER_HOST to the address of an engine that runs"
        )


class ImageBuildError(DockerError):
    """A Docker image failed to build; the message ends with the build log's last lines.

    Args:
        image: the image (``name:tag``) that was being built.
        reason: the error the engine reported.
        log_lines: the build log, line by line.
        tail: how many of the last log lines the message shows.
    """

    def __init__(self, image: str, reason: str, log_lines: Sequence[str], tail: int = 20):
        self.image = image
        self.reason = reason
        self.log_lines = list(log_lines)
        last = self.log_lines[-tail:]
        shown = "\n".join(f"  | {line}" for line in last) if last else "  | (no build output)"
        super().__init__(
            f"image {image!r} failed to build: {reason}\n"
            f"last {len(last)} lines of the build log:\n{shown}"
        )


class BaseImageNotFoundError(ImageBuildError):
    """The image an image is to be built on is not on the engine.

    Args:
        image: the image (``name:tag``) that was to be built.
        base_image: the missing base image.
        role: what ``image`` is: ``runtime`` (the lume-services runtime image,
            built on a Python image) or ``flow`` (a flow image, built on the
            runtime image or one made from it).
        pulled: whether a pull of the base image was tried.
        local_base_image: for ``runtime``, the base image that
            ``scripts/docker-engine.sh base-image`` makes.
        registry_base_image: for ``runtime``, the base image in a registry.
    """

    ROLES = ("runtime", "flow")

    def __init__(
        self,
        image: str,
        base_image: str,
        role: str,
        pulled: bool = False,
        local_base_image: Optional[str] = None,
        registry_base_image: Optional[str] = None,
    ):
        if role not in self.ROLES:
            raise KeyError(f"unknown image role {role!r}; roles: {_names(self.ROLES)}")
        self.base_image = base_image
        self.role = role
        self.pulled = pulled
        self.local_base_image = local_base_image
        self.registry_base_image = registry_base_image
        tried = "pulling it failed" if pulled else "it was not pulled"
        if role == "runtime":
            remedies = ["build the local one with scripts/docker-engine.sh base-image"
                        + (f" ({local_base_image})" if local_base_image else "")]
            if registry_base_image:
                remedies.append(f"pull {registry_base_image}")
            remedy = ", or ".join(remedies)
        else:
            remedy = (
                "build the runtime image first (lume_services.services.scheduling."
                "backends.docker.build_runtime_image, see docs/docker.md)"
            )
        super().__init__(
            image, f"base image {base_image!r} does not exist on the engine ({tried}); {remedy}", []
        )


class PythonVersionMismatchError(ImageBuildError):
    """A flow image's base runs another Python than the one that pickles the flow.

    Args:
        image: the flow image that was to be built.
        base_image: its base image.
        here: ``major.minor`` of the Python registering the flow.
        there: ``major.minor`` of the base image's Python.
    """

    def __init__(self, image: str, base_image: str, here: str, there: str):
        self.base_image = base_image
        self.here = here
        self.there = there
        super().__init__(
            image,
            f"the flow is pickled by Python {here} here, but base image {base_image!r} runs "
            f"Python {there}, where it cannot be loaded; build on an image with Python {here} "
            f"(docker/Dockerfile's BASE_IMAGE), or register from Python {there}",
            [],
        )


class FlowCodeNotImportableError(ImageBuildError):
    """A flow image's health check failed: the flow uses code its base image cannot import.

    Args:
        image: the flow image that was being built.
        base_image: its base image.
        engine_error: the error the engine reported for the build.
        log_lines: the build log.
        module: the module that could not be imported, where the log names it.
    """

    def __init__(
        self,
        image: str,
        base_image: str,
        engine_error: str,
        log_lines: Sequence[str],
        module: Optional[str] = None,
    ):
        self.base_image = base_image
        self.engine_error = engine_error
        self.module = module
        code = f"module {module!r}" if module else "code"
        super().__init__(
            image,
            f"{engine_error}; the flow uses {code} that {base_image!r} cannot import: build "
            "the flow image from an image with the flow's package installed (see docs/docker.md)",
            log_lines,
        )


class ImageTransferError(ImageBuildError):
    """Pulling a base image or pushing a built image failed.

    Args:
        image: the flow image being built.
        operation: ``pull`` or ``push``.
        transferred: the image pulled or pushed.
        error: what failed.
    """

    OPERATIONS = {"pull": "pulling", "push": "pushing"}

    def __init__(self, image: str, operation: str, transferred: str, error: object):
        self.operation = operation
        self.transferred = transferred
        self.error = error
        super().__init__(image, f"{self.OPERATIONS[operation]} {transferred} failed: {error}", [])


# --- run history -------------------------------------------------------------


class RunNotFoundError(LUMEServicesError):
    """No run with this id is in the run history.

    Args:
        run_id: the id looked up; ``None`` when the latest successful run of
            ``flow_name`` was asked for.
        where: where the history was searched (a file, a server's URL).
        flow_name: the flow whose latest successful run was asked for.
    """

    def __init__(self, run_id: Optional[str], where: Optional[str] = None, flow_name: Optional[str] = None):
        self.run_id = run_id
        self.where = where
        self.flow_name = flow_name
        history = f"the run history at {where}" if where else "the run history"
        if run_id is None:
            message = (
                f"flow {flow_name!r} has no successful run in {history}; run it first, or give "
                "the id of one of its runs (`lume-services runs list --flow NAME` lists them)"
            )
        else:
            message = (
                f"no run with id {run_id!r} in {history}; "
                "`lume-services runs list` lists the recorded runs and their ids"
            )
        super().__init__(message)


class InvalidRunFilterError(LUMEServicesError):
    """A filter of a run listing is malformed.

    Args:
        name: the filter (``state``, ``limit``, ``since``, ...).
        value: the value given.
        expected: what the filter accepts.
    """

    def __init__(self, name: str, value, expected: str):
        self.name = name
        self.value = value
        super().__init__(f"run filter {name}={value!r} is not valid; expected {expected}")


class RunHistoryCorruptError(LUMEServicesError):
    """The run history file is corrupt, or is not a lume-services run history.

    Args:
        path: the file.
        reason: what is wrong with it.
    """

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(
            f"the run history at {self.path} cannot be read: {reason}; move the file aside "
            "(or delete it) and lume-services starts a new history there, or point "
            "LUME_RUN_HISTORY__PATH at another file"
        )


class RunResultNotRecordedError(LUMEServicesError):
    """A task of a recorded run has no recorded result to return.

    Args:
        run_id: the run.
        task_name: the task.
        reason: why there is no result.
    """

    def __init__(self, run_id: str, task_name: str, reason: str):
        self.run_id = run_id
        self.task_name = task_name
        self.reason = reason
        super().__init__(
            f"task {task_name!r} of run {run_id!r} has no recorded result: {reason}; the "
            "history keeps small JSON results, so return a file or results-database "
            "reference (SaveFile, SaveDBResult) to keep a large one, or run the flow again"
        )


class RunHistoryNotPrunableError(LUMEServicesError):
    """This backend's run history is kept by a server, which lume-services does not prune.

    Args:
        backend: the backend asked to prune (its class name).
        url: the server that keeps its runs.
    """

    def __init__(self, backend: str, url: str):
        self.backend = backend
        self.url = url
        super().__init__(
            f"runs of the {backend} are kept by the Prefect Server at {url}, not by "
            "lume-services; delete them there (Prefect's UI or its GraphQL API), or prune "
            "the local backend's history (backend: local)"
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


# --- names kept from LUME-services ----------------------------------------------


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


class ImpactNotAvailableError(LUMEServicesError, ImportError):
    """Loading an Impact archive as a lume-impact object needs lume-impact, which is not installed.

    lume-impact cannot be installed beside pydantic 1, which this package
    (through Prefect 1) needs.
    """

    def __init__(self, archive: str):
        self.archive = archive
        super().__init__(
            f"loading the Impact archive {archive!r} as an Impact object needs lume-impact, "
            "which cannot be installed beside lume-services (Prefect 1 needs pydantic 1, "
            "lume-impact cannot use it); read its data with result.archive.read() (an HDF5File), or "
            "load it with lume-impact in another environment"
        )


class TaskNotCompletedError(LUMEServicesError):
    """A task of a flow run did not complete successfully (LUME-services' name).

    Kept for code that raises or catches it; this package's backends report a
    failed run with :class:`FlowFailedError` and a task without a result with
    :class:`EmptyResultError`.

    Args:
        task_slug: the slug of the task.
        flow_id: the id of the flow.
        flow_run_id: the id of the flow run.
    """

    def __init__(self, task_slug: str, flow_id: str, flow_run_id: str):
        self.task_slug = task_slug
        self.flow_id = flow_id
        self.flow_run_id = flow_run_id
        super().__init__(
            f"task {task_slug!r} did not complete in flow run {flow_run_id!r} of flow {flow_id!r}"
        )


class FlowOfFlowsNotFoundError(LUMEServicesError):
    """No flow of flows matches a query (LUME-services' name, from its model database).

    Kept for code that raises or catches it; this package finds flows of
    flows by name on a backend and raises :class:`FlowNotFoundError` there.

    Args:
        query: the query that matched nothing.
    """

    def __init__(self, query: dict):
        self.query = query
        super().__init__(f"no flow of flows matches {query!r}")


# --- files: what a filesystem refuses to read or write (issue 19) -----------------


class NotARegularFileError(LUMEServicesError, OSError):
    """A file to read or write is not a regular file (a device, a FIFO, a socket, a directory).

    Reading ``/dev/zero`` would never end and a FIFO would block forever, so a
    filesystem reads and writes regular files only.

    Args:
        path: the path as given.
        kind: what is there instead (``"a FIFO"``, ``"a directory"``, ...).
        filesystem: the filesystem's identifier.
    """

    def __init__(self, path: str, kind: str, filesystem: str):
        self.path, self.kind, self.filesystem = path, kind, filesystem
        super().__init__(
            f"{path!r} on filesystem {filesystem!r} is {kind}, not a regular file; "
            "file references name regular files only"
        )


class FileTooLargeError(LUMEServicesError, OSError):
    """A file to read is larger than its filesystem's read limit.

    Args:
        path: the path as given.
        size: its size in bytes.
        limit: the filesystem's ``max_file_size`` in bytes.
        filesystem: the filesystem's identifier.
    """

    def __init__(self, path: str, size: int, limit: int, filesystem: str):
        self.path, self.size, self.limit, self.filesystem = path, size, limit, filesystem
        super().__init__(
            f"{path!r} on filesystem {filesystem!r} is {size:,} bytes, over its read limit of "
            f"{limit:,} bytes; raise the limit (filesystem.max_file_size = <bytes>, or None for "
            "no limit) if the file is what you meant to load"
        )


# --- flow-of-flows declarations: bounded input (issue 19) -------------------------


class DeclarationTooLargeError(InvalidFlowOfFlowsError):
    """A flow-of-flows declaration is larger or deeper than any real one.

    YAML aliases let a few hundred bytes stand for millions of values (an "alias
    bomb"), and thousands of nested brackets exhaust the parser's stack; both are
    refused while the YAML is read, before anything is built from it.

    Args:
        source: the file, or ``"<string>"`` for YAML text.
        measure: what is over its limit (``"values, counting each alias use"``,
            ``"levels of nesting"``, ``"characters"``).
        limit: the limit.
        line: the 1-based line where the limit was passed, where known.
    """

    def __init__(self, source: str, measure: str, limit: int, line: Optional[int] = None):
        self.source, self.measure, self.limit, self.line = str(source), measure, limit, line
        where = self.source + (f":{line}" if line is not None else "")
        super().__init__(
            f"{where}: the declaration has more than {limit:,} {measure}; a flow of flows "
            "declares a few children, their parameters and mappings: check for a YAML alias "
            "repeated inside itself or a runaway generated file"
        )


# --- the server path: half-done requests and malformed answers (issue 19) --------


class ServerReplyError(ServerError):
    """The Prefect Server's answer to a request is not the answer asked for.

    Not JSON (a proxy's error page), JSON without the fields requested, or a
    field of the wrong shape: the server, or something in front of it, is not a
    Prefect 1 Server answering normally.

    Args:
        url: the server's GraphQL endpoint.
        request: what was asked (``"register flow 'adder'"``, ``"query flow"``).
        problem: what is wrong with the answer.
    """

    def __init__(self, url: str, request: str, problem: str):
        self.url, self.request, self.problem = url, request, problem
        super().__init__(
            f"the Prefect Server at {url} gave a malformed answer to {request}: {problem}; check that "
            "the URL points at a Prefect 1 Server's GraphQL endpoint (apollo, port 4200, path /graphql) "
            "and nothing in between rewrites its answers"
        )


class FlowRegistrationError(ServerError):
    """Registering a flow on a Prefect Server failed part of the way.

    Prefect registers a flow in steps (the flow, then its tasks, then its edges).
    A version left without its tasks or edges looks registered but every run of
    it fails, and registering again would find it "unchanged"; so it is deleted
    when the registration fails, and a later registration repairs one that
    could not be deleted then.

    Args:
        url: the server's GraphQL endpoint.
        flow_name: the flow.
        project_name: its project.
        cause: what failed.
        removed: whether an incomplete version was found and deleted (``None``:
            none was left).
    """

    def __init__(self, url: str, flow_name: str, project_name: str, cause: object, removed: Optional[bool]):
        self.url, self.flow_name, self.project_name = url, flow_name, project_name
        self.cause, self.removed = cause, removed
        if removed is None:
            left = "no version of it was left registered"
        elif removed:
            left = "the incomplete version was deleted"
        else:
            left = ("an incomplete version may be left on the server (it could not be deleted); "
                    "registering again repairs it")
        super().__init__(
            f"registering flow {flow_name!r} in project {project_name!r} on the Prefect Server at {url} "
            f"failed: {cause}; {left}; register again once the server answers normally"
        )


# --- the model database (issue 21, i21-modeldb) --------------------------------
# Models, deployments, projects and the flows stored for them
# (lume_services.services.models, lume_services.models).

_STORES["model_db"] = (
    "the model database",
    "LUME_MODEL_DB__PATH (default <LUME_HOME>/models.sqlite)",
)


def _criteria(query: Mapping[str, object]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in query.items()) if query else "(no criteria)"


class ModelDBError(LUMEServicesError):
    """Base class of the model database's errors: a row that is not there, a row
    that clashes with a stored one, a database that does not answer."""


class ModelNotFoundError(ModelDBError):
    """No model in the model database matches the criteria.

    Args:
        query: the criteria (column -> value) that matched nothing.
    """

    def __init__(self, query: Mapping[str, object]):
        self.query = dict(query)
        super().__init__(
            f"no model matches {_criteria(self.query)}; store it with Model.create_model(...) "
            "or `lume-services models create`, and list the stored ones with `lume-services models list`"
        )


class DeploymentNotFoundError(ModelDBError):
    """No deployment in the model database matches the criteria.

    Args:
        query: the criteria (column -> value) that matched nothing.
    """

    def __init__(self, query: Mapping[str, object]):
        self.query = dict(query)
        super().__init__(
            f"no deployment matches {_criteria(self.query)}; list the stored ones with "
            "`lume-services deployments list`"
        )


class ProjectNotFoundError(ModelDBError):
    """No project in the model database matches the criteria.

    Args:
        query: the criteria (column -> value) that matched nothing.
    """

    def __init__(self, query: Mapping[str, object]):
        self.query = dict(query)
        super().__init__(
            f"no project matches {_criteria(self.query)}; store it with ModelDBService.store_project(...) "
            "(storing a deployment stores its project)"
        )


class FlowNotInModelDBError(FlowNotFoundError, ModelDBError):
    """No flow stored in the model database matches the criteria.

    A :class:`FlowNotFoundError` too, which LUME-services raised here.

    Args:
        query: the criteria (column -> value) that matched nothing.
    """

    def __init__(self, query: Mapping[str, object]):
        self.query = dict(query)
        self.flow_name = str(self.query.get("flow_name", self.query.get("flow_id", "")))
        self.project_name = str(self.query.get("project_name", ""))
        self.registered = []
        LUMEServicesError.__init__(
            self,
            f"no flow in the model database matches {_criteria(self.query)}; a deployment's flow is "
            "stored with Model.store_deployment(...) or ModelDBService.store_flow(...)",
        )


class DeploymentNotRegisteredError(ModelDBError):
    """A model has no deployment (or not the one asked for).

    Args:
        model_id: the model.
        deployment_id: the deployment asked for; ``None`` when the latest was asked for.
        deployments: the ids of the model's deployments.
    """

    def __init__(self, model_id: int, deployment_id: Optional[int] = None, deployments: Iterable[int] = ()):
        self.model_id = model_id
        self.deployment_id = deployment_id
        self.deployments = sorted(deployments)
        stored = ", ".join(str(d) for d in self.deployments) or "(none)"
        if deployment_id is None:
            what = f"model {model_id} has no deployment"
        else:
            what = f"model {model_id} has no deployment {deployment_id}"
        super().__init__(
            f"{what}; its deployments: {stored} (store one with Model.store_deployment(...) "
            "or `lume-services deployments create`)"
        )


class ModelDBConflictError(ModelDBError):
    """A row cannot be stored: it repeats a unique entry, or refers to a row that is not stored.

    Nothing was written.

    Args:
        table: the table written to.
        values: the values of the row (column -> value).
        error: what the database reported.
    """

    def __init__(self, table: str, values: Mapping[str, object], error: object):
        self.table = table
        self.values = dict(values)
        self.error = str(error)
        super().__init__(
            f"cannot store a {table} with {_criteria(self.values)}: {self.error}; a {table} must not "
            "repeat a stored one's unique columns (a model: author, laboratory, facility, beampath and "
            "description; a deployment: model_id and version; a flow: flow_id), and the rows it refers "
            "to (model_id, deployment_id, project_name) must be stored first"
        )


class ModelDBUnreachableError(ModelDBError):
    """The MySQL/MariaDB server of the model database cannot be used.

    Args:
        url: the database URL, its password masked.
        error: what the driver reported.
    """

    def __init__(self, url: str, error: object):
        self.url = url
        self.error = str(error)
        super().__init__(
            f"the model database at {url} cannot be used: {self.error}; start the server, or check "
            "LUME_MODEL_DB__HOST, __PORT, __USER, __PASSWORD and __DATABASE (unset them to use the "
            "embedded SQLite database under LUME_HOME)"
        )


class UnknownColumnError(LUMEServicesError, ValueError):
    """A query of the model database names columns its table does not have.

    A ``ValueError`` too, as LUME-services raised.

    Args:
        table: the table queried.
        unknown: the names that are not its columns.
        columns: the table's columns.
    """

    def __init__(self, table: str, unknown: Iterable[str], columns: Iterable[str]):
        self.table = table
        self.unknown = sorted(unknown)
        self.columns = list(columns)
        super().__init__(
            f"table {table!r} has no column {_names(self.unknown)}; its columns: "
            f"{', '.join(repr(c) for c in self.columns)}"
        )


class ModelNotSpecifiedError(LUMEServicesError):
    """A ``Model`` was made without saying which stored model it is.

    Args:
        given: the names of the arguments it was given.
    """

    def __init__(self, given: Iterable[str]):
        self.given = sorted(given)
        super().__init__(
            f"a Model needs model_id, deployment_id or metadata (a stored model); given: {_names(self.given)}; "
            "make a new one with Model.create_model(author=..., laboratory=..., facility=..., beampath=..., "
            "description=...)"
        )


class IncompleteDeploymentError(LUMEServicesError):
    """A deployment cannot be stored: what it needs is not given.

    Args:
        missing: the arguments it needs and lacks.
        hint: how to give them.
    """

    HINTS = {
        "flow": "give flow= (a Flow, a FlowOfFlows or a prefect.Flow) or source_path= (a model package)",
        "version": "give version= (the deployment's version, unique per model)",
        "project_name": "give project_name= (the project the flow is registered in)",
    }

    def __init__(self, missing: Iterable[str]):
        self.missing = sorted(missing)
        hints = "; ".join(self.HINTS.get(name, f"give {name}=") for name in self.missing)
        super().__init__(f"cannot store the deployment: it needs {', '.join(self.missing)}; {hints}")


class FlowAlreadyDeployedError(ModelDBError):
    """A new deployment's flow is the flow of another deployment already.

    The model database keys flows by their registered id (LUME-services'
    schema), and an unchanged flow keeps its id when registered again, so one
    registered flow belongs to one deployment. Nothing was written.

    Args:
        flow_name: the flow.
        flow_id: its registered id.
        deployment_id: the deployment it belongs to.
    """

    def __init__(self, flow_name: str, flow_id: str, deployment_id: int):
        self.flow_name = flow_name
        self.flow_id = flow_id
        self.deployment_id = deployment_id
        super().__init__(
            f"flow {flow_name!r} (id {flow_id}) is the flow of deployment {deployment_id} already: an "
            "unchanged flow keeps its id when registered again, and a registered flow belongs to one "
            f"deployment; deploy a changed flow, or use deployment {deployment_id}"
        )


# --- flows of flows: cached children, resume, plan (issue 22, i22-fof) ----------


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
    """A flow-of-flows feature that needs the run history in this process was asked of a backend without it.

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


class LineageNotFoundError(LUMEServicesError):
    """No recorded run produced the result or file asked about.

    Args:
        ref: the result's unique hash or the file's path given.
        where: where the history was searched.
    """

    def __init__(self, ref: str, where: Optional[str] = None):
        self.ref = ref
        self.where = where
        history = f"the run history at {where}" if where else "the run history"
        super().__init__(
            f"no recorded run produced {ref!r} in {history}; give a stored result's unique hash or the path "
            "of a file that a flow stored with SaveDBResult or SaveFile on this backend "
            "(`lume-services runs show RUN_ID` lists a run's results)"
        )
