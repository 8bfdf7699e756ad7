"""LUME-services' public helpers: hashing and flattening dicts, importing callables, the Docker API version.

Each helper here is either the one implementation or a thin door to it
(``get_callable_from_string`` imports through ``lume_services.type_strings``,
``get_jsonable_dict`` encodes as the results database does).
"""

import builtins
import hashlib
import inspect
import json
from types import FunctionType, MethodType
from typing import Any, Callable, ClassVar, Dict, Generic, List, Optional, Tuple, TypeVar

from pydantic import BaseModel, Extra, Field, create_model, root_validator
from pydantic.generics import GenericModel

from lume_services.services.results.encoding import json_default
from lume_services.type_strings import import_object

__all__ = [
    "CallableModel",
    "JSON_ENCODERS",
    "ObjLoader",
    "ObjType",
    "SignatureModel",
    "docker_api_version",
    "filter_keys_in_settings",
    "fingerprint_dict",
    "flatten_dict",
    "flatten_dict_for_query",
    "get_callable_from_string",
    "get_jsonable_dict",
    "select_python_version",
    "validate_and_compose_signature",
]


def docker_api_version(base_url: Optional[str] = None) -> str:
    """The API version of the Docker engine (``DOCKER_HOST``, or the local socket).

    Raises:
        DockerEngineUnavailableError: no engine answers.
    """
    from lume_services.services.scheduling.backends.images.engine import docker_client  # lazy: the docker SDK

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
        owner_name, _, name = callable.replace(":", ".").rpartition(".")
        owner = import_object(owner_name)
        if not (isinstance(owner, type) and isinstance(bind, owner)):
            raise ValueError(f"cannot bind {callable!r} to {bind!r}: it is not a {owner_name}")
        if isinstance(inspect.getattr_static(owner, name, None), (staticmethod, classmethod)):
            raise ValueError(f"cannot bind {callable!r} to an instance: it is not an instance method")
        obj = getattr(bind, name)
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


# ---- callables with their arguments, and objects rebuilt from them ----------------------

_P = inspect.Parameter
_NAMED = (_P.POSITIONAL_ONLY, _P.POSITIONAL_OR_KEYWORD, _P.KEYWORD_ONLY)


class SignatureModel(BaseModel):
    """Arguments of one callable, checked against its signature and kept as fields.

    Made by :func:`validate_and_compose_signature`. Each named parameter that
    has a value (given, or its default) is a field; the ``*args`` and
    ``**kwargs`` parameters, when the signature has them, are fields under
    their own names (a list and a dict). :meth:`build` gives the arguments of
    a call.
    """

    _signature: ClassVar[Optional[inspect.Signature]] = None

    class Config:
        arbitrary_types_allowed = True
        extra = Extra.forbid
        json_encoders = JSON_ENCODERS

    def build(self, *args, **kwargs) -> Tuple[List[Any], Dict[str, Any]]:
        """The ``(args, kwargs)`` of a call: the stored arguments, overridden by those given here.

        Raises:
            TypeError: the arguments given here do not fit the signature.
        """
        signature = type(self)._signature
        stored = dict(self.__dict__)  # required parameters not given are absent
        if signature is None:  # a SignatureModel made directly: its fields are keywords
            return list(args), {**stored, **kwargs}
        given = signature.bind_partial(*args, **kwargs).arguments
        values: Dict[str, Any] = {**stored, **given}
        call_args: List[Any] = []
        call_kwargs: Dict[str, Any] = {}
        var_positional = [values.get(p.name) or () for p in signature.parameters.values()
                          if p.kind is _P.VAR_POSITIONAL]
        positional = bool(var_positional and var_positional[0])
        for param in signature.parameters.values():
            if param.kind is _P.VAR_POSITIONAL:
                call_args.extend(values.get(param.name) or ())
            elif param.kind is _P.VAR_KEYWORD:
                call_kwargs.update(stored.get(param.name) or {})
                call_kwargs.update(given.get(param.name) or {})
            elif param.name not in values:
                positional = False  # the call will name what is missing
            elif param.kind is _P.POSITIONAL_ONLY or (positional and param.kind is _P.POSITIONAL_OR_KEYWORD):
                call_args.append(values[param.name])
            else:
                call_kwargs[param.name] = values[param.name]
        return call_args, call_kwargs


