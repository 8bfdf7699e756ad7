"""The local flow registry: registered flows on disk, in one SQLite file under ``LUME_HOME``."""

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
            "SELECT flow_id, version, fingerprint FROM flows WHERE project = ? AND name = ?"
            " ORDER BY version DESC LIMIT 1",
            (project_name, flow_name),
        ).fetchone()
        if row is None:
            return None
        return {"flow_id": row[0], "version": row[1], "fingerprint": row[2]}

    @_storage_errors
    def list_flows(self, project_name: Optional[str] = None) -> List[dict]:
        """Return the metadata of the latest version of every flow (of one project, if given)."""
        query = (
            "SELECT metadata, name, project, version FROM flows f WHERE version = (SELECT MAX(version) FROM flows g"
            " WHERE g.project = f.project AND g.name = f.name)"
        )
        args: tuple = ()
        if project_name is not None:
            query += " AND project = ?"
            args = (project_name,)
        rows = self._connect().execute(query + " ORDER BY project, name", args)
        return [self._metadata(*r) for r in rows]

    @_storage_errors
    def flow_names(self, project_name: str) -> List[str]:
        """Return the names of the flows registered in a project."""
        rows = self._connect().execute(
            "SELECT DISTINCT name FROM flows WHERE project = ? ORDER BY name", (project_name,)
        )
        return [r[0] for r in rows]

    @_storage_errors
    def metadata(self, flow_name: str, project_name: str) -> dict:
        """Return the metadata of the latest version of a flow."""
        row = self._connect().execute(
            "SELECT metadata, name, project, version FROM flows WHERE project = ? AND name = ?"
            " ORDER BY version DESC LIMIT 1",
            (project_name, flow_name),
        ).fetchone()
        if row is None:
            raise FlowNotFoundError(flow_name, project_name, self.flow_names(project_name))
        return self._metadata(*row)

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
    installed = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    roots: List[str] = []
    for task in flow.tasks:
        code = getattr(task, "run", None)
        for owner in (getattr(code, "__module__", None), type(task).__module__):
            module = sys.modules.get(owner or "")
            file = getattr(module, "__file__", None)
            if not owner or owner == "__main__" or not file:
                continue
            path = Path(os.path.realpath(file))
            if any(str(path).startswith(prefix + os.sep) for prefix in installed) or "site-packages" in path.parts:
                continue
            depth = owner.count(".") + (1 if path.stem == "__init__" else 0)
            root = path.parent
            for _ in range(depth):
                root = root.parent
            if str(root) not in roots:
                roots.append(str(root))
    return roots


def _add_module_roots(roots: List[str]) -> None:
    """Put recorded module roots at the end of ``sys.path`` (never ahead of what is there)."""
    for root in roots:
        if os.path.isdir(root) and root not in sys.path:
            sys.path.append(root)


def _create_tables(conn: sqlite3.Connection) -> None:
    conn.executescript(
        """
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
        """
    )


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()
