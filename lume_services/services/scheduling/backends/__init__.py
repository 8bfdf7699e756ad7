"""Scheduling backends and the run configs they build.

- :class:`LocalBackend` (``local``): an on-disk registry, runs in this process;
- :class:`LocalAgentBackend` (``server``), :class:`DockerBackend` (``docker``) and
  :class:`KubernetesBackend` (``kubernetes``): a Prefect 1 Server and its agents.

Importing this package does not import the docker SDK or Prefect's client.
"""

from lume_services.services.scheduling.backends.backend import Backend, RunConfig
from lume_services.services.scheduling.backends.docker import DockerBackend, DockerRunConfig
from lume_services.services.scheduling.backends.executors import ExecutorConfig
from lume_services.services.scheduling.backends.kubernetes import KubernetesBackend, KubernetesRunConfig
from lume_services.services.scheduling.backends.local import LocalBackend, LocalRunConfig
from lume_services.services.scheduling.backends.local_agent import LocalAgentBackend
from lume_services.services.scheduling.backends.prefect_config import (
    PrefectAgentConfig,
    PrefectConfig,
    PrefectServerConfig,
    PrefectTelemetryConfig,
    PrefectUIConfig,
)
from lume_services.services.scheduling.backends.server import ServerBackend

__all__ = [
    "Backend",
    "DockerBackend",
    "DockerRunConfig",
    "ExecutorConfig",
    "KubernetesBackend",
    "KubernetesRunConfig",
    "LocalAgentBackend",
    "LocalBackend",
    "LocalRunConfig",
    "PrefectAgentConfig",
    "PrefectConfig",
    "PrefectServerConfig",
    "PrefectTelemetryConfig",
    "PrefectUIConfig",
    "RunConfig",
    "ServerBackend",
]
