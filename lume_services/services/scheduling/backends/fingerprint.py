"""A digest of everything that defines a registered flow.

Registration is idempotent by this digest on every backend (an unchanged flow
keeps its id), and Docker flow images are reused by it, so it must change
whenever the flow would behave differently: its structure, the code its tasks
run (including defaults, closures and the module-level functions they call) and
the configuration held by task instances.
"""

import hashlib
import json
import re
import types
from typing import Any, List, Optional, Set

from lume_services.services.scheduling.backends.backend import tasks_in_slug_order

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_MAX_DEPTH = 6
# in the serialized structure already (slug, name), or state that runs change
_TASK_ATTRIBUTES_SKIPPED = frozenset({"slug", "name", "logger"})


def flow_fingerprint(flow, image: Optional[str], labels: List[str]) -> str:
    """A digest that changes when anything that defines the registered flow changes.

    It covers the flow's serialized structure (tasks, edges, parameters and
    their defaults, reference tasks), what every task runs (code, defaults,
    closure values, the module-level functions and values the code refers to),
    each task's own attributes, and the image and labels it is registered with.
    """
    digest = hashlib.sha256()
    digest.update(flow.serialized_hash().encode())
    for task in tasks_in_slug_order(flow):
        digest.update(flow.slugs[task].encode())
        _update(digest, type(task).run, set(), 0)
        for name in sorted(vars(task)):
            if name in _TASK_ATTRIBUTES_SKIPPED:
                continue
            digest.update(name.encode())
            value = vars(task)[name]
            if name == "result" and value is not None:
                _update_result(digest, value)
            else:
                _update(digest, value, set(), 0)
    digest.update(json.dumps({"image": image, "labels": sorted(labels)}).encode())
    return digest.hexdigest()


def _update_result(digest, result) -> None:
    # a Prefect Result keeps the last value and location it wrote: describe its
    # kind and where it writes, not what it last held
    digest.update(f"{type(result).__module__}.{type(result).__qualname__}".encode())
    for attribute in ("dir", "bucket", "serializer"):
        value = getattr(result, attribute, None)
        if value is not None:
            _update(digest, value if attribute != "serializer" else type(value), set(), 0)


def _update(digest, value: Any, seen: Set[int], depth: int) -> None:
    """Feed a stable description of ``value`` into ``digest``."""
    if depth > _MAX_DEPTH or id(value) in seen:
        digest.update(b"<seen>")
        return
    if isinstance(value, (types.FunctionType, types.MethodType)):
        seen.add(id(value))
        _update_function(digest, getattr(value, "__func__", value), seen, depth)
    elif isinstance(value, (str, bytes, int, float, bool, type(None))):
        digest.update(repr(value).encode())
    elif isinstance(value, (list, tuple, set, frozenset)):
        seen.add(id(value))
        digest.update(type(value).__name__.encode())
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        for item in items:
            _update(digest, item, seen, depth + 1)
    elif isinstance(value, dict):
        seen.add(id(value))
        for key in sorted(value, key=repr):
            digest.update(repr(key).encode())
            _update(digest, value[key], seen, depth + 1)
    elif isinstance(value, type):
        digest.update(f"{value.__module__}.{value.__qualname__}".encode())
    else:
        # other objects: their type and readable state, never a memory address
        seen.add(id(value))
        digest.update(f"{type(value).__module__}.{type(value).__qualname__}".encode())
        state = getattr(value, "__dict__", None)
        if isinstance(state, dict) and depth < _MAX_DEPTH:
            _update(digest, state, seen, depth + 1)
        else:
            digest.update(_ADDRESS.sub("", repr(value)).encode())


def _update_function(digest, func, seen: Set[int], depth: int) -> None:
    code = getattr(func, "__code__", None)
    if code is None:  # a builtin
        digest.update(getattr(func, "__qualname__", repr(func)).encode())
        return
    _update_code(digest, code)
    _update(digest, func.__defaults__, seen, depth + 1)
    _update(digest, func.__kwdefaults__, seen, depth + 1)
    for cell in func.__closure__ or ():
        try:
            contents = cell.cell_contents
        except ValueError:  # an empty cell
            contents = None
        _update(digest, contents, seen, depth + 1)
    # module-level values the code refers to: helper functions, constants
    module_globals = getattr(func, "__globals__", {})
    for name in _global_names(code):
        if name not in module_globals:
            continue
        value = module_globals[name]
        if isinstance(value, types.ModuleType):
            continue
        if isinstance(value, (types.FunctionType, str, bytes, int, float, bool, tuple, frozenset)):
            digest.update(name.encode())
            _update(digest, value, seen, depth + 1)


def _global_names(code) -> List[str]:
    names = list(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names.extend(_global_names(const))
    return names


def _update_code(digest, code) -> None:
    # marshal.dumps() is not stable across a pickle round trip (it records object
    # references), so hash what defines the behaviour instead.
    digest.update(code.co_code)
    digest.update(repr((code.co_name, code.co_names, code.co_varnames, code.co_freevars)).encode())
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _update_code(digest, const)
        else:
            digest.update(_const_repr(const).encode())


def _const_repr(const) -> str:
    """``repr`` of a code constant, stable across processes (set order depends on the hash seed)."""
    if isinstance(const, frozenset):
        return "frozenset(" + ",".join(sorted(_const_repr(c) for c in const)) + ")"
    if isinstance(const, tuple):
        return "(" + ",".join(_const_repr(c) for c in const) + ")"
    return repr(const)
