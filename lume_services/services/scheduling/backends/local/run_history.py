"""The local run history: every run of the local backend, in one SQLite file under ``LUME_HOME``.

The file is a store like the flow registry and the results database, made
and opened with the same kit (:mod:`lume_services.storage`): a ``0700``
folder and a ``0600`` file whatever the umask (parameters and results may be
private even with secrets masked), used only when it is ours, WAL with a busy
timeout so several processes record and read at once, set up once under a
lock other processes respect, and every fault named for what it is
(:class:`~lume_services.errors.StoreUnusableError`: a full disk, a read-only
file system; :class:`~lume_services.errors.StoredRecordDamagedError` for a
damaged row, naming the run and its flow). Each thread has its own
connection, and a forked child opens its own.

A run is written twice: when it starts (``Running``, with the host and the
process it runs in) and when it ends. A run whose process went away is found
when the history is read: a ``Running`` run of this host whose process is
gone (or is another process with the same id, after a reboot) is marked
``Crashed``. The process identity (boot id and start time, from Linux's
``/proc``) is kept here rather than taken from ``psutil``: it is stored in
every record, and a record written by an earlier version must still compare
equal while its run goes on; psutil is only installed with the ``dask``
extra, and on Linux it reads the same ``/proc`` fields.
"""

import json
import os
from contextlib import contextmanager
import socket
import sqlite3
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Union

from lume_services.errors import RunHistoryCorruptError, RunNotFoundError, StoredRecordDamagedError
from lume_services.services.scheduling.clock import SYSTEM_CLOCK, Clock
from lume_services.services.scheduling.backends.local.run_listing import (  # the file's layout and listing
    _RUN_COLUMNS,
    _SCHEMA,
    APPLICATION,
    SCHEMA_VERSION,
    listing_sql,
)
from lume_services.services.scheduling.run_records import (
    ChildRun,
    RunQuery,
    RunRecord,
    TaskRun,
    dumps,
)
from lume_services.storage import BUSY_TIMEOUT, guarded_by_storage_errors, open_sqlite, rollback

HOST = socket.gethostname()


def _boot_id() -> Optional[str]:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


_BOOT_ID = _boot_id()


def process_identity(pid: int) -> Optional[str]:
    """What tells process ``pid`` from a later one with the same id: boot id and start time (Linux).

    Returns ``None`` where it cannot be read (the process is gone, or no ``/proc``).
    """
    if _BOOT_ID is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: fields after its last ')'
    fields = stat[stat.rindex(")") + 2:].split()
    return f"{_BOOT_ID}:{fields[19]}"  # field 22, the start time in clock ticks since boot


def _is_alive(host: Optional[str], pid: Optional[int], process: Optional[str]) -> Optional[bool]:
    """Whether the process that ran a run still runs it: ``None`` when this host cannot tell."""
    if host != HOST or pid is None:
        return None
    if process is not None:
        return process_identity(pid) == process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def crashed_message(run_id: str, pid: Optional[int], host: Optional[str], resumable: bool) -> str:
    """The message of a run whose process ended before it did (killed, out of memory, a reboot)."""
    message = (f"the process that ran it (pid {pid} on {host}) ended before the run finished"
               " (it was killed, ran out of memory, or the machine restarted)")
    if resumable:
        message += (f"; the children it finished keep their results: `lume-services flow-of-flows resume {run_id}`"
                    " runs only the others")
    return message


def _ts(value: Optional[datetime]) -> Optional[float]:
    return None if value is None else value.timestamp()


def _dt(value: Optional[float]) -> Optional[datetime]:
    return None if value is None else datetime.fromtimestamp(value, timezone.utc)


#: report the history's disk and file errors as StoreUnusableError, naming the file
_storage_errors = guarded_by_storage_errors("run_history")


