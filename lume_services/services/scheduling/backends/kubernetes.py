"""The ``kubernetes`` backend: flows on a Prefect 1 Server, run as Kubernetes jobs, and its run config."""

import copy
import re
from pathlib import Path
from typing import Any, Dict, List, Literal, Optional, Tuple, Union

from pydantic import SecretStr, root_validator, validator

from lume_services.services.scheduling.run_options import RunConfig
from lume_services.services.scheduling.backends.server.backend import ServerBackend
from lume_services.services.scheduling.backends.server.run_env import secret_names

#: The suffixes of Kubernetes memory quantities (decimal, then binary), as LUME-services listed
#: them under this name; LUME-services wrote them with a ``B`` (``"GB"``, ``"GiB"``), which
#: Kubernetes refuses, so these are Kubernetes' own.
KUBERNETES_REQUEST_SUFFIXES = ["E", "P", "T", "G", "M", "k", "Ei", "Pi", "Ti", "Gi", "Mi", "Ki"]

_CPU = re.compile(r"^(\d+(\.\d+)?|\d+m)$")
_MEMORY = re.compile(r"^\d+(\.\d+)?(" + "|".join(KUBERNETES_REQUEST_SUFFIXES) + r")?$")


class KubernetesRunConfig(RunConfig):
    """Run as a Kubernetes job started by a Prefect ``KubernetesAgent``.

    Attributes:
        image: the image to run; ``None`` uses the flow's storage image.
        cpu_limit: CPU limit in Kubernetes units (``"2"``, ``"0.5"``, ``"500m"``).
        cpu_request: CPU request in the same units.
        memory_limit: memory limit in Kubernetes units (``"1Gi"``, ``"512Mi"``, ``"1G"``).
        memory_request: memory request in the same units.
        job_template: a job template as a dict; when not given it is loaded,
            when the config is made, from ``job_template_path`` or else the
            template packaged with lume-services (as in LUME-services).
        job_template_path: path of a job template YAML file.
        image_pull_policy: ``Always``, ``IfNotPresent`` or ``Never``.
        service_account_name: the service account the job runs as.
        image_pull_secrets: names of the secrets used to pull the image.
        secret_env: variables the flow container takes from Kubernetes Secrets,
            ``{variable: (secret name, key)}`` (``secretKeyRef``s): how runs get
            secrets, which never enter the run config stored on the server.
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
    secret_env: Optional[Dict[str, Tuple[str, str]]] = None

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

    @root_validator(skip_on_failure=True)
    def load_the_job_template(cls, values):
        """Load the template from its file (or the packaged one) when no dict is given."""
        if values.get("job_template") is None:
            import yaml

            path = Path(values.get("job_template_path") or Path(__file__).parent / "kubernetes_job.yaml")
            values["job_template"] = yaml.safe_load(path.read_text())
        return values

    def load_job_template(self) -> Dict[str, Any]:
        """Return the job template: the given dict, or the one loaded from its file."""
        return self.job_template

    def build_job(self) -> Dict[str, Any]:
        """Return the job template with this config applied.

        Sets the first container's (as Prefect's agent does; named ``flow``
        when it has no name) image, env (merged by name with the template's;
        ``secret_env`` as ``secretKeyRef``s), CPU and memory requests and limits, and image pull
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
        # the first container, as Prefect's KubernetesAgent takes it (it sets that
        # one's image, command and env at run time, whatever its name)
        if not containers:
            containers.append({})
        container = containers[0]
        container.setdefault("name", "flow")
        if self.image:
            container["image"] = self.image
        container["imagePullPolicy"] = self.image_pull_policy
        if self.env or self.secret_env:
            given = set(self.env or {}) | set(self.secret_env or {})
            kept = [e for e in container.get("env", []) if e.get("name") not in given]
            container["env"] = (
                kept
                + [{"name": k, "value": str(v)} for k, v in (self.env or {}).items()]
                + [{"name": k, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
                   for k, (secret, key) in sorted((self.secret_env or {}).items())]
            )
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



class KubernetesBackend(ServerBackend):
    """Runs flows registered on a Prefect 1 Server as Kubernetes jobs (``KubernetesRun``).

    Flows are kept in lume-services' ``Docker`` storage (the flow images of
    the Docker backend) built on the flow's image and pushed to
    ``registry_url``, which the cluster must be able to pull from; task results
    use ``PrefectResult`` (JSON values kept in the run's states).

    Runs carry the non-secret ``LUME_*`` settings of ``env`` in their run
    config; each secret of ``env`` (the MongoDB password) reaches the flow
    container as a ``secretKeyRef`` to the key of that variable's name in the
    Kubernetes Secret ``secret_name``, which must exist in the agent's
    namespace (``kubectl create secret generic lume-services
    --from-literal=LUME_RESULTS_DB__MONGODB__PASSWORD=...``). No secret value is
    ever sent to the server.

    Args:
        registry_url: the registry images are pushed to (``None``: not pushed,
            for clusters that share the local Docker engine).
        env: ``LUME_*`` settings every run needs (``config.run_environment``).
        secret_name: the Kubernetes Secret holding the secrets of ``env``.
        **kwargs: as for :class:`ServerBackend`.
    """

    run_config_type = KubernetesRunConfig
    #: images are built from local base images (flow images and compositions alike)
    local_images = True

    def __init__(self, registry_url: Optional[str] = None,
                 env: Optional[Dict[str, Union[str, SecretStr]]] = None,
                 secret_name: str = "lume-services", **kwargs):
        super().__init__(**kwargs)
        self.registry_url = registry_url
        self.env = dict(env or {})
        self.secret_name = secret_name

    def build_run_config(self, run_config: Optional[KubernetesRunConfig] = None, labels=None, image=None):
        """A Prefect ``KubernetesRun`` from a ``KubernetesRunConfig`` (resources, template, image)."""
        run_config = run_config or KubernetesRunConfig(image=image)
        update = self._run_config_update(run_config, labels, self.env)
        secrets = {name: (self.secret_name, name) for name in secret_names(self.env)}
        if secrets:
            update["secret_env"] = {**secrets, **(run_config.secret_env or {})}
        if image is not None and run_config.image is None:
            update["image"] = image
        if update:
            run_config = run_config.copy(update=update)
        return run_config.build()

    def build_storage(self, flow, image: Optional[str] = None, project_name: Optional[str] = None):
        """lume-services' ``Docker`` storage built on ``image``, pushed to ``registry_url`` when given.

        The same flow image as on the Docker backend (see
        ``flow_images.flow_image_storage``): named
        ``lume-flow-<project>-<flow>:<flow hash>``, labelled, reused when
        unchanged, built from ``image`` as it is on the engine (never pulled).
        """
        from lume_services.services.scheduling.backends.images.flow_images import flow_image_storage  # lazy

        return flow_image_storage(
            flow, base_image=image, project_name=project_name, local=True, registry_url=self.registry_url
        )
