"""B15: the same chain of steps in lume-services, plain Prefect 1, Prefect 3, Kedro and Hamilton.

The workload is one chain of N steps, ``step(x) -> x + 1`` (N = 100 and 500 by
default), built and run the way each tool is meant to be used:

- lume-services: a composed ``FlowOfFlows`` chain of N registered one-task flows
  (``register_many``/``spec_for`` of ``bench_flow_of_flows.py``), run with
  ``FlowOfFlows.run_and_return`` (LocalBackend, run history off, as B13);
- plain Prefect 1: the same N tasks hand-written in one Prefect 1 flow, ``flow.run()``;
- Prefect 3, subflows: each step a ``@flow`` called from a parent ``@flow``;
- Prefect 3, tasks: each step a ``@task`` called from one ``@flow``;
- Kedro: a pipeline of N nodes run by ``SequentialRunner`` over a ``DataCatalog``
  of ``MemoryDataset``;
- Hamilton: a ``driver`` over a generated module of N functions ``s<i>(s<i-1>)``.

Every figure comes from a fresh process: it builds the workload (timed as
"build"), runs it once ("first run") and once more ("re-run"). The median of
``--repeats`` fresh processes is reported (``--slow-repeats`` for the two
Prefect 3 paths: a Prefect 3 subflow costs from a third of a second to over a
second here, so N = 500 subflows run for minutes; ``--slow-rerun-max N`` times
only their first run above N). Paths are rotated within a
repeat so none always runs first.

The two lume-services-side paths run in this interpreter (the project's own venv).
The peers cannot be installed beside Prefect 1 (Prefect 3 and Kedro need other
versions of pydantic, click and more), so each lives in its own virtualenv outside
the repository, created on first use (``--venvs``, default
``~/.cache/lume-services-peers``) with exactly these commands, which you can also
run by hand::

    python3.11 -m venv ~/.cache/lume-services-peers/prefect3
    ~/.cache/lume-services-peers/prefect3/bin/python -m pip install 'prefect>=3,<4'
    python3.11 -m venv ~/.cache/lume-services-peers/kedro
    ~/.cache/lume-services-peers/kedro/bin/python -m pip install kedro
    python3.11 -m venv ~/.cache/lume-services-peers/hamilton
    ~/.cache/lume-services-peers/hamilton/bin/python -m pip install sf-hamilton

(``python3.11`` is the base interpreter of the running Python.) Installing takes
minutes; it is timed and reported apart from the measurements, and a venv whose
package already imports is reused. A peer that cannot be installed (no wheel for
this Python, no network...) gets a row saying why instead of a figure.

Prefect 3 needs an API: the child runs with ``PREFECT_API_URL`` unset,
``PREFECT_HOME`` in a fresh temporary folder and ``PREFECT_SERVER_EPHEMERAL_ENABLED=true``
(older name ``PREFECT_SERVER_ALLOW_EPHEMERAL_MODE``), so Prefect starts its own
ephemeral server (a subprocess on SQLite) for that process; its start-up is part
of "build".

Not in ``run_all.py``'s default list (it installs packages); run it on its own:

    python benchmarks/peers.py [--sizes 100 500] [--repeats 3] [--slow-repeats 1] [--slow-rerun-max N]
        [--venvs DIR] [--only lume prefect1 prefect3-subflows prefect3-tasks kedro hamilton] [--no-write]
"""

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _report import machine, write_section  # noqa: E402

DEFAULT_VENVS = Path("~/.cache/lume-services-peers").expanduser()
CHILD_TIMEOUT = 3600  # seconds for one fresh process (Prefect 3 subflows at N=500 take minutes)

# venv name -> (pip requirement, module whose import proves the install)
VENVS = {
    "prefect3": ("prefect>=3,<4", "prefect"),
    "kedro": ("kedro", "kedro"),
    "hamilton": ("sf-hamilton", "hamilton"),
}



def install_commands(venvs: str = "~/.cache/lume-services-peers") -> str:
    """The shell commands that make the peers' virtualenvs (``VENVS``) under ``venvs``, one a line."""
    lines = []
    for name, (requirement, _) in VENVS.items():
        lines += [f"python3.11 -m venv {venvs}/{name}",
                  f"{venvs}/{name}/bin/python -m pip install {shlex.quote(requirement)}"]
    return "\n".join(lines)


