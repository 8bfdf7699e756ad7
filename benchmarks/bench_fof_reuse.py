"""B14: what reusing children saves (issue 22): a cached re-run, a resume, a sweep.

- cached re-run: a chain of 100 registered children, each sleeping ``--work``
  seconds (a stand-in for a simulation), all ``cache: true``; its first run vs
  the re-run with nothing changed (every child reused). Goal: at most 5%.
- resume: the same chain (not cached) failing at child 90 (a parameter makes it
  raise), then ``FlowOfFlows.resume`` with the parameter fixed, vs a full run.
  Goal: only 11 children run, in at most 15% of the full run's time.
- sweep: one child sweeping 100 items (``map_over``), each sleeping 0.2 s, under
  ``local_dask`` with 8 workers, vs the same task mapped over 100 items in one
  hand-written Prefect flow under Prefect's ``LocalDaskExecutor`` with 8
  workers. Goal: within 1.2x.

Each figure is the median of ``--repeats`` runs (a fresh run history for each
cached re-run and resume, so one measurement does not feed the next).

    python benchmarks/bench_fof_reuse.py [--children 100] [--work 0.1] [--repeats 3] [--no-write]
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

from _report import interleaved_medians, machine, timed, write_section  # noqa: E402


def chain_service(n: int, work: float):
    """A local service with n registered children c0..c{n-1}: step(x, fail=False) -> x + 1 after ``work`` s."""
    from prefect import Flow as PrefectFlow
    from prefect import Parameter, task

    from lume_services.flows.flow import Flow
    from lume_services.services.scheduling import SchedulingService
    from lume_services.services.scheduling.backends import LocalBackend

    @task
    def step(x, fail):
        time.sleep(work)
        if fail:
            raise ValueError("asked to fail")
        return x + 1

    service = SchedulingService(LocalBackend(home=tempfile.mkdtemp()))
    with PrefectFlow("step") as flow:
        step(Parameter("x", default=0), Parameter("fail", default=False))
    for i in range(n):
        Flow(name=f"c{i}", project_name="bench", prefect_flow=flow).register(scheduling_service=service)
    return service


def chain(n: int, cache: bool) -> dict:
    children = [{"name": "c0", "cache": cache}]
    for i in range(1, n):
        children.append({"name": f"c{i}", "cache": cache, "mapped_parameters": {
            "x": {"parent_flow_name": f"c{i - 1}", "parent_task_name": "step"}}})
    return {"name": "long-chain", "project_name": "bench", "composing_flows": children}


def composed_chain(n: int, work: float, cache: bool):
    """``(service, flow of flows)``: a fresh service with the n children registered, and their chain composed."""
    from lume_services.flows.flow_of_flows import FlowOfFlows

    service = chain_service(n, work)
    fof = FlowOfFlows.from_yaml(chain(n, cache=cache), scheduling_service=service)
    fof.ensure_composed(scheduling_service=service)
    return service, fof


def bench_cached(n: int, work: float, repeats: int):
    firsts, agains = [], []
    for _ in range(repeats):
        service, fof = composed_chain(n, work, cache=True)
        first, _ = timed(lambda: fof.run_and_return({}, scheduling_service=service))
        firsts.append(first)
        again, results = timed(lambda: fof.run_and_return({}, scheduling_service=service))
        agains.append(again)
        assert results[f"c{n - 1}"]["step"] == n
        assert set(fof.child_states.values()) == {"Cached"}, fof.child_states
    return statistics.median(firsts), statistics.median(agains)


def bench_resume(n: int, work: float, repeats: int, fail_at: int):
    from lume_services.errors import FlowFailedError

    fulls, resumes, ran = [], [], set()
    failing = f"c{fail_at - 1}-fail"
    for _ in range(repeats):
        service, fof = composed_chain(n, work, cache=False)
        fulls.append(timed(lambda: fof.run_and_return({}, scheduling_service=service))[0])
        try:
            fof.run_and_return({failing: True}, scheduling_service=service)
        except FlowFailedError:
            failed_run = fof.last_run_id
        seconds, results = timed(lambda: fof.resume(failed_run, {failing: False}, scheduling_service=service))
        resumes.append(seconds)
        assert results[f"c{n - 1}"]["step"] == n
        record = service.get_run(fof.last_run_id)
        ran.add(sum(1 for c in record.children if c.state == "Success"))
    return statistics.median(fulls), statistics.median(resumes), ran


def bench_sweep(items: int, seconds: float, workers: int, repeats: int):
    from prefect import Flow as PrefectFlow
    from prefect import Parameter
    from prefect import unmapped
    from prefect.executors import LocalDaskExecutor

    from _sleepers import nap_for
    from lume_services.flows.flow import Flow
    from lume_services.flows.flow_of_flows import FlowOfFlows
    from lume_services.services.scheduling import SchedulingService
    from lume_services.services.scheduling.backends import ExecutorConfig, LocalBackend, LocalRunConfig

    service = SchedulingService(LocalBackend(home=tempfile.mkdtemp()))
    with PrefectFlow("napper") as napper:
        nap_for(Parameter("x", default=0), Parameter("seconds", default=seconds))
    Flow(name="napper", project_name="bench", prefect_flow=napper).register(scheduling_service=service)
    fof = FlowOfFlows.from_yaml({"name": "sweep", "project_name": "bench",
                                 "composing_flows": [{"name": "napper", "map_over": ["x"]}]},
                                scheduling_service=service)
    fof.ensure_composed(scheduling_service=service)
    run_config = LocalRunConfig(executor=ExecutorConfig(type="local_dask", num_workers=workers))

    with PrefectFlow("by-hand") as by_hand:
        mapped = nap_for.map(Parameter("xs"), seconds=unmapped(seconds))

    def ours():
        out = fof.run_and_return({"napper-x": list(range(items))}, run_config, task_name="napper/nap_for",
                                 scheduling_service=service)
        assert out == list(range(items))

    def plain():
        state = by_hand.run(parameters={"xs": list(range(items))},
                            executor=LocalDaskExecutor(scheduler="threads", num_workers=workers))
        assert state.result[mapped].result == list(range(items))

    ours_s, plain_s = interleaved_medians([ours, plain], repeats)
    return ours_s, plain_s


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=100)
    parser.add_argument("--work", type=float, default=0.1, help="seconds each chain child sleeps")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    n = args.children
    fail_at = n - 10
    first, again = bench_cached(n, args.work, args.repeats)
    full, resumed, ran = bench_resume(n, args.work, args.repeats, fail_at)
    ours, plain = bench_sweep(100, 0.2, 8, args.repeats)
    text = (
        "## B14: reusing children: a cached re-run, a resume, a sweep\n\n"
        f"A chain of {n} registered children, each sleeping {args.work} s (a stand-in for a "
        "simulation) and passing x + 1 on; a sweep of 100 items of a child sleeping 0.2 s. Median of "
        f"{args.repeats} runs each (a fresh run history for each chain). {machine()}.\n\n"
        "| what | lume-services | compared with | ratio | goal |\n|---|---|---|---|---|\n"
        f"| re-run with every child cached (`cache: true`) | {again:.2f} s | its first run, {first:.2f} s "
        f"| {again / first:.1%} | at most 5% |\n"
        f"| `resume` of the chain failed at child {fail_at} (children run: {sorted(ran)}) | {resumed:.2f} s "
        f"| a full run, {full:.2f} s | {resumed / full:.1%} | 11 children, at most 15% |\n"
        f"| sweep of 100 items (`map_over`), `local_dask`, 8 workers | {ours:.2f} s | the same task "
        f"mapped in one hand-written Prefect flow, `LocalDaskExecutor`, 8 workers: {plain:.2f} s "
        f"| {ours / plain:.2f}x | at most 1.2x |\n\n"
        "A cached child gives back the results the run history recorded for it (one small task "
        "per result); the re-run's time is the reading of the history, the composition of the "
        "run and Prefect's run of those tasks. A resume reuses the children that succeeded in "
        "the same way and runs the rest.\n"
    )
    print(text)
    if not args.no_write:
        write_section("B14", text)


if __name__ == "__main__":
    main()
