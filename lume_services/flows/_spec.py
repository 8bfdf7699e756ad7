"""The flow-of-flows declaration: YAML or dicts, parsed into child ``Flow`` models and checked."""

from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import yaml

from pydantic import ValidationError

from lume_services.errors import (
    AmbiguousParentTaskError,
    ComposingFlowNameMismatchError,
    DeclarationTooLargeError,
    ParentProjectMismatchError,
    DeclarationYAMLError,
    DuplicateDeclarationKeyError,
    DuplicateFlowNameError,
    ExposedParameterClashError,
    FlowOfFlowsFileNotFoundError,
    InvalidCacheOptionError,
    InvalidMapOverError,
    InvalidDeclarationNameError,
    InvalidDeclarationValueError,
    MalformedDeclarationError,
    MissingDeclarationKeyError,
    ParameterNotInFlowError,
    ParentFlowNotInFlowsError,
    NoComposingFlowsError,
    TaskNotInFlowError,
    UnknownDeclarationKeyError,
)
from lume_services.flows._names import exposed_parameter_name
from lume_services.flows._mapping import MAPPING_KEYS, parse_mappings  # noqa: F401 (MAPPING_KEYS: kept importable here)
from lume_services.flows.flow import Flow, parent_task_slug, slugs_by_task_name

#: The keys a composing flow of a declaration takes (a misspelled one is refused, not dropped).
CHILD_KEYS = ("name", "project_name", "mapped_parameters", "labels", "image", "cache", "map_over")



def check_top_level(values: dict, valid) -> None:
    """Refuse a key at the top of a declaration that is not a field of the flow of flows, and an empty name.

    Raises:
        UnknownDeclarationKeyError: a key is not one of ``valid``.
        InvalidDeclarationNameError: the name is empty.
        NoComposingFlowsError: ``composing_flows`` is empty.
    """
    for key in values:
        if key not in valid:
            raise UnknownDeclarationKeyError(key, part="flow_of_flows", valid=valid)
    name = values.get("name")
    if isinstance(name, str) and not name.strip():
        raise InvalidDeclarationNameError(name, role="flow_of_flows")
    composing = values.get("composing_flows")
    if isinstance(composing, (list, tuple, dict)) and not composing:
        raise NoComposingFlowsError(name)


def child_flows(raw, default_project: Optional[str]) -> Dict[str, Flow]:
    """The child ``Flow`` models a declaration's ``composing_flows`` names, not loaded yet.

    Raises:
        InvalidFlowOfFlowsError: the declaration is not a list or dict of children
            (a :class:`MissingDeclarationKeyError`, :class:`MalformedDeclarationError`
            or :class:`ComposingFlowNameMismatchError`).
        DuplicateFlowNameError: two children share a name.
        UnknownMapTypeError: a mapping has a map_type other than raw, file, db.
        MissingDBAttributeError: a ``db`` mapping gives no ``attribute``.
    """
    children: Dict[str, Flow] = {}
    for name, spec in _child_specs(raw):
        if isinstance(spec, Flow):
            children[name] = spec
            continue
        mapped = parse_mappings(name, spec.get("mapped_parameters"))
        child_values = {k: v for k, v in spec.items() if k not in ("mapped_parameters", "cache", "map_over")}
        child_values.setdefault("name", name)
        child_values.setdefault("project_name", default_project)
        try:
            children[name] = Flow(**child_values, mapped_parameters=mapped)
        except ValidationError as exc:
            raise InvalidDeclarationValueError(name, exc) from exc
    return children


def cached_by_declaration(raw, flow_of_flows: Optional[str]) -> List[str]:
    """The children whose declaration says ``cache: true``.

    Raises:
        InvalidCacheOptionError: a child's ``cache`` is not true or false.
    """
    specs = raw.items() if isinstance(raw, dict) else (
        ((spec.get("name"), spec) for spec in raw) if isinstance(raw, (list, tuple)) else ())
    cached = []
    for name, spec in specs:
        if not isinstance(spec, dict) or "cache" not in spec:
            continue
        if not isinstance(spec["cache"], bool):
            raise InvalidCacheOptionError(flow_of_flows, spec["cache"], child=name)
        if spec["cache"]:
            cached.append(name)
    return cached


def sweeps_by_declaration(raw) -> Dict[str, Any]:
    """``{child: map_over}`` as the declaration gives it (checked by :func:`check_sweeps`)."""
    specs = raw.items() if isinstance(raw, dict) else (
        ((spec.get("name"), spec) for spec in raw) if isinstance(raw, (list, tuple)) else ())
    return {name: spec["map_over"] for name, spec in specs if isinstance(spec, dict) and "map_over" in spec}


