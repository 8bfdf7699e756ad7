"""LUME-services' public helpers: hashing and flattening dicts, importing callables, the Docker API version.

Each helper here is either the one implementation or a thin door to it
(``get_callable_from_string`` imports through ``lume_services.type_strings``,
``get_jsonable_dict`` encodes as the results database does).
"""

import builtins
import hashlib
import json
from types import FunctionType, MethodType
from typing import Any, Callable, Dict, Optional

from lume_services.services.results.encoding import json_default
from lume_services.type_strings import import_object

__all__ = [
    "JSON_ENCODERS",
    "docker_api_version",
    "fingerprint_dict",
    "flatten_dict",
    "flatten_dict_for_query",
    "get_callable_from_string",
    "get_jsonable_dict",
    "select_python_version",
]


def docker_api_version(base_url: Optional[str] = None) -> str:
    """The API version of the Docker engine (``DOCKER_HOST``, or the local socket).

    Raises:
        DockerEngineUnavailableError: no engine answers.
    """
    from lume_services.services.scheduling.backends.docker_engine import docker_client  # lazy: the docker SDK

    return docker_client(base_url).api.version()["ApiVersion"]


def get_jsonable_dict(dictionary: Dict[str, Any]) -> Dict[str, Any]:
    """The dict as JSON data: numpy arrays and numbers as lists and numbers, as results are stored."""
    return json.loads(json.dumps(dictionary, default=json_default))


def fingerprint_dict(dictionary: Dict[str, Any]) -> str:
    """An MD5 hex digest of the dict's JSON data (numpy values included), as LUME-services made it."""
    hasher = hashlib.md5()
    hasher.update(json.dumps(get_jsonable_dict(dictionary)).encode("utf-8"))
    return hasher.hexdigest()


def flatten_dict(d: Dict[str, Any]) -> Dict[str, Any]:
    """The leaves of a nested dict under their own keys (a later leaf wins a shared key)."""
    flat: Dict[str, Any] = {}
    for key, value in d.items():
        if isinstance(value, dict):
            flat.update(flatten_dict(value))
        else:
            flat[key] = value
    return flat


def flatten_dict_for_query(dictionary: Dict[str, Any], level_key: Optional[str] = None) -> Dict[str, Any]:
    """The leaves of a nested dict under dotted paths: a query that matches each leaf."""
    flat: Dict[str, Any] = {}
    for key, value in dictionary.items():
        path = key if level_key is None else f"{level_key}.{key}"
        if isinstance(value, dict):
            flat.update(flatten_dict_for_query(value, level_key=path))
        else:
            flat[path] = value
    return flat


def get_callable_from_string(callable: str, bind: Any = None) -> Callable:
    """Import the callable a ``"module.name"`` (or ``"module:name"``) string names.

    A method of a class (``"module.Class.method"``) is returned bound to
    ``bind`` when one is given.

    Raises:
        ValueError: the string names no importable callable, or ``bind`` is
            not an instance of the method's class.
    """
    try:
        obj = import_object(callable)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ValueError(f"{callable!r} names no importable callable: {exc}") from exc
    if bind is not None:
        owner_name = callable.replace(":", ".").rsplit(".", 1)[0]
        owner = import_object(owner_name)
        if not (isinstance(owner, type) and isinstance(bind, owner)):
            raise ValueError(f"cannot bind {callable!r} to {bind!r}: it is not a {owner_name}")
        obj = getattr(bind, callable.rsplit(".", 1)[-1])
    if not builtins.callable(obj):
        raise ValueError(f"{callable!r} names {obj!r}, which is not callable")
    return obj


def _qualified(x: Any) -> str:
    return f"{x.__module__}.{x.__qualname__}"


#: pydantic ``json_encoders`` writing functions, methods and classes as the
#: strings :func:`get_callable_from_string` imports
JSON_ENCODERS = {
    FunctionType: _qualified,
    MethodType: _qualified,
    type: lambda x: f"{x.__module__}.{x.__name__}",
}


def select_python_version(version: str) -> str:
    """The Python version a pinned requirement (``">=3.9"``, ``"<3.10"``, ``"=3.8"``) selects.

    Raises:
        ValueError: the pin cannot be read.
    """
    try:
        if "=" in version:
            return str(float(version.split("=")[1]))
        if ">" in version:
            return str(round(float(version.replace(">", "")) + 0.1, 2))
        if "<" in version:
            return str(round(float(version.replace("<", "")) - 0.1, 2))
    except ValueError:
        pass
    raise ValueError(f"cannot read a Python version from {version!r}; e.g. '>=3.9'")
