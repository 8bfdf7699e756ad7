"""Register the example flows and run the diamond flow of flows from Python.

    python examples/run_diamond.py [--executor local_dask]
"""

import argparse
import json
import os
import tempfile

os.environ.setdefault("PREFECT__LOGGING__LEVEL", "WARNING")

from lume_services.examples import register_example_flows, yaml_path  # noqa: E402
from lume_services.flows.flow_of_flows import FlowOfFlows  # noqa: E402
from lume_services.services.scheduling.backends import ExecutorConfig, LocalRunConfig  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executor", default="local", choices=["local", "local_dask", "dask"])
    args = parser.parse_args()

    register_example_flows()
    fof = FlowOfFlows.from_yaml(yaml_path("diamond"))
    print("order:", fof.execution_order())
    filename = os.path.join(tempfile.mkdtemp(), "text.txt")
    run_config = LocalRunConfig(executor=ExecutorConfig(type=args.executor))
    results = fof.run_and_return({"save-text-filename": filename, "save-text-text1": "good"}, run_config)
    print(json.dumps(results["combine-text"], indent=2))


if __name__ == "__main__":
    main()
