"""The local flow registry: registered flows on disk, in one SQLite file under ``LUME_HOME``.

Two tables:

- ``flows``: one row per registered version, holding what loading needs: the
  pickled flow (2-3 KB and more) and its metadata (parameters, tasks, the
  Python that pickled it). Loading reads the one row it loads, by flow id.
- ``flow_listing``: the latest version of each flow as plain columns
  (project, name, version, flow id, fingerprint, image, labels, registered
  at), a few hundred bytes a row, keyed by (project, name). Listing, the
  latest version of a flow and the names of a project are read from it
  alone: they cost the same per flow however large the pickles are, and never
  unpickle or even read one. A trigger on ``flows`` fills it in the
  registering transaction, whichever lume-services version registers; a
  registry written before it existed has it filled when first opened
  (``PRAGMA user_version`` 1).
"""

import functools
import gc
import json
import os
import platform
import pickle
import sqlite3
import struct
import sys
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from lume_services.errors import (
    FlowNotFoundError,
    FlowNotSerializableError,
    FlowRegisteredWithOtherPythonError,
    StoredRecordDamagedError,
)
from lume_services.services.scheduling.task_order import tasks_in_slug_order
from lume_services.services.scheduling.fingerprint import flow_fingerprint
from lume_services.services.scheduling.flow_pickle import dumps as pickle_flow
from lume_services.storage import BUSY_TIMEOUT, check_trusted, guarded_by_storage_errors, open_sqlite, rollback
from lume_services.services.scheduling.task_order import validate_flow

_ID_NAMESPACE = uuid.UUID("6f1d3f0e-52c4-4a8e-9a1e-2d6c3b7f1a55")


#: report the registry's disk and file errors as StoreUnusableError, naming the file
_storage_errors = guarded_by_storage_errors("registry")


