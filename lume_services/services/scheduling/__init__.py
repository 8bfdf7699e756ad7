"""Scheduling: register, load and run flows on a backend.

``PrefectConfig`` and its sections are importable from here, as in LUME-services.
"""

from lume_services.services.scheduling.backends.server.prefect_config import (
    PrefectAgentConfig,
    PrefectConfig,
    PrefectServerConfig,
    PrefectTelemetryConfig,
    PrefectUIConfig,
)
from lume_services.services.scheduling.service import SchedulingService

__all__ = [
    "PrefectAgentConfig",
    "PrefectConfig",
    "PrefectServerConfig",
    "PrefectTelemetryConfig",
    "PrefectUIConfig",
    "SchedulingService",
]
