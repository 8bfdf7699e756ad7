"""Example flows and flows of flows, shipped with the package.

``lume-services example`` registers them (if needed) and runs
``flow_of_flows.yaml`` on the configured backend; ``--diamond`` runs
``diamond.yaml``. From Python::

    from lume_services.examples import register_example_flows, yaml_path, example_parameters
    from lume_services.flows.flow_of_flows import FlowOfFlows

    register_example_flows()
    fof = FlowOfFlows.from_yaml(yaml_path("flow_of_flows"))
    print(fof.run_and_return(example_parameters(fof)))
"""

from lume_services.examples.registration import PROJECT, example_parameters, register_example_flows, yaml_path

__all__ = ["PROJECT", "example_parameters", "register_example_flows", "yaml_path"]
