"""Mapped parameters: the models, and the one parser both a ``Flow`` and a flow-of-flows declaration use.

A child flow's parameter may take its value from a parent flow's task
(``raw``: the value, ``file``: a file reference, ``db``: a results-database
reference read at an attribute path). :func:`parse_mapping` turns what a user
wrote (a dict, or a model) into the model of its map type, and is the only
place the rules of a mapping live: known map type, keys the map type takes,
a ``db`` mapping's ``attribute``, the parent flow and task named. ``Flow``'s
validator and the declaration parser (``_spec``) both call it, so a mapping
refused in a YAML declaration is refused the same way in ``Flow(...)``.

The public names are re-exported by ``lume_services.flows.flow`` (their API home).
"""

from typing import Any, Dict, List, Literal, Optional, Type

from pydantic import BaseModel, Field, ValidationError

from lume_services.errors import (
    InvalidDeclarationValueError,
    KeyNotForMapTypeError,
    MalformedDeclarationError,
    MissingDBAttributeError,
    MissingDeclarationKeyError,
    UnknownDeclarationKeyError,
    UnknownMapTypeError,
)


class MappedParameter(BaseModel):
    """A child flow parameter whose value comes from a parent flow's task result.

    Attributes:
        parent_flow_name: the composing flow whose task produces the value.
        parent_task_name: the task of that flow whose result is used.
        map_type: how the value travels: ``raw`` (the value itself), ``file``
            (a file reference, loaded by the child with ``load_file``) or
            ``db`` (a results-database reference, loaded with an attribute path).
        parent_project_name: the parent flow's project, as the reference's
            declarations (57027da) name it; optional, and when given it must be
            the project of the composing flow ``parent_flow_name``.
    """

    parent_flow_name: str
    parent_task_name: str
    map_type: Literal["file", "db", "raw"] = "raw"
    parent_project_name: Optional[str] = None


class RawMappedParameter(MappedParameter):
    """The parent task's result is passed as the parameter's value."""

    map_type: Literal["raw"] = Field("raw", const=True)


class FileMappedParameter(MappedParameter):
    """The parent task returned a file reference (``SaveFile``); it is passed on.

    The child flow loads the file with the packaged ``load_file`` task in
    ``lume_services.tasks.file``.
    """

    map_type: Literal["file"] = Field("file", const=True)


class DBMappedParameter(MappedParameter):
    """The parent task returned a result reference (``SaveDBResult``).

    The value passed is ``getattr(result, attribute)``, then indexed by each key
    of ``attribute_index`` in turn (``attribute="outputs"``,
    ``attribute_index=["text"]`` passes ``result.outputs["text"]``).

    Attributes:
        attribute: the attribute of the stored result.
        attribute_index: keys to index the attribute with, in order.
    """

    map_type: Literal["db"] = Field("db", const=True)
    attribute: str
    attribute_index: Optional[List[str]]


MAPPED_PARAMETER_TYPES: Dict[str, Type[MappedParameter]] = {
    "raw": RawMappedParameter,
    "file": FileMappedParameter,
    "db": DBMappedParameter,
}

#: The keys a mapping takes, by map type.
MAPPING_KEYS = {map_type: tuple(cls.__fields__) for map_type, cls in MAPPED_PARAMETER_TYPES.items()}


def parse_mappings(child: str, raw: Any) -> Optional[Dict[str, MappedParameter]]:
    """A child's ``mapped_parameters`` (parameter name -> mapping) parsed by :func:`parse_mapping`.

    Raises:
        MalformedDeclarationError: ``raw`` is not a dict.
        InvalidFlowOfFlowsError: a mapping is refused (see :func:`parse_mapping`).
    """
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise MalformedDeclarationError(raw, part="mapped_parameters", child=child)
    return {parameter: parse_mapping(child, parameter, value) for parameter, value in raw.items()}


def parse_mapping(child: str, parameter: str, value: Any) -> MappedParameter:
    """Turn one mapping (a dict, or a ``MappedParameter``) into the model of its map type.

    Args:
        child: the flow whose parameter is mapped (named in errors).
        parameter: the mapped parameter.
        value: the mapping as given.

    Raises:
        MalformedDeclarationError: ``value`` is neither a dict nor a MappedParameter.
        UnknownMapTypeError: its map_type is not raw, file or db.
        KeyNotForMapTypeError: it gives a key only another map type takes.
        UnknownDeclarationKeyError: it gives a key no map type takes.
        MissingDBAttributeError: a ``db`` mapping gives no ``attribute``.
        MissingDeclarationKeyError: ``parent_flow_name`` or ``parent_task_name`` is missing.
        InvalidDeclarationValueError: a value is of the wrong type.
    """
    if isinstance(value, MappedParameter):
        check_db_attribute(child, parameter, value.map_type, getattr(value, "attribute", None))
        return value
    if not isinstance(value, dict):
        raise MalformedDeclarationError(value, part="mapped_parameter", child=child, parameter=parameter)
    map_type = value.get("map_type", "raw")
    if not isinstance(map_type, str) or map_type not in MAPPED_PARAMETER_TYPES:
        raise UnknownMapTypeError(parameter, map_type, child=child)
    _check_keys(child, parameter, value, map_type)
    check_db_attribute(child, parameter, map_type, value.get("attribute"))
    missing = [k for k in ("parent_flow_name", "parent_task_name") if not value.get(k)]
    if missing:
        raise MissingDeclarationKeyError(missing, part="mapped_parameter", child=child, parameter=parameter)
    try:
        return MAPPED_PARAMETER_TYPES[map_type](**value)
    except ValidationError as exc:
        raise InvalidDeclarationValueError(child, exc, parameter=parameter) from exc


def check_db_attribute(child: str, parameter: str, map_type: str, attribute: Any) -> None:
    """The ``db`` rule: a db mapping names the attribute of the stored result it passes on.

    Raises:
        MissingDBAttributeError: ``map_type`` is ``db`` and ``attribute`` is missing or empty.
    """
    if map_type == "db" and not attribute:
        raise MissingDBAttributeError(child, parameter)


def _check_keys(child: str, parameter: str, mapping: dict, map_type: str) -> None:
    valid = MAPPING_KEYS[map_type]
    for key in mapping:
        if key in valid:
            continue
        belongs_to = [t for t, keys in MAPPING_KEYS.items() if key in keys]
        if belongs_to:
            raise KeyNotForMapTypeError(child, parameter, key, map_type, belongs_to)
        every_key = sorted({k for keys in MAPPING_KEYS.values() for k in keys})
        raise UnknownDeclarationKeyError(
            key, part="mapped_parameter", valid=every_key, child=child, parameter=parameter
        )
