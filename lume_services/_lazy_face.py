"""Package faces whose names are imported on first use (PEP 562).

A package face (``lume_services.flows``, ``lume_services.services.results``...)
lists each public name beside the module that defines it in a ``_HOMES`` table,
and asks this module for its ``__getattr__`` and ``__dir__``::

    _HOMES = {"Flow": "flow"}
    __getattr__, __dir__ = lazy_names(__name__, _HOMES)

so that importing a light part of a package does not import its heavy parts
(Prefect, a backend). Kept here rather than in a library: the standard
library's ``importlib.util.LazyLoader`` defers whole modules, not names, and
``lazy_loader`` (scientific-python) reads stub files this project does not keep.
``tests/test_architecture.py`` reads each ``_HOMES`` table as import edges.
"""

import importlib
import sys
from typing import Any, Callable, Dict, List, Tuple


def lazy_names(package: str, homes: Dict[str, str]) -> Tuple[Callable[[str], Any], Callable[[], List[str]]]:
    """``(__getattr__, __dir__)`` for the package face ``package``.

    Args:
        package: the face's ``__name__``.
        homes: ``{public name: module under the package that defines it}``.

    Returns:
        The module-level ``__getattr__`` (imports the name's module on first
        use, then keeps the value in the face so that later lookups are plain)
        and ``__dir__`` (the face's names and the lazy ones).
    """

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{home}"), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> List[str]:
        return sorted(set(vars(sys.modules[package])) | set(homes))

    return __getattr__, __dir__
