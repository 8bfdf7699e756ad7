"""References that name their type by an importable ``"module:ClassName"`` string.

File references and stored results name their type this way, so that any
process can rebuild them as the class that wrote them. The dotted form
``"module.ClassName"`` (which later LUME-services releases write) names the
same class and is read too.

A type string resolves only to a subclass of the expected base (``File``,
``Result``), and is checked this way: the module and class names must be
dotted Python identifiers with no private (``_``) part; a module already
imported is looked into without importing anything; a module not imported yet
is imported (the one named, and so its packages, nothing else), then checked.
Nothing named is ever called: ``os:system`` is refused because it is not a
class. Importing a module runs its top-level code, so references are to be read
only from stores you trust (the SQLite stores refuse files others may write).
"""

import importlib
import json
import re
import sys
from typing import Any, Callable, Dict, Sequence, Type, TypeVar

T = TypeVar("T")


def type_string(cls: type) -> str:
    """Return the importable ``"module:ClassName"`` of a class."""
    return f"{cls.__module__}:{cls.__qualname__}"


def _import_dotted(value: str) -> Any:
    """Import ``"package.module.Class"``: the longest importable prefix is the module."""
    parts = value.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        try:
            obj: Any = sys.modules.get(module_name) or importlib.import_module(module_name)
        except ImportError:
            continue
        for part in parts[split:]:
            obj = getattr(obj, part)
        return obj
    raise ImportError(f"no module of {value!r} can be imported")


def import_object(value: str) -> Any:
    """Import the object a ``"module:qualname"`` or dotted ``"module.qualname"`` string names.

    A module already imported is looked into without importing anything.

    Raises:
        ImportError: no module of the string can be imported.
        AttributeError: the module has no such attribute.
        ValueError: the string names neither form.
    """
    if ":" in value:
        module_name, _, qualname = value.partition(":")
        obj: Any = sys.modules.get(module_name) or importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        return obj
    if "." not in value.strip("."):
        raise ValueError(f"{value!r} is not a 'module:name' or 'module.name' string")
    return _import_dotted(value)


def import_type_string(value: object, base: Type[T], error: Callable[[object, str], Exception]) -> Type[T]:
    """Import the subclass of ``base`` that a ``"module:ClassName"`` (or ``"module.ClassName"``) string names.

    Args:
        value: the string.
        base: the class the named type must derive from.
        error: builds the exception to raise from ``(value, reason)``.

    Raises:
        Exception: the one ``error`` builds, when the string is malformed,
            cannot be imported, or does not name a subclass of ``base``.
    """
    if not isinstance(value, str) or not (":" in value or "." in value.strip(".")):
        raise error(value, "it is not a 'module:ClassName' string")
    if not _DOTTED.fullmatch(value.replace(":", ".", 1)):
        raise error(value, "module and class must be dotted Python names without private parts")
    try:
        obj = import_object(value)
    except (ImportError, AttributeError, ValueError) as exc:
        raise error(value, f"it cannot be imported ({exc})") from exc
    if not (isinstance(obj, type) and issubclass(obj, base)):
        raise error(value, f"it is not a {base.__name__} subclass")
    return obj


# dotted identifiers, none of whose parts starts with "_" (no dunders, no private names)
_DOTTED = re.compile(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*")


def parse_reference(value: object, keys: Sequence[str], error: Callable[[object, str], Exception]) -> Dict[str, Any]:
    """Return a reference (a dict, or its JSON text) as a dict holding ``keys``.

    Args:
        value: the reference given.
        keys: the keys a reference of this kind has.
        error: builds the exception to raise from ``(value, reason)``.

    Raises:
        Exception: the one ``error`` builds, when the value is not JSON, not a
            dict, or misses a key.
    """
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise error(value, "text that is not JSON") from exc
    if not isinstance(value, dict):
        raise error(value, f"a {type(value).__name__}")
    missing = [key for key in keys if key not in value]
    if missing:
        raise error(value, f"missing {', '.join(missing)}")
    return value
