"""The flow-of-flows declaration: YAML or dicts, parsed into child ``Flow`` models and checked."""

from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import yaml

from lume_services.errors import (
    ComposingFlowNameMismatchError,
    DuplicateFlowNameError,
    ExposedParameterClashError,
    FlowOfFlowsFileNotFoundError,
    MalformedDeclarationError,
    MissingDBAttributeError,
    MissingDeclarationKeyError,
    ParameterNotInFlowError,
    ParentFlowNotInFlowsError,
    TaskNotInFlowError,
    UnknownMapTypeError,
)
from lume_services.flows._names import exposed_parameter_name
from lume_services.flows.flow import MAPPED_PARAMETER_TYPES, DBMappedParameter, Flow, MappedParameter


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
        mapped = _parse_mappings(name, spec.get("mapped_parameters"))
        child_values = {k: v for k, v in spec.items() if k != "mapped_parameters"}
        child_values.setdefault("name", name)
        child_values.setdefault("project_name", default_project)
        children[name] = Flow(**child_values, mapped_parameters=mapped)
    return children


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
            if not name:
                raise MissingDeclarationKeyError(["name"], part="composing_flow", position=i + 1)
            items.append((name, _spec(name, spec)))
    else:
        raise MalformedDeclarationError(raw, part="composing_flows")
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
    return spec


def _parse_mappings(child: str, raw) -> Optional[Dict[str, MappedParameter]]:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise MalformedDeclarationError(raw, part="mapped_parameters", child=child)
    parsed = {}
    for param, m in raw.items():
        if isinstance(m, MappedParameter):
            parsed[param] = m
            continue
        if not isinstance(m, dict):
            raise MalformedDeclarationError(m, part="mapped_parameter", child=child, parameter=param)
        map_type = m.get("map_type", "raw")
        if map_type not in MAPPED_PARAMETER_TYPES:
            raise UnknownMapTypeError(param, map_type, child=child)
        if map_type == "db" and not m.get("attribute"):
            raise MissingDBAttributeError(child, param)
        missing = [k for k in ("parent_flow_name", "parent_task_name") if not m.get(k)]
        if missing:
            raise MissingDeclarationKeyError(missing, part="mapped_parameter", child=child, parameter=param)
        parsed[param] = MAPPED_PARAMETER_TYPES[map_type](**m)
    return parsed


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
    if isinstance(yaml_obj, str) and "\n" not in yaml_obj and _is_file(yaml_obj):
        yaml_obj = Path(yaml_obj)
    if isinstance(yaml_obj, Path) or (
        isinstance(yaml_obj, str) and "\n" not in yaml_obj and yaml_obj.strip().endswith((".yaml", ".yml"))
    ):
        path = Path(yaml_obj)
        if not path.is_file():
            raise FlowOfFlowsFileNotFoundError(path)
        yaml_obj = path.read_text()
    if not isinstance(yaml_obj, str):
        raise MalformedDeclarationError(yaml_obj, part="from_yaml")
    data = yaml.safe_load(yaml_obj)
    if not isinstance(data, dict):
        raise MalformedDeclarationError(data, part="flow_of_flows")
    return data


