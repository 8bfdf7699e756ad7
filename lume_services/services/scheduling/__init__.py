"""Scheduling: register, load and run flows on a backend.

``PrefectConfig`` and its sections are importable from here, as in LUME-services.
"""

from typing import Any

# Named on first use (PEP 562): the service's own modules (``backend``,
# ``service``, ...) are imported with the flow models, the server settings are not.
_HOMES = {
    "PrefectAgentConfig": "backends.server.prefect_config",
    "PrefectConfig": "backends.server.prefect_config",
    "PrefectServerConfig": "backends.server.prefect_config",
    "PrefectTelemetryConfig": "backends.server.prefect_config",
    "PrefectUIConfig": "backends.server.prefect_config",
    "SchedulingService": "service",
}


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


__all__ = [
    "PrefectAgentConfig",
    "PrefectConfig",
    "PrefectServerConfig",
    "PrefectTelemetryConfig",
    "PrefectUIConfig",
    "SchedulingService",
]
