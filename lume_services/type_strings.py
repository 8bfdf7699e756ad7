"""Types named by importable ``"module:ClassName"`` strings.

File references and stored results name their type this way, so that any
process can rebuild them as the class that wrote them.
"""

import importlib
from typing import Any, Callable, Type, TypeVar

T = TypeVar("T")


def type_string(cls: type) -> str:
    """Return the importable ``"module:ClassName"`` of a class."""
    return f"{cls.__module__}:{cls.__qualname__}"


def import_type_string(value: object, base: Type[T], error: Callable[[object, str], Exception]) -> Type[T]:
    """Import the subclass of ``base`` that a ``"module:ClassName"`` string names.

    Args:
        value: the string.
        base: the class the named type must derive from.
        error: builds the exception to raise from ``(value, reason)``.

    Raises:
        The exception ``error`` builds, when the string is malformed, cannot be
        imported, or does not name a subclass of ``base``.
    """
    if not isinstance(value, str) or ":" not in value:
        raise error(value, "it is not a 'module:ClassName' string")
    module_name, _, qualname = value.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise error(value, f"it cannot be imported ({exc})") from exc
    if not (isinstance(obj, type) and issubclass(obj, base)):
        raise error(value, f"it is not a {base.__name__} subclass")
    return obj
