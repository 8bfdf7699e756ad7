"""The scheduling backend interface and the run configs backends build."""

import copy
import re
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Dict, List, Literal, Optional

from pydantic import BaseModel, Field, validator


_SLUG_NUMBER = re.compile(r"^(.*)-(\d+)$")


def slug_order(slug: str):
    """Sort key for task slugs: ``inc-2`` before ``inc-10`` (Prefect numbers tasks by name)."""
    match = _SLUG_NUMBER.match(slug)
    return (match.group(1), int(match.group(2))) if match else (slug, 0)


def tasks_in_slug_order(flow) -> list:
    """The flow's tasks in a stable order: by slug, numbered tasks in numeric order."""
    return sorted(flow.tasks, key=lambda t: slug_order(flow.slugs[t]))


class RunConfig(BaseModel, ABC):
    """Where and how a flow run executes; builds the matching Prefect run config.

    Attributes:
        labels: agent labels the run is routed by.
        env: environment variables set for the run.
    """

    labels: List[str] = ["lume-services"]
    env: Optional[Dict[str, str]]

    class Config:
        extra = "forbid"

    @abstractmethod
    def build(self):
        """Return the Prefect 1 run config (``prefect.run_configs.*``) for this config."""


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
                "executor 'dask' needs the 'distributed' package; install it with "
                "pip install 'lume-services[dask]', or use executor 'local' or 'local_dask'"
            ) from exc
        if self.address:
            return DaskExecutor(address=self.address)
        cluster_kwargs = {"processes": False, "dashboard_address": None}
        if self.num_workers:
            cluster_kwargs["n_workers"] = self.num_workers
        return DaskExecutor(cluster_kwargs=cluster_kwargs)


class LocalRunConfig(RunConfig):
    """Run in the current process (local backend) or by a Prefect ``LocalAgent``.

    Attributes:
        working_dir: directory the run executes in; it must exist.
        executor: executor for the local backend; ``None`` uses the configured one.
    """

    working_dir: Optional[str] = None
    executor: Optional[ExecutorConfig] = None

    @validator("working_dir")
    def working_dir_exists(cls, v):
        if v is not None and not Path(v).is_dir():
            raise ValueError(
                f"working_dir {v!r} is not an existing directory; give an existing "
                "directory or leave working_dir unset to run in the current one"
            )
        return v

    def build(self):
        from prefect.run_configs import LocalRun

        return LocalRun(env=self.env, working_dir=self.working_dir, labels=self.labels)


class DockerRunConfig(RunConfig):
    """Run in a Docker container started by a Prefect ``DockerAgent``.

    Attributes:
        image: the image to run; ``None`` uses the flow's storage image.
        host_config: keyword arguments of ``docker.types.HostConfig`` (for
            example ``{"network_mode": "host", "binds": [...]}``), validated
            with the docker SDK.
        ports: container ports to expose.
    """

    image: Optional[str] = None
    host_config: Optional[Dict[str, Any]] = None
    ports: Optional[List[int]] = None

    @validator("host_config")
    def host_config_is_valid(cls, v):
        if v is None:
            return v
        from docker.types import HostConfig  # lazy: docker is heavy

        try:
            HostConfig(version="1.41", **v)
        except Exception as exc:  # the SDK raises TypeError, ValueError, AttributeError...
            raise ValueError(
                f"host_config is not valid for docker.types.HostConfig: {exc}"
            ) from exc
        return v

    def build(self):
        from prefect.run_configs import DockerRun

        return DockerRun(
            image=self.image,
            env=self.env,
            labels=self.labels,
            ports=self.ports,
            host_config=self.host_config,
        )


_CPU = re.compile(r"^(\d+(\.\d+)?|\d+m)$")
_MEMORY = re.compile(r"^\d+(\.\d+)?(E|P|T|G|M|k|Ei|Pi|Ti|Gi|Mi|Ki)?$")


