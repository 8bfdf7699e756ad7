"""Scheduling backends and the run configs they build.

- :class:`LocalBackend` (``local``): an on-disk registry, runs in this process;
- :class:`LocalAgentBackend` (``server``), :class:`DockerBackend` (``docker``) and
  :class:`KubernetesBackend` (``kubernetes``): a Prefect 1 Server and its agents.

Importing this package imports none of the backends; each is imported when first
named (so neither the docker SDK nor Prefect's client comes with it).
"""

from lume_services._lazy_face import lazy_names

# Each name is imported from its module on first use (PEP 562): a script that
# only runs flows locally does not pay for the server, docker and kubernetes
# backends' modules. The ``Prefect*Config`` names are the server face's.
_HOMES = {
    "Backend": "backend",
    "RunConfig": "backend",
    "DockerBackend": "docker",
    "DockerRunConfig": "docker",
    "ExecutorConfig": "local.executors",
    "KubernetesBackend": "kubernetes",
    "KubernetesRunConfig": "kubernetes",
    "LocalBackend": "local.backend",
    "LocalRunConfig": "local.backend",
    "LocalAgentBackend": "server.local_agent",
    "PrefectAgentConfig": "server",
    "PrefectConfig": "server",
    "PrefectServerConfig": "server",
    "PrefectTelemetryConfig": "server",
    "PrefectUIConfig": "server",
    "ServerBackend": "server.backend",
}


__getattr__, __dir__ = lazy_names(__name__, _HOMES)


__all__ = sorted(_HOMES)  # every public name is a lazy one
