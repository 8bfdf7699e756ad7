"""A digest of everything that defines a registered flow.

Registration is idempotent by this digest on every backend (an unchanged flow
keeps its id), and Docker flow images are reused by it, so it must change
whenever the flow would behave differently: its structure, the code its tasks
run (including defaults, closures and the module-level functions they call) and
the configuration held by task instances.

It is computed afresh at every registration (nothing it reads can be trusted
not to have changed in place since), so it is built to be cheap: the flow's
structure is read from the flow and its tasks directly, not through
``Flow.serialize()`` (a marshmallow dump, about 1.3 ms for a 3-task flow),
and the description of each code object, which cannot change, is kept.

It does not depend on how the flow's file was loaded: the same file imported as
``pkg.mod``, as ``mod`` from its folder, or executed from its path by
``lume-services flows register -p`` names its classes by three module names, so
a class is named by the file it is defined in, not by the module name it was
imported under (a CI job and a notebook must not bump each other's versions).
"""

import hashlib
import inspect
import json
import re
import sys
import types
import weakref
from pathlib import PurePath
from typing import Any, List, Optional, Set, Tuple

from lume_services.services.scheduling.task_order import tasks_in_slug_order

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_MAX_DEPTH = 6
# described apart (slug, name), state that runs change (logger), or Prefect's cache of
# the signature of ``run`` (described apart, from ``run`` itself)
_TASK_ATTRIBUTES_SKIPPED = frozenset({"slug", "name", "logger", "_cached_signature"})
# described apart (the graph), derived from what is (slugs), or a cache
_FLOW_ATTRIBUTES_SKIPPED = frozenset(
    {"tasks", "edges", "slugs", "constants", "_reference_tasks", "_cache", "_slug_counters", "logger"}
)
# described by Prefect's own schemas, as Flow.serialize() does
_FLOW_ATTRIBUTES_SERIALIZED = frozenset({"schedule", "run_config", "storage"})
_PLAIN_TYPES = frozenset({str, bytes, int, float, bool, type(None)})
# code objects are immutable: their descriptions can be kept for as long as they live
_CODE_INFO: "weakref.WeakKeyDictionary[types.CodeType, Tuple[bytes, Tuple[str, ...]]]" = (
    weakref.WeakKeyDictionary()
)


def flow_fingerprint(flow, image: Optional[str], labels: List[str]) -> str:
    """A digest that changes when anything that defines the registered flow changes.

    It covers what ``Flow.serialize()`` describes (the flow's name, type,
    schedule, run config and storage; every task's type, name, slug and
    attributes, and the inputs and outputs of its ``run``; the edges; the
    reference tasks; Prefect's version), the constants bound to tasks, the
    flow's other attributes (result, executor, state handlers), what every
    task runs (code, defaults, annotations, closure values, the module-level
    functions and values the code refers to), and the image and labels it is
    registered with.
    """
    import prefect

    digest = hashlib.sha256()
    slugs = flow.slugs
    digest.update(f"prefect {prefect.__version__} {_qualified_name(type(flow))}".encode())
    state = vars(flow)
    for name in sorted(state):
        if name in _FLOW_ATTRIBUTES_SKIPPED:
            continue
        digest.update(name.encode())
        value = state[name]
        if value is None:
            digest.update(b"None")
        elif name in _FLOW_ATTRIBUTES_SERIALIZED:
            _update_serialized(digest, name, value)
        elif name == "result":
            _update_result(digest, value)
        else:
            _update(digest, value, set(), 0)
    tasks = tasks_in_slug_order(flow)
    for task in tasks:
        digest.update(f"task {slugs[task]} {task.name!r} {_qualified_name(type(task))}".encode())
        _update(digest, type(task).run, set(), 0)
        _update_signature(digest, task)
        for name in sorted(vars(task)):
            if name in _TASK_ATTRIBUTES_SKIPPED:
                continue
            digest.update(name.encode())
            value = vars(task)[name]
            if name == "__module__" and isinstance(value, str):  # a FunctionTask's: the import route's name
                value = _module_identity(value)
            if name == "result" and value is not None:
                _update_result(digest, value)
            else:
                _update(digest, value, set(), 0)
        constants = flow.constants.get(task)  # get: constants is a defaultdict
        if constants:
            digest.update(b"constants")
            _update(digest, constants, set(), 0)
    edges = sorted(
        (slugs.get(e.upstream_task, ""), slugs.get(e.downstream_task, ""), e.key or "", e.mapped, e.flattened)
        for e in flow.edges
    )
    digest.update(repr(edges).encode())
    # Prefect serializes the reference tasks that were set, by slug, as this does
    reference = sorted(slugs.get(t, t.name) for t in state.get("_reference_tasks", ()))
    digest.update(repr(reference).encode())
    digest.update(json.dumps({"image": image, "labels": sorted(labels)}).encode())
    return digest.hexdigest()