def check_sweeps(sweeps: Any, children: Dict[str, Flow], flow_of_flows: Optional[str]) -> Dict[str, List[str]]:
    """A flow of flows' ``map_over``: child -> a non-empty list of its parameters.

    Raises:
        InvalidMapOverError: a value is not a list of the child's parameters.
        ParentFlowNotInFlowsError: a child named is not composed.
    """
    if not isinstance(sweeps, dict):
        raise InvalidMapOverError(str(flow_of_flows), sweeps, [])
    checked = {}
    for child, params in sweeps.items():
        if child not in children:
            raise InvalidMapOverError(str(child), params, [])
        known = children[child].parameters or {}
        if (isinstance(params, str) or not isinstance(params, (list, tuple)) or not params
                or not all(isinstance(p, str) and p in known for p in params)):
            raise InvalidMapOverError(child, params, known)
        checked[child] = list(params)
    return checked


def check_cache_option(value, flow_of_flows: Optional[str], children) -> None:
    """A flow of flows' ``cache``: true, false, or a list of its children.

    Raises:
        InvalidCacheOptionError: anything else, or a name that is not a child.
    """
    if isinstance(value, bool):
        return
    if not isinstance(value, (list, tuple, set)) or not all(isinstance(v, str) for v in value):
        raise InvalidCacheOptionError(flow_of_flows, value)
    unknown = [v for v in value if v not in children]
    if unknown:
        raise InvalidCacheOptionError(flow_of_flows, value, unknown=unknown, valid=children)


def _child_specs(raw) -> List[Tuple[str, Any]]:
    if raw is None:
        raise MissingDeclarationKeyError(["composing_flows"], part="flow_of_flows")
    items: List[Tuple[str, Any]] = []
    if isinstance(raw, dict):
        for name, spec in raw.items():
            items.append((name, _spec(name, spec)))
    elif isinstance(raw, (list, tuple)):
        for i, spec in enumerate(raw):
            name = spec.name if isinstance(spec, Flow) else (spec or {}).get("name") if isinstance(spec, dict) else None
            if name is None:
                raise MissingDeclarationKeyError(["name"], part="composing_flow", position=i + 1)
            items.append((name, _spec(name, spec)))
    else:
        raise MalformedDeclarationError(raw, part="composing_flows")
    for position, (name, _) in enumerate(items, start=1):
        if not isinstance(name, str) or not name.strip() or "/" in name:
            raise InvalidDeclarationNameError(name, role="composing_flow", position=position)
    names = [n for n, _ in items]
    duplicated = {n for n in names if names.count(n) > 1}
    if duplicated:
        raise DuplicateFlowNameError(duplicated)
    return items


def _spec(name: str, spec):
    if isinstance(spec, Flow):
        if spec.name != name:
            raise ComposingFlowNameMismatchError(name, spec.name)
        return spec
    if spec is None:
        return {"name": name}
    if not isinstance(spec, dict):
        raise MalformedDeclarationError(spec, part="composing_flow", child=name)
    for key in spec:
        if key not in CHILD_KEYS:
            raise UnknownDeclarationKeyError(key, part="composing_flow", valid=CHILD_KEYS, child=name)
    return spec


def check_mappings(children: Dict[str, Flow]) -> None:
    for name, child in children.items():
        mapped = child.mapped_parameters or {}
        params = child.parameters or {}
        unknown = set(mapped) - set(params)
        if unknown:
            raise ParameterNotInFlowError(
                name, unknown, params, context=f"flow {name!r} maps parameter(s) {sorted(unknown)}"
            )
        for param, m in mapped.items():
            if m.parent_flow_name not in children:
                raise ParentFlowNotInFlowsError(name, param, m.parent_flow_name, children)
            parent = children[m.parent_flow_name]
            if m.parent_project_name is not None and parent.project_name not in (None, m.parent_project_name):
                raise ParentProjectMismatchError(
                    name, param, m.parent_flow_name, declared=m.parent_project_name, actual=parent.project_name
                )
            tasks = parent.task_slugs or {}
            if parent.prefect_flow is not None:
                shared = slugs_by_task_name(parent.prefect_flow).get(m.parent_task_name, [])
                if len(shared) > 1:
                    raise AmbiguousParentTaskError(name, param, m.parent_flow_name, m.parent_task_name, shared)
                if parent_task_slug(parent.prefect_flow, m.parent_task_name) is not None:
                    continue  # one task by name, or a task named by its slug
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


def check_exposed_names(children: Dict[str, Flow]) -> None:
    """Unmapped parameters become ``<child>-<parameter>``: two must not get one name."""
    owners: Dict[str, List[Tuple[str, str]]] = defaultdict(list)
    for name, child in children.items():
        for param in child.parameters or {}:
            if param not in (child.mapped_parameters or {}):
                owners[exposed_parameter_name(name, param)].append((name, param))
    clashes = {exposed: who for exposed, who in owners.items() if len(who) > 1}
    if clashes:
        raise ExposedParameterClashError(clashes)