def _signature_model_type(callable: Callable) -> type:
    """The :class:`SignatureModel` subclass holding arguments of ``callable``."""
    signature = inspect.signature(callable)
    fields: Dict[str, Any] = {}
    for param in signature.parameters.values():
        if param.kind is _P.VAR_POSITIONAL:
            fields[param.name] = (List[Any], Field(default_factory=list))
        elif param.kind is _P.VAR_KEYWORD:
            fields[param.name] = (Dict[str, Any], Field(default_factory=dict))
        elif param.default is _P.empty:
            fields[param.name] = (Any, Field(None))
        else:
            fields[param.name] = (Any, Field(param.default))
    name = getattr(callable, "__qualname__", type(callable).__qualname__)
    model = create_model(f"Signature_{name}".replace(".", "_"), __base__=SignatureModel, **fields)
    model._signature = signature
    return model


def _fill(model: type, values: Dict[str, Any]) -> SignatureModel:
    """An instance of ``model`` holding ``values``: required parameters not given stay unset."""
    signature = model._signature
    required = {p.name for p in signature.parameters.values() if p.kind in _NAMED and p.default is _P.empty}
    instance = model(**values)
    for name in required - set(values):  # absent, not None: the call must be given it
        instance.__dict__.pop(name, None)
        instance.__fields_set__.discard(name)
    return instance


def validate_and_compose_signature(callable: Callable, *args, **kwargs) -> SignatureModel:
    """Check arguments against ``callable``'s signature and keep them for later calls.

    The arguments may be partial: what is missing can be given to
    :meth:`SignatureModel.build` at call time.

    Returns:
        A :class:`SignatureModel` whose fields are the parameters with their values.

    Raises:
        TypeError: the arguments cannot be bound (too many positionals, an
            unknown keyword, a parameter given twice, a keyword-only given by position).
    """
    model = _signature_model_type(callable)
    bound = inspect.signature(callable).bind_partial(*args, **kwargs)
    return _fill(model, dict(bound.arguments))


class CallableModel(BaseModel):
    """A callable with arguments kept for it; calling the model calls it.

    ``callable`` is the callable or its importable ``"module.name"`` string (as
    :data:`JSON_ENCODERS` write it); a method of a class is bound to ``bind``
    when given. Arguments given as ``args`` / ``kwargs``, or a ``signature``
    (a :class:`SignatureModel` or its dict, as ``.json()`` writes it), are
    checked against the callable's signature. The model round-trips through
    ``.json()`` / ``parse_raw`` for importable callables.
    """

    callable: Callable
    signature: SignatureModel

    class Config:
        arbitrary_types_allowed = True
        json_encoders = JSON_ENCODERS
        extra = Extra.forbid

    @root_validator(pre=True)
    def callable_and_its_arguments(cls, values):
        values = dict(values)
        target = values.pop("callable", None)
        bind = values.pop("bind", None)
        if isinstance(target, str):
            target = get_callable_from_string(target, bind=bind)
        elif bind is not None:
            raise ValueError("bind is only used with a callable given by its import string")
        if not builtins.callable(target):
            raise ValueError(f"callable must be a callable or its import string, not {target!r}")
        args = list(values.pop("args", None) or ())
        kwargs = dict(values.pop("kwargs", None) or {})
        signature = values.pop("signature", None)
        if isinstance(signature, SignatureModel):
            args, stored = signature.build(*args, **kwargs)
            signature = validate_and_compose_signature(target, *args, **stored)
        elif isinstance(signature, dict):
            model = _signature_model_type(target)
            filled = _fill(model, {k: v for k, v in signature.items() if k != "kwarg_order"})
            call_args, call_kwargs = filled.build(*args, **kwargs)
            signature = validate_and_compose_signature(target, *call_args, **call_kwargs)
        elif signature is None:
            signature = validate_and_compose_signature(target, *args, **kwargs)
        else:
            raise ValueError(f"signature must be a SignatureModel or a dict, not {type(signature).__name__}")
        return {**values, "callable": target, "signature": signature}

    def __call__(self, *args, **kwargs):
        """Call the callable with the kept arguments, overridden by those given here."""
        call_args, call_kwargs = self.signature.build(*args, **kwargs)
        return self.callable(*call_args, **call_kwargs)


