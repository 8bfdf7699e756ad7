"""Models and their deployments: what the model database holds, and running a deployment's flow.

::

    from lume_services.models import Model

    model = Model.create_model(author=..., laboratory=..., facility=..., beampath=..., description=...)
    model.store_deployment(flow=my_flow, project_name="injector", version="0.1")
    model.run_and_return({"x": 1})
    model.get_results_df(all_deployments=True)
"""

from lume_services.models.model import Deployment, Model, Project

__all__ = ["Deployment", "Model", "Project"]
