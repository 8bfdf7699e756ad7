"""Scheduling backends and the run configs they build.

Server, Docker and Kubernetes backends live in their own modules and are
imported from there (they pull in the Prefect client).
"""

from lume_services.services.scheduling.backends.backend import (
    Backend,
    DockerRunConfig,
    ExecutorConfig,
    KubernetesRunConfig,
    LocalRunConfig,
    RunConfig,
)
from lume_services.services.scheduling.backends.local import LocalBackend

__all__ = [
    "Backend",
    "DockerRunConfig",
    "ExecutorConfig",
    "KubernetesRunConfig",
    "LocalBackend",
    "LocalRunConfig",
    "RunConfig",
]
