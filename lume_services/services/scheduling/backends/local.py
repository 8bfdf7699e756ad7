"""The embedded local backend: an on-disk flow registry and in-process runs."""

import contextlib
import json
import logging
import os
import sqlite3
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from lume_services.errors import (
    EmptyResultError,
    FlowFailedError,
    FlowNotFoundError,
    FlowNotSerializableError,
    MissingParameterError,
    ParameterNotInFlowError,
    TaskNotInFlowError,
    UnsupportedRunConfigError,
)
from lume_services.services.scheduling.backends.fingerprint import flow_fingerprint
from lume_services.services.scheduling.backends.backend import (
    Backend,
    ExecutorConfig,
    LocalRunConfig,
    RunConfig,
    tasks_in_slug_order,
)

logger = logging.getLogger(__name__)

DEFAULT_PROJECT = "default"
_ID_NAMESPACE = uuid.UUID("6f1d3f0e-52c4-4a8e-9a1e-2d6c3b7f1a55")


class LocalFlowRegistry:
    """Registered flows on disk: one SQLite file under the lume-services home.

    SQLite gives what a registry needs across processes: each registration is
    one transaction (an interrupted one leaves the previous state intact), and
    WAL mode with a busy timeout lets several processes register and load at once.

    Args:
        path: the registry file; its directory is created when missing.
    """

    def __init__(self, path: Union[str, Path]):
        self.path = Path(path).expanduser()
        self._local = threading.local()
        self._flows: Dict[str, Any] = {}  # flow id -> unpickled flow (rows never change)
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid != os.getpid():
            conn = None  # a forked child must not share its parent's connection
        if conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=60000")
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
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    def create_project(self, project_name: str) -> None:
        """Create a project; an existing one is left as it is."""
        self._connect().execute(
            "INSERT OR IGNORE INTO projects (name, created) VALUES (?, ?)",
            (project_name, _now()),
        )

    def register(self, flow, project_name: str, image: Optional[str], labels: List[str]) -> str:
        """Register ``flow`` and return its flow id.

        An unchanged flow (same structure, task code, parameters, image and
        labels) keeps its id and nothing is written; a changed one becomes the
        next version.
        """
        import cloudpickle

        fingerprint = flow_fingerprint(flow, image, labels)
        conn = self._connect()
        latest = self._latest(conn, flow.name, project_name)
        if latest is not None and latest["fingerprint"] == fingerprint:
            return latest["flow_id"]
        try:
            blob = cloudpickle.dumps(flow)  # before the write lock: it can be slow
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
            conn.execute("ROLLBACK")
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

    def list_flows(self, project_name: Optional[str] = None) -> List[dict]:
        """Return the metadata of the latest version of every flow (of one project, if given)."""
        query = (
            "SELECT metadata FROM flows f WHERE version = (SELECT MAX(version) FROM flows g"
            " WHERE g.project = f.project AND g.name = f.name)"
        )
        args: tuple = ()
        if project_name is not None:
            query += " AND project = ?"
            args = (project_name,)
        rows = self._connect().execute(query + " ORDER BY project, name", args)
        return [json.loads(r[0]) for r in rows]

    def flow_names(self, project_name: str) -> List[str]:
        """Return the names of the flows registered in a project."""
        rows = self._connect().execute(
            "SELECT DISTINCT name FROM flows WHERE project = ? ORDER BY name", (project_name,)
        )
        return [r[0] for r in rows]

    def metadata(self, flow_name: str, project_name: str) -> dict:
        """Return the metadata of the latest version of a flow."""
        row = self._connect().execute(
            "SELECT metadata FROM flows WHERE project = ? AND name = ? ORDER BY version DESC LIMIT 1",
            (project_name, flow_name),
        ).fetchone()
        if row is None:
            raise FlowNotFoundError(flow_name, project_name, self.flow_names(project_name))
        return json.loads(row[0])

    def load(self, flow_name: str, project_name: str) -> dict:
        """Return ``{"flow_id", "flow", "version"}`` for the latest version of a flow.

        Raises:
            FlowNotFoundError: no flow of that name is registered in the project.
        """
        import cloudpickle

        conn = self._connect()
        latest = self._latest(conn, flow_name, project_name)
        if latest is None:
            raise FlowNotFoundError(flow_name, project_name, self.flow_names(project_name))
        flow_id = latest["flow_id"]
        flow = self._flows.get(flow_id)
        if flow is None:
            (blob,) = conn.execute("SELECT flow FROM flows WHERE flow_id = ?", (flow_id,)).fetchone()
            flow = cloudpickle.loads(blob)
            with self._lock:
                self._flows[flow_id] = flow
        # each caller gets its own flow object: adding a task to one must not change the others
        return {"flow_id": flow_id, "flow": flow.copy(), "version": latest["version"]}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


