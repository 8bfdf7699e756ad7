"""The scheduling service: one interface over the configured scheduling backend."""

from typing import Any, Dict, List, Optional

from lume_services.services.scheduling.backends.backend import Backend


class SchedulingService:
    """Registers, loads and runs flows on a scheduling backend.

    Everything the flow models do goes through this service, so the same
    script runs on the embedded local backend or on a Prefect 1 Server by
    configuration alone.

    Args:
        backend: the backend that does the work.
    """

    def __init__(self, backend: Backend):
        self.backend = backend

    def create_project(self, project_name: str) -> None:
        """Create a project on the backend; an existing project is left as it is."""
        return self.backend.create_project(project_name)

    def register_flow(
        self,
        flow,
        project_name: Optional[str],
        image: Optional[str] = None,
        labels: Optional[List[str]] = None,
    ) -> str:
        """Register a Prefect flow.

        Args:
            flow: the Prefect flow.
            project_name: the project to register it in (created when missing).
            image: the image the flow runs in on container backends.
            labels: agent labels of the flow's runs.

        Returns:
            The flow id.
        """
        return self.backend.register_flow(flow, project_name, image=image, labels=labels)

    def load_flow(self, flow_name: str, project_name: Optional[str]) -> dict:
        """Load the latest registered version of a flow.

        Returns:
            ``{"flow_id": str, "flow": prefect.Flow, ...}``.

        Raises:
            FlowNotFoundError: no flow of that name is registered in the project.
        """
        return self.backend.load_flow(flow_name, project_name)

    def run(self, parameters: Optional[Dict[str, Any]], run_config=None, **kwargs):
        """Run a flow; what identifies the flow (``flow``, ``flow_id``) is in ``kwargs``.

        Returns:
            What the backend returns: the final state on the local backend, the
            flow run id on server backends.
        """
        return self.backend.run(parameters, run_config, **kwargs)

    def run_and_return(
        self,
        parameters: Optional[Dict[str, Any]],
        run_config=None,
        task_name: Optional[str] = None,
        **kwargs,
    ):
        """Run a flow, wait for it and return the named task's result, or all results.

        Raises:
            FlowFailedError: the run failed.
            TaskNotInFlowError: the flow has no task ``task_name``.
        """
        return self.backend.run_and_return(parameters, run_config, task_name, **kwargs)
