"""The protocol double's state and the operations Prefect 1's client, agent and flow runner send.

State lives in memory, guarded by one lock. Rows are plain dicts; relationships
(``flow_run.flow``, ``flow_run.task_runs``, ``flow.project`` ...) are
callables so that the executor in :mod:`.graphql_exec` can follow and filter them.

The double applies the rules a real Prefect 1 Server applies (PrefectHQ/server,
``api/runs.py``, ``api/states.py``, ``api/flows.py``, ``graphql/states.py``),
with the real server's error messages where our side may see them:

- registering a flow makes a new version in its version group (the latest flow
  of that name in the project, or the given ``version_group_id``) and archives
  every other version, cancelling their scheduled runs; an ``idempotency_key``
  equal to the group's last one returns the latest unarchived version;
- ``create_flow_run`` refuses an unknown flow ("Flow {id} not found"), an
  archived version ("Flow {id} is archived.") and missing required parameters
  ("Required parameters were not supplied: {...}"); labels come from the
  request, its run config, the flow group or the flow's run config, in that
  order; an ``idempotency_key`` returns the existing run *of the same flow*;
  every task of the flow gets a ``Pending`` task run, as the database trigger does;
- flow and task run states over 1 MB are refused ("State payload is too large.");
  ``version`` is accepted and ignored; a second ``Submitted`` for the same flow
  run within 30 s is refused; a task run may go ``Running`` only while its flow
  run is exactly ``Running``; ``Cancelled`` on a flow run cancels its unfinished
  task runs;
- ``cancel_flow_run`` leaves a finished run alone, moves a running (or
  cancelling) run to ``Cancelling`` and any other to ``Cancelled``; the server
  never moves ``Cancelling`` on by itself (the flow runner does);
- ``get_runs_in_queue`` returns at most 25 runs whose state is in the Scheduled
  family (``Scheduled``, ``Paused``, ``Queued``, ``Resume``, ``Retrying``) and
  due, or that are ``Running`` with a due scheduled task run; a run is given to
  an agent only if the agent has all its labels, and an unlabelled run never to
  a labelled agent.
"""

import json
import sys
import threading
import time
import uuid
from typing import Any, Callable, Dict, List, Optional

import pendulum

from .graphql_exec import GraphQLRequestError
from .services import SERVER_VERSION, BackgroundServices, MovableClock  # noqa: F401 (SERVER_VERSION: re-exported)

# the real server's limits
STATE_SIZE_LIMIT = 1_000_000  # bytes, as sys.getsizeof(json.dumps(state)) counts them
SUBMITTED_LOCK_SECONDS = 30
QUEUED_RUNS_RETURNED_LIMIT = 25
SCHEDULED_STATES = ("Scheduled", "Paused", "Queued", "Resume", "Retrying")


def _now() -> str:
    return pendulum.now("UTC").isoformat()


def _id() -> str:
    return str(uuid.uuid4())


def _state(cls_name: str, **kwargs) -> dict:
    from prefect.engine import state as states

    return getattr(states, cls_name)(**kwargs).serialize()


def _load_state(serialized: dict):
    from prefect.serialization.state import StateSchema

    return StateSchema().load(serialized)


def _check_size(serialized: dict) -> None:
    if sys.getsizeof(json.dumps(serialized)) > STATE_SIZE_LIMIT:
        raise GraphQLRequestError("State payload is too large.")


