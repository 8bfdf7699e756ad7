"""Registering the example flows and giving the parameters their flows of flows need."""

from pathlib import Path
from typing import Dict

from dependency_injector.wiring import Provide

from lume_services.composition import Context, inject
from lume_services.storage import private_dir

PROJECT = "examples"
_HERE = Path(__file__).parent


def yaml_path(name: str) -> Path:
    """Path of a packaged example YAML (``flow_of_flows`` or ``diamond``)."""
    return _HERE / f"{name}.yaml"


@inject
def register_example_flows(scheduling_service=Provide[Context.scheduling_service]) -> Dict[str, str]:
    """Register every example flow in project ``examples``; unchanged flows keep their ids.

    Returns:
        ``{flow name: flow id}``.
    """
    from lume_services.examples.flows import EXAMPLE_FLOWS
    from lume_services.flows.flow import Flow

    scheduling_service.create_project(PROJECT)
    return {
        name: Flow(name=name, project_name=PROJECT, prefect_flow=flow).register(
            scheduling_service=scheduling_service
        )
        for name, flow in EXAMPLE_FLOWS.items()
    }


@inject
def example_parameters(fof, settings=Provide[Context.settings]) -> dict:
    """Parameters the example flows of flows need: where save-text writes its file."""
    params = {}
    if "save-text" in fof.composing_flows:
        folder = private_dir(Path(settings.home) / "examples")  # under LUME_HOME: 0700 like the rest
        params["save-text-filename"] = str(folder / "text.txt")
    return params

