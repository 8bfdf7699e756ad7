"""The ``local`` backend: an on-disk registry under ``LUME_HOME``, runs in this process.

Its parts: ``backend`` (:class:`LocalBackend`, :class:`LocalRunConfig`), ``registry``
(registered flows), ``run_history`` and ``run_recorder`` (what each run did),
``executors`` (``local``, ``local_dask``, ``dask``).

``lume_services.services.scheduling.backends.local`` is LUME-services' module path
for ``LocalBackend`` and ``LocalRunConfig``; both are importable from here.
"""

from typing import Any

# Each name is imported from its module on first use (PEP 562), so that importing
# a light part (the settings' ``ExecutorConfig``) does not import the backend.
_HOMES = {"LocalBackend": "backend", "LocalRunConfig": "backend"}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_HOMES))


__all__ = ["LocalBackend", "LocalRunConfig"]
