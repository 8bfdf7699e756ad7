"""What every Prefect 1 Server backend shares, and the ``server`` backend's agent.

Its parts: ``backend`` (:class:`ServerBackend`), ``prefect_config`` (the
``PrefectConfig`` settings), ``connection`` (Prefect's client and the reachability
check), ``registration``, ``runs``, ``results``, ``history``, ``state_result``
(task results kept in states) and ``local_agent`` (the ``server`` backend,
:class:`LocalAgentBackend`).

``lume_services.services.scheduling.backends.server`` is LUME-services' module path
for ``ServerBackend`` and the ``Prefect*Config`` settings; they are importable from here.
"""

from lume_services.services.scheduling.backends.server.backend import ServerBackend
from lume_services.services.scheduling.backends.server.prefect_config import (
    PrefectAgentConfig,
    PrefectConfig,
    PrefectServerConfig,
    PrefectTelemetryConfig,
    PrefectUIConfig,
)

__all__ = [
    "PrefectAgentConfig",
    "PrefectConfig",
    "PrefectServerConfig",
    "PrefectTelemetryConfig",
    "PrefectUIConfig",
    "ServerBackend",
]
