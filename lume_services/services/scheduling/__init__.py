"""Scheduling: register, load and run flows on a backend.

``PrefectConfig`` and its sections are importable from here, as in LUME-services.
"""

from lume_services._lazy_face import lazy_names

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


__getattr__, __dir__ = lazy_names(__name__, _HOMES)


__all__ = [
    "PrefectAgentConfig",
    "PrefectConfig",
    "PrefectServerConfig",
    "PrefectTelemetryConfig",
    "PrefectUIConfig",
    "SchedulingService",
]
