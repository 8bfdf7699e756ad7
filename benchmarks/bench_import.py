"""B11: the cost of ``import lume_services.flows.flow`` against ``import prefect``.

Each statement runs in a fresh ``python -c`` process, interleaved, RUNS times;
medians of wall time and of CPU time (user + system, less sensitive to other
load on a shared machine). Bytecode caches are written to a temporary
``PYTHONPYCACHEPREFIX`` and warmed first, so that neither side compiles source
(this environment sets ``PYTHONDONTWRITEBYTECODE``, which would make
lume-services, and only it, compile every module at every import). The rows
between ``prefect`` and the flow models show where the difference comes from;
the ``gc.disable()`` rows show how much of it is the garbage collector walking
Prefect's objects while more modules are imported.

    python benchmarks/bench_import.py [--runs 11]
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine, write_section  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
GOAL = 1.05
STATEMENTS = [
    ("`import prefect`", "the baseline", "import prefect"),
    ("`import lume_services.flows.flow`", "the flow models (and what their module wires)", "import lume_services.flows.flow"),
    ("`import lume_services`", "the package alone", "import lume_services"),
    ("`import prefect, pydantic`", "what pydantic adds (the models are pydantic models)", "import prefect, pydantic"),
    (
        "`import prefect, pydantic, dependency_injector...`",
        "and dependency-injector (containers, wiring)",
        "import prefect, pydantic, dependency_injector.containers, dependency_injector.wiring",
    ),
    ("`import prefect` with `gc.disable()`", "the baseline without garbage collection", "import gc; gc.disable(); import prefect"),
    (
        "`import lume_services.flows.flow` with `gc.disable()`",
        "the flow models without garbage collection",
        "import gc; gc.disable(); import lume_services.flows.flow",
    ),
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="pycache-")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    cwd = tempfile.mkdtemp()

    def run(statement):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", statement], env=env, cwd=cwd, check=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return wall, cpu

    for _, _, statement in STATEMENTS:  # write and warm the bytecode caches
        run(statement)
    walls = [[] for _ in STATEMENTS]
    cpus = [[] for _ in STATEMENTS]
    for _ in range(args.runs):
        for i, (_, _, statement) in enumerate(STATEMENTS):
            wall, cpu = run(statement)
            walls[i].append(wall)
            cpus[i].append(cpu)
    wall = [statistics.median(w) for w in walls]
    cpu = [statistics.median(c) for c in cpus]
    rows = "\n".join(
        f"| {name} | {what} | {w * 1000:.0f} ms | {w / wall[0]:.3f} | {c * 1000:.0f} ms | {c / cpu[0]:.3f} |"
        for (name, what, _), w, c in zip(STATEMENTS, wall, cpu)
    )
    ratio_wall, ratio_cpu = wall[1] / wall[0], cpu[1] / cpu[0]
    met = ratio_cpu <= GOAL and ratio_wall <= GOAL
    md = (
        "## B11: importing the flow models vs importing Prefect\n\n"
        f"Fresh `python -c` processes, interleaved, median of {args.runs} runs each; bytecode caches "
        f"warm for every module. {machine()}.\n\n"
        "| statement | what it measures | wall | / prefect | CPU | / prefect |\n|---|---|---|---|---|---|\n"
        f"{rows}\n\n"
        f"Goal (issue 15): `import lume_services.flows.flow` within {GOAL}x of `import prefect`: "
        f"**{ratio_wall:.2f}x wall, {ratio_cpu:.2f}x CPU, {'met' if met else 'missed'}** "
        f"(before: 1.13-1.21x). Where the rest goes, from the rows above: pydantic alone adds "
        f"{(cpu[3] - cpu[0]) * 1000:.0f} ms of CPU ({cpu[3] / cpu[0]:.2f}x) and dependency-injector "
        f"{(cpu[4] - cpu[3]) * 1000:+.0f} ms more; lume-services' own modules, the container and its "
        f"wiring the remaining {(cpu[1] - cpu[4]) * 1000:.0f} ms. Without garbage collection the flow "
        f"models cost {cpu[6] / cpu[5]:.2f}x Prefect: much of the difference is the collector walking "
        "Prefect's objects again each time the modules imported after it trigger a full collection, "
        "and pydantic, which the models are made of, triggers one by itself. Importing a backend "
        "module is now deferred to its first use (the docker, kubernetes and local-agent modules are "
        "no longer imported with the models).\n"
    )
    write_section("B11-import", md, write=not args.no_write)


if __name__ == "__main__":
    main()
