"""B11 (commands): how fast the read-only commands start: ``lume-services runs list`` over 10,000 runs.

A history of RUNS finished runs (20 flows, 5 projects, one in ten failed, as
B12 writes them) is written under a temporary ``LUME_HOME``; then each command
runs in a fresh process, the processes interleaved, RUNS_EACH times, with the
medians of wall and CPU time (user + system of the child, less sensitive to
other load on a shared machine). Beside them, in the same run: ``python -c
pass`` (the interpreter's own start), ``import prefect`` (what the commands
paid before, when the settings imported Prefect) and the query itself (the
same ``list_runs()`` the command makes, in this process, median of 20).
Bytecode caches are warm for every module, as for B11's imports.

Goal (issue 23): ``runs list`` within 2x of ``python -c pass`` plus the query.

    python benchmarks/bench_cli_startup.py [--runs-each 11] [--history 10000] [--no-write]
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine, write_section  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
GOAL = 2.0
COMMANDS = [
    ("`python -c pass`", "the interpreter's own start", ["-c", "pass"]),
    ("`lume-services runs list`", "the newest 20 of the runs, as a table", ["-m", "lume_services.cli.main", "runs", "list"]),
    ("`lume-services runs show <id>`", "one run and its tasks", ["-m", "lume_services.cli.main", "runs", "show", "{last}"]),
    ("`lume-services flows list`", "the registered flows (none here)", ["-m", "lume_services.cli.main", "flows", "list"]),
    ("`lume-services env`", "the LUME_* variables", ["-m", "lume_services.cli.main", "env"]),
    ("`lume-services --help`", "the usage", ["-m", "lume_services.cli.main", "--help"]),
    ("`python -c 'import prefect'`", "what the commands paid for Prefect before", ["-c", "import prefect"]),
    ("`python -c 'import click'`", "part: the command-line library", ["-c", "import click"]),
    ("`python -c 'import lume_services.env_vars'`", "part: pydantic and the settings models", ["-c", "import lume_services.env_vars"]),
    ("`python -c 'import lume_services.config'`", "part: and dependency-injector's container", ["-c", "import lume_services.config"]),
]


def write_history(home: str, runs: int) -> str:
    """``runs`` finished runs in the history under ``home``; return the newest run's id."""
    from lume_services.services.scheduling.backends.local.backend import LocalBackend
    from lume_services.services.scheduling.run_records import RunRecord, TaskRun

    backend = LocalBackend(home=home)
    now = datetime.now(timezone.utc)
    start = now - timedelta(minutes=runs)
    batch = []
    for i in range(runs):
        at = start + timedelta(minutes=i)
        batch.append(RunRecord(
            run_id=f"run-{i:06d}", flow_name=f"flow-{i % 20}", project_name=f"project-{i % 5}",
            state="Failed" if i % 10 == 0 else "Success", parameters={"x": i}, executor="local",
            start=at, end=at + timedelta(seconds=1),
        ))
    backend.history.insert_many(batch)
    last = f"run-{runs - 1:06d}"
    backend.history.finish(last, now, "Success", None, [
        TaskRun("inc", f"inc-{k}", "Success", result=k, result_recorded=True) for k in range(10)
    ])
    return last


def query_time(home: str) -> float:
    """The median of 20 ``list_runs()`` over the history, as ``runs list`` makes it."""
    from lume_services.services.scheduling import SchedulingService
    from lume_services.services.scheduling.backends.local.backend import LocalBackend

    service = SchedulingService(LocalBackend(home=home))
    service.list_runs(limit=20)
    samples = []
    for _ in range(20):
        t0 = time.perf_counter()
        service.list_runs(limit=20)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-each", type=int, default=11)
    parser.add_argument("--history", type=int, default=10_000)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)

    home = tempfile.mkdtemp(prefix="lume-home-")
    last = write_history(home, args.history)
    query = query_time(home)

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE" and not k.startswith("LUME_")}
    env["LUME_HOME"] = home
    env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="pycache-")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    cwd = tempfile.mkdtemp()
    commands = [[a.format(last=last) for a in argv_] for _, _, argv_ in COMMANDS]

    def run(command):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([sys.executable, *command], env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

    for command in commands:  # write and warm the bytecode caches
        run(command)
    walls = [[] for _ in commands]
    cpus = [[] for _ in commands]
    for _ in range(args.runs_each):
        for i, command in enumerate(commands):
            wall, cpu = run(command)
            walls[i].append(wall)
            cpus[i].append(cpu)
    wall = [statistics.median(w) for w in walls]
    cpu = [statistics.median(c) for c in cpus]
    rows = "\n".join(
        f"| {name} | {what} | {w * 1000:.0f} ms | {c * 1000:.0f} ms |"
        for (name, what, _), w, c in zip(COMMANDS, wall, cpu)
    )
    floor_wall, floor_cpu = wall[0] + query, cpu[0] + query
    ratio_wall, ratio_cpu = wall[1] / floor_wall, cpu[1] / floor_cpu
    met = ratio_wall <= GOAL and ratio_cpu <= GOAL
    md = (
        f"## B11 (commands): read-only commands over a history of {args.history:,} runs\n\n"
        f"Load: a run history of {args.history:,} finished runs (20 flows, 5 projects, one in ten failed) "
        "under a temporary `LUME_HOME`, no flow registered. Each command in a fresh process "
        f"(`python -m lume_services.cli.main ...`), interleaved, median of {args.runs_each} runs each; "
        f"bytecode caches warm. {machine()}.\n\n"
        "| command | what it does | wall | CPU |\n|---|---|---|---|\n"
        f"{rows}\n\n"
        f"The query `runs list` makes (`list_runs(limit=20)`, in one process, median of 20): "
        f"{query * 1000:.2f} ms.\n\n"
        f"Goal (issue 23): `runs list` within {GOAL:.0f}x of `python -c pass` plus the query: "
        f"**{ratio_wall:.2f}x wall, {ratio_cpu:.2f}x CPU, {'met' if met else 'missed'}** "
        f"(before: 0.98 s wall, about what `import prefect` costs; now {cpu[1] / cpu[6]:.2f}x its CPU). "
        "None of these commands imports Prefect any more (tests/test_cli.py checks it): the settings, "
        "the container and the run history are read without the flow models, which alone import "
        "Prefect. What is left above the interpreter's start, from the last three rows: click "
        f"{(cpu[7] - cpu[0]) * 1000:.0f} ms of CPU, pydantic and the settings models "
        f"{(cpu[8] - cpu[0]) * 1000:.0f} ms, dependency-injector's container "
        f"{(cpu[9] - cpu[8]) * 1000:+.0f} ms more (it imports asyncio, ssl, yaml and pydantic itself); "
        "the query is nothing beside them. Meeting the goal would take a command path without "
        "pydantic and dependency-injector (the settings read without their models), which is not "
        "done: `env` already skips the container.\n"
    )
    write_section("B11-commands", md, write=not args.no_write)


if __name__ == "__main__":
    main()
