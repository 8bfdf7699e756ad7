"""lume-services: describe, register, run and compose Prefect 1 flows.

Importing the package stays light; import what you use from its modules::

    from lume_services.flows.flow import Flow
    from lume_services.flows.flow_of_flows import FlowOfFlows
    from lume_services.config import configure
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
