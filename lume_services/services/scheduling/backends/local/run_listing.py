"""How the local run history file is laid out and listed: its schema, and the light read ``runs list`` starts with.

:class:`~lume_services.services.scheduling.backends.local.run_history.RunHistory`
makes, writes and reads the file; its schema and the listing query live here so
that the console script's light path (:mod:`lume_services.cli.console`) can
answer ``lume-services runs list`` with the same query and the same documents
without importing the run records, the backend, pydantic or Prefect.

:func:`light_listing` reads only a file that :class:`RunHistory` would read
without changing anything: one that exists, passes the store kit's trust check
(:func:`lume_services.storage.check_trusted`), is already in WAL mode, carries
this application's name and a schema version this one reads, has every table
and index of :data:`_SCHEMA`, and holds no ``Running`` run (the full path checks
those for a crashed process and marks them). Anything else, and any row that
does not decode, it declines (``None``): the caller then takes the full path,
which sets the file up, marks crashed runs, or raises the error that names the
fault.
"""

import json
import re
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

__all__ = ["APPLICATION", "SCHEMA_VERSION", "light_listing", "listing_sql"]

#: the application this file belongs to, in its ``meta`` table
APPLICATION = "lume-services run history"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    flow_name TEXT NOT NULL,
    project TEXT,
    flow_id TEXT,
    flow_version INTEGER,
    parameters TEXT NOT NULL,
    executor TEXT,
    start REAL NOT NULL,
    "end" REAL,
    state TEXT NOT NULL,
    message TEXT,
    host TEXT,
    pid INTEGER,
    process TEXT);
CREATE INDEX IF NOT EXISTS runs_by_start ON runs (start);
CREATE INDEX IF NOT EXISTS runs_by_flow ON runs (flow_name, start);
CREATE INDEX IF NOT EXISTS runs_by_project ON runs (project, start);
CREATE INDEX IF NOT EXISTS runs_by_state ON runs (state, start);
CREATE TABLE IF NOT EXISTS tasks (
    run_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    slug TEXT NOT NULL,
    state TEXT NOT NULL,
    message TEXT,
    start REAL,
    "end" REAL,
    result TEXT,
    recorded INTEGER NOT NULL,
    note TEXT,
    PRIMARY KEY (run_id, position)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS children (
    run_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    start REAL,
    "end" REAL,
    parents TEXT NOT NULL,
    mapped TEXT NOT NULL,
    child_run_id TEXT,
    PRIMARY KEY (run_id, position)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS child_items (
    run_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    item INTEGER NOT NULL,
    state TEXT NOT NULL,
    mapped TEXT NOT NULL,
    reused_from TEXT,
    PRIMARY KEY (run_id, position, item)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS child_keys (
    run_id TEXT NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    flow_id TEXT,
    cache_key TEXT,
    reused_from TEXT,
    PRIMARY KEY (run_id, name)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS child_keys_by_key ON child_keys (cache_key);
CREATE TABLE IF NOT EXISTS declarations (run_id TEXT PRIMARY KEY, declaration TEXT NOT NULL);
"""

_RUN_COLUMNS = 'run_id, flow_name, project, flow_id, flow_version, parameters, executor, start, "end", state, message, host, pid'

#: the tables and indexes :data:`_SCHEMA` makes
_SCHEMA_NAMES = frozenset(re.findall(r"CREATE (?:TABLE|INDEX) IF NOT EXISTS (\w+)", _SCHEMA))


def listing_sql(
    flow_name: Optional[str],
    project_name: Optional[str],
    state: Optional[str],
    since: Optional[float],
    until: Optional[float],
    limit: int,
) -> Tuple[str, tuple]:
    """The query of a listing, newest first: the SQL and its arguments (times as POSIX timestamps)."""
    where: List[str] = []
    args: List[Any] = []
    for column, value in (("flow_name", flow_name), ("project", project_name), ("state", state)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    if since is not None:
        where.append("start >= ?")
        args.append(since)
    if until is not None:
        where.append("start < ?")
        args.append(until)
    sql = f"SELECT {_RUN_COLUMNS} FROM runs"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql + " ORDER BY start DESC LIMIT ?", (*args, limit)


def _iso(value: Optional[float]) -> Optional[str]:
    return None if value is None else datetime.fromtimestamp(value, timezone.utc).isoformat()


def _document(row: tuple) -> Dict[str, Any]:
    """A listed run as ``RunRecord.to_dict()`` gives it (no tasks, no children)."""
    run_id, flow_name, project, flow_id, version, parameters, executor, start, end, state, message, host, pid = row
    start_at = None if start is None else datetime.fromtimestamp(start, timezone.utc)
    end_at = None if end is None else datetime.fromtimestamp(end, timezone.utc)
    return {
        "run_id": run_id, "flow_name": flow_name, "project_name": project, "flow_id": flow_id,
        "flow_version": version, "parameters": json.loads(parameters), "executor": executor,
        "start": _iso(start), "end": _iso(end),
        "duration": None if start_at is None or end_at is None else (end_at - start_at).total_seconds(),
        "state": state, "message": message, "host": host, "pid": pid, "tasks": [], "children": [],
    }


def light_listing(
    path: Path,
    flow_name: Optional[str] = None,
    project_name: Optional[str] = None,
    state: Optional[str] = None,
    since: Optional[datetime] = None,
    limit: int = 20,
    timeout: float = 60.0,
) -> Optional[List[Dict[str, Any]]]:
    """The runs a listing selects as documents, or ``None`` when only the full path may answer.

    Args:
        path: the run history file (already expanded).
        flow_name, project_name, state, since, limit: the filter, checked as
            :func:`~lume_services.services.scheduling.run_records.run_query` checks it.
        timeout: seconds to wait for a writer's lock.
    """
    from lume_services.storage import check_trusted

    try:
        if not path.is_file():
            return None  # the full path makes it
        check_trusted(path, "run_history")
        conn = sqlite3.connect(str(path), timeout=timeout, isolation_level=None)
    except Exception:  # the full path names the fault
        return None
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            return None
        names = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
        if not _SCHEMA_NAMES <= names:
            return None
        meta = dict(conn.execute("SELECT key, value FROM meta"))
        version = meta.get("schema_version", "")
        if meta.get("application") != APPLICATION or not version.isdigit() or int(version) > SCHEMA_VERSION:
            return None
        if conn.execute("SELECT 1 FROM runs WHERE state = 'Running' LIMIT 1").fetchone() is not None:
            return None  # the full path looks for crashed processes
        sql, args = listing_sql(flow_name, project_name, state, None if since is None else since.timestamp(),
                                None, limit)
        return [_document(row) for row in conn.execute(sql, args).fetchall()]
    except Exception:  # a damaged file or row: the full path names it
        return None
    finally:
        conn.close()
