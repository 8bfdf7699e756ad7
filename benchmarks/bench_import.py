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
what a user pays; the third row from the bottom does the same for Prefect alone).

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
    LOAD[0] = os.getloadavg()[0]
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
        f"(before issue 18: 1.13-1.30x). What changed: importing the flow models no longer makes and "
        "wires the container (the composition root wired every model module, and so imported them all, "
        "when it was imported; now each module is wired by the first call that needs it), imports no "
        "settings model, no other model module and no backend, and `lume_services.flows` pauses the "
        "garbage collector while it imports them: an import makes objects that live as long as the "
        "process, and every full collection it triggers walks Prefect's again to free nothing. What is "
        "left is what the models are made of: pydantic, and dependency-injector (the "
        "`Provide[Context...]` markers in the signatures need it), add "
        f"{(cpu[4] - cpu[0]) * 1000:.0f} ms of CPU to Prefect together ({cpu[4] / cpu[0]:.2f}x, the "
        f"collector running). The flow models, which import both and lume-services' own modules, cost "
        f"{'less than' if cpu[1] < cpu[4] else 'as much as'} that ({ratio_cpu:.2f}x): the pause pays for "
        "lume-services' own modules and part of the rest. With the collector off for the whole process (the last two rows) the flow models "
        f"cost {cpu[6] / cpu[5]:.2f}x Prefect, which is the import work itself. Meeting 1.05x in CPU "
        "would take flow models that import neither pydantic nor dependency-injector. Figures on a "
        f"shared 2-core machine (load average {LOAD[0]:.1f} when measuring) move by several percent "
        "between runs.\n"
    )
    write_section("B11-import", md, write=not args.no_write)


if __name__ == "__main__":
    main()