class RunHistory:
    """The local backend's run history: one SQLite file.

    Args:
        path: the file; its folder is created (``0700``) when missing.
        clock: the clock pruning measures ages on.
    """

    def __init__(self, path: Union[str, Path], clock: Clock = SYSTEM_CLOCK):
        self.path = Path(path).expanduser()
        self.clock = clock
        self._local = threading.local()
        self._setup_lock = threading.Lock()
        self._ready = False
        self._process = process_identity(os.getpid())
        self._pid = os.getpid()

    # --- connections ------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        if self._pid != os.getpid():  # a forked child: its own process identity
            self._pid, self._process = os.getpid(), process_identity(os.getpid())
        with self._setup_lock:
            conn = open_sqlite(self.path, "run_history", BUSY_TIMEOUT, set_up=None if self._ready else self._set_up)
            self._ready = True
        self._local.conn = conn
        self._local.pid = os.getpid()
        return conn

    def _set_up(self, conn: sqlite3.Connection) -> None:
        self._check_ours(conn)
        conn.executescript(_SCHEMA)
        conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('application', ?), ('schema_version', ?)",
            (APPLICATION, str(SCHEMA_VERSION)),
        )

    def _check_ours(self, conn: sqlite3.Connection) -> None:
        """Refuse a SQLite database of something else (a file that is not SQLite at all is a StoreUnusableError)."""
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            return  # a new file
        meta = dict(conn.execute("SELECT key, value FROM meta")) if "meta" in tables else {}
        if meta.get("application") != APPLICATION:
            raise RunHistoryCorruptError(
                self.path, f"it is a SQLite database of something else (tables {', '.join(sorted(tables))})"
            )
        version = meta.get("schema_version", "")
        if not version.isdigit() or int(version) > SCHEMA_VERSION:
            raise RunHistoryCorruptError(
                self.path,
                f"it was written by a newer lume-services (schema {version}, this one reads {SCHEMA_VERSION})",
            )

    @_storage_errors
    def _read(self, fn):
        """Run a read; SQLite's complaints about the file are named for what they are."""
        return fn(self._connect())

    # --- recording ----------------------------------------------------------------

    @_storage_errors
    def begin(self, run_id: str, flow_name: str, project_name: Optional[str], flow_id: Optional[str],
              flow_version: Optional[int], parameters: Dict[str, Any], executor: Optional[str],
              start: datetime) -> None:
        """Record that a run started in this process: ``Running``, with this host and process."""
        self._connect().execute(
            "INSERT INTO runs (run_id, flow_name, project, flow_id, flow_version, parameters, executor,"
            " start, state, host, pid, process) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'Running', ?, ?, ?)",
            (run_id, flow_name, project_name, flow_id, flow_version, dumps(parameters), executor,
             start.timestamp(), HOST, self._pid, self._process),
        )

    @_storage_errors
    def record_progress(self, run_id: str, tasks: Sequence[tuple], children: Sequence[tuple] = ()) -> None:
        """Record tasks and children of a running run as they finish: ``(position, TaskRun)`` and
        ``(position, ChildRun)`` pairs, written over by :meth:`finish` (one short transaction)."""
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                'INSERT OR REPLACE INTO tasks (run_id, position, name, slug, state, message, start, "end",'
                " result, recorded, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(run_id, i, t.name, t.slug, t.state, t.message, _ts(t.start), _ts(t.end),
                  dumps(t.result) if t.result_recorded else None, int(t.result_recorded), t.result_note)
                 for i, t in tasks],
            )
            conn.executemany(
                'INSERT OR REPLACE INTO children (run_id, position, name, state, start, "end", parents,'
                " mapped, child_run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(run_id, i, c.name, c.state, _ts(c.start), _ts(c.end), dumps(c.parents), dumps(c.mapped), c.run_id)
                 for i, c in children],
            )
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)
            raise

    @_storage_errors
    def finish(self, run_id: str, end: datetime, state: str, message: Optional[str],
               tasks: Sequence[TaskRun] = (), children: Sequence[ChildRun] = ()) -> None:
        """Record how a run ended, with its tasks and (flow of flows) its children, in one transaction."""
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                'UPDATE runs SET "end" = ?, state = ?, message = ? WHERE run_id = ?',
                (end.timestamp(), state, message, run_id),
            )
            conn.executemany(
                'INSERT OR REPLACE INTO tasks (run_id, position, name, slug, state, message, start, "end",'
                " result, recorded, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (run_id, i, t.name, t.slug, t.state, t.message, _ts(t.start), _ts(t.end),
                     dumps(t.result) if t.result_recorded else None, int(t.result_recorded), t.result_note)
                    for i, t in enumerate(tasks)
                ],
            )
            if children:
                conn.executemany(
                    'INSERT OR REPLACE INTO children (run_id, position, name, state, start, "end", parents,'
                    " mapped, child_run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (run_id, i, c.name, c.state, _ts(c.start), _ts(c.end), dumps(c.parents),
                         dumps(c.mapped), c.run_id)
                        for i, c in enumerate(children)
                    ],
                )
                conn.executemany(  # a sweep's items (ChildRun.items), by the child's position
                    "INSERT OR REPLACE INTO child_items (run_id, position, item, state, mapped, reused_from)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    [(run_id, i, n, item.state, dumps(item.mapped), item.reused_from)
                     for i, c in enumerate(children) for n, item in enumerate(c.items)],
                )
                conn.executemany(
                    "INSERT OR REPLACE INTO child_keys (run_id, name, state, flow_id, cache_key, reused_from)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    [(run_id, c.name, c.state, c.flow_id, c.cache_key, c.reused_from) for c in children],
                )
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)  # SQLite has rolled back already after a full disk
            raise

    # --- reading ------------------------------------------------------------------

    def mark_crashed(self, conn: sqlite3.Connection) -> None:
        """Mark ``Crashed`` the ``Running`` runs of this host whose process is gone.

        The message names the process; for a flow of flows (recorded with its
        declaration) it also says how to resume it: the children it finished
        were recorded as they finished, and a resume reuses them.
        """
        running = conn.execute(
            "SELECT r.run_id, r.host, r.pid, r.process, d.run_id IS NOT NULL FROM runs AS r"
            " LEFT JOIN declarations AS d ON d.run_id = r.run_id WHERE r.state = 'Running'").fetchall()
        for run_id, host, pid, process, resumable in running:
            if _is_alive(host, pid, process) is False:
                conn.execute(
                    "UPDATE runs SET state = 'Crashed', message = ? WHERE run_id = ? AND state = 'Running'",
                    (crashed_message(run_id, pid, host, bool(resumable)), run_id),
                )

    def list_runs(self, query: RunQuery) -> List[RunRecord]:
        """The runs ``query`` selects, newest first (without their tasks)."""

        def read(conn):
            self.mark_crashed(conn)
            since, until = (None if t is None else t.timestamp() for t in (query.since, query.until))
            sql, args = listing_sql(query.flow_name, query.project_name, query.state, since, until, query.limit)
            rows = conn.execute(sql, args).fetchall()
            return [_run(row, self.path) for row in rows]

        return self._read(read)

    def get_run(self, run_id: str) -> RunRecord:
        """One run with its tasks and children.

        Raises:
            RunNotFoundError: no run has this id.
        """

        def read(conn):
            self.mark_crashed(conn)
            row = conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                raise RunNotFoundError(run_id, str(self.path))
            record = _run(row, self.path)
            with _damaged_row(self.path, record.flow_name, run_id):
                self._read_tasks_and_children(conn, record)
            return record

        return self._read(read)

    def _read_tasks_and_children(self, conn: sqlite3.Connection, record: RunRecord) -> None:
        run_id = record.run_id
        record.tasks = [
            TaskRun(name, slug, state, message, _dt(start), _dt(end),
                    json.loads(result) if recorded else None, bool(recorded), note)
            for name, slug, state, message, start, end, result, recorded, note in conn.execute(
                'SELECT name, slug, state, message, start, "end", result, recorded, note FROM tasks'
                " WHERE run_id = ? ORDER BY position", (run_id,))
        ]
        at = {
            position: ChildRun(name, state, _dt(start), _dt(end), json.loads(parents), json.loads(mapped), child_run_id)
            for position, name, state, start, end, parents, mapped, child_run_id in conn.execute(
                'SELECT position, name, state, start, "end", parents, mapped, child_run_id FROM children'
                " WHERE run_id = ? ORDER BY position", (run_id,))
        }
        record.children = list(at.values())
        if record.children:
            keys = {name: rest for name, *rest in conn.execute(
                "SELECT name, flow_id, cache_key, reused_from FROM child_keys WHERE run_id = ?", (run_id,))}
            for child in record.children:
                child.flow_id, child.cache_key, child.reused_from = keys.get(child.name, (None, None, None))
            for position, state, mapped, reused_from in conn.execute(
                    "SELECT position, state, mapped, reused_from FROM child_items WHERE run_id = ?"
                    " ORDER BY position, item", (run_id,)):
                child = at[position]
                child.items.append(ChildRun(child.name, state, parents=list(child.parents), mapped=json.loads(mapped),
                                            flow_id=child.flow_id, reused_from=reused_from))

    # --- flows of flows: reuse of a child's recorded results (issue 22) ---------------

    def record_declaration(self, run_id: str, declaration: Dict[str, Any]) -> None:
        """Keep the flow-of-flows declaration a run was made from, so the run can be resumed by its id."""
        self._connect().execute(
            "INSERT OR REPLACE INTO declarations (run_id, declaration) VALUES (?, ?)", (run_id, dumps(declaration))
        )

    def declaration(self, run_id: str) -> Optional[Dict[str, Any]]:
        """The flow-of-flows declaration run ``run_id`` was made from (``None``: none was recorded)."""
        row = self._read(lambda conn: conn.execute(
            "SELECT declaration FROM declarations WHERE run_id = ?", (run_id,)).fetchone())
        return None if row is None else json.loads(row[0])

    def find_reusable(self, child: str, cache_key: str) -> Optional[str]:
        """The newest run in which ``child`` succeeded with this cache key (``None``: none).

        The run named is the one whose recorded results the child can reuse:
        a child that reused them itself is in that run's history as well.
        """
        row = self._read(lambda conn: conn.execute(
            "SELECT k.run_id FROM child_keys AS k JOIN runs AS r ON r.run_id = k.run_id"
            " WHERE k.cache_key = ? AND k.name = ? AND k.state IN ('Success', 'Cached')"
            " ORDER BY r.start DESC LIMIT 1", (cache_key, child)).fetchone())
        return None if row is None else row[0]

    def find_results(self, needle: str, limit: int = 20) -> List[tuple]:
        """``(run_id, task name)`` of recorded task results whose JSON holds ``needle``, newest run first.

        Used to find where a stored result (its unique hash) or a file (its
        path) came from: the packaged ``SaveDBResult`` and ``SaveFile`` tasks
        return references that hold them, and the history keeps every result.
        """
        pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return self._read(lambda conn: [tuple(row) for row in conn.execute(
            "SELECT t.run_id, t.name FROM tasks AS t JOIN runs AS r ON r.run_id = t.run_id"
            " WHERE t.recorded = 1 AND t.result LIKE ? ESCAPE '\\' ORDER BY r.start DESC, t.position LIMIT ?",
            (pattern, limit))])

    def child_durations(self, flow_name: str) -> Dict[str, float]:
        """Each child's duration in the newest run of flow of flows ``flow_name`` where it ran and succeeded."""

        def read(conn):
            rows = conn.execute(
                'SELECT c.name, c."end" - c.start FROM children AS c JOIN runs AS r ON r.run_id = c.run_id'
                " LEFT JOIN child_keys AS k ON k.run_id = c.run_id AND k.name = c.name"
                " WHERE r.flow_name = ? AND c.state = 'Success' AND k.reused_from IS NULL"
                ' AND c.start IS NOT NULL AND c."end" IS NOT NULL ORDER BY r.start ASC', (flow_name,))
            return {name: took for name, took in rows}  # the newest wins

        return self._read(read)

    def prune(self, older_than: timedelta) -> int:
        """Forget the runs that started more than ``older_than`` ago and are not running.

        Returns:
            How many runs were forgotten.
        """
        cutoff = self.clock.time() - older_than.total_seconds()

        def delete(conn):
            self.mark_crashed(conn)
            old = "SELECT run_id FROM runs WHERE start < ? AND state != 'Running'"
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(f"DELETE FROM tasks WHERE run_id IN ({old})", (cutoff,))
                conn.execute(f"DELETE FROM children WHERE run_id IN ({old})", (cutoff,))
                conn.execute(f"DELETE FROM child_items WHERE run_id IN ({old})", (cutoff,))
                count = conn.execute("DELETE FROM runs WHERE start < ? AND state != 'Running'", (cutoff,)).rowcount
                conn.execute("COMMIT")
            except BaseException:
                rollback(conn)
                raise
            return count

        return self._read(delete)

    @_storage_errors
    def insert_many(self, records: Iterable[RunRecord]) -> None:
        """Write finished runs as they are, in one transaction (imports, benchmarks)."""
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for r in records:
                conn.execute(
                    f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (r.run_id, r.flow_name, r.project_name, r.flow_id, r.flow_version, dumps(r.parameters),
                     r.executor, _ts(r.start), _ts(r.end), r.state, r.message, r.host, r.pid),
                )
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)  # SQLite has rolled back already after a full disk
            raise


def _run(row, path: Path) -> RunRecord:
    run_id, flow_name, project, flow_id, version, parameters, executor, start, end, state, message, host, pid = row
    with _damaged_row(path, flow_name, run_id):
        return RunRecord(
            run_id=run_id, flow_name=flow_name, state=state, project_name=project, flow_id=flow_id,
            flow_version=version, parameters=json.loads(parameters), executor=executor, start=_dt(start),
            end=_dt(end), message=message, host=host, pid=pid,
        )


@contextmanager
def _damaged_row(path: Path, flow_name: Optional[str], run_id: Optional[str]):
    """A row whose stored values cannot be decoded: a StoredRecordDamagedError naming the run and its flow."""
    try:
        yield
    except (ValueError, TypeError, OverflowError) as exc:
        raise StoredRecordDamagedError(
            store="run_history", path=path, flow_name=flow_name, error=f"{type(exc).__name__}: {exc}", run_id=run_id
        ) from exc