@contextlib.contextmanager
def _run_environment(env: Optional[Dict[str, str]], working_dir: Optional[str]):
    """Set environment variables and the working directory for one run, then restore them."""
    if not env and not working_dir:
        yield
        return
    with _ENVIRONMENT_LOCK:
        saved_env = {k: os.environ.get(k) for k in (env or {})}
        saved_cwd = os.getcwd()
        try:
            os.environ.update({k: str(v) for k, v in (env or {}).items()})
            if working_dir:
                os.chdir(working_dir)
            yield
        finally:
            os.chdir(saved_cwd)
            for k, v in saved_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


# Environment variables and the working directory belong to the process: runs that
# change them are serialized.
_ENVIRONMENT_LOCK = threading.RLock()


class LocalBackend(Backend):
    """Registers flows in an on-disk registry and runs them in this process.

    Args:
        home: the lume-services home; the registry lives in ``home/registry.sqlite``.
        executor: the executor runs use unless their run config names another.
        default_project: the project used for flows registered without one.
    """

    requires_registration = False

    def __init__(
        self,
        home: Union[str, Path, None] = None,
        executor: Optional[ExecutorConfig] = None,
        default_project: str = DEFAULT_PROJECT,
    ):
        self.home = Path(home or "~/.lume_services").expanduser()
        self.executor = executor or ExecutorConfig()
        self.default_project = default_project
        self.registry = LocalFlowRegistry(self.home / "registry.sqlite")

    # --- registry -------------------------------------------------------------

    def create_project(self, project_name: str) -> None:
        """Create a project in the local registry (idempotent)."""
        self.registry.create_project(project_name)

    def register_flow(self, flow, project_name, image=None, labels=None) -> str:
        """Register a Prefect flow in the local registry and return its flow id.

        The project is created when missing. Registering an unchanged flow again
        returns the same id and writes nothing; a changed flow becomes a new version.
        """
        labels = ["lume-services"] if labels is None else list(labels)
        return self.registry.register(flow, project_name or self.default_project, image, labels)

    def load_flow(self, flow_name: str, project_name: Optional[str]) -> dict:
        """Return ``{"flow_id", "flow", "version"}`` of the latest registered version.

        Raises:
            FlowNotFoundError: the flow is not registered in the project.
        """
        return self.registry.load(flow_name, project_name or self.default_project)

    # --- runs -----------------------------------------------------------------

    def run(self, parameters=None, run_config=None, *, flow, flow_id=None, **runner_kwargs):
        """Run ``flow`` in this process and return its final Prefect state.

        Args:
            parameters: values of the flow's parameters; they take precedence
                over ``FlowRunConfig.parameters``.
            run_config: a ``LocalRunConfig``, a Prefect ``LocalRun``, a
                ``FlowRunConfig`` wrapping either, or ``None``.
            flow: the Prefect flow to run.
            flow_id: ignored (the local backend runs the flow object itself).
            **runner_kwargs: passed to Prefect's ``FlowRunner.run``, for example
                ``task_runner_state_handlers`` to follow task states as they change.

        Returns:
            The flow run's final state (it does not raise when the run fails).

        Raises:
            ParameterNotInFlowError: a parameter is not one of the flow's.
            MissingParameterError: a required parameter has no value.
        """
        parameters, env, working_dir, executor = self._resolve(parameters, run_config)
        _check_parameters(flow, parameters)
        with _run_environment(env, working_dir):
            return flow.run(
                parameters=parameters,
                executor=executor.build(),
                run_on_schedule=False,
                **runner_kwargs,
            )

    def run_and_return(
        self, parameters=None, run_config=None, task_name=None, *, flow, flow_id=None, **runner_kwargs
    ):
        """Run ``flow`` in this process and return a task's result.

        Args:
            parameters: values of the flow's parameters.
            run_config: as for :meth:`run`.
            task_name: the task whose result to return; ``None`` returns
                ``{task name: result}`` for every task.
            flow: the Prefect flow to run.
            flow_id: ignored.
            **runner_kwargs: passed to Prefect's ``FlowRunner.run``.

        Returns:
            The task's result (a list when several tasks share the name), or
            the dict of all results.

        Raises:
            TaskNotInFlowError: ``task_name`` is not a task of the flow (checked
                before the run).
            FlowFailedError: the run failed; names each failed task and its error.
            EmptyResultError: the task finished without a result (e.g. skipped).
        """
        if task_name is not None:
            names = {t.name for t in flow.tasks}
            if task_name not in names:
                raise TaskNotInFlowError(flow.name, task_name, names)
        state = self.run(parameters, run_config, flow=flow, **runner_kwargs)
        raise_if_failed(flow.name, state)
        return collect_results(flow, state, task_name)

    def _resolve(self, parameters, run_config):
        from lume_services.flows.flow import FlowRunConfig  # here: flows import this module

        params = dict(parameters or {})
        if isinstance(run_config, FlowRunConfig):
            params = {**(run_config.parameters or {}), **params}
            run_config = run_config.run_config
        executor = self.executor
        env, working_dir = None, None
        if run_config is None:
            pass
        elif isinstance(run_config, LocalRunConfig):
            env, working_dir = run_config.env, run_config.working_dir
            executor = run_config.executor or executor
        elif isinstance(run_config, RunConfig):
            raise UnsupportedRunConfigError(
                f"the local backend runs flows in this process and cannot honour a "
                f"{type(run_config).__name__}; use a LocalRunConfig, or configure the "
                "docker, kubernetes or server backend"
            )
        else:
            from prefect.run_configs import LocalRun

            if not isinstance(run_config, LocalRun):
                raise UnsupportedRunConfigError(
                    f"run_config must be a LocalRunConfig, a prefect LocalRun or a "
                    f"FlowRunConfig; got {type(run_config).__name__}"
                )
            env, working_dir = run_config.env, run_config.working_dir
        return params, env, working_dir, executor