ObjType = TypeVar("ObjType")


class ObjLoader(GenericModel, Generic[ObjType]):
    """How to make an object of a type: ``ObjLoader[MyType](**constructor_kwargs)``.

    ``loader`` is a :class:`CallableModel` of the type's constructor with the
    given arguments; :meth:`load` makes an object. The loader round-trips
    through JSON (``json.dumps(loader, default=...)`` with :data:`JSON_ENCODERS`,
    then ``parse_raw``) when the type is importable.

    Attributes:
        object: the object :meth:`load` kept (``load(store=True)``), else
            ``None``; not part of ``.dict()`` or the JSON.
        loader: the constructor with its arguments.
        object_type: the type.
    """

    object: Optional[ObjType] = Field(None, exclude=True)  # a runtime object: not written to JSON
    loader: Optional[CallableModel] = None
    object_type: Optional[type] = None

    class Config:
        arbitrary_types_allowed = True
        json_encoders = JSON_ENCODERS

    @root_validator(pre=True)
    def loader_of_the_type(cls, values):
        values = dict(values)
        obj_type = cls.__fields__["object"].type_
        if isinstance(obj_type, TypeVar):
            raise ValueError("ObjLoader needs its type: ObjLoader[MyType](...)")
        given_type = values.pop("object_type", None)
        if isinstance(given_type, str):
            given_type = import_object(given_type)
        if given_type is not None and given_type is not obj_type:
            raise ValueError(f"object_type {given_type!r} is not this loader's type {obj_type!r}")
        loader = values.pop("loader", None)
        obj = values.pop("object", None)
        if isinstance(loader, CallableModel):
            if loader.callable is not obj_type:
                raise ValueError(f"the loader calls {loader.callable!r}, not {obj_type!r}")
        elif isinstance(loader, dict):
            loader = dict(loader)
            named = loader.pop("callable", None)
            if named is not None:
                named = import_object(named) if isinstance(named, str) else named
                if named is not obj_type:
                    raise ValueError(f"the loader calls {named!r}, not {obj_type!r}")
            loader = CallableModel(callable=obj_type, **loader)
        elif loader is None:
            loader = CallableModel(callable=obj_type, kwargs=values)
            values = {}
        else:
            raise ValueError(f"loader must be a CallableModel or a dict, not {type(loader).__name__}")
        if values:
            raise ValueError(f"unexpected fields beside loader: {', '.join(sorted(values))}")
        return {"object": obj, "loader": loader, "object_type": obj_type}

    def load(self, store: bool = False) -> ObjType:
        """Make an object with the loader; ``store=True`` also keeps it in ``object``."""
        obj = self.loader()
        if store:
            self.object = obj
        return obj


def filter_keys_in_settings(dictionary: Dict[str, Any], settings_obj: Any) -> Dict[str, Any]:
    """Keep the keys of a dict that are fields of a settings model; log the others.

    LUME-services' helper (its version read attributes pydantic's settings do
    not have); here the fields are the pydantic model's, by name or alias.

    Args:
        dictionary: the values to filter.
        settings_obj: a pydantic settings (or model) class or instance.

    Returns:
        A new dict with only the keys the settings have.
    """
    import logging

    fields = getattr(settings_obj, "__fields__", {})
    allowed = set(fields) | {field.alias for field in fields.values()}
    unknown = sorted(key for key in dictionary if key not in allowed)
    if unknown:
        name = settings_obj.__name__ if isinstance(settings_obj, type) else type(settings_obj).__name__
        logging.getLogger(__name__).warning(
            "keys %s are not settings of %s (its settings: %s)", unknown, name, sorted(fields)
        )
    return {key: value for key, value in dictionary.items() if key in allowed}
