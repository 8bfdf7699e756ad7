"""The flow models: a Prefect flow as a :class:`Flow`, flows composed into a :class:`FlowOfFlows`.

Import from here or from the modules (``lume_services.flows.flow``,
``lume_services.flows.flow_of_flows``); modules whose names start with ``_``
are not API.
"""

from typing import Any

from lume_services.flows.flow import (
    DBMappedParameter,
    FileMappedParameter,
    Flow,
    FlowConfig,
    FlowRunConfig,
    MappedParameter,
    RawMappedParameter,
)

# Named on first use (PEP 562): ``import lume_services.flows.flow`` runs this
# package first, and should not pay for the flow-of-flows composers.
_HOMES = {"FlowOfFlows": "flow_of_flows", "ChildProgress": "progress"}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_HOMES))


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
