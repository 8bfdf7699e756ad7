"""Any number of processes may start on a brand-new LUME_HOME at once: set-up of every store is serialised."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TESTS = Path(__file__).parent.parent
ROOT = TESTS.parent

# Each trial: four forked processes wait at a barrier, then each registers a flow
# and inserts a result in a home nobody has opened yet.
SCRIPT = """
import multiprocessing as mp, sys, traceback
import flows_for_tests as ft
from lume_services.services.scheduling.backends import LocalBackend
from lume_services.services.results.sqlite import SQLiteResultsDB

def first_use(home, barrier, failures):
    barrier.wait()
    try:
        LocalBackend(home=home).register_flow(ft.doubler, "p")
        SQLiteResultsDB(home + "/results.sqlite").insert_one("p", {"x": 1})
    except BaseException:
        failures.put(traceback.format_exc(limit=1))

if __name__ == "__main__":
    ctx = mp.get_context("fork")
    base, trials, width = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    failures = ctx.Queue()
    for trial in range(trials):
        barrier = ctx.Barrier(width)
        procs = [ctx.Process(target=first_use, args=(f"{base}/home-{trial}", barrier, failures)) for _ in range(width)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
    failed = 0
    while not failures.empty():
        failed += 1
        print(failures.get())
    print(f"failed={failed}")
"""


@pytest.mark.slow
def test_processes_starting_on_a_new_home_at_once_all_succeed(tmp_path):
    script = tmp_path / "first_use.py"
    script.write_text(textwrap.dedent(SCRIPT))
    env = {**os.environ, "PYTHONPATH": f"{TESTS}{os.pathsep}{ROOT}"}
    out = subprocess.run(
        [sys.executable, str(script), str(tmp_path), "60", "4"], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("failed=0"), out.stdout[-2000:]



@pytest.mark.parametrize("store", ["registry", "results_db"])
def test_setting_up_a_new_store_waits_for_the_set_up_lock(tmp_path, store):
    # the mechanism behind the test above, without its chance: while one process sets a
    # store up (switching it to WAL, creating tables), another one waits for it
    import sqlite3
    import threading

    from lume_services.services.results.sqlite import SQLiteResultsDB
    from lume_services.services.scheduling.backends.local.registry import LocalFlowRegistry
    from lume_services.storage import setup_lock

    path = tmp_path / f"{store}.sqlite"
    use = (lambda: LocalFlowRegistry(path).create_project("p")) if store == "registry" else (
        lambda: SQLiteResultsDB(path).insert_one("p", {"x": 1}))
    done = threading.Event()
    with setup_lock(path):
        worker = threading.Thread(target=lambda: (use(), done.set()))
        worker.start()
        assert not done.wait(0.3)  # it waits for the lock
    worker.join(30)
    assert done.is_set()
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
