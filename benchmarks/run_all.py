"""Run every benchmark that runs on one machine without Docker, and refresh docs/benchmarks.md.

Each script runs in its own process (so none pays for what another imported or
left behind) and writes its own section of ``docs/benchmarks.md``:

- B1 ``bench_flow_overhead.py``: ``Flow.run_and_return`` vs ``prefect_flow.run()``;
- B2, B3 ``bench_flow_of_flows.py``: a 3-flow chain vs the same tasks in one Prefect
  flow; flows of flows end to end at 10 to 1000 children;
- B4 ``results_db_inserts.py``, B8 ``results_db.py``: the results database (B8: inserts,
  ``insert_many`` vs ``executemany`` with the same schema, a batch's per-row cost at
  10k/100k/1M rows, queries);
- B9 ``bench_registration.py``: registering, vs Prefect's Local storage; listing the
  registry at 50 to 50,000 flows;
- B12 ``bench_run_history.py``: run-history recording cost and queries;
- B13 ``bench_engine.py``: a task inside a lume-services run vs a plain Prefect run;
- B10 ``bench_executors.py``: 8 sleeping tasks under each executor;
- B11 ``bench_import.py``: importing the flow models vs importing Prefect;
  ``bench_cli_startup.py``: the read-only commands over 10,000 recorded runs.
- B14 ``bench_fof_reuse.py``: a cached re-run, a resume and a sweep of flows of flows.

B5 (``server_flow_of_flows.py``) and B7 (``docker_images.py``) need the server
double or a Docker engine and are run on their own. About 6-8 minutes on a
2-core machine.

B15 (``peers.py``: the same chain in plain Prefect 1, Prefect 3, Kedro and
Hamilton) is not in the list either: it installs those packages into their own
virtualenvs outside the repository (``~/.cache/lume-services-peers``; its
docstring has the commands) and runs for the better part of an hour. Run it on
its own: ``python benchmarks/peers.py``.

    python benchmarks/run_all.py [--only B3 B9] [--no-write]
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = [
    ("B1", "bench_flow_overhead.py"),
    ("B2", "bench_flow_of_flows.py"),  # and B3
    ("B4", "results_db_inserts.py"),
    ("B8", "results_db.py"),
    ("B9", "bench_registration.py"),
    ("B10", "bench_executors.py"),
    ("B11", "bench_import.py"),
    ("B11", "bench_cli_startup.py"),
    ("B12", "bench_run_history.py"),
    ("B13", "bench_engine.py"),
    ("B14", "bench_fof_reuse.py"),
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", help="keys to run (B3 runs with B2)")
    parser.add_argument("--no-write", action="store_true", help="print the figures, leave docs/benchmarks.md as it is")
    args = parser.parse_args(argv)
    wanted = {"B2" if k == "B3" else k for k in args.only} if args.only else None
    env = {**os.environ, "PREFECT__LOGGING__LEVEL": os.environ.get("PREFECT__LOGGING__LEVEL", "WARNING")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE.parent), env.get("PYTHONPATH")) if p)
    took = []
    start = time.perf_counter()
    for key, script in SCRIPTS:
        if wanted is not None and key not in wanted:
            continue
        command = [sys.executable, str(HERE / script)]
        if args.no_write:
            command.append("--no-write")
        print(f"== {key}: {script}", flush=True)
        t = time.perf_counter()
        # each script prints its figures (the section it writes, or would write)
        subprocess.run(command, env=env, check=True)
        took.append((key, script, time.perf_counter() - t))
    for key, script, seconds in took:
        print(f"{key:4} {script:26} {seconds:6.0f} s")
    print(f"all  {'':26} {time.perf_counter() - start:6.0f} s")


if __name__ == "__main__":
    main()