class DoubleStore:
    """In-memory tables of the double, and the resolvers over them.

    Attributes:
        tenants, projects, flows, flow_groups, tasks, edges, flow_runs,
        task_runs, logs, agents: the tables, id -> row.
        requests: the root fields received, in order (``"mutation create_flow_run"``).
        request_log: ``(time.time(), root field, arguments)`` of every root field.
        request_headers: the ``X-Prefect-*`` headers of the request being answered.
        on_flow_run_created: callables run with the new flow run id (tests use it
            to wake their agent instead of waiting for its polling back-off).
        on_agent_registered: callables run with the id of a newly registered agent.
        on_request: callables run with ``(root field, arguments)`` after each root
            field is answered, under the lock (tests use them to wait for a
            request as an event instead of polling the log).
        submitted_lock_seconds: how long a flow run's ``Submitted`` state locks
            out another (the real server's 30 s).
        clock: the time the background services and the Submitted lock see
            (:class:`~.services.MovableClock`; tests move it forward).
        services: the zombie killer and Lazarus (:class:`~.services.BackgroundServices`),
            run when a test calls them.
        on_flow_run_rescheduled: callables run with the id of a flow run Lazarus
            set Scheduled again (tests wake their agent with it).
    """

    def __init__(self):
        self.lock = threading.RLock()
        self.tenants: Dict[str, dict] = {}
        self.projects: Dict[str, dict] = {}
        self.flows: Dict[str, dict] = {}
        self.flow_groups: Dict[str, dict] = {}
        self.tasks: Dict[str, dict] = {}
        self.edges: List[dict] = []
        self.flow_runs: Dict[str, dict] = {}
        self.task_runs: Dict[str, dict] = {}
        self.logs: List[dict] = []
        self.agents: Dict[str, dict] = {}
        self.requests: List[str] = []
        self.on_flow_run_created: List[Callable[[str], None]] = []
        self.on_agent_registered: List[Callable[[str], None]] = []
        self.on_request: List[Callable[[str, dict], None]] = []
        self.request_log: List[tuple] = []
        self.request_headers: Dict[str, str] = {}
        self.submitted_lock_seconds: float = SUBMITTED_LOCK_SECONDS
        self._submitted: Dict[str, float] = {}  # flow run id -> clock.monotonic() of Submitted
        self.clock = MovableClock()
        self.services = BackgroundServices(self)
        self.on_flow_run_rescheduled: List[Callable[[str], None]] = []

    # --- resolvers table -------------------------------------------------------

    def resolvers(self) -> Dict[tuple, Callable[[dict], Any]]:
        """``(operation, root field) -> resolver``, each run under the lock."""
        table = {
            ("query", "hello"): lambda a: "hello from the Prefect 1 Server protocol double",
            ("query", "tenant"): lambda a: [dict(t) for t in self.tenants.values()],
            ("query", "project"): lambda a: [self._project_row(p) for p in self.projects.values()],
            ("query", "flow"): lambda a: [self._flow_row(f) for f in self.flows.values()],
            ("query", "flow_by_pk"): lambda a: self._by_pk(self.flows, a, self._flow_row),
            ("query", "flow_group"): lambda a: [self._flow_group_row(g) for g in self.flow_groups.values()],
            ("query", "flow_group_by_pk"): lambda a: self._by_pk(self.flow_groups, a, self._flow_group_row),
            ("query", "flow_run"): lambda a: [self._flow_run_row(r) for r in self.flow_runs.values()],
            ("query", "flow_run_by_pk"): lambda a: self._by_pk(self.flow_runs, a, self._flow_run_row),
            ("query", "task_run"): lambda a: [self._task_run_row(r) for r in self.task_runs.values()],
            ("query", "task_run_by_pk"): lambda a: self._by_pk(self.task_runs, a, self._task_run_row),
            ("query", "task"): lambda a: [dict(t) for t in self.tasks.values()],
            ("query", "get_task_run_info"): self.get_task_run_info,
            ("query", "agent"): lambda a: [dict(r) for r in self.agents.values()],
            ("query", "agent_config"): lambda a: [],
            ("mutation", "create_tenant"): self.create_tenant,
            ("mutation", "create_project"): self.create_project,
            ("mutation", "create_flow_from_compressed_string"): self.create_flow_from_compressed_string,
            ("mutation", "create_flow"): self.create_flow,
            ("mutation", "register_tasks"): self.register_tasks,
            ("mutation", "register_edges"): self.register_edges,
            ("mutation", "delete_flow"): self.delete_flow,
            ("mutation", "set_schedule_active"): lambda a: {"success": True},
            ("mutation", "create_flow_run"): self.create_flow_run,
            ("mutation", "set_flow_run_states"): self.set_flow_run_states,
            ("mutation", "set_flow_run_name"): self.set_flow_run_name,
            ("mutation", "cancel_flow_run"): self.cancel_flow_run,
            ("mutation", "get_or_create_task_run_info"): self.get_or_create_task_run_info,
            ("mutation", "set_task_run_states"): self.set_task_run_states,
            ("mutation", "set_task_run_name"): self.set_task_run_name,
            ("mutation", "update_flow_run_heartbeat"): self.update_flow_run_heartbeat,
            ("mutation", "update_task_run_heartbeat"): self.update_task_run_heartbeat,
            ("mutation", "write_run_logs"): self.write_run_logs,
            ("mutation", "register_agent"): self.register_agent,
            ("mutation", "get_runs_in_queue"): self.get_runs_in_queue,
            ("mutation", "create_task_run_artifact"): lambda a: {"id": _id()},
        }

        def locked(name, fn):
            def run(args):
                with self.lock:
                    self.requests.append(" ".join(name))
                    self.request_log.append((time.time(), name[1], args))
                    answer = fn(args)
                    for hook in list(self.on_request):
                        hook(name[1], args)
                    return answer

            return run

        return {name: locked(name, fn) for name, fn in table.items()}

    @staticmethod
    def _by_pk(table: dict, args: dict, row: Callable[[dict], dict]) -> Optional[dict]:
        found = table.get(args.get("id"))
        return None if found is None else row(found)

    # --- rows with relationships -----------------------------------------------

    def _project_row(self, p: dict) -> dict:
        return {
            **p,
            "tenant": lambda a: dict(self.tenants[p["tenant_id"]]),
            "flows": lambda a: [self._flow_row(f) for f in self.flows.values() if f["project_id"] == p["id"]],
        }

    def _flow_group_row(self, g: dict) -> dict:
        return {
            **g,
            "flows": lambda a: [self._flow_row(f) for f in self.flows.values() if f["flow_group_id"] == g["id"]],
        }

    def _flow_row(self, f: dict) -> dict:
        return {
            **f,
            "project": lambda a: self._project_row(self.projects[f["project_id"]]),
            "flow_group": lambda a: self._flow_group_row(self.flow_groups[f["flow_group_id"]]),
            "tasks": lambda a: [dict(t) for t in self.tasks.values() if t["flow_id"] == f["id"]],
            "edges": lambda a: [dict(e) for e in self.edges if e["flow_id"] == f["id"]],
            "flow_runs": lambda a: [self._flow_run_row(r) for r in self.flow_runs.values() if r["flow_id"] == f["id"]],
        }

    def _flow_run_row(self, r: dict) -> dict:
        return {
            **{k: v for k, v in r.items() if not k.startswith("_")},
            "flow": lambda a: self._flow_row(self.flows[r["flow_id"]]),
            "agent": lambda a: dict(self.agents[r["agent_id"]]) if r["agent_id"] in self.agents else None,
            "task_runs": lambda a: [self._task_run_row(t) for t in self.task_runs.values() if t["flow_run_id"] == r["id"]],
            "states": lambda a: [dict(s) for s in r["_states"]],
            "logs": lambda a: [dict(entry) for entry in self.logs if entry.get("flow_run_id") == r["id"]],
        }

    def _task_run_row(self, t: dict) -> dict:
        return {
            **{k: v for k, v in t.items() if not k.startswith("_")},
            "task": lambda a: dict(self.tasks[t["task_id"]]),
            "flow_run": lambda a: self._flow_run_row(self.flow_runs[t["flow_run_id"]]),
            "states": lambda a: [dict(s) for s in t["_states"]],
            "logs": lambda a: [dict(entry) for entry in self.logs if entry.get("task_run_id") == t["id"]],
        }

    # --- tenants and projects -------------------------------------------------

    def create_tenant(self, args: dict) -> dict:
        data = args["input"]
        for t in self.tenants.values():
            if t["slug"] == data.get("slug"):
                raise GraphQLRequestError("Uniqueness violation.")
        tenant = {"id": _id(), "name": data["name"], "slug": data.get("slug") or data["name"],
                  "info": None, "settings": {}, "created": _now(), "updated": _now()}
        self.tenants[tenant["id"]] = tenant
        return {"id": tenant["id"]}

    def create_project(self, args: dict) -> dict:
        data = args["input"]
        if data.get("tenant_id") not in self.tenants:
            raise GraphQLRequestError("Invalid tenant ID.")
        for p in self.projects.values():
            if p["name"] == data["name"] and p["tenant_id"] == data["tenant_id"]:
                raise GraphQLRequestError("Uniqueness violation.")
        project = {
            "id": _id(),
            "name": data["name"],
            "description": data.get("description"),
            "tenant_id": data["tenant_id"],
            "created": _now(),
            "updated": _now(),
        }
        self.projects[project["id"]] = project
        return {"id": project["id"]}

    # --- flows ----------------------------------------------------------------

    def create_flow_from_compressed_string(self, args: dict) -> dict:
        from prefect.utilities.graphql import decompress

        data = dict(args["input"])
        try:
            data["serialized_flow"] = decompress(data["serialized_flow"])
        except Exception:
            raise GraphQLRequestError("Unable to decompress serialized flow") from None
        return self.create_flow({"input": data})

    def create_flow(self, args: dict) -> dict:
        data = args["input"]
        project = self.projects.get(data["project_id"])
        if project is None:
            raise GraphQLRequestError("Invalid project.")
        serialized = data["serialized_flow"]
        name = serialized.get("name")
        version_group_id = data.get("version_group_id")
        if not version_group_id:  # versioned by name within the project
            same_name = [f for f in self.flows.values()
                         if f["project_id"] == project["id"] and f["name"] == name]
            if same_name:
                version_group_id = max(same_name, key=lambda f: f["created"])["version_group_id"]
        version_group_id = version_group_id or _id()
        key = data.get("idempotency_key")
        group = next((g for g in self.flow_groups.values()
                      if g["tenant_id"] == project["tenant_id"] and g["name"] == version_group_id), None)
        if group is None:
            group = {"id": _id(), "tenant_id": project["tenant_id"], "name": version_group_id,
                     "description": None, "labels": None, "schedule": None, "run_config": None,
                     "default_parameters": {}, "created": _now(), "updated": _now(),
                     "settings": {"heartbeat_enabled": True, "lazarus_enabled": True,
                                  "version_locking_enabled": False, "idempotency_key": key}}
            self.flow_groups[group["id"]] = group
        else:
            last_key = group["settings"].get("idempotency_key")
            if last_key and key and last_key == key:
                current = self._latest_unarchived(version_group_id)
                if current is not None:
                    return {"id": current["id"]}
            group["settings"]["idempotency_key"] = key
        versions = [f for f in self.flows.values() if f["version_group_id"] == version_group_id]
        parameters = [{"required": False, "default": None, **p} for p in serialized.get("parameters", [])]
        flow = {
            "id": _id(),
            "tenant_id": project["tenant_id"],
            "name": name,
            "project_id": project["id"],
            "flow_group_id": group["id"],
            "version_group_id": version_group_id,
            "version": 1 + max((f["version"] for f in versions), default=0),
            "archived": False,
            "serialized_flow": serialized,
            "storage": serialized.get("storage"),
            "run_config": serialized.get("run_config"),
            "environment": serialized.get("environment"),
            "core_version": serialized.get("__version__"),
            "parameters": parameters,
            "settings": {},
            "schedule": serialized.get("schedule"),
            "is_schedule_active": False,
            "description": data.get("description"),
            "created": _now(),
            "updated": _now(),
        }
        self.flows[flow["id"]] = flow
        for other in versions:
            if not other["archived"]:
                self._archive_flow(other)
        return {"id": flow["id"]}

    def _latest_unarchived(self, version_group_id: str) -> Optional[dict]:
        current = [f for f in self.flows.values()
                   if f["version_group_id"] == version_group_id and not f["archived"]]
        return max(current, key=lambda f: f["version"]) if current else None

    def _archive_flow(self, flow: dict) -> None:
        """Archive a version and cancel its scheduled runs, as the real server does."""
        flow["archived"] = True
        for run in list(self.flow_runs.values()):
            if run["flow_id"] == flow["id"] and run["state"] == "Scheduled":
                self._cancel(run, f"Flow {flow['id']} was archived.")

    def register_tasks(self, args: dict) -> dict:
        data = args["input"]
        flow = self.flows.get(data["flow_id"])
        if flow is None:
            raise GraphQLRequestError("Invalid flow ID")
        for t in data["serialized_tasks"]:
            existing = next((x for x in self.tasks.values()
                             if x["flow_id"] == data["flow_id"] and x["slug"] == t.get("slug")), None)
            if existing is not None:  # the real server's insert does nothing on (flow, slug) conflict
                continue
            trigger = t.get("trigger")
            task = {
                "id": _id(),
                "tenant_id": flow["tenant_id"],
                "flow_id": data["flow_id"],
                "name": t.get("name"),
                "slug": t.get("slug"),
                "description": t.get("description"),
                "type": t.get("type"),
                "max_retries": t.get("max_retries", 0),
                "retry_delay": t.get("retry_delay"),
                "trigger": trigger.get("fn") if isinstance(trigger, dict) else trigger,
                "mapped": bool(t.get("mapped")),
                "auto_generated": bool(t.get("auto_generated")),
                "cache_key": t.get("cache_key"),
                "is_root_task": False,
                "is_terminal_task": False,
                "is_reference_task": False,
                "tags": t.get("tags", []),
                "created": _now(),
                "updated": _now(),
            }
            self.tasks[task["id"]] = task
        return {"success": True}

    def register_edges(self, args: dict) -> dict:
        data = args["input"]
        if data["flow_id"] not in self.flows:
            raise GraphQLRequestError("Invalid flow ID")
        slugs = {t["slug"] for t in self.tasks.values() if t["flow_id"] == data["flow_id"]}

        def slug(task) -> Optional[str]:  # an edge names its tasks as {"slug": ...}
            return task.get("slug") if isinstance(task, dict) else task

        if any(slug(e.get("upstream_task")) not in slugs or slug(e.get("downstream_task")) not in slugs
               for e in data["serialized_edges"]):
            # the real server looks every slug up, and none is inserted when one is missing
            raise GraphQLRequestError("Edges could not be registered - some edges reference tasks "
                                      "that do not exist within this flow.")
        for e in data["serialized_edges"]:
            edge = {"flow_id": data["flow_id"], **e}
            if not any({k: v for k, v in x.items() if k != "id"} == edge for x in self.edges):
                self.edges.append({"id": _id(), **edge})  # the real edge table's primary key
        return {"success": True}

    def delete_flow(self, args: dict) -> dict:
        """Delete one flow version with its tasks, edges and runs; its flow group goes
        with its last version (so a later registration starts a group afresh)."""
        flow_id = args["input"]["flow_id"]
        flow = self.flows.pop(flow_id, None)
        if flow is None:
            return {"success": False}
        self.tasks = {k: t for k, t in self.tasks.items() if t["flow_id"] != flow_id}
        self.edges = [e for e in self.edges if e["flow_id"] != flow_id]
        for run_id in [r["id"] for r in self.flow_runs.values() if r["flow_id"] == flow_id]:
            del self.flow_runs[run_id]
        if not any(f["flow_group_id"] == flow["flow_group_id"] for f in self.flows.values()):
            self.flow_groups.pop(flow["flow_group_id"], None)
        return {"success": True}

    # --- flow runs --------------------------------------------------------------

    def create_flow_run(self, args: dict) -> dict:
        data = args["input"]
        flow_id, version_group_id = data.get("flow_id"), data.get("version_group_id")
        if not flow_id and not version_group_id:
            raise GraphQLRequestError("A flow id or version group ID must be provided.")
        if flow_id:
            flow = self.flows.get(flow_id)
            if flow is None:
                raise GraphQLRequestError(f"Flow {flow_id} not found")
        else:
            flow = self._latest_unarchived(version_group_id)
            if flow is None:
                raise GraphQLRequestError(f"Version group {version_group_id} has no unarchived flows.")
        if flow["archived"]:
            raise GraphQLRequestError(f"Flow {flow['id']} is archived.")
        group = self.flow_groups[flow["flow_group_id"]]
        labels, run_config = data.get("labels"), data.get("run_config")
        if labels is not None:
            run_labels = list(labels)
        elif run_config is not None:
            run_labels = run_config.get("labels") or []
        elif group["labels"] is not None:
            run_labels = list(group["labels"])
        elif group["run_config"] is not None:
            run_labels = group["run_config"].get("labels") or []
        elif flow["run_config"] is not None:
            run_labels = flow["run_config"].get("labels") or []
        elif flow["environment"] is not None:
            run_labels = flow["environment"].get("labels") or []
        else:
            run_labels = []
        if run_config is None:
            run_config = group["run_config"] if group["run_config"] is not None else flow["run_config"]
        # as the real server: falsy defaults are not filled in, supplied values win
        parameters = {p["name"]: p["default"] for p in flow["parameters"] if p["default"]}
        parameters.update(group["default_parameters"] or {})
        parameters.update(data.get("parameters") or {})
        missing = {p["name"] for p in flow["parameters"] if p["required"]} - set(parameters)
        if missing:
            raise GraphQLRequestError(f"Required parameters were not supplied: {missing}")
        key = data.get("idempotency_key")
        if key:  # unique per (idempotency key, flow)
            for existing in self.flow_runs.values():
                if existing["idempotency_key"] == key and existing["flow_id"] == flow["id"]:
                    return {"id": existing["id"]}
        start = data.get("scheduled_start_time") or _now()
        run_id = _id()
        run = {
            "id": run_id,
            "tenant_id": flow["tenant_id"],
            "flow_id": flow["id"],
            "name": data.get("flow_run_name") or f"run-{run_id[:8]}",
            "parameters": parameters,
            "context": data.get("context") or {},
            "labels": sorted(run_labels),
            "run_config": run_config,
            "version": 0,
            "scheduled_start_time": start,
            "start_time": None,
            "end_time": None,
            "heartbeat": None,
            "auto_scheduled": False,
            "times_resurrected": 0,
            "idempotency_key": key,
            "agent_id": None,
            "state": None,
            "created": _now(),
            "updated": _now(),
            "_states": [],
        }
        self.flow_runs[run_id] = run
        for task in (t for t in self.tasks.values() if t["flow_id"] == flow["id"]):
            self._new_task_run(run_id, task["id"], -1)
        self._set_flow_run_state(run, _state("Scheduled", message="Flow run scheduled.",
                                             start_time=pendulum.parse(start)))
        for callback in list(self.on_flow_run_created):
            threading.Thread(target=callback, args=(run_id,), daemon=True).start()
        return {"id": run_id}

    @staticmethod
    def _record_state(row: dict, serialized_state: dict) -> None:
        now = _now()
        kind = serialized_state["type"]
        row["version"] = (row.get("version") or 0) + 1
        row["serialized_state"] = serialized_state
        row["state"] = kind
        row["state_message"] = serialized_state.get("message")
        row["state_timestamp"] = now
        row["state_start_time"] = serialized_state.get("start_time")
        row["state_result"] = serialized_state.get("_result")
        row["updated"] = now
        if kind == "Running" and not row.get("start_time"):
            row["start_time"] = now
        if kind in ("Success", "Failed", "Cached", "TimedOut", "Looped", "Cancelled"):
            row["end_time"] = now
        row["_states"].append({
            "id": _id(), "state": kind, "message": row["state_message"], "timestamp": now,
            "start_time": row["state_start_time"], "result": row["state_result"],
            "serialized_state": serialized_state, "version": row["version"],
            "created": now, "updated": now,
        })

    def _set_flow_run_state(self, run: dict, serialized_state: dict) -> None:
        state = _load_state(serialized_state)
        if state.is_submitted():
            now = self.clock.monotonic()
            locked_at = self._submitted.get(run["id"])
            if locked_at is not None and now - locked_at < self.submitted_lock_seconds:
                raise GraphQLRequestError("State update failed: this run has already been submitted.")
            self._submitted[run["id"]] = now
        if type(state).__name__ == "Cancelled":
            for t in self.task_runs.values():
                if t["flow_run_id"] == run["id"] and not _load_state(t["serialized_state"]).is_finished():
                    self._record_state(t, serialized_state)
        self._record_state(run, serialized_state)
        if state.is_running() or state.is_submitted():
            run["heartbeat"] = _now()
        agent_id = self.request_headers.get("x-prefect-agent-id")
        if state.is_submitted() and agent_id in self.agents:
            run["agent_id"] = agent_id

    def set_flow_run_states(self, args: dict) -> dict:
        out = []
        for item in args["input"]["states"]:
            _check_size(item["state"])
            run = self.flow_runs.get(item["flow_run_id"])
            if run is None:
                raise GraphQLRequestError(f"State update failed for flow run ID {item['flow_run_id']}")
            # item["version"] is accepted and ignored, as by the real server
            self._set_flow_run_state(run, item["state"])
            out.append({"id": run["id"], "status": "SUCCESS", "message": None})
        return {"states": out}

    def set_flow_run_name(self, args: dict) -> dict:
        data = args["input"]
        if not data["name"]:
            raise GraphQLRequestError("Invalid name")
        run = self.flow_runs.get(data["flow_run_id"])
        if run is not None:
            run["name"] = data["name"]
        return {"success": run is not None}

    def _cancel(self, run: dict, message: Optional[str] = None) -> None:
        state = _load_state(run["serialized_state"])
        if state.is_finished():
            return
        if state.is_running():  # Running, or already Cancelling
            self._set_flow_run_state(run, _state("Cancelling", message=message or "Flow run is cancelling"))
        else:
            self._set_flow_run_state(run, _state("Cancelled", message=message or "Flow run is cancelled"))

    def cancel_flow_run(self, args: dict) -> dict:
        flow_run_id = args["input"]["flow_run_id"]
        run = self.flow_runs.get(flow_run_id)
        if run is None:
            raise GraphQLRequestError(f"Invalid flow run ID: {flow_run_id}.")
        self._cancel(run)
        return {"state": run["state"]}

    def update_flow_run_heartbeat(self, args: dict) -> dict:
        # the real server updates the heartbeat in the background and always succeeds
        run = self.flow_runs.get(args["input"]["flow_run_id"])
        if run is not None:
            run["heartbeat"] = _now()
        return {"success": True}

    # --- task runs ----------------------------------------------------------------

    def _new_task_run(self, flow_run_id: str, task_id: str, map_index: int) -> dict:
        task = self.tasks[task_id]
        task_run = {
            "id": _id(),
            "tenant_id": task["tenant_id"],
            "flow_run_id": flow_run_id,
            "task_id": task_id,
            "name": None,
            "map_index": map_index,
            "version": 0,
            "run_count": 0,
            "cache_key": task["cache_key"],
            "heartbeat": None,
            "start_time": None,
            "end_time": None,
            "created": _now(),
            "updated": _now(),
            "_states": [],
        }
        self._record_state(task_run, _state("Pending", message="Task run created"))
        task_run["version"] = 0
        self.task_runs[task_run["id"]] = task_run
        return task_run

    def get_or_create_task_run_info(self, args: dict) -> dict:
        data = args["input"]
        map_index = -1 if data.get("map_index") is None else data["map_index"]
        for t in self.task_runs.values():
            if (t["flow_run_id"] == data["flow_run_id"] and t["task_id"] == data["task_id"]
                    and t["map_index"] == map_index):
                break
        else:
            if data["task_id"] not in self.tasks or data["flow_run_id"] not in self.flow_runs:
                raise GraphQLRequestError("Invalid task ID")
            t = self._new_task_run(data["flow_run_id"], data["task_id"], map_index)
        return {"id": t["id"], "version": t["version"], "state": t["state"],
                "serialized_state": t["serialized_state"]}

    def get_task_run_info(self, args: dict) -> dict:
        t = self.task_runs.get(args["task_run_id"])
        if t is None:
            raise GraphQLRequestError("Invalid task run ID")
        return {"id": t["id"], "version": t["version"], "state": t["state"],
                "serialized_state": t["serialized_state"]}

    def set_task_run_states(self, args: dict) -> dict:
        out = []
        for item in args["input"]["states"]:
            _check_size(item["state"])
            task_run_id = item["task_run_id"]
            t = self.task_runs.get(task_run_id)
            if t is None:
                raise GraphQLRequestError(f"State update failed for task run ID {task_run_id}")
            serialized = item["state"]
            flow_run = self.flow_runs[t["flow_run_id"]]
            if _load_state(serialized).is_running() and flow_run["state"] != "Running":
                raise GraphQLRequestError(
                    f"State update failed for task run ID {task_run_id}: provided a running state "
                    f"but associated flow run {flow_run['id']} is not in a running state.")
            if not serialized.get("cached_inputs") and t["serialized_state"].get("cached_inputs"):
                serialized = {**serialized, "cached_inputs": t["serialized_state"]["cached_inputs"]}
            # item["version"] is accepted and ignored, as by the real server
            self._record_state(t, serialized)
            out.append({"id": t["id"], "status": "SUCCESS", "message": None})
        return {"states": out}

    def set_task_run_name(self, args: dict) -> dict:
        data = args["input"]
        if not data["name"]:
            raise GraphQLRequestError("Invalid name")
        t = self.task_runs.get(data["task_run_id"])
        if t is not None:
            t["name"] = data["name"]
        return {"success": t is not None}

    def update_task_run_heartbeat(self, args: dict) -> dict:
        t = self.task_runs.get(args["input"]["task_run_id"])
        if t is not None:
            t["heartbeat"] = _now()
        return {"success": True}

    # --- logs and agents ----------------------------------------------------------

    def write_run_logs(self, args: dict) -> dict:
        # the schema has already made a single log object into a list of one, as
        # GraphQL input coercion does (``prefect execute flow-run`` sends one dict
        # when it could not load its flow)
        for entry in args["input"]["logs"]:
            # the log table's foreign keys: a run named must exist (the batch is one insert)
            if (entry.get("flow_run_id") is not None and entry["flow_run_id"] not in self.flow_runs) or (
                    entry.get("task_run_id") is not None and entry["task_run_id"] not in self.task_runs):
                raise GraphQLRequestError(
                    'Foreign key violation: insert or update on table "log" violates foreign key constraint')
        for entry in args["input"]["logs"]:
            self.logs.append({
                "id": _id(), "tenant_id": None,
                "flow_run_id": entry.get("flow_run_id"), "task_run_id": entry.get("task_run_id"),
                "timestamp": entry.get("timestamp") or _now(), "message": entry.get("message"),
                "name": entry.get("name"), "level": entry.get("level") or "INFO",
                "info": entry.get("info"), "created": _now(), "updated": _now(),
            })
        return {"success": True}

    def register_agent(self, args: dict) -> dict:
        data = args["input"]
        tenant_id = data.get("tenant_id") or next(iter(self.tenants), None)
        if tenant_id is None:
            raise GraphQLRequestError("No tenant found.")
        labels = sorted(data.get("labels") or [])
        core_version = self.request_headers.get("x-prefect-core-version")
        for agent in self.agents.values():
            if (agent["tenant_id"], agent["name"], agent["type"], agent["core_version"],
                    agent["labels"]) == (tenant_id, data.get("name"), data["type"], core_version, labels):
                agent_id = agent["id"]
                break
        else:
            agent_id = _id()
            self.agents[agent_id] = {
                "id": agent_id, "tenant_id": tenant_id, "agent_config_id": data.get("agent_config_id"),
                "name": data.get("name"), "type": data["type"], "core_version": core_version,
                "labels": labels, "last_queried": _now(), "created": _now(), "updated": _now(),
            }
        for callback in list(self.on_agent_registered):
            callback(agent_id)
        return {"id": agent_id}

    def get_runs_in_queue(self, args: dict) -> dict:
        data = args["input"]
        before = data.get("before") or _now()
        labels = set(data.get("labels") or [])

        def due(row: dict) -> bool:
            return (row["state"] in SCHEDULED_STATES and row["state_start_time"] is not None
                    and pendulum.parse(row["state_start_time"]) <= pendulum.parse(before))

        candidates = [
            r for r in self.flow_runs.values()
            if r["tenant_id"] == data["tenant_id"] and (
                due(r) or (r["state"] == "Running" and any(
                    due(t) for t in self.task_runs.values() if t["flow_run_id"] == r["id"])))
        ]
        candidates.sort(key=lambda r: pendulum.parse(r["state_start_time"] or r["scheduled_start_time"]))
        # the real server reads three times the limit, then filters by labels
        ids = []
        for run in candidates[: QUEUED_RUNS_RETURNED_LIMIT * 3]:
            if len(ids) == QUEUED_RUNS_RETURNED_LIMIT:
                break
            run_labels = set(run["labels"])
            if run_labels - labels:  # the agent lacks one of the run's labels
                continue
            if not run_labels and labels:  # an unlabelled run never goes to a labelled agent
                continue
            ids.append(run["id"])
        agent = self.agents.get(self.request_headers.get("x-prefect-agent-id"))
        if agent is not None:
            agent["last_queried"] = _now()
        return {"flow_run_ids": ids}
