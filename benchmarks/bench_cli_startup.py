"""B11 (commands): how fast the read-only commands start: ``lume-services runs list`` over 10,000 runs.

A history of RUNS finished runs (20 flows, 5 projects, one in ten failed, as
B12 writes them) is written under a temporary ``LUME_HOME``; then each command
runs in a fresh process, the processes interleaved, RUNS_EACH times, with the
medians of wall and CPU time (user + system of the child, less sensitive to
other load on a shared machine). The commands run as users run them: through
a ``lume-services`` script written as pip writes console scripts, for the
entry point ``pyproject.toml`` declares (``lume_services.cli.console:main``,
whose light path answers ``runs list``); ``runs list`` also through the click
command alone (``lume_services.cli.main:main``, the entry point before, and
the path the console script hands a line to when it steps aside). Beside them,
in the same run: ``python -c pass`` (the interpreter's own start), ``import
prefect`` (what the commands paid before, when the settings imported Prefect)
and the query itself (the same ``list_runs()`` the command makes, in this
process, median of 20). Bytecode caches are warm for every module, as for
B11's imports. The load average is read before and after.

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
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import interleaved_medians, machine, write_section  # noqa: E402
from _workloads import fill_history  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
GOAL = 2.0
#: a console script as pip writes it for an entry point ``module:function``
SCRIPT = "import re\nimport sys\nfrom {module} import {function}\nif __name__ == '__main__':\n    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n    sys.exit({function}())\n"
COMMANDS = [
    ("`python -c pass`", "the interpreter's own start", ["-c", "pass"]),
    ("`lume-services runs list`", "the newest 20 of the runs, as a table (the light path)", ["{script}", "runs", "list"]),
    ("`lume-services runs list --json`", "the same as one JSON document (the light path)", ["{script}", "runs", "list", "--json"]),
    ("`runs list` through click", "the same through the click command (`lume_services.cli.main:main`)", ["{click_script}", "runs", "list"]),
    ("`lume-services runs show <id>`", "one run and its tasks (click)", ["{script}", "runs", "show", "{last}"]),
    ("`lume-services flows list`", "the registered flows, none here (click)", ["{script}", "flows", "list"]),
    ("`lume-services env`", "the LUME_* variables (click)", ["{script}", "env"]),
    ("`lume-services --help`", "the usage (click)", ["{script}", "--help"]),
    ("`python -c 'import prefect'`", "what the commands paid for Prefect before", ["-c", "import prefect"]),
    ("`python -c 'import lume_services.storage'`", "part of the light path: the store kit (and the errors it raises)", ["-c", "import lume_services.storage"]),
    ("`python -c 'import click'`", "part: the command-line library", ["-c", "import click"]),
    ("`python -c 'import lume_services.env_vars'`", "part: pydantic and the settings models", ["-c", "import lume_services.env_vars"]),
    ("`python -c 'import lume_services.config'`", "part: and dependency-injector's container", ["-c", "import lume_services.config"]),
]


def write_history(home: str, runs: int) -> str:
    """``runs`` finished runs in the history under ``home``; return the newest run's id."""
    from lume_services.services.scheduling.backends.local.backend import LocalBackend

    last, _, _ = fill_history(LocalBackend(home=home).history, runs)
    return last


def query_time(home: str) -> float:
    """The median of 20 ``list_runs()`` over the history, as ``runs list`` makes it."""
    from lume_services.services.scheduling import SchedulingService
    from lume_services.services.scheduling.backends.local.backend import LocalBackend

    service = SchedulingService(LocalBackend(home=home))
    service.list_runs(limit=20)
    return interleaved_medians([lambda: service.list_runs(limit=20)], 20)[0]


