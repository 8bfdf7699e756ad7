"""B2 and B3: flow-of-flows overhead.

B2: a 3-flow chain run as a flow of flows vs the same three Prefect flows run by
hand, passing each result on: overhead per hop. B3: validate + compose chains
and fan-outs of 10, 100 and 1000 registered flows.

    python benchmarks/bench_flow_of_flows.py [--repeats 20] [--sizes 10 100 1000]
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PREFECT__LOGGING__LEVEL", "WARNING")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import interleaved_medians, machine, write_section  # noqa: E402


def stage_flow(name):
    from prefect import Flow, Parameter, task

    @task
    def scale(x):
        return x * 2

    @task
    def shift(x):
        return x + 1

    with Flow(name) as flow:
        shift(scale(Parameter("x", default=1)))
    return flow


def bench_chain(repeats):
    from lume_services.flows.flow import Flow
    from lume_services.flows.flow_of_flows import FlowOfFlows
    from lume_services.services.scheduling import SchedulingService
    from lume_services.services.scheduling.backends import LocalBackend

    service = SchedulingService(LocalBackend(home=tempfile.mkdtemp()))
    names = ["stage1", "stage2", "stage3"]
    flows = {n: stage_flow(n) for n in names}
    for n, f in flows.items():
        Flow(name=n, project_name="bench", prefect_flow=f).register(scheduling_service=service)
    composing = [{"name": "stage1"}]
    for parent, child in zip(names, names[1:]):
        composing.append({"name": child, "mapped_parameters": {"x": {"parent_flow_name": parent, "parent_task_name": "shift"}}})
    fof = FlowOfFlows.from_yaml(
        {"name": "chain3", "project_name": "bench", "composing_flows": composing}, scheduling_service=service
    )
    fof.compose("chain3", scheduling_service=service)

    def ours():
        results = fof.run_and_return({"stage1-x": 1}, scheduling_service=service)
        assert results["stage3"]["shift"] == 15

    loaded = {n: service.load_flow(n, "bench")["flow"] for n in names}

    def by_hand():
        value = 1
        for n in names:
            flow = loaded[n]
            state = flow.run(parameters={"x": value})
            shift = next(t for t in flow.tasks if t.name == "shift")
            value = state.result[shift].result
        assert value == 15

    ours(), by_hand()
    ours_s, hand_s = interleaved_medians([ours, by_hand], repeats)
    hops = len(names) - 1
    per_hop = (ours_s - hand_s) / hops * 1000
    return (
        "## B2: 3-flow chain, flow of flows vs by hand\n\n"
        "Three registered 2-task flows chained by raw mapped parameters; the plain path "
        "runs the same three Prefect flows by hand, passing each result on. Interleaved, "
        f"median of {repeats} runs each. {machine()}.\n\n"
        "| path | median per run |\n|---|---|\n"
        f"| `FlowOfFlows.run_and_return` (composed once) | {ours_s * 1000:.1f} ms |\n"
        f"| three `flow.run()` by hand | {hand_s * 1000:.1f} ms |\n\n"
        f"Overhead per hop: **{per_hop:+.1f} ms** (target < 5 ms). The composed flow runs "
        "the children's tasks in one Prefect flow run, so it saves the per-run setup of "
        "the later children; a negative figure means the flow of flows is faster.\n"
    )


def register_many(service, n, prefix):
    from prefect import Flow as PrefectFlow
    from prefect import Parameter, task

    from lume_services.flows.flow import Flow

    @task
    def step(x):
        return x + 1

    for i in range(n):
        with PrefectFlow(f"{prefix}{i}") as flow:
            step(Parameter("x", default=0))
        Flow(name=f"{prefix}{i}", project_name="bench", prefect_flow=flow).register(scheduling_service=service)


def bench_scaling(sizes):
    from lume_services.flows.flow_of_flows import FlowOfFlows
    from lume_services.services.scheduling import SchedulingService
    from lume_services.services.scheduling.backends import LocalBackend

    rows = []
    for n in sizes:
        home = tempfile.mkdtemp()
        register_many(SchedulingService(LocalBackend(home=home)), n, "f")
        for shape in ("chain", "fan-out"):
            composing = [{"name": "f0"}]
            for i in range(1, n):
                parent = f"f{i - 1}" if shape == "chain" else "f0"
                composing.append({"name": f"f{i}", "mapped_parameters": {"x": {"parent_flow_name": parent, "parent_task_name": "step"}}})
            composing.reverse()  # worst case for the order: every child before its parent
            spec = {"name": f"{shape}-{n}", "project_name": "bench", "composing_flows": composing}
            # a fresh backend: children are read from disk, not from a warm cache
            service = SchedulingService(LocalBackend(home=home))
            start = time.perf_counter()
            fof = FlowOfFlows.from_yaml(spec, scheduling_service=service)
            validated = time.perf_counter()
            fof.compose(f"{shape}-{n}", scheduling_service=service)
            composed = time.perf_counter()
            rows.append((shape, n, validated - start, composed - validated, composed - start))
    table = "\n".join(
        f"| {shape} | {n} | {v * 1000:.0f} ms | {c * 1000:.0f} ms | {t * 1000:.0f} ms | {t / n * 1e6:.0f} us |"
        for shape, n, v, c, t in rows
    )
    return (
        "## B3: validate + compose, chains and fan-outs\n\n"
        "Each child is a registered 1-task flow read from the on-disk registry by a fresh "
        "backend; the YAML lists children in reverse dependency order. "
        f"{machine()}.\n\n"
        "| shape | flows | validate (load + check) | compose | total | per flow |\n"
        "|---|---|---|---|---|---|\n"
        f"{table}\n\n"
        "Target: a 1000-flow chain under 2 s, growing linearly.\n"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    b2 = bench_chain(args.repeats)
    print(b2)
    b3 = bench_scaling(args.sizes)
    print(b3)
    if not args.no_write:
        write_section("B2", b2)
        write_section("B3", b3)


if __name__ == "__main__":
    main()
