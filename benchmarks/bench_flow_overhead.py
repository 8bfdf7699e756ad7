"""B1: Flow.run_and_return on the local backend vs a raw prefect_flow.run().

Same 10-task flow, runs interleaved, median of REPEATS runs each. Writes the
figures into docs/benchmarks.md (section B1).

    python benchmarks/bench_flow_overhead.py [--repeats 30]
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("PREFECT__LOGGING__LEVEL", "WARNING")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import interleaved_medians, machine, write_section  # noqa: E402


def build_flow():
    from prefect import Flow, Parameter, task

    @task
    def inc(x):
        return x + 1

    with Flow("bench-10") as flow:
        value = Parameter("x", default=0)
        for _ in range(10):
            value = inc(value)
    return flow


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)

    from lume_services.flows.flow import Flow
    from lume_services.services.scheduling import SchedulingService
    from lume_services.services.scheduling.backends import LocalBackend

    prefect_flow = build_flow()
    service = SchedulingService(LocalBackend(home=tempfile.mkdtemp()))
    flow = Flow(name="bench-10", prefect_flow=prefect_flow)

    def ours():
        assert flow.run_and_return({"x": 0}, task_name="inc", scheduling_service=service)[-1] == 10

    def raw():
        state = prefect_flow.run(parameters={"x": 0})
        assert state.is_successful()

    ours(), raw()  # warm up: first runs sort the graph and import lazily
    ours_s, raw_s = interleaved_medians([ours, raw], args.repeats)
    ratio = ours_s / raw_s
    md = (
        "## B1: `Flow.run_and_return` vs `prefect_flow.run()`\n\n"
        f"A 10-task chain on the local backend (LocalExecutor), interleaved, median of "
        f"{args.repeats} runs each. {machine()}.\n\n"
        "| path | median per run |\n|---|---|\n"
        f"| `Flow.run_and_return(task_name=...)` | {ours_s * 1000:.1f} ms |\n"
        f"| `prefect_flow.run()` | {raw_s * 1000:.1f} ms |\n\n"
        f"Ratio: **{ratio:.3f}** (target <= 1.05).\n"
    )
    write_section("B1", md, write=not args.no_write)


if __name__ == "__main__":
    main()