SLOWEST = "prefect3-subflows"

# path key -> (label, venv name or None for the project's own venv)
PATHS = {
    "lume": ("lume-services: composed `FlowOfFlows` of N registered 1-task flows", None),
    "prefect1": ("plain Prefect 1: N tasks in one flow, `flow.run()`", None),
    "prefect3-subflows": ("Prefect 3: N subflows (`@flow`) called from one `@flow`", "prefect3"),
    "prefect3-tasks": ("Prefect 3: N `@task`s in one `@flow`", "prefect3"),
    "kedro": ("Kedro: N nodes, `SequentialRunner`, `MemoryDataset`s", "kedro"),
    "hamilton": ("Hamilton: `driver` over a module of N functions", "hamilton"),
}

# Each child prints one JSON line: {"version", "build", "first", "rerun", "result"}.
# It is given N as argv[1] and, for Prefect 3, the shape as argv[2].
_TIMED = """
import json, sys, time
N = int(sys.argv[1])

def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value
"""

CHILDREN = {
    "prefect3": _TIMED
    + """
t0 = time.perf_counter()
import prefect
from prefect import flow, task

@flow
def step_flow(x):
    return x + 1

@task
def step_task(x):
    return x + 1

@flow
def subflows(n):
    x = 0
    for _ in range(n):
        x = step_flow(x)
    return x

@flow
def tasks(n):
    x = 0
    for _ in range(n):
        x = step_task(x)
    return x

parent = subflows if sys.argv[2] == "subflows" else tasks
from prefect.client.orchestration import get_client
with get_client(sync_client=True) as client:  # starts the ephemeral server: part of "build"
    client.hello()
build = time.perf_counter() - t0
first, result = timed(lambda: parent(N))
rerun = None
if sys.argv[3] == "rerun":
    rerun, result = timed(lambda: parent(N))
print(json.dumps({"version": prefect.__version__, "build": build, "first": first, "rerun": rerun,
                  "result": result}))
""",
    "kedro": _TIMED
    + """
t0 = time.perf_counter()
import kedro
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import node, pipeline
from kedro.runner import SequentialRunner

def step(x):
    return x + 1

chain = pipeline([node(step, f"d{i}", f"d{i + 1}", name=f"s{i + 1}") for i in range(N)])
build = time.perf_counter() - t0

def run():
    catalog = DataCatalog({"d0": MemoryDataset(0)})  # fresh datasets each run
    outputs = SequentialRunner().run(chain, catalog)
    value = outputs[f"d{N}"]
    return value.load() if hasattr(value, "load") else value

first, _ = timed(run)
rerun, result = timed(run)
print(json.dumps({"version": kedro.__version__, "build": build, "first": first, "rerun": rerun,
                  "result": result}))
""",
    "hamilton": _TIMED
    + """
import importlib.util, os, tempfile
t0 = time.perf_counter()
from hamilton import driver
from hamilton import version as hamilton_version

sys.setrecursionlimit(max(sys.getrecursionlimit(), 20 * N))  # Hamilton walks the graph recursively
source = "".join(f"def s{i}(s{i - 1}: int) -> int:\\n    return s{i - 1} + 1\\n\\n" for i in range(1, N + 1))
path = os.path.join(tempfile.mkdtemp(), "chain_module.py")
with open(path, "w") as fh:
    fh.write(source)
spec = importlib.util.spec_from_file_location("chain_module", path)
module = importlib.util.module_from_spec(spec)
sys.modules["chain_module"] = module  # Hamilton reads functions from registered modules only
spec.loader.exec_module(module)
dr = driver.Builder().with_modules(module).build()
build = time.perf_counter() - t0

def run():
    return dr.execute([f"s{N}"], inputs={"s0": 0})[f"s{N}"]

first, _ = timed(run)
rerun, result = timed(run)
print(json.dumps({"version": ".".join(map(str, hamilton_version.VERSION)), "build": build, "first": first,
                  "rerun": rerun, "result": int(result)}))
""",
}