class LocalFlowRegistry:
    """Registered flows on disk: one SQLite file under the lume-services home.

    SQLite gives what a registry needs across processes: each registration is
    one transaction (an interrupted one leaves the previous state intact), and
    WAL mode with a busy timeout lets several processes register and load at once.

    Registered flows are code: loading one unpickles it (cloudpickle), which runs
    what the file holds. The registry is used only when it and its folder belong
    to this user (or root) and no other user may write to them; it is created
    0600 in a 0700 folder (see :mod:`lume_services.storage`).

    Args:
        path: the registry file; its directory is created when missing.
    """

    def __init__(self, path: Union[str, Path]):
        self.path = Path(path).expanduser()
        self._local = threading.local()
        self._flows: Dict[str, Any] = {}  # flow id -> unpickled flow (rows never change)
        self._described: Dict[str, dict] = {}  # flow id -> project and version
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid != os.getpid():
            conn = None  # a forked child must not share its parent's connection
        if conn is None:
            conn = open_sqlite(self.path, "registry", BUSY_TIMEOUT, set_up=_create_tables)
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    @_storage_errors
    def create_project(self, project_name: str) -> None:
        """Create a project; an existing one is left as it is."""
        self._connect().execute(
            "INSERT OR IGNORE INTO projects (name, created) VALUES (?, ?)",
            (project_name, _now()),
        )

    @_storage_errors
    def register(self, flow, project_name: str, image: Optional[str], labels: List[str]) -> str:
        """Register ``flow`` and return its flow id.

        An unchanged flow (same structure, task code, parameters, image and
        labels) keeps its id and nothing is written; a changed one becomes the
        next version.
        """
        import cloudpickle

        validate_flow(flow)  # as Flow.serialize() did when the fingerprint used it
        fingerprint = flow_fingerprint(flow, image, labels)
        conn = self._connect()
        latest = self._latest(conn, flow.name, project_name)
        if latest is not None and latest["fingerprint"] == fingerprint:
            return latest["flow_id"]
        try:
            # cloudpickle, keeping the real file of code pickled by value (tracebacks name it)
            blob = pickle_flow(flow)  # before the write lock: it can be slow
        except Exception as exc:  # cloudpickle raises whatever the unpicklable object raises
            raise FlowNotSerializableError(flow.name, exc) from exc
        conn.execute("BEGIN IMMEDIATE")
        try:
            latest = self._latest(conn, flow.name, project_name)
            if latest is not None and latest["fingerprint"] == fingerprint:
                conn.execute("ROLLBACK")
                return latest["flow_id"]
            version = 1 if latest is None else latest["version"] + 1
            flow_id = str(uuid.uuid5(_ID_NAMESPACE, f"{project_name}/{flow.name}/{version}/{fingerprint}"))
            metadata = {
                "flow_id": flow_id,
                "name": flow.name,
                "project_name": project_name,
                "version": version,
                "labels": list(labels),
                "image": image,
                "parameters": [
                    {"name": p.name, "default": p.default, "required": p.required}
                    for p in sorted(flow.parameters(), key=lambda p: p.name)
                ],
                "tasks": [
                    {"name": t.name, "slug": flow.slugs[t]}
                    for t in tasks_in_slug_order(flow)
                ],
                # what loading needs: the same Python (a pickle holds code objects) and the
                # folders the flow's own modules are imported from
                "python": platform.python_version(),
                "cloudpickle": cloudpickle.__version__,
                "module_roots": module_roots(flow),
            }
            conn.execute(
                "INSERT OR IGNORE INTO projects (name, created) VALUES (?, ?)",
                (project_name, _now()),
            )
            conn.execute(
                "INSERT INTO flows (flow_id, project, name, version, fingerprint, metadata, flow, created)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    flow_id,
                    project_name,
                    flow.name,
                    version,
                    fingerprint,
                    json.dumps(metadata, default=repr),
                    blob,
                    _now(),
                ),
            )
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)  # SQLite has rolled back already after a full disk
            raise
        return flow_id

    def _latest(self, conn, flow_name: str, project_name: str) -> Optional[dict]:
        row = conn.execute(
            "SELECT flow_id, version, fingerprint FROM flow_listing WHERE project = ? AND name = ?"
            " ORDER BY version DESC LIMIT 1",
            (project_name, flow_name),
        ).fetchone()
        if row is None:
            return None
        return {"flow_id": row[0], "version": row[1], "fingerprint": row[2]}

    @_storage_errors
    def list_flows(self, project_name: Optional[str] = None) -> List[dict]:
        """Return the latest version of every flow (of one project, if given), sorted by project and name.

        Each flow is ``{"flow_id", "name", "project_name", "version",
        "fingerprint", "image", "labels", "registered"}`` (``registered``: when
        that version was registered, ISO 8601 UTC), read from the listing
        table's plain columns: no pickle and no metadata is read or decoded,
        so listing costs the same per flow however large the flows are, and a
        row whose pickle or metadata is damaged still lists. :meth:`metadata`
        gives a flow's parameters and tasks.
        """
        # the table holds the latest versions only, in (project, name) order
        query = (
            "SELECT flow_id, name, project, version, fingerprint, image, labels, registered"
            " FROM flow_listing{} ORDER BY project, name"
        )
        if project_name is None:
            rows = self._connect().execute(query.format(""))
        else:
            rows = self._connect().execute(query.format(" WHERE project = ?"), (project_name,))
        # Two new containers a flow (its dict, its labels) and no cycles: with the
        # collector on, building 50,000 of them starts full collections that walk
        # the whole heap (Prefect's included), which made listing grow faster than
        # the registry. Reference counting frees all of it.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return [
                {
                    "flow_id": flow_id, "name": name, "project_name": project, "version": version,
                    "fingerprint": fingerprint, "image": image,
                    "labels": [] if labels is None or labels == "[]" else _labels(labels),
                    "registered": registered,
                }
                for flow_id, name, project, version, fingerprint, image, labels, registered in rows
            ]
        finally:
            if collecting:
                gc.enable()

    @_storage_errors
    def flow_names(self, project_name: str) -> List[str]:
        """Return the names of the flows registered in a project."""
        rows = self._connect().execute(
            "SELECT DISTINCT name FROM flow_listing WHERE project = ? ORDER BY name", (project_name,)
        )
        return [r[0] for r in rows]

    @_storage_errors
    def metadata(self, flow_name: str, project_name: str) -> dict:
        """Return the metadata of the latest version of a flow: its parameters, tasks, labels, image, ...

        Raises:
            FlowNotFoundError: no flow of that name is registered in the project.
            StoredRecordDamagedError: the stored metadata does not decode.
        """
        conn = self._connect()
        latest = self._latest(conn, flow_name, project_name)
        if latest is None:
            raise FlowNotFoundError(flow_name, project_name, self.flow_names(project_name))
        (text,) = conn.execute("SELECT metadata FROM flows WHERE flow_id = ?", (latest["flow_id"],)).fetchone()
        return self._metadata(text, flow_name, project_name, latest["version"])

    def _metadata(self, text: str, flow_name: str, project_name: str, version: int) -> dict:
        """A row's metadata; a row that does not decode is a StoredRecordDamagedError naming the flow."""
        try:
            return json.loads(text)
        except (ValueError, TypeError) as exc:
            raise StoredRecordDamagedError(
                store="registry", path=self.path, flow_name=flow_name, error=f"{type(exc).__name__}: {exc}",
                project_name=project_name, version=version,
            ) from exc

    def describe(self, flow_id: str) -> Optional[dict]:
        """``{"project_name", "version"}`` of the registered flow ``flow_id``, or ``None``."""
        found = self._described.get(flow_id)
        if found is None:
            row = self._connect().execute(
                "SELECT project, version FROM flows WHERE flow_id = ?", (flow_id,)
            ).fetchone()
            if row is None:
                return None
            found = {"project_name": row[0], "version": row[1]}
            self._described[flow_id] = found  # rows never change
        return found

    @_storage_errors
    def load(self, flow_name: str, project_name: str) -> dict:
        """Return ``{"flow_id", "flow", "version"}`` for the latest version of a flow.

        Raises:
            FlowNotFoundError: no flow of that name is registered in the project.
            UntrustedStoreError: the registry file or its folder belongs to another
                user or others may write to it (unpickling would run their code).
        """
        import cloudpickle

        conn = self._connect()
        latest = self._latest(conn, flow_name, project_name)
        if latest is None:
            raise FlowNotFoundError(flow_name, project_name, self.flow_names(project_name))
        flow_id = latest["flow_id"]
        flow = self._flows.get(flow_id)
        if flow is None:
            blob, text = conn.execute("SELECT flow, metadata FROM flows WHERE flow_id = ?", (flow_id,)).fetchone()
            check_trusted(self.path, "registry")  # unpickling runs what the file holds
            recorded = self._metadata(text, flow_name, project_name, latest["version"])
            _check_python(recorded, flow_name, project_name, latest["version"])
            _add_module_roots(recorded.get("module_roots") or [])
            try:
                flow = cloudpickle.loads(blob)
            except (pickle.UnpicklingError, EOFError, ValueError, IndexError, struct.error) as exc:
                raise StoredRecordDamagedError(
                    store="registry", path=self.path, flow_name=flow_name, error=f"{type(exc).__name__}: {exc}",
                    project_name=project_name, version=latest["version"],
                ) from exc
            with self._lock:
                self._flows[flow_id] = flow
        # each caller gets its own flow object: adding a task to one must not change the others
        return {"flow_id": flow_id, "flow": flow.copy(), "version": latest["version"]}


