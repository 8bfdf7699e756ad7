"""B5: end-to-end latency of the example 3-flow flow of flows on the server backend.

The example flow of flows (save-text -> store-text -> compare-text, with file,
db and raw mappings) runs through the Prefect 1 Server protocol double
(``tests/prefect_server_double``) and a real Prefect ``LocalAgent``: four flow
runs (the composed flow and one per child), each a ``prefect execute flow-run``
process. ``FlowOfFlows.run_and_return`` is timed from the call to the returned
results, at two poll intervals of ``FlowRunConfig.poll_interval``, interleaved;
the same flow of flows run in-process on the local backend is the reference.

    python benchmarks/server_flow_of_flows.py [--repeats 5] [--intervals 0.2 2]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("PREFECT__LOGGING__LEVEL", "WARNING")
os.environ.setdefault("PREFECT__HOME_DIR", tempfile.mkdtemp(prefix="prefect-home-"))
os.environ.setdefault("PREFECT__BACKEND", "server")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests"))  # the protocol double and its fixtures are test code

from _report import machine, write_section  # noqa: E402


def main(repeats: int, intervals, write: bool) -> str:
    from fixtures.server import running_local_agent
    from prefect_server_double import ProtocolDouble

    from lume_services import config
    from lume_services.config import LUMEServicesSettings, PrefectConfig
    from lume_services.examples import register_example_flows, yaml_path
    from lume_services.flows.flow import FlowRunConfig
    from lume_services.flows.flow_of_flows import FlowOfFlows

    work = Path(tempfile.mkdtemp(prefix="b5-"))
    params = {"save-text-filename": str(work / "text.txt")}

    # reference: the same flow of flows in-process on the local backend
    config.configure(LUMEServicesSettings(backend="local", home=work / "local"))
    register_example_flows()
    local_fof = FlowOfFlows.from_yaml(yaml_path("flow_of_flows"))
    local_fof.run_and_return(params)  # warm-up
    local_times = []
    for _ in range(repeats):
        start = time.perf_counter()
        local_fof.run_and_return(params)
        local_times.append(time.perf_counter() - start)

    times = {i: [] for i in intervals}
    single = []
    with ProtocolDouble() as double:
        double.store.create_tenant({"input": {"name": "default", "slug": "default"}})
        (work / "agent").mkdir()
        with running_local_agent(double, work / "agent"):
            config.configure(
                LUMEServicesSettings(
                    backend="server",
                    home=work / "server-home",
                    prefect=PrefectConfig(
                        server={"host": "http://127.0.0.1", "host_port": double.port,
                                "graphql_path": double.path},
                        agent={"storage_dir": str(work / "server-storage")},
                    ),
                )
            )
            register_example_flows()
            fof = FlowOfFlows.from_yaml(yaml_path("flow_of_flows"))
            fof.compose_and_register()
            fof.run_and_return(params, FlowRunConfig(poll_interval=timedelta(seconds=intervals[0])))
            child = fof.composing_flows["save-text"]
            for _ in range(repeats):
                start = time.perf_counter()
                child.run_and_return(
                    {"filename": params["save-text-filename"]},
                    FlowRunConfig(poll_interval=timedelta(seconds=intervals[0])),
                    task_name="append_text",
                )
                single.append(time.perf_counter() - start)
                for interval in intervals:
                    run_config = FlowRunConfig(poll_interval=timedelta(seconds=interval))
                    start = time.perf_counter()
                    results = fof.run_and_return(params, run_config)
                    times[interval].append(time.perf_counter() - start)
                    assert results["compare-text"]["compare"] is True
    config.reset()

    rows = [
        f"| server backend, poll interval {i:g} s | {statistics.median(times[i]):.2f} s "
        f"| {min(times[i]):.2f} s | {max(times[i]):.2f} s |"
        for i in intervals
    ]
    md = "\n".join(
        [
            "## B5: a 3-flow flow of flows on the server backend",
            "",
            "The example flow of flows (save-text -> store-text -> compare-text: file, db and",
            "raw mappings) through the Prefect 1 Server protocol double and a real LocalAgent:",
            "four flow runs, each a `prefect execute flow-run` process. Time from",
            "`FlowOfFlows.run_and_return` to its results, median of "
            f"{repeats} interleaved runs per poll interval (`FlowRunConfig.poll_interval`).",
            "",
            "| path | median | min | max |",
            "|---|---|---|---|",
            *rows,
            f"| one flow (save-text) on the server backend, poll interval {intervals[0]:g} s "
            f"| {statistics.median(single):.2f} s | {min(single):.2f} s | {max(single):.2f} s |",
            f"| local backend, in-process (reference) | {statistics.median(local_times):.3f} s "
            f"| {min(local_times):.3f} s | {max(local_times):.3f} s |",
            "",
            "Most of the server latency is Prefect's, not lume-services': every flow run is a",
            "new Python process that imports Prefect (one flow end to end: the `save-text` row),",
            "and the composed flow waits for each child with Prefect's `wait_for_flow_run`,",
            "which polls every 2 s or more. The poll interval only sets how soon",
            "`run_and_return` notices that the composed run has ended.",
            "",
            f"Measured on {machine()}.",
        ]
    )
    print(md)
    if write:
        write_section("B5-server", md)
    return md


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--intervals", type=float, nargs=2, default=[0.2, 2.0])
    parser.add_argument("--no-write", action="store_true", help="print only; do not update docs/benchmarks.md")
    args = parser.parse_args()
    main(args.repeats, args.intervals, not args.no_write)