def child_lume(n: int, path: str) -> dict:
    """Run in a fresh process of the project's venv: build, first run and re-run of one path."""
    os.environ.setdefault("PREFECT__LOGGING__LEVEL", "WARNING")
    t0 = time.perf_counter()
    import prefect

    from bench_flow_of_flows import plain_prefect_flow, register_many, spec_for

    if path == "prefect1":
        flow = plain_prefect_flow("chain", n)
        build = time.perf_counter() - t0

        last = flow.sorted_tasks()[-1]  # the chain's last step holds N

        def run():
            return flow.run().result[last].result

    else:
        from lume_services.flows.flow_of_flows import FlowOfFlows
        from lume_services.services.scheduling import SchedulingService
        from lume_services.services.scheduling.backends import LocalBackend

        service = SchedulingService(LocalBackend(home=tempfile.mkdtemp(), record_runs=False))
        register_many(service, n, "f")
        fof = FlowOfFlows.from_yaml(spec_for("chain", n), scheduling_service=service)
        fof.compose(f"chain-{n}", scheduling_service=service)
        build = time.perf_counter() - t0

        def run():
            return fof.run_and_return({}, scheduling_service=service)

    start = time.perf_counter()
    run()
    first = time.perf_counter() - start
    start = time.perf_counter()
    result = run()
    rerun = time.perf_counter() - start
    if path == "lume":  # {child: {task: result}}: the last child's step holds N
        result = result[f"f{n - 1}"]["step"]
    import lume_services

    version = f"Prefect {prefect.__version__}" if path == "prefect1" else lume_services.__version__
    return {"version": version, "build": build, "first": first, "rerun": rerun, "result": result}


def python_of(venvs: Path, name: str) -> Path:
    return venvs / name / "bin" / "python"


def _imports(python: Path, module: str):
    """Whether ``module`` imports in the interpreter ``python``."""
    if not python.exists():
        return None
    done = subprocess.run(
        [str(python), "-c", f"import {module}"],
        capture_output=True, text=True, cwd=tempfile.gettempdir(),
    )
    return done.returncode == 0