def _check_python(recorded: dict, flow_name: str, project_name: str, version: int) -> None:
    """Refuse a flow pickled by another Python minor version, before unpickling can crash."""
    registered = recorded.get("python")  # flows registered before it was recorded: not known
    if registered and registered.split(".")[:2] != platform.python_version().split(".")[:2]:
        raise FlowRegisteredWithOtherPythonError(
            flow_name, project_name, version, registered, platform.python_version(), recorded.get("cloudpickle")
        )


def module_roots(flow) -> List[str]:
    """The folders the flow's own task modules are imported from (not installed packages).

    A task function of ``pkg.mod`` (``/work/pkg/mod.py``) is pickled by reference to
    ``pkg.mod``, so loading the flow imports ``pkg.mod``: from ``/work``, which may be
    on ``sys.path`` only while the registering command ran (``-m pkg.mod`` from its folder).
    """
    roots: List[str] = []
    for task in flow.tasks:
        code = getattr(task, "run", None)
        for owner in (getattr(code, "__module__", None), type(task).__module__):
            module = sys.modules.get(owner or "")
            file = getattr(module, "__file__", None)
            if not owner or owner == "__main__" or not file:
                continue
            root = _module_root(owner, file)
            if root is not None and root not in roots:
                roots.append(root)
    return roots