def console_script(folder: Path, entry_point: str) -> str:
    """A ``lume-services`` script for ``entry_point`` in ``folder``, as pip writes it; its path."""
    module, function = entry_point.split(":")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "lume-services"
    path.write_text(SCRIPT.format(module=module, function=function))
    return str(path)


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
    entry = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]["lume-services"]
    scripts = {"script": console_script(Path(cwd) / "console", entry),
               "click_script": console_script(Path(cwd) / "click", "lume_services.cli.main:main")}
    commands = [[a.format(last=last, **scripts) for a in argv_] for _, _, argv_ in COMMANDS]
    load_before = os.getloadavg()[0]

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
    load_after = os.getloadavg()[0]
    wall = [statistics.median(w) for w in walls]
    cpu = [statistics.median(c) for c in cpus]
    at = {name: i for i, (name, _, _) in enumerate(COMMANDS)}
    rows = "\n".join(
        f"| {name} | {what} | {w * 1000:.0f} ms | {c * 1000:.0f} ms |"
        for (name, what, _), w, c in zip(COMMANDS, wall, cpu)
    )
    floor_wall, floor_cpu = wall[0] + query, cpu[0] + query
    ratio_wall, ratio_cpu = wall[1] / floor_wall, cpu[1] / floor_cpu
    met = ratio_wall <= GOAL and ratio_cpu <= GOAL
    clicked = at["`runs list` through click"]
    kit = "`python -c 'import lume_services.storage'`"
    prefect, click, settings, container = (at[f"`python -c 'import {m}'`"] for m in
                                           ("prefect", "click", "lume_services.env_vars", "lume_services.config"))
    md = (
        f"## B11 (commands): read-only commands over a history of {args.history:,} runs\n\n"
        f"Load: a run history of {args.history:,} finished runs (20 flows, 5 projects, one in ten failed) "
        "under a temporary `LUME_HOME`, no flow registered. Each command in a fresh process, through a "
        "`lume-services` script written as pip writes console scripts for the entry point of `pyproject.toml` "
        f"(`{entry}`), interleaved, median of {args.runs_each} runs each; bytecode caches warm; load average "
        f"{load_before:.1f} before and {load_after:.1f} after (2 cores, shared). {machine()}.\n\n"
        "| command | what it does | wall | CPU |\n|---|---|---|---|\n"
        f"{rows}\n\n"
        f"The query `runs list` makes (`list_runs(limit=20)`, in one process, median of 20): "
        f"{query * 1000:.2f} ms.\n\n"
        f"Goal (issue 23): `runs list` within {GOAL:.0f}x of `python -c pass` plus the query: "
        f"**{ratio_wall:.2f}x wall, {ratio_cpu:.2f}x CPU, {'met' if met else 'missed'}** "
        f"(through the click command: {wall[clicked] / floor_wall:.2f}x wall, {cpu[clicked] / floor_cpu:.2f}x "
        "CPU; before issue 23: 0.98 s wall, about what `import prefect` costs). "
        "The console script answers `runs list` itself (`lume_services/cli/console.py`): it reads where the "
        "history is from the `LUME_*` variables the settings models read, checks the file with the store kit's "
        "trust check and reads it with `sqlite3`, and prints with the click command's own functions; it imports "
        "neither click, pydantic, dependency-injector nor Prefect (tests/test_cli_console.py checks it, and that "
        "both paths print the same). It hands the line to the click command when it cannot answer exactly as "
        "that would (another `LUME_*` variable set, a misspelled one, an invalid value, `--help`, a usage error, "
        "a running run, a history that is missing or not ours); then `runs list` costs the row above. "
        f"Of the light path's {(cpu[1] - cpu[0]) * 1000:.0f} ms of CPU above the interpreter's start, the store "
        f"kit with the errors package it imports is {(cpu[at[kit]] - cpu[0]) * 1000:.0f} ms; the rest is "
        "sqlite3, json, typing and the query. "
        "The other commands go through click, which starts, from the last rows: click "
        f"{(cpu[click] - cpu[0]) * 1000:.0f} ms of CPU, pydantic and the settings models "
        f"{(cpu[settings] - cpu[0]) * 1000:.0f} ms, dependency-injector's container "
        f"{(cpu[container] - cpu[settings]) * 1000:+.0f} ms more (it imports asyncio, ssl, yaml and pydantic "
        f"itself); none of them imports Prefect ({cpu[prefect] * 1000:.0f} ms of CPU alone).\n"
    )
    write_section("B11-commands", md, write=not args.no_write)


if __name__ == "__main__":
    main()