def _is_file(text: str) -> bool:
    try:
        return Path(text).is_file()
    except OSError:  # e.g. a one-line YAML document longer than a file name may be
        return False


def load_yaml(yaml_obj) -> dict:
    if isinstance(yaml_obj, dict):
        return dict(yaml_obj)
    path = None
    if isinstance(yaml_obj, str) and "\n" not in yaml_obj and _is_file(yaml_obj):
        yaml_obj = Path(yaml_obj)
    if isinstance(yaml_obj, Path) or (
        isinstance(yaml_obj, str) and "\n" not in yaml_obj and yaml_obj.strip().endswith((".yaml", ".yml"))
    ):
        path = Path(yaml_obj)
        if not path.is_file():
            raise FlowOfFlowsFileNotFoundError(path)
        if path.stat().st_size > MAX_DECLARATION_CHARACTERS * 4:  # UTF-8: at most 4 bytes a character
            raise DeclarationTooLargeError(str(path), "characters", MAX_DECLARATION_CHARACTERS)
        yaml_obj = path.read_text()
    if not isinstance(yaml_obj, str):
        raise MalformedDeclarationError(yaml_obj, part="from_yaml")
    data = parse_yaml(yaml_obj, source=str(path) if path is not None else "<string>")
    if not isinstance(data, dict):
        raise MalformedDeclarationError(data, part="flow_of_flows")
    return data




#: Bounds of a declaration, far above any real flow of flows: the characters of its
#: text, its values with each use of an alias counted again (what the text stands
#: for), and its depth of nesting.
MAX_DECLARATION_CHARACTERS = 10_000_000
MAX_DECLARATION_VALUES = 100_000
MAX_DECLARATION_DEPTH = 64


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping instead of keeping the
    last, and a document larger or deeper than a declaration can be.

    Composing a node tree is where both are seen first: aliases are expanded
    there by reference (so counting the values they stand for costs a walk of
    the distinct nodes), and nesting is recursion there (so the depth is checked
    before Python's own limit is reached).
    """

    source = "<string>"

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DECLARATION_DEPTH:
                raise DeclarationTooLargeError(
                    self.source, "levels of nesting", MAX_DECLARATION_DEPTH, self.peek_event().start_mark.line + 1
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self):
        node = super().compose_document()
        _check_expanded_size(node, self.source)
        return node

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            self.flatten_mapping(node)
            seen: Dict[Any, int] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: SafeLoader reports it below
                    continue
                line = key_node.start_mark.line + 1
                if first is not None:
                    raise DuplicateDeclarationKeyError(
                        key, self.source, line, key_node.start_mark.column + 1, first_line=first
                    )
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _check_expanded_size(root, source: str) -> None:
    """Refuse a node tree that stands for more than MAX_DECLARATION_VALUES values.

    The size of each distinct node (itself plus its children's sizes, an alias
    counted every time it is used) is computed once, children first, without
    recursion, so a bomb of nested aliases is measured in a few steps.
    """
    sizes: Dict[int, int] = {}
    stack = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children = _children(node)
        if not children_done:
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
            continue
        size = 1 + sum(sizes.get(id(child), 0) for child in children)
        if size > MAX_DECLARATION_VALUES:
            raise DeclarationTooLargeError(
                source, "values, counting each use of an alias", MAX_DECLARATION_VALUES, node.start_mark.line + 1
            )
        sizes[id(node)] = size


def _children(node) -> list:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def parse_yaml(text: str, source: str = "<string>"):
    """Parse declaration YAML, refusing duplicate keys and naming the source, line and column of an error.

    Raises:
        DuplicateDeclarationKeyError: a mapping gives a key twice.
        DeclarationYAMLError: the text is not well-formed YAML.
        DeclarationTooLargeError: the text, its values (aliases expanded) or its
            nesting are beyond what a declaration can be.
    """
    if len(text) > MAX_DECLARATION_CHARACTERS:
        raise DeclarationTooLargeError(source, "characters", MAX_DECLARATION_CHARACTERS)
    loader = _StrictLoader(text)
    loader.source = source
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(p for p in (exc.context, exc.problem) if p) or str(exc)
        raise DeclarationYAMLError(
            source, problem,
            line=None if mark is None else mark.line + 1,
            column=None if mark is None else mark.column + 1,
        ) from exc
    except yaml.YAMLError as exc:
        raise DeclarationYAMLError(source, str(exc)) from exc
    finally:
        loader.dispose()
