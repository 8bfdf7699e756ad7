"""LUME-services' ``lume_services.services.scheduling.files``: the packaged Kubernetes job template.

A thin, compatible module: ``KUBERNETES_JOB_TEMPLATE`` is the job template
:class:`~lume_services.services.scheduling.backends.kubernetes.KubernetesRunConfig`
uses when given none, loaded from the one packaged file (beside the kubernetes
backend), and ``KUBERNETES_JOB_TEMPLATE_FILE`` its path.
"""

from pathlib import Path
from typing import Any, Dict

import yaml

from lume_services.services.scheduling.backends import kubernetes as _kubernetes

KUBERNETES_JOB_TEMPLATE_FILE = str(Path(_kubernetes.__file__).parent / "kubernetes_job.yaml")

KUBERNETES_JOB_TEMPLATE: Dict[str, Any] = yaml.safe_load(Path(KUBERNETES_JOB_TEMPLATE_FILE).read_text())

__all__ = ["KUBERNETES_JOB_TEMPLATE", "KUBERNETES_JOB_TEMPLATE_FILE"]