def ensure_venv(venvs: Path, name: str) -> dict:
    """Create (or reuse) the venv of one peer; return what happened, how long it took, or why it failed."""
    requirement, module = VENVS[name]
    python = python_of(venvs, name)
    if _imports(python, module):
        return {"name": name, "requirement": requirement, "status": "reused", "seconds": 0.0}
    base = getattr(sys, "_base_executable", sys.executable)
    commands = [
        ("python -m venv", [base, "-m", "venv", "--clear", str(venvs / name)]),
        (f"pip install {requirement}", [str(python), "-m", "pip", "install", "--disable-pip-version-check", requirement]),
    ]
    print(f"installing {requirement} into {venvs / name} (this can take minutes)...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    for label, command in commands:
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            return {
                "name": name, "requirement": requirement, "status": "failed",
                "seconds": time.perf_counter() - start,
                "reason": f"`{label}` exited {done.returncode}: {tail[0][:200]}",
            }
    seconds = time.perf_counter() - start
    if not _imports(python, module):
        return {"name": name, "requirement": requirement, "status": "failed", "seconds": seconds,
                "reason": f"installed, but `import {module}` fails"}
    return {"name": name, "requirement": requirement, "status": "installed", "seconds": seconds}


def peer_env(home: str) -> dict:
    """The environment of a peer's child: nothing of Prefect 1's settings, Prefect 3 on an ephemeral API."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT") and k != "PYTHONPATH"}
    env.update(
        PREFECT_HOME=home,
        PREFECT_SERVER_EPHEMERAL_ENABLED="true",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180",  # a loaded shared machine starts it slowly
        PREFECT_LOGGING_LEVEL="WARNING",
    )
    return env


def run_once(path: str, n: int, venvs: Path, scripts: dict, rerun_max: int) -> dict:
    """One fresh process of one path at size n: its figures, or the reason it has none."""
    venv = PATHS[path][1]
    with tempfile.TemporaryDirectory(prefix="peers-") as home:
        if venv is None:
            command = [sys.executable, str(Path(__file__).resolve()), "--child", path, str(n)]
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
            env.setdefault("PREFECT__LOGGING__LEVEL", "WARNING")
        else:
            command = [str(python_of(venvs, venv)), scripts[venv], str(n)]
            if venv == "prefect3":
                command += [path.split("-")[1], "first-only" if n > rerun_max and path == SLOWEST else "rerun"]
            env = peer_env(home)
        try:
            done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=home, timeout=CHILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            return {"error": f"no result within {CHILD_TIMEOUT} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exited {done.returncode}: {tail[:200]}"}
    figures = json.loads(lines[-1])
    if figures.get("result") != n:
        return {"error": f"wrong result {figures.get('result')!r} (expected {n})"}
    return figures


def measure(sizes, paths, repeats, slow_repeats, venvs, installs, rerun_max):
    """{n: {path: median figures or {"error": ...}}}, each from fresh processes, paths rotated per repeat."""
    failed = {i["name"]: i for i in installs if i["status"] == "failed"}
    scripts = {}
    tmp = tempfile.mkdtemp(prefix="peers-children-")
    for name, source in CHILDREN.items():
        scripts[name] = os.path.join(tmp, f"child_{name}.py")
        Path(scripts[name]).write_text(textwrap.dedent(source))
    results = {}
    for n in sizes:
        runs = {p: [] for p in paths}
        errors = {}
        for repeat in range(max(repeats, slow_repeats)):
            order = paths[repeat % len(paths):] + paths[: repeat % len(paths)]
            for path in order:
                venv = PATHS[path][1]
                if venv in failed:
                    errors[path] = f"not installed: {failed[venv]['reason']}"
                    continue
                wanted = slow_repeats if PATHS[path][1] == "prefect3" else repeats
                if path in errors or repeat >= wanted:
                    continue
                start = time.perf_counter()
                figures = run_once(path, n, venvs, scripts, rerun_max)
                print(f"  N={n} {path} repeat {repeat + 1}: "
                      + (figures["error"] if "error" in figures else
                         f"build {figures['build']:.2f} s, first {figures['first']:.3f} s, "
                         f"re-run {_fmt(figures['rerun'])}")
                      + f" ({time.perf_counter() - start:.0f} s wall)", file=sys.stderr, flush=True)
                if "error" in figures:
                    errors[path] = figures["error"]
                else:
                    runs[path].append(figures)
        results[n] = {}
        for path in paths:
            if path in errors:
                results[n][path] = {"error": errors[path]}
            else:
                got = runs[path]
                results[n][path] = {
                    "version": got[0]["version"],
                    "repeats": len(got),
                    **{k: statistics.median(g[k] for g in got) for k in ("build", "first")},
                    "rerun": None if got[0]["rerun"] is None else statistics.median(g["rerun"] for g in got),
                }
    return results


def _ratio(value):
    return f"{value:.2f}" if value >= 0.1 else f"{value:.2g}"


def _fmt(seconds):
    if seconds is None:
        return "not timed"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def report(results, installs, venvs, repeats, slow_repeats, loads, rerun_max) -> str:
    rerun_note = ""
    if any(n > rerun_max for n in results):
        rerun_note = (f" (Prefect 3 subflows above N = {rerun_max} time their first run only, to keep the"
                      " run within the hour: those rows compare first runs)")
    install_rows = "\n".join(
        f"| `{i['requirement']}` | {i['status']} | "
        + (f"{i['seconds']:.0f} s" if i["status"] != "reused" else "—")
        + f" | {i.get('reason', '')} |"
        for i in installs
    )
    tables = []
    for n, row in results.items():
        base = row.get("lume", {}).get("rerun")
        lines = []
        for path, figures in row.items():
            label = PATHS[path][0].replace(" N ", f" {n} ")
            if "error" in figures:
                lines.append(f"| {label} | — | — | — | — | — | {figures['error']} |")
                continue
            if figures["rerun"] is None:  # only the first run was timed: compare first runs
                mine, theirs, which = figures["first"], row["lume"].get("first"), " (first runs)"
            else:
                mine, theirs, which = figures["rerun"], base, ""
            ratio = f"{_ratio(mine / theirs)}{which}" if theirs else "—"
            lines.append(
                f"| {label} | {figures['version']} | {_fmt(figures['build'])} | {_fmt(figures['first'])} | "
                f"{_fmt(figures['rerun'])} | {mine / n * 1000:.2f} ms{which} | {ratio} |"
            )
        tables.append(
            f"**N = {n}**\n\n| path | version | build | first run | re-run | per step (re-run) | re-run / lume-services |\n"
            "|---|---|---|---|---|---|---|\n" + "\n".join(lines)
        )
    tables_md = "\n\n".join(tables)
    return f"""## B15: the same chain in lume-services and its peers

A chain of N steps `step(x) -> x + 1`, built and run the way each tool is meant to be used (see
`benchmarks/peers.py`): lume-services composes N registered one-task flows into a `FlowOfFlows` and runs
it with `run_and_return` (LocalBackend, run history off); plain Prefect 1 runs the same tasks hand-written
in one flow; Prefect 3 runs them as subflows of one flow, and as tasks of one flow; Kedro as a pipeline of
N nodes under `SequentialRunner`; Hamilton as a driver over a generated module of N functions.

Each figure is the median over fresh processes ({repeats} each, {slow_repeats} for the two Prefect 3 paths; paths
rotated): **build** is imports plus building the workload (for lume-services registering the N flows and
composing; for Prefect 3 starting its ephemeral API server), **first run** the first execution in that
process, **re-run** the second. Per step and the last column are from the re-run{rerun_note}. {machine()}.
**A shared machine**: load average {loads[0]:.1f} before and {loads[1]:.1f} after (other work was running),
so read the ratios rather than the absolute figures.

What each figure measures differs: lume-services and both Prefects keep a state per task (or flow) run and
go through their runners' state machinery; Prefect 3 also records every flow and task run in its
(ephemeral, SQLite) API, one or more HTTP calls each. Kedro and Hamilton are in-memory runners without run
states, retries or records: they show how low the per-step floor of a Python workflow tool is.

{tables_md}

The peers live in their own virtualenvs under `{str(venvs).replace(str(Path.home()), "~")}` (outside the
repository; none of them is a dependency of lume-services), created on first use with:

```bash
{install_commands()}
```

| requirement | this run | install time | note |
|---|---|---|---|
{install_rows}

Prefect 3 runs with `PREFECT_API_URL` unset, `PREFECT_HOME` in a fresh temporary folder and
`PREFECT_SERVER_EPHEMERAL_ENABLED=true`, so each process starts its own ephemeral API server.
Refresh with `python benchmarks/peers.py` (not part of `run_all.py`: it installs packages).
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per path and size")
    parser.add_argument("--slow-repeats", type=int, default=1, help="fresh processes for the Prefect 3 paths")
    parser.add_argument("--slow-rerun-max", type=int, default=10**9, metavar="N",
                        help="above this N, Prefect 3 subflows time the first run only (about 1 s a subflow)")
    parser.add_argument("--venvs", type=Path, default=DEFAULT_VENVS, help="where the peers' virtualenvs live")
    parser.add_argument("--only", nargs="+", choices=list(PATHS), help="paths to measure (lume always)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--child", nargs=2, metavar=("PATH", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child_lume(int(args.child[1]), args.child[0])))
        return
    paths = ["lume"] + [p for p in PATHS if p != "lume" and (args.only is None or p in args.only)]
    venvs = args.venvs.expanduser().resolve()
    venvs.mkdir(parents=True, exist_ok=True)
    wanted = sorted({PATHS[p][1] for p in paths if PATHS[p][1]})
    start = time.perf_counter()
    installs = [ensure_venv(venvs, name) for name in wanted]
    for i in installs:
        print(f"{i['requirement']}: {i['status']} ({i['seconds']:.0f} s){' - ' + i['reason'] if 'reason' in i else ''}",
              file=sys.stderr, flush=True)
    print(f"virtualenvs ready in {time.perf_counter() - start:.0f} s; measuring...", file=sys.stderr, flush=True)
    before = os.getloadavg()[0]
    start = time.perf_counter()
    results = measure(args.sizes, paths, args.repeats, args.slow_repeats, venvs, installs, args.slow_rerun_max)
    print(f"measured in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    text = report(results, installs, venvs, args.repeats, args.slow_repeats, (before, os.getloadavg()[0]),
                  args.slow_rerun_max)
    write_section("B15", text, write=not args.no_write)


if __name__ == "__main__":
    main()
