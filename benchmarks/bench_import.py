"""B11: the cost of ``import lume_services.flows.flow`` against ``import prefect``.

Each statement runs in a fresh ``python -c`` process, interleaved, RUNS times;
medians of wall time and of CPU time (user + system, less sensitive to other
load on a shared machine). Bytecode caches are written to a temporary
``PYTHONPYCACHEPREFIX`` and warmed first, so that neither side compiles source
(this environment sets ``PYTHONDONTWRITEBYTECODE``, which would make
lume-services, and only it, compile every module at every import). The rows
between ``prefect`` and the flow models show where the difference comes from;
the ``gc.disable()`` rows show how much of it is the garbage collector walking
Prefect's objects while more modules are imported (``lume_services.flows``
pauses the collector while it imports the flow models, so the second row is
what a user pays; the ``gc.disable()`` rows switch it off for the whole process).
The last two rows add what a program does next (20,000 small allocations):
collections the import left for later are paid there. The load average is read
before and after.

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
LOAD = [0.0]  # the load average when the runs end
STATEMENTS = [
    ("`import prefect`", "the baseline", "import prefect"),
    ("`import lume_services.flows.flow`", "the flow models (the container made and wired on first use, not here)", "import lume_services.flows.flow"),
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
    (
        "`import prefect, pydantic, dependency_injector...` with `gc.disable()`",
        "the libraries the models are made of, without garbage collection",
        "import gc; gc.disable(); import prefect, pydantic, dependency_injector.containers, dependency_injector.wiring",
    ),
    (
        "`import prefect`, then 20,000 allocations",
        "the baseline and what a program does next",
        "import prefect; keep = [[i] for i in range(20000)]",
    ),
    (
        "`import lume_services.flows.flow`, then 20,000 allocations",
        "the flow models and what a program does next",
        "import lume_services.flows.flow; keep = [[i] for i in range(20000)]",
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
    load_before = os.getloadavg()[0]
    walls = [[] for _ in STATEMENTS]
    cpus = [[] for _ in STATEMENTS]
    for _ in range(args.runs):
        for i, (_, _, statement) in enumerate(STATEMENTS):
            wall, cpu = run(statement)
            walls[i].append(wall)
            cpus[i].append(cpu)
    LOAD[0] = os.getloadavg()[0]
    own, errors = subprocess.run(
        [sys.executable, "-c", "import sys, lume_services.flows.flow; own = [m for m in sys.modules if "
         "m.split('.')[0] == 'lume_services']; print(len(own), sum(m.startswith('lume_services.errors') for m in own))"],
        env=env, cwd=cwd, check=True, capture_output=True, text=True).stdout.split()
    wall = [statistics.median(w) for w in walls]
    cpu = [statistics.median(c) for c in cpus]
    rows = "\n".join(
        f"| {name} | {what} | {w * 1000:.0f} ms | {w / wall[0]:.3f} | {c * 1000:.0f} ms | {c / cpu[0]:.3f} |"
        for (name, what, _), w, c in zip(STATEMENTS, wall, cpu)
    )
    ratio_wall, ratio_cpu = wall[1] / wall[0], cpu[1] / cpu[0]
    met = ratio_cpu <= GOAL and ratio_wall <= GOAL
    then_cpu = cpu[9] / cpu[8]
    parts = (
        "| part | CPU | / prefect |\n|---|---|---|\n"
        f"| Prefect's import work (`gc.disable()`) | {cpu[5] * 1000:.0f} ms | 1.000 |\n"
        f"| + pydantic and dependency-injector's import work (`gc.disable()`) | {(cpu[7] - cpu[5]) * 1000:+.0f} ms "
        f"| {(cpu[7] - cpu[5]) / cpu[5]:+.3f} |\n"
        f"| + lume-services' own modules (`gc.disable()`) | {(cpu[6] - cpu[7]) * 1000:+.0f} ms "
        f"| {(cpu[6] - cpu[7]) / cpu[5]:+.3f} |\n"
        f"| = the flow models' import work | {cpu[6] * 1000:.0f} ms | {cpu[6] / cpu[5]:.3f} |\n"
        f"| the collector, as each runs (`import prefect` pays its own; the models pause it) | "
        f"{(cpu[0] - cpu[5]) * 1000:+.0f} / {(cpu[1] - cpu[6]) * 1000:+.0f} ms | |\n"
    )
    verdict = (
        f"The goal is met as users run the import; as import work alone (both without the collector) the "
        f"models cost {cpu[6] / cpu[5]:.2f}x: the collections Prefect's import pays for itself "
        f"({(cpu[0] - cpu[5]) * 1000:.0f} ms here), which the pause saves, are about what pydantic, "
        f"dependency-injector and lume-services' own modules add ({(cpu[6] - cpu[5]) * 1000:.0f} ms). Less "
        "would take flow models without pydantic or dependency-injector (the reference API is both)."
        + (f" The margin ({GOAL - max(ratio_wall, ratio_cpu):.3f}) is smaller than the spread between runs on this "
           "shared machine (several percent; more under load): read it as at the goal, not clearly under it."
           if max(ratio_wall, ratio_cpu) > GOAL - 0.03 else "")
    ) if met else (
        "What is left above 1.05x is the import work of pydantic, dependency-injector and lume-services' own "
        "modules, and the exit collection over their objects; meeting it would take flow models without "
        "pydantic or dependency-injector (the reference API is both), or freezing the import for good "
        "(`gc.freeze()` without `unfreeze`: about 0.8x in one trial at load 7, but every object alive at the import, the "
        "program's own too, would never be collected again), which a library should not decide for the program."
    )
    md = (
        "## B11: importing the flow models vs importing Prefect\n\n"
        f"Fresh `python -c` processes, interleaved, median of {args.runs} runs each; bytecode caches "
        f"warm for every module; load average {load_before:.1f} before and {LOAD[0]:.1f} after (2 cores, "
        f"shared with other engineers' work). {machine()}.\n\n"
        "| statement | what it measures | wall | / prefect | CPU | / prefect |\n|---|---|---|---|---|---|\n"
        f"{rows}\n\n"
        f"Goal (issues 15, 18, 23): `import lume_services.flows.flow` within {GOAL}x of `import prefect`: "
        f"**{ratio_wall:.2f}x wall, {ratio_cpu:.2f}x CPU, {'met' if met else 'missed'}** "
        f"(1.06-1.07x at low load before the flow models stopped importing the services the container "
        f"provides; 1.16x before issue 23 moved the import's objects to the oldest generation; before issue 18: "
        f"1.13-1.30x); with the program's next 20,000 "
        f"allocations, {then_cpu:.2f}x CPU. Where the CPU goes, from the rows above:\n\n"
        f"{parts}\n"
        "What the flow models import beyond Prefect (yaml, ssl and asyncio come with Prefect already): "
        "pydantic (25 modules, `typing_extensions` among them; Prefect 1 imports none of it) and "
        "dependency-injector's `providers` (compiled; it imports pydantic and `configparser` itself, and tries "
        "fastapi, starlette, werkzeug and pydantic-settings for their markers), `containers` and `wiring`; "
        "the `Provide[Context.scheduling_service]` defaults are evaluated when a model's methods are defined, "
        f"so `Context`, and with it `providers`, must exist at import. Then {own} lume-services modules, {errors} "
        "of them the errors package (its face imports every family): the flow models, the mapped parameters, "
        "the run options, the composition root (44 modules before: the services the container provides, the "
        "backend interface and the run records are now imported when a service is first made, "
        "`lume_services/_provided.py`, and tests/test_flows_import.py checks they stay out). "
        "`lume_services.flows` pauses the collector while all of this (Prefect too) is imported, "
        "and before resuming it moves what the import made to the oldest generation (`gc.freeze()` then "
        "`gc.unfreeze()`): the pause alone left some 180,000 objects in the youngest generation, to be walked "
        "by the program's first young and middle collections (the last two rows). Full collections, the one "
        "at exit among them, still walk every object, and free the import's own garbage (some 80,000 objects, "
        "about 6 MB, which Prefect's import, its collector running, frees as it goes): the pause defers that "
        "work to the next full collection, it does not remove it, which is why the models' collector row is "
        "not zero. "
        f"{verdict} "
        "Figures on a shared 2-core machine move by several percent between runs.\n"
    )
    write_section("B11-import", md, write=not args.no_write)


if __name__ == "__main__":
    main()
