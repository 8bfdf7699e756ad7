"""What every Prefect 1 Server backend shares, and the ``server`` backend's agent.

Its parts: ``backend`` (:class:`ServerBackend`), ``prefect_config`` (the
``PrefectConfig`` settings), ``connection`` (Prefect's client and the reachability
check), ``registration``, ``runs``, ``results``, ``history``, ``state_result``
(task results kept in states) and ``local_agent`` (the ``server`` backend,
:class:`LocalAgentBackend`).

``lume_services.services.scheduling.backends.server`` is LUME-services' module path
for ``ServerBackend`` and the ``Prefect*Config`` settings; they are importable from here.
"""

from lume_services._lazy_face import lazy_names

# Each name is imported from its module on first use (PEP 562), so that importing
# a light part (the settings' ``PrefectConfig``) does not import the backend.
_HOMES = {
    "PrefectAgentConfig": "prefect_config",
    "PrefectConfig": "prefect_config",
    "PrefectServerConfig": "prefect_config",
    "PrefectTelemetryConfig": "prefect_config",
    "PrefectUIConfig": "prefect_config",
    "ServerBackend": "backend",
}


__getattr__, __dir__ = lazy_names(__name__, _HOMES)

__all__ = sorted(_HOMES)  # every public name is a lazy one
