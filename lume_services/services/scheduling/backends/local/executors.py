"""The executors local runs use: which Prefect executor runs a flow's tasks."""

import json
import logging
import threading
import weakref
from typing import Dict, Literal, Optional

from pydantic import BaseModel, Field

from lume_services.services.scheduling.task_order import widest_layer

#: the most threads a ``local_dask`` pool gets when it is sized to the flow
MAX_DEFAULT_THREADS = 32


class TemporaryClusters:
    """Temporary dask clusters kept for the next runs of this process (``reuse_cluster``).

    One cluster per cluster configuration, made at its first run. They are
    closed by :meth:`close`, when this object is garbage collected, and at the
    latest when the process exits.
    """

    def __init__(self):
        self._clusters: Dict[str, object] = {}
        self._lock = threading.Lock()
        # not a method of self: the finalizer must not keep this object alive
        self._finalizer = weakref.finalize(self, _close_clusters, self._clusters)

    def address(self, cluster_kwargs: dict) -> str:
        """The scheduler address of the kept cluster for ``cluster_kwargs``, started when needed."""
        key = json.dumps(cluster_kwargs, sort_keys=True, default=repr)
        with self._lock:
            cluster = self._clusters.get(key)
            if cluster is None:
                from distributed import LocalCluster

                cluster = self._clusters[key] = LocalCluster(**cluster_kwargs)
            return cluster.scheduler_address

    def __len__(self) -> int:
        return len(self._clusters)

    def close(self) -> None:
        """Close every kept cluster; the next run that asks for one starts it again."""
        with self._lock:
            _close_clusters(self._clusters)


def _close_clusters(clusters: Dict[str, object]) -> None:
    while clusters:
        _, cluster = clusters.popitem()
        cluster.close()


class ExecutorConfig(BaseModel):
    """Which Prefect executor runs a flow's tasks on the local backend.

    Attributes:
        type: ``local`` (one task at a time, in the calling thread), ``local_dask``
            (dask's local scheduler, threads or processes) or ``dask`` (a
            ``distributed`` cluster: the one at ``address``, or a temporary local one).
        scheduler: for ``local_dask``: ``threads`` or ``processes``.
        num_workers: for ``local_dask`` the pool size; unset, a thread pool fits
            the flow (a thread for each task of its widest layer, at most
            :data:`MAX_DEFAULT_THREADS`) and a process pool has one process per
            core. For a temporary ``dask`` cluster the number of workers.
        address: for ``dask``: the address of an existing scheduler
            (``tcp://host:8786``); ``None`` starts a temporary local cluster.
        reuse_cluster: for a temporary ``dask`` cluster: keep it for the next
            runs of this process instead of starting one for each run (about
            1 s each); ``LocalBackend.close()`` closes it, the process's exit at
            the latest.
    """

    type: Literal["local", "local_dask", "dask"] = "local"
    scheduler: Literal["threads", "processes"] = "threads"
    num_workers: Optional[int] = Field(None, ge=1)
    address: Optional[str] = None
    reuse_cluster: bool = False

    def describe(self) -> str:
        """The executor in a few words, as the run history records it (``local_dask (threads)``)."""
        if self.type == "local":
            return "local"
        if self.type == "local_dask":
            workers = f", {self.num_workers} workers" if self.num_workers else ""
            return f"local_dask ({self.scheduler}{workers})"
        return f"dask ({self.address})" if self.address else "dask (temporary local cluster)"

    def build(self, flow=None, clusters: Optional[TemporaryClusters] = None):
        """Return the Prefect executor this config describes.

        Args:
            flow: the flow it will run; a ``local_dask`` thread pool without
                ``num_workers`` is sized to it (``None``: dask's default, a
                thread per core).
            clusters: where a temporary cluster is kept when ``reuse_cluster``
                is set (``None``: a cluster for this run only).

        Raises:
            ExecutorNotAvailableError: ``dask`` was asked for without the
                ``distributed`` package (extra ``lume-services[dask]``).
        """
        from prefect.executors import DaskExecutor, LocalDaskExecutor, LocalExecutor

        if self.type == "local":
            return LocalExecutor()
        if self.type == "local_dask":
            kwargs = {"scheduler": self.scheduler}
            if self.num_workers:
                kwargs["num_workers"] = self.num_workers
            elif self.scheduler == "threads" and flow is not None:
                # tasks waiting on I/O or sleeping need a thread each to overlap;
                # a layer is the most that can run at once
                kwargs["num_workers"] = max(1, min(widest_layer(flow), MAX_DEFAULT_THREADS))
            return LocalDaskExecutor(**kwargs)
        try:
            import distributed  # noqa: F401  (lazy: heavy and optional)
        except ImportError as exc:
            from lume_services.errors import ExecutorNotAvailableError

            raise ExecutorNotAvailableError(
                self.type, module="distributed", extra="dask", alternatives=["local", "local_dask"]
            ) from exc
        if self.address:
            return DaskExecutor(address=self.address)
        # ":0": distributed opens its dashboard on 8787 even when told None, and warns
        # when another process holds that port
        cluster_kwargs = {"processes": False, "dashboard_address": ":0"}
        if self.num_workers:
            cluster_kwargs["n_workers"] = self.num_workers
        # watch_worker_status=False: Prefect would subscribe to worker events only to log
        # them at debug level, and the local cluster has subscribed already, which makes
        # distributed warn "Scheduler already contains a plugin with name worker-status"
        if self.reuse_cluster and clusters is not None:
            # as quiet as the clusters Prefect starts itself
            cluster_kwargs["silence_logs"] = logging.CRITICAL
            return DaskExecutor(address=clusters.address(cluster_kwargs), watch_worker_status=False)
        return DaskExecutor(cluster_kwargs=cluster_kwargs, watch_worker_status=False)
