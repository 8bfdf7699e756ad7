"""B9: registering a flow on the local backend vs Prefect's own Local storage.

A 3-task flow (a parameter, two tasks), each round a new flow object with new
task functions. Interleaved, medians of ROUNDS rounds:

- ``Flow.register`` of a new flow (fingerprint, pickle, one SQLite transaction);
- ``Flow.register`` of the same flow again, unchanged (fingerprint, one SELECT);
- Prefect's ``Local(directory).add_flow(flow)`` (pickle written to a file): the baseline;
- ``flow.serialized_hash()``: what the fingerprint used to start with, for reference.

    python benchmarks/bench_registration.py [--rounds 300]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PREFECT__LOGGING__LEVEL", "WARNING")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine, write_section  # noqa: E402


def make_flow(i):
    from prefect import Flow, Parameter, task

    @task
    def scale(x):
        return x * 2

    @task
    def shift(x):
        return x + 1

    with Flow(f"flow-{i}") as flow:
        shift(scale(Parameter("x", default=1)))
    return flow


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)

    from prefect.storage import Local

    from lume_services.flows.flow import Flow
    from lume_services.services.scheduling import SchedulingService
    from lume_services.services.scheduling.backends import LocalBackend

    service = SchedulingService(LocalBackend(home=tempfile.mkdtemp()))
    storage = Local(directory=tempfile.mkdtemp(), validate=False)
    ours = [make_flow(i) for i in range(args.rounds + 1)]
    theirs = [make_flow(i) for i in range(args.rounds + 1)]
    hashed = [make_flow(i) for i in range(args.rounds + 1)]
    # warm up: imports, the SQLite connection, the first code digests
    Flow(name="flow-warm", project_name="bench", prefect_flow=make_flow(-1)).register(scheduling_service=service)
    storage.add_flow(make_flow(-2))
    times = {"new": [], "unchanged": [], "local": [], "hash": []}
    for i in range(args.rounds):
        model = Flow(name=f"flow-{i}", project_name="bench", prefect_flow=ours[i])
        start = time.perf_counter()
        first = model.register(scheduling_service=service)
        times["new"].append(time.perf_counter() - start)
        again = Flow(name=f"flow-{i}", project_name="bench", prefect_flow=ours[i])
        start = time.perf_counter()
        assert again.register(scheduling_service=service) == first
        times["unchanged"].append(time.perf_counter() - start)
        start = time.perf_counter()
        storage.add_flow(theirs[i])
        times["local"].append(time.perf_counter() - start)
        start = time.perf_counter()
        hashed[i].serialized_hash()
        times["hash"].append(time.perf_counter() - start)
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    verdict = {
        "new": "met" if med["new"] <= 1 else f"missed by {med['new'] - 1:.2f} ms",
        "unchanged": "met" if med["unchanged"] <= 0.3 else f"missed by {med['unchanged'] - 0.3:.2f} ms",
    }
    md = (
        "## B9: registering a flow, local backend vs Prefect's Local storage\n\n"
        "A 3-task flow (parameter, two tasks), a new flow object with new task functions each "
        f"round; interleaved, median of {args.rounds} rounds. {machine()}.\n\n"
        "| path | what it measures | median | / Prefect Local storage |\n|---|---|---|---|\n"
        f"| `Flow.register`, new flow | fingerprint, cloudpickle, one SQLite transaction | {med['new']:.3f} ms | {med['new'] / med['local']:.2f} |\n"
        f"| `Flow.register`, unchanged flow again | fingerprint, one SELECT, nothing written | {med['unchanged']:.3f} ms | {med['unchanged'] / med['local']:.2f} |\n"
        f"| Prefect `Local.add_flow` | the baseline: cloudpickle written to a file | {med['local']:.3f} ms | 1.00 |\n"
        f"| `flow.serialized_hash()` | reference: what the fingerprint began with before (a marshmallow dump) | {med['hash']:.3f} ms | {med['hash'] / med['local']:.2f} |\n\n"
        f"Goals (issue 15): new <= 1 ms: **{med['new']:.2f} ms, {verdict['new']}**; unchanged <= 0.3 ms: "
        f"**{med['unchanged']:.2f} ms, {verdict['unchanged']}** (before: 7.1 and 3.1 ms).\n\n"
        "The fingerprint reads the flow and its tasks directly (what `Flow.serialize()` would "
        "describe, plus code, closures, defaults, constants and task attributes) instead of "
        "serializing the flow; the description of each code object is kept, since code cannot "
        "change. Nothing else is cached: a flow changed in place is fingerprinted afresh. The "
        "registry commits with `synchronous=NORMAL` (no fsync per registration).\n"
    )
    write_section("B9-registration", md, write=not args.no_write)


if __name__ == "__main__":
    main()