@functools.lru_cache(maxsize=1024)
def _module_root(owner: str, file: str) -> Optional[str]:
    """The folder module ``owner`` (from ``file``) is imported from; ``None`` for an installed one.

    Kept per module (a registration asks for each of its tasks' modules, and resolving a
    path's links costs a system call per folder of it).
    """
    path = Path(os.path.realpath(file))
    installed = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    if any(str(path).startswith(prefix + os.sep) for prefix in installed) or "site-packages" in path.parts:
        return None
    depth = owner.count(".") + (1 if path.stem == "__init__" else 0)
    root = path.parent
    for _ in range(depth):
        root = root.parent
    return str(root)


def _add_module_roots(roots: List[str]) -> None:
    """Put recorded module roots at the end of ``sys.path`` (never ahead of what is there)."""
    for root in roots:
        if os.path.isdir(root) and root not in sys.path:
            sys.path.append(root)


#: ``PRAGMA user_version`` of the current layout. 1: ``flow_listing`` holds the latest versions.
_LAYOUT_VERSION = 1

#: the listing columns of a ``flows`` row ``r``, as the trigger and the upgrade copy them (never
#: failing on damaged metadata: the row then lists without image and labels)
_LISTING_VALUES = """
    {r}.project, {r}.name, {r}.version, {r}.flow_id, {r}.fingerprint,
    CASE WHEN json_valid({r}.metadata) THEN CASE WHEN json_type({r}.metadata, '$.image') = 'text'
        THEN json_extract({r}.metadata, '$.image') END END,
    CASE WHEN json_valid({r}.metadata) THEN CASE WHEN json_type({r}.metadata, '$.labels') = 'array'
        THEN json_extract({r}.metadata, '$.labels') END END,
    {r}.created"""

#: how a version enters the listing: it replaces an older version of its flow
_NEWER_VERSION = """ON CONFLICT (project, name) DO UPDATE SET
    version = excluded.version, flow_id = excluded.flow_id, fingerprint = excluded.fingerprint,
    image = excluded.image, labels = excluded.labels, registered = excluded.registered
    WHERE excluded.version > flow_listing.version"""


def _create_tables(conn: sqlite3.Connection) -> None:
    conn.executescript(
        f"""
        CREATE TABLE IF NOT EXISTS projects (
            name TEXT PRIMARY KEY, created TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS flows (
            flow_id TEXT PRIMARY KEY,
            project TEXT NOT NULL,
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            fingerprint TEXT NOT NULL,
            metadata TEXT NOT NULL,
            flow BLOB NOT NULL,
            created TEXT NOT NULL,
            UNIQUE (project, name, version));
        CREATE TABLE IF NOT EXISTS flow_listing (
            project TEXT NOT NULL,
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            flow_id TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            image TEXT,
            labels TEXT,
            registered TEXT NOT NULL,
            PRIMARY KEY (project, name)) WITHOUT ROWID;
        CREATE TRIGGER IF NOT EXISTS flows_listed AFTER INSERT ON flows BEGIN
            INSERT INTO flow_listing VALUES ({_LISTING_VALUES.format(r="NEW")})
            {_NEWER_VERSION};
        END;
        """
    )
    if conn.execute("PRAGMA user_version").fetchone()[0] < _LAYOUT_VERSION:
        _upgrade(conn)


def _upgrade(conn: sqlite3.Connection) -> None:
    """Fill the listing of a registry written before it existed (every registered version is kept)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute("PRAGMA user_version").fetchone()[0] < _LAYOUT_VERSION:
            conn.execute(
                f"INSERT INTO flow_listing SELECT {_LISTING_VALUES.format(r='f')} FROM flows f"
                f" WHERE true {_NEWER_VERSION}"  # WHERE: SQLite's parser needs it before ON CONFLICT
            )
            conn.execute(f"PRAGMA user_version = {_LAYOUT_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise


def _labels(text: str) -> List[str]:
    try:
        labels = json.loads(text)
    except ValueError:
        return []
    return labels if isinstance(labels, list) else []


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()
