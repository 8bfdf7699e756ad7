"""Scheduling: register, load and run flows on a backend.

``PrefectConfig`` and its sections are importable from here, as in LUME-services.
"""

from lume_services._lazy_face import lazy_names

# Named on first use (PEP 562): the service's own modules (``backend``,
# ``service``, ...) are imported with the flow models, the server settings are not.
# The ``Prefect*Config`` names are the server face's (it knows their module).
_HOMES = {
    "PrefectAgentConfig": "backends.server",
    "PrefectConfig": "backends.server",
    "PrefectServerConfig": "backends.server",
    "PrefectTelemetryConfig": "backends.server",
    "PrefectUIConfig": "backends.server",
    "SchedulingService": "service",
}


__getattr__, __dir__ = lazy_names(__name__, _HOMES)


__all__ = sorted(_HOMES)  # every public name is a lazy one
