"""The errors of a flow of flows: its declaration, its mappings, its composition."""

from typing import Iterable, List, Mapping, Optional, Sequence, Tuple

from lume_services.errors._base import LUMEServicesError, _alternatives, _closest, _names
from lume_services.errors._flows import FlowNotLoadedError


class FlowOfFlowsError(LUMEServicesError):
    """Base class of the errors of a flow of flows that cannot be built or run as
    declared: its declaration's form (:class:`InvalidFlowOfFlowsError` and its
    subclasses), its mappings (:class:`ParentFlowNotInFlowsError`,
    :class:`ParentProjectMismatchError`, :class:`UnknownMapTypeError`,
    :class:`MissingDBAttributeError`), duplicate
    names (:class:`DuplicateFlowNameError`), a cycle (:class:`FlowCycleError`), a
    composition missing (:class:`FlowOfFlowsNotComposedError`); and reusing recorded
    results: a run to resume that is not its own (:class:`RunNotOfFlowOfFlowsError`),
    a child registered anew since (:class:`ChildVersionChangedError`), a feature a
    backend cannot give (:class:`FlowOfFlowsFeatureNotOnBackendError`, which no
    backend of this version raises).

    They are raised while the declaration is read and checked, on any backend,
    before anything runs.
    """


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

    The base of the errors of a declaration's form: keys missing, unknown, given
    twice or not for the map type (:class:`MissingDeclarationKeyError`,
    :class:`UnknownDeclarationKeyError`, :class:`DuplicateDeclarationKeyError`,
    :class:`KeyNotForMapTypeError`), a part of the wrong type or value
    (:class:`MalformedDeclarationError`, :class:`InvalidDeclarationValueError`),
    YAML that does not parse (:class:`DeclarationYAMLError`) or is larger or deeper
    than any real declaration (:class:`DeclarationTooLargeError`), a name breaking its
    rule or not its Flow's (:class:`InvalidDeclarationNameError`,
    :class:`ComposingFlowNameMismatchError`), no composing flows
    (:class:`NoComposingFlowsError`), exposed parameters sharing a name
    (:class:`ExposedParameterClashError`), a file that does not exist
    (:class:`FlowOfFlowsFileNotFoundError`), a mapping naming a task several task runs
    share (:class:`AmbiguousParentTaskError`).
    Its ``cache`` or a child's ``map_over`` not of their form:
    :class:`InvalidCacheOptionError`, :class:`InvalidMapOverError`.
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


class AmbiguousParentTaskError(InvalidFlowOfFlowsError):
    """A mapped parameter names a parent task by a name several of the parent's tasks share.

    A task called in a loop (``for i in range(3): emit(i)``) is one task name and
    several task runs, each with its own slug (``emit-1``, ``emit-2``, ...). Mapping
    by the name cannot say which result is meant, so the mapping must name a slug.

    Args:
        child: the flow whose parameter is mapped.
        parameter: the mapped parameter.
        parent: the parent flow.
        task_name: the shared name.
        slugs: the slugs of the tasks of that name.
    """

    def __init__(self, child: str, parameter: str, parent: str, task_name: str, slugs: List[str]):
        self.child, self.parameter, self.parent = child, parameter, parent
        self.task_name, self.slugs = task_name, list(slugs)
        super().__init__(
            f"flow {child!r} maps parameter {parameter!r} from task {task_name!r} of {parent!r}, but "
            f"{len(self.slugs)} tasks of {parent!r} are named {task_name!r} (a task called more than once); "
            f"name the one meant by its slug as parent_task_name: {', '.join(repr(s) for s in self.slugs)}"
        )


class ParentProjectMismatchError(FlowOfFlowsError):
    """A mapped parameter's ``parent_project_name`` is not the project of the parent flow it names.

    Args:
        child: the flow whose parameter is mapped.
        parameter: the parameter.
        parent: the parent flow.
        declared: the ``parent_project_name`` given.
        actual: the parent flow's project.
    """

    def __init__(self, child: str, parameter: str, parent: str, declared: str, actual: str):
        self.child = child
        self.parameter = parameter
        self.parent = parent
        self.declared = declared
        self.actual = actual
        super().__init__(
            f"flow {child!r} maps parameter {parameter!r} from flow {parent!r} of project {declared!r}, "
            f"but the composing flow {parent!r} is in project {actual!r}; give parent_project_name: "
            f"{actual!r} or leave it out"
        )
