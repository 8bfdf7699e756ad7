"""How the parts of children are named and built in a composed flow of flows, and named in its results."""

from typing import Any

from lume_services.tasks.db import LoadDBResult


def exposed_parameter_name(child: str, parameter: str) -> str:
    """Name of the composed flow's parameter for an unmapped parameter of a child: ``"<child>-<parameter>"``."""
    return f"{child}-{parameter}"


def composed_task_name(child: str, task: str) -> str:
    """Name of a child's task in the composed flow and in results: ``"<child>/<task>"``."""
    return f"{child}/{task}"


def db_loader(child: str, parameter: str, mapping: Any) -> LoadDBResult:
    """The task that reads a ``db`` mapped parameter's value from its parent's stored result.

    Both composers build it here, so it is configured and named alike: a
    ``LoadDBResult`` holding the mapping's ``attribute`` and
    ``attribute_index`` (its ``run`` defaults), named
    ``composed_task_name(child, parameter)``; the composer binds the parent's
    result reference to its ``result_rep``.

    Args:
        child: the child flow whose parameter is mapped.
        parameter: the mapped parameter.
        mapping: its ``DBMappedParameter``.
    """
    return LoadDBResult(
        attribute=mapping.attribute,
        attribute_index=mapping.attribute_index,
        name=composed_task_name(child, parameter),
    )