class KubernetesRunConfig(RunConfig):
    """Run as a Kubernetes job started by a Prefect ``KubernetesAgent``.

    Attributes:
        image: the image to run; ``None`` uses the flow's storage image.
        cpu_limit: CPU limit in Kubernetes units (``"2"``, ``"0.5"``, ``"500m"``).
        cpu_request: CPU request in the same units.
        memory_limit: memory limit in Kubernetes units (``"1Gi"``, ``"512Mi"``, ``"1G"``).
        memory_request: memory request in the same units.
        job_template: a job template as a dict; ``None`` uses ``job_template_path``
            or else the template packaged with lume-services.
        job_template_path: path of a job template YAML file.
        image_pull_policy: ``Always``, ``IfNotPresent`` or ``Never``.
        service_account_name: the service account the job runs as.
        image_pull_secrets: names of the secrets used to pull the image.
    """

    image: Optional[str] = None
    cpu_limit: Optional[str] = None
    cpu_request: Optional[str] = None
    memory_limit: Optional[str] = None
    memory_request: Optional[str] = None
    job_template: Optional[Dict[str, Any]] = None
    job_template_path: Optional[str] = None
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    service_account_name: Optional[str] = None
    image_pull_secrets: Optional[List[str]] = None

    @validator("cpu_limit", "cpu_request", pre=True)
    def cpu_units(cls, v, field):
        if v is None:
            return v
        v = str(v)
        if not _CPU.match(v):
            raise ValueError(
                f"{field.name} {v!r} is not a Kubernetes CPU quantity; use cores "
                "('2', '0.5') or millicores ('500m')"
            )
        return v

    @validator("memory_limit", "memory_request", pre=True)
    def memory_units(cls, v, field):
        if v is None:
            return v
        v = str(v)
        if not _MEMORY.match(v):
            raise ValueError(
                f"{field.name} {v!r} is not a Kubernetes memory quantity; use bytes "
                "with a suffix such as '512Mi', '1Gi' or '1G'"
            )
        return v

    @validator("job_template_path")
    def template_exists(cls, v):
        if v is not None and not Path(v).is_file():
            raise ValueError(f"job_template_path {v!r} is not an existing file")
        return v

    def load_job_template(self) -> Dict[str, Any]:
        """Return the job template: the given dict, the file, or the packaged default."""
        import yaml

        if self.job_template is not None:
            return self.job_template
        path = Path(self.job_template_path or Path(__file__).parent / "kubernetes_job.yaml")
        return yaml.safe_load(path.read_text())

    def build_job(self) -> Dict[str, Any]:
        """Return the job template with this config applied.

        Sets the ``flow`` container's image, env (merged by name with the
        template's), CPU and memory requests and limits, and image pull
        policy; the pod's service account and image pull secrets; and labels on
        the job and its pod: ``app.kubernetes.io/part-of: lume-services`` and
        ``lume-services/agent-label-<label>: "true"`` per agent label. The
        Prefect ``KubernetesAgent`` applies the same fields again at run time,
        so the job it submits agrees with this template.
        """
        job = copy.deepcopy(self.load_job_template())
        k8s_labels = {"app.kubernetes.io/part-of": "lume-services"}
        for label in self.labels:
            name = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"agent-label-{label}")[:63].strip("-_.")
            k8s_labels[f"lume-services/{name}"] = "true"
        job.setdefault("metadata", {}).setdefault("labels", {}).update(k8s_labels)
        pod = job.setdefault("spec", {}).setdefault("template", {})
        pod.setdefault("metadata", {}).setdefault("labels", {}).update(k8s_labels)
        pod_spec = pod.setdefault("spec", {})
        pod_spec.setdefault("restartPolicy", "Never")
        containers = pod_spec.setdefault("containers", [])
        container = next((c for c in containers if c.get("name") == "flow"), None)
        if container is None:
            container = containers[0] if containers else {}
            if not containers:
                containers.append(container)
        container.setdefault("name", "flow")
        if self.image:
            container["image"] = self.image
        container["imagePullPolicy"] = self.image_pull_policy
        if self.env:
            kept = [e for e in container.get("env", []) if e.get("name") not in self.env]
            container["env"] = kept + [{"name": k, "value": str(v)} for k, v in self.env.items()]
        resources = container.setdefault("resources", {})
        for kind, values in (
            ("requests", {"cpu": self.cpu_request, "memory": self.memory_request}),
            ("limits", {"cpu": self.cpu_limit, "memory": self.memory_limit}),
        ):
            values = {k: v for k, v in values.items() if v is not None}
            if values:
                resources.setdefault(kind, {}).update(values)
        if self.service_account_name:
            pod_spec["serviceAccountName"] = self.service_account_name
        if self.image_pull_secrets:
            pod_spec["imagePullSecrets"] = [{"name": s} for s in self.image_pull_secrets]
        return job

    def build(self):
        from prefect.run_configs import KubernetesRun

        return KubernetesRun(
            job_template=self.build_job(),
            image=self.image,
            env=self.env,
            labels=self.labels,
            cpu_limit=self.cpu_limit,
            cpu_request=self.cpu_request,
            memory_limit=self.memory_limit,
            memory_request=self.memory_request,
            service_account_name=self.service_account_name,
            image_pull_secrets=self.image_pull_secrets,
            image_pull_policy=self.image_pull_policy,
        )


class Backend(ABC):
    """A place flows are registered, loaded and run.

    A backend differs from another only where the backend differs: the local
    backend runs flows in this process, server backends hand them to a
    Prefect 1 Server and its agents.
    """

    #: whether a flow must be registered (have a flow id) before it can run
    requires_registration: bool = False

    @abstractmethod
    def create_project(self, project_name: str) -> None:
        """Create a project; creating an existing project does nothing."""

    @abstractmethod
    def register_flow(
        self,
        flow,
        project_name: Optional[str],
        image: Optional[str] = None,
        labels: Optional[List[str]] = None,
    ) -> str:
        """Register a Prefect flow and return its flow id."""

    @abstractmethod
    def load_flow(self, flow_name: str, project_name: Optional[str]) -> dict:
        """Return ``{"flow_id": ..., "flow": prefect.Flow}`` for the latest version."""

    @abstractmethod
    def run(self, parameters: Optional[Dict[str, Any]], run_config, **kwargs):
        """Run a flow."""

    @abstractmethod
    def run_and_return(
        self,
        parameters: Optional[Dict[str, Any]],
        run_config,
        task_name: Optional[str],
        **kwargs,
    ):
        """Run a flow, wait for it and return a task's result (or all results)."""
