"""The flow models: a Prefect flow as a :class:`Flow`, flows composed into a :class:`FlowOfFlows`.

Import from here or from the modules (``lume_services.flows.flow``,
``lume_services.flows.flow_of_flows``); modules whose names start with ``_``
are not API.
"""

# The composition root first: its container wires this package (declared once,
# on lume_services.config.Context) when it is made, so it must exist before
# the modules below are executed, whichever of them is imported first.
import lume_services.config  # noqa: F401,I001

from lume_services.flows.flow import (
    DBMappedParameter,
    FileMappedParameter,
    Flow,
    FlowConfig,
    FlowRunConfig,
    MappedParameter,
    RawMappedParameter,
)
from lume_services.flows.flow_of_flows import FlowOfFlows
from lume_services.flows.progress import ChildProgress

__all__ = [
    "ChildProgress",
    "DBMappedParameter",
    "FileMappedParameter",
    "Flow",
    "FlowConfig",
    "FlowOfFlows",
    "FlowRunConfig",
    "MappedParameter",
    "RawMappedParameter",
]