def _check_parameters(flow, parameters: Dict[str, Any]) -> None:
    flow_params = {p.name: p for p in flow.parameters()}
    unknown = set(parameters) - set(flow_params)
    if unknown:
        raise ParameterNotInFlowError(flow.name, unknown, flow_params)
    missing = {n for n, p in flow_params.items() if p.required and n not in parameters}
    if missing:
        raise MissingParameterError(flow.name, missing, flow_params)


def failed_tasks(state) -> Dict[str, str]:
    """Return ``{task name: message}`` for the tasks of a run that failed on their own.

    Tasks that only failed because an upstream task did (``TriggerFailed``) are left out.
    """
    from prefect.engine.state import TriggerFailed

    failed = {}
    task_states = state.result if isinstance(state.result, dict) else {}
    for task, task_state in task_states.items():
        if task_state.is_failed() and not isinstance(task_state, TriggerFailed):
            result = task_state.result
            if isinstance(result, BaseException):
                message = f"{type(result).__name__}: {result}"
            else:
                message = task_state.message or repr(result)
            failed[task.name] = message
    return failed


def raise_if_failed(flow_name: str, state) -> None:
    """Raise :class:`FlowFailedError` when a flow run's final state is failed."""
    if state.is_failed():
        failed = failed_tasks(state)
        raise FlowFailedError(flow_name, failed, message=None if failed else state.message)


def _task_value(flow_name: str, task, task_state):
    from prefect.engine.result import NoResultType

    if task_state is None:
        raise EmptyResultError(flow_name, task.name, "not run")
    if task_state.is_skipped() or isinstance(task_state._result, NoResultType):
        raise EmptyResultError(flow_name, task.name, type(task_state).__name__)
    return task_state.result


def collect_results(flow, state, task_name: Optional[str]):
    """Return the named task's result from a finished run, or all results by task name."""
    task_states = state.result if isinstance(state.result, dict) else {}
    grouped: Dict[str, list] = {}
    for task in tasks_in_slug_order(flow):
        if task_name is not None and task.name != task_name:
            continue
        grouped.setdefault(task.name, []).append(task)
    if task_name is not None:
        if task_name not in grouped:
            raise TaskNotInFlowError(flow.name, task_name, {t.name for t in flow.tasks})
        tasks = grouped[task_name]
        values = [_task_value(flow.name, t, task_states.get(t)) for t in tasks]
        return values[0] if len(values) == 1 else values
    results = {}
    for name, tasks in grouped.items():
        values = []
        for t in tasks:
            st = task_states.get(t)
            values.append(None if st is None else st.result)
        results[name] = values[0] if len(values) == 1 else values
    return results
