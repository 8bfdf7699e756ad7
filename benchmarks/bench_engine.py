"""B13: what a task costs inside a lume-services run vs in a plain Prefect run.

A composed 500-child chain (each child a registered 1-task flow, ``step(x) -> x + 1``)
run with ``FlowOfFlows.run_and_return`` after its first run, and a 500-task chain
in one ``Flow`` model run with ``Flow.run_and_return``, each beside the same 500
tasks hand-written in one plain Prefect flow run with ``flow.run()``
(LocalExecutor). Interleaved, median of the repeats, in one process.

The difference is ``backends/local/lean_context.py``: a local run hands its tasks
the run's Prefect configuration instead of a copy per task.

    python benchmarks/bench_engine.py [--children 500] [--repeats 3] [--no-write]
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("PREFECT__LOGGING__LEVEL", "WARNING")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import interleaved_medians, machine, write_section  # noqa: E402
from bench_flow_of_flows import plain_prefect_flow, register_many, spec_for  # noqa: E402


def measure(n: int, repeats: int) -> dict:
    from prefect import Flow as PrefectFlow
    from prefect import Parameter, task

    from lume_services.flows.flow import Flow
    from lume_services.flows.flow_of_flows import FlowOfFlows
    from lume_services.services.scheduling import SchedulingService
    from lume_services.services.scheduling.backends import LocalBackend

    service = SchedulingService(LocalBackend(home=tempfile.mkdtemp()))  # as users run: the history on
    register_many(service, n, "f")
    fof = FlowOfFlows.from_yaml(spec_for("chain", n), scheduling_service=service)
    fof.compose(f"chain-{n}", scheduling_service=service)
    fof.run_and_return({}, scheduling_service=service)  # the first run: sorted and cached

    @task
    def step(x):
        return x + 1

    with PrefectFlow("model-chain") as chain:
        value = Parameter("x", default=0)
        for _ in range(n):
            value = step(value)
    model = Flow(name="model-chain", project_name="bench", prefect_flow=chain)
    model.register(scheduling_service=service)
    model.run_and_return({"x": 0}, task_name="step", scheduling_service=service)

    plain = plain_prefect_flow("chain", n)
    plain.run()

    composed, single, by_hand = interleaved_medians(
        [
            lambda: fof.run_and_return({}, scheduling_service=service),
            lambda: model.run_and_return({"x": 0}, task_name="step", scheduling_service=service),
            lambda: plain.run(),
        ],
        repeats,
    )
    return {"n": n, "composed": composed, "single": single, "plain": by_hand}


def report(m: dict, repeats: int) -> str:
    n = m["n"]
    per = {k: m[k] / n * 1000 for k in ("composed", "single", "plain")}
    load = os.getloadavg()[0]
    rows = [
        ("`FlowOfFlows.run_and_return`, a composed chain of registered flows", "composed"),
        ("`Flow.run_and_return`, one flow model of the same tasks", "single"),
        ("plain Prefect: the same tasks in one hand-written flow, `flow.run()`", "plain"),
    ]
    table = "\n".join(
        f"| {label} | {m[key]:.2f} s | {per[key]:.2f} ms | {m[key] / m['plain']:.2f} |" for label, key in rows
    )
    met = per["composed"] <= 4 and m["composed"] / m["plain"] <= 0.5
    return f"""## B13: a task inside a lume-services run vs inside a plain Prefect run

A chain of {n} one-task children (`step(x) -> x + 1`): composed from registered flows and run with
`FlowOfFlows.run_and_return` after its first run, the same {n} tasks in one `Flow` model run with
`Flow.run_and_return`, and the same tasks hand-written in one Prefect flow run with `flow.run()`.
LocalExecutor, the run history on (the default: what users get), interleaved, median of {repeats}. {machine()};
load average {load:.1f} at the end.

| path | run | per task | / plain Prefect |
|---|---|---|---|
{table}

Goal (issue 23): at most 4 ms a child and at most 0.5x plain Prefect: **{"met" if met else "missed"}**
({per["composed"]:.2f} ms, {m["composed"] / m["plain"]:.2f}x).

Where the time went: Prefect 1 merges its whole configuration into each task's context three times per
task (`merge_dicts` copying the `Config` recursively), over 80 % of its per-task time. A local run of
lume-services hands its tasks the run's configuration object instead (`backends/local/lean_context.py`,
through Prefect's public `executor=` argument); plain Prefect still copies it.
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    text = report(measure(args.children, args.repeats), args.repeats)
    write_section("B13", text, write=not args.no_write)


if __name__ == "__main__":
    main()