def _update_signature(digest, task) -> None:
    # the inputs and outputs of the task's run, as Prefect's TaskSchema writes them
    from prefect import Task

    if type(task).inputs is Task.inputs and type(task).outputs is Task.outputs:
        # what Task.inputs() and Task.outputs() derive, from one signature instead of two
        signature = inspect.signature(task.run)
        empty = inspect.Parameter.empty
        inputs = [
            (name, p.default is empty, str(Any if p.annotation is empty else p.annotation))
            for name, p in signature.parameters.items()
        ]
        returned = signature.return_annotation
        outputs = str(Any if returned is empty else returned)
    else:  # overridden: ask them
        inputs = [(k, v["required"], str(v["type"])) for k, v in task.inputs().items()]
        outputs = str(task.outputs())
    digest.update(_ADDRESS.sub("", repr((sorted(inputs), outputs))).encode())


def _qualified_name(cls) -> str:
    return f"{_module_identity(cls.__module__)}.{cls.__qualname__}"


def _module_identity(module_name: str) -> str:
    """A module's name whatever route imported it: its file's name (``mod`` for
    ``pkg/mod.py`` imported as ``pkg.mod``, as ``mod`` or as ``__main__``), or for a
    module without a file (built in) its own name."""
    module = sys.modules.get(module_name)
    file = getattr(module, "__file__", None)
    if not file:
        return module_name
    path = PurePath(file)
    return path.parent.name if path.stem == "__init__" else path.stem


def _update_serialized(digest, name: str, value) -> None:
    # what Flow.serialize() writes for them (a storage's serialized form says
    # where the flow is kept, without the flows it holds)
    from prefect.serialization.run_config import RunConfigSchema
    from prefect.serialization.schedule import ScheduleSchema
    from prefect.serialization.storage import StorageSchema

    schema = {"schedule": ScheduleSchema, "run_config": RunConfigSchema, "storage": StorageSchema}[name]
    digest.update(json.dumps(schema().dump(value), sort_keys=True, default=repr).encode())


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
    if type(value) in _PLAIN_TYPES:  # the most common values first; as the str branch below
        digest.update(repr(value).encode())
    elif isinstance(value, (types.FunctionType, types.MethodType)):
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
        digest.update(_qualified_name(value).encode())
    else:
        # other objects: their type and readable state, never a memory address
        seen.add(id(value))
        digest.update(_qualified_name(type(value)).encode())
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
    code_digest, global_names = _code_info(code)
    digest.update(code_digest)
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
    for name in global_names:
        if name not in module_globals:
            continue
        value = module_globals[name]
        if isinstance(value, types.ModuleType):
            continue
        if isinstance(value, (types.FunctionType, str, bytes, int, float, bool, tuple, frozenset)):
            digest.update(name.encode())
            _update(digest, value, seen, depth + 1)


def _code_info(code) -> Tuple[bytes, Tuple[str, ...]]:
    """A digest of what defines a code object's behaviour, and the global names it uses.

    Computed once per code object: code objects cannot change.
    """
    known = _CODE_INFO.get(code)
    if known is None:
        described = hashlib.sha256()
        _update_code(described, code)
        known = _CODE_INFO[code] = (described.digest(), tuple(_global_names(code)))
    return known


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
    digest.update(
        repr(
            (
                code.co_name,
                code.co_names,
                code.co_varnames,
                code.co_freevars,
                code.co_argcount,
                code.co_posonlyargcount,
                code.co_kwonlyargcount,
                code.co_flags,
            )
        ).encode()
    )
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
