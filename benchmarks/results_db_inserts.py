"""B4: inserts per second into the embedded results database from 4 processes at once.

Four processes insert 500 results each into one SQLite file, started together
at a barrier; the rate is 2000 over the time from the first start to the last
finish. Three ways are compared in the same run:

- ``Result.insert``: the full lume-services path (model, hash, JSON, database);
- ``SQLiteResultsDB.insert_one``: the database alone, with ready documents;
- plain ``sqlite3``: an INSERT and COMMIT per row into a bare table, same pragmas.

Run: ``python benchmarks/results_db_inserts.py`` (writes its section of docs/benchmarks.md).
"""

import json
import multiprocessing
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine, write_section  # noqa: E402

PROCESSES = 4
PER_PROCESS = 500
REPEATS = 3
TARGET = 2000


def _documents(worker):
    from lume_services.results import Result

    return [
        Result(project_name="bench", inputs={"worker": worker, "i": i}, outputs={"y": i * i})
        for i in range(PER_PROCESS)
    ]


def worker_result_insert(path, worker, barrier, times):
    from lume_services.services.results import ResultsDBService
    from lume_services.services.results.sqlite import SQLiteResultsDB

    service = ResultsDBService(SQLiteResultsDB(path))
    service.count("bench")  # open the connection before timing
    from lume_services.results import Result

    barrier.wait()
    start = time.monotonic()
    for i in range(PER_PROCESS):
        Result(
            project_name="bench", inputs={"worker": worker, "i": i}, outputs={"y": i * i}
        ).insert(results_db_service=service)
    times.put((start, time.monotonic()))


def worker_db_insert(path, worker, barrier, times):
    from lume_services.services.results.sqlite import SQLiteResultsDB

    db = SQLiteResultsDB(path)
    db.count("bench")
    documents = [r.document() for r in _documents(worker)]
    barrier.wait()
    start = time.monotonic()
    for document in documents:
        db.insert_one("bench", document)
    times.put((start, time.monotonic()))


def worker_plain_sqlite(path, worker, barrier, times):
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA synchronous = NORMAL")
    documents = [json.dumps(r.document()) for r in _documents(worker)]
    barrier.wait()
    start = time.monotonic()
    for document in documents:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO plain (document) VALUES (?)", (document,))
        conn.execute("COMMIT")
    times.put((start, time.monotonic()))


def run(worker, setup) -> float:
    """Run one round; return inserts per second."""
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "results.sqlite")
        setup(path)
        barrier = ctx.Barrier(PROCESSES)
        times = ctx.Queue()
        procs = [
            ctx.Process(target=worker, args=(path, w, barrier, times)) for w in range(PROCESSES)
        ]
        for p in procs:
            p.start()
        spans = [times.get(timeout=300) for _ in procs]
        for p in procs:
            p.join()
            assert p.exitcode == 0, f"{worker.__name__} failed"
        count = count_rows(path)
        assert count == PROCESSES * PER_PROCESS, f"{worker.__name__}: {count} rows"
    elapsed = max(end for _, end in spans) - min(start for start, _ in spans)
    return PROCESSES * PER_PROCESS / elapsed


def count_rows(path) -> int:
    conn = sqlite3.connect(path)
    table = "plain" if conn.execute(
        "SELECT 1 FROM sqlite_master WHERE name = 'plain'"
    ).fetchone() else "documents"
    (n,) = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
    conn.close()
    return n


def setup_lume(path):
    from lume_services.services.results.sqlite import SQLiteResultsDB

    db = SQLiteResultsDB(path)
    db.count("bench")  # creates the file, WAL mode and the schema
    db.close()


def setup_plain(path):
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE plain (id INTEGER PRIMARY KEY, document TEXT NOT NULL)")
    conn.commit()
    conn.close()


def main():
    cases = [
        ("`Result.insert` (full path)", worker_result_insert, setup_lume),
        ("`SQLiteResultsDB.insert_one`", worker_db_insert, setup_lume),
        ("plain `sqlite3` INSERT + COMMIT", worker_plain_sqlite, setup_plain),
    ]
    rates = {name: [] for name, _, _ in cases}
    for _ in range(REPEATS):  # interleaved, so drift affects all alike
        for name, worker, setup in cases:
            rates[name].append(run(worker, setup))
    medians = {name: statistics.median(r) for name, r in rates.items()}
    full = medians[cases[0][0]]
    lines = [
        "## B4: results database inserts from 4 processes",
        "",
        f"{PROCESSES} processes x {PER_PROCESS} inserts into one embedded SQLite file "
        f"(WAL, busy timeout, one transaction per insert), median of {REPEATS} rounds. "
        f"Target: >= {TARGET} inserts/s for `Result.insert`. Every round checks that "
        f"exactly {PROCESSES * PER_PROCESS} rows were stored.",
        "",
        "| path | inserts/s |",
        "|---|---|",
    ]
    lines += [f"| {name} | {rate:,.0f} |" for name, rate in medians.items()]
    lines += [
        "",
        f"`Result.insert`: **{full:,.0f} inserts/s** "
        f"({'meets' if full >= TARGET else 'misses'} the target). {machine()}.",
    ]
    markdown = "\n".join(lines)
    print(markdown)
    write_section("B4-results-inserts", markdown, write="--no-write" not in sys.argv[1:])


if __name__ == "__main__":
    main()
