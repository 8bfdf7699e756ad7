"""The executors local runs use: which Prefect executor runs a flow's tasks."""

from typing import Literal, Optional

from pydantic import BaseModel, Field


class ExecutorConfig(BaseModel):
    """Which Prefect executor runs a flow's tasks on the local backend.

    Attributes:
        type: ``local`` (one task at a time, in the calling thread), ``local_dask``
            (dask's local scheduler, threads or processes) or ``dask`` (a
            ``distributed`` cluster: the one at ``address``, or a temporary local one).
        scheduler: for ``local_dask``: ``threads`` or ``processes``.
        num_workers: for ``local_dask`` the pool size; for a temporary ``dask``
            cluster the number of workers.
        address: for ``dask``: the address of an existing scheduler
            (``tcp://host:8786``); ``None`` starts a temporary local cluster.
    """

    type: Literal["local", "local_dask", "dask"] = "local"
    scheduler: Literal["threads", "processes"] = "threads"
    num_workers: Optional[int] = Field(None, ge=1)
    address: Optional[str] = None

    def describe(self) -> str:
        """The executor in a few words, as the run history records it (``local_dask (threads)``)."""
        if self.type == "local":
            return "local"
        if self.type == "local_dask":
            workers = f", {self.num_workers} workers" if self.num_workers else ""
            return f"local_dask ({self.scheduler}{workers})"
        return f"dask ({self.address})" if self.address else "dask (temporary local cluster)"

    def build(self):
        """Return the Prefect executor this config describes.

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
        return DaskExecutor(cluster_kwargs=cluster_kwargs)
