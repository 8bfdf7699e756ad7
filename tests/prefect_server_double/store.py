"""The protocol double's state and the operations Prefect 1's client, agent and flow runner send.

State lives in memory, guarded by one lock. Rows are plain dicts; relationships
(``flow_run.flow``, ``flow_run.task_runs``, ``flow.project`` ...) are
callables so that the executor in :mod:`.graphql_exec` can follow and filter them.

Behaviour mirrors what the Prefect 1 Server does where our side depends on it:

- registering a flow makes a new version in its flow group (per project and
  name) and archives the older versions; an ``idempotency_key`` equal to the
  group's last one returns the existing flow;
- creating a flow run creates a ``Scheduled`` state starting at
  ``scheduled_start_time`` (or now) and one task run per task; an
  ``idempotency_key`` already used returns the existing run;
- state updates with a ``version`` are refused with ``VERSION_LOCKING_ERROR``
  when the version is stale; every update bumps the version;
- ``get_runs_in_queue`` returns scheduled runs due before ``before`` whose
  labels are all among the agent's labels;
- ``cancel_flow_run`` moves a running run to ``Cancelling`` (the flow runner
  then cancels it) and any other unfinished run to ``Cancelled``.
"""

import threading
import time
import uuid
from typing import Any, Callable, Dict, List, Optional

import pendulum

from .graphql_exec import GraphQLRequestError

FINISHED = {"Success", "Failed", "Cancelled", "Skipped", "TimedOut", "TriggerFailed",
            "Cached", "Mapped", "Looped", "ValidationFailed"}


def _now() -> str:
    return pendulum.now("UTC").isoformat()


def _id() -> str:
    return str(uuid.uuid4())


def _state(cls_name: str, **kwargs) -> dict:
    from prefect.engine import state as states

    return getattr(states, cls_name)(**kwargs).serialize()


class DoubleStore:
    """In-memory tables of the double, and the resolvers over them.

    Attributes:
        tenants, projects, flows, flow_groups, tasks, edges, flow_runs,
        task_runs, logs, agents: the tables, id -> row.
        requests: the root fields received, in order (``"mutation create_flow_run"``).
        request_log: ``(time.time(), root field, arguments)`` of every root field.
        on_flow_run_created: callables run with the new flow run id (tests use it
            to wake their agent instead of waiting for its polling back-off).
        on_agent_registered: callables run with the id of a newly registered agent.
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
        self.request_log: List[tuple] = []
        self._idempotency: Dict[str, str] = {}

    # --- resolvers table -------------------------------------------------------

    def resolvers(self) -> Dict[tuple, Callable[[dict], Any]]:
        """``(operation, root field) -> resolver``, each run under the lock."""
        table = {
            ("query", "hello"): lambda a: "hello from the Prefect 1 Server protocol double",
            ("query", "tenant"): lambda a: [self._tenant_row(t) for t in self.tenants.values()],
            ("query", "project"): lambda a: [self._project_row(p) for p in self.projects.values()],
            ("query", "flow"): lambda a: [self._flow_row(f) for f in self.flows.values()],
            ("query", "flow_by_pk"): lambda a: self._by_pk(self.flows, a, self._flow_row),
            ("query", "flow_run"): lambda a: [self._flow_run_row(r) for r in self.flow_runs.values()],
            ("query", "flow_run_by_pk"): lambda a: self._by_pk(self.flow_runs, a, self._flow_run_row),
            ("query", "task_run"): lambda a: [self._task_run_row(r) for r in self.task_runs.values()],
            ("query", "task_run_by_pk"): lambda a: self._by_pk(self.task_runs, a, self._task_run_row),
            ("query", "get_task_run_info"): self.get_task_run_info,
            ("query", "agent"): lambda a: [dict(r) for r in self.agents.values()],
            ("query", "agent_config"): lambda a: [],
            ("mutation", "create_tenant"): self.create_tenant,
            ("mutation", "create_project"): self.create_project,
            ("mutation", "create_flow_from_compressed_string"): self.create_flow_from_compressed_string,
            ("mutation", "create_flow"): self.create_flow,
            ("mutation", "register_tasks"): self.register_tasks,
            ("mutation", "register_edges"): self.register_edges,
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
            ("mutation", "update_agent_heartbeat"): lambda a: {"success": True},
            ("mutation", "get_runs_in_queue"): self.get_runs_in_queue,
            ("mutation", "create_task_run_artifact"): lambda a: {"id": _id()},
        }

        def locked(name, fn):
            def run(args):
                with self.lock:
                    self.requests.append(" ".join(name))
                    self.request_log.append((time.time(), name[1], args))
                    return fn(args)

            return run

        return {name: locked(name, fn) for name, fn in table.items()}

    @staticmethod
    def _by_pk(table: dict, args: dict, row: Callable[[dict], dict]) -> Optional[dict]:
        found = table.get(args.get("id"))
        return None if found is None else row(found)

    # --- rows with relationships -----------------------------------------------

    def _tenant_row(self, t: dict) -> dict:
        return dict(t)

    def _project_row(self, p: dict) -> dict:
        return {
            **p,
            "flows": lambda a: [self._flow_row(f) for f in self.flows.values() if f["project_id"] == p["id"]],
        }

    def _flow_row(self, f: dict) -> dict:
        group = self.flow_groups[f["flow_group_id"]]
        return {
            **f,
            "version_group_id": f["flow_group_id"],
            "project": lambda a: self._project_row(self.projects[f["project_id"]]),
            "flow_group": lambda a: dict(group),
            "tasks": lambda a: [dict(t) for t in self.tasks.values() if t["flow_id"] == f["id"]],
            "flow_runs": lambda a: [self._flow_run_row(r) for r in self.flow_runs.values() if r["flow_id"] == f["id"]],
        }

    def _flow_run_row(self, r: dict) -> dict:
        return {
            **{k: v for k, v in r.items() if not k.startswith("_")},
            "flow": lambda a: self._flow_row(self.flows[r["flow_id"]]),
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
        }

    # --- tenants and projects -------------------------------------------------

    def create_tenant(self, args: dict) -> dict:
        data = args["input"]
        for t in self.tenants.values():
            if t["slug"] == data.get("slug"):
                raise GraphQLRequestError("Uniqueness violation.")
        tenant = {"id": _id(), "name": data["name"], "slug": data.get("slug") or data["name"], "created": _now()}
        self.tenants[tenant["id"]] = tenant
        return {"id": tenant["id"]}

    def create_project(self, args: dict) -> dict:
        data = args["input"]
        for p in self.projects.values():
            if p["name"] == data["name"]:
                raise GraphQLRequestError("Uniqueness violation.")
        project = {
            "id": _id(),
            "name": data["name"],
            "description": data.get("description"),
            "tenant_id": data.get("tenant_id"),
            "created": _now(),
        }
        self.projects[project["id"]] = project
        return {"id": project["id"]}

    # --- flows ----------------------------------------------------------------

    def create_flow_from_compressed_string(self, args: dict) -> dict:
        from prefect.utilities.graphql import decompress

        data = dict(args["input"])
        data["serialized_flow"] = decompress(data["serialized_flow"])
        return self.create_flow({"input": data})

    def create_flow(self, args: dict) -> dict:
        data = args["input"]
        project_id = data.get("project_id")
        if project_id not in self.projects:
            raise GraphQLRequestError(f"project {project_id!r} not found")
        serialized = data["serialized_flow"]
        name = serialized["name"]
        group = next(
            (g for g in self.flow_groups.values() if g["name"] == name and g["project_id"] == project_id),
            None,
        )
        if group is None:
            group = {"id": _id(), "name": name, "project_id": project_id, "labels": None,
                     "settings": {}, "default_parameters": {}, "idempotency_key": None}
            self.flow_groups[group["id"]] = group
        key = data.get("idempotency_key")
        versions = [f for f in self.flows.values() if f["flow_group_id"] == group["id"]]
        if key is not None and key == group["idempotency_key"] and versions:
            return {"id": max(versions, key=lambda f: f["version"])["id"]}
        for f in versions:
            f["archived"] = True
        flow = {
            "id": _id(),
            "name": name,
            "project_id": project_id,
            "flow_group_id": group["id"],
            "version": 1 + max((f["version"] for f in versions), default=0),
            "archived": False,
            "serialized_flow": serialized,
            "storage": serialized.get("storage"),
            "run_config": serialized.get("run_config"),
            "environment": serialized.get("environment"),
            "core_version": serialized.get("__version__"),
            "parameters": serialized.get("parameters", []),
            "settings": {"heartbeat_enabled": True},
            "description": serialized.get("description"),
            "created": _now(),
            "updated": _now(),
        }
        self.flows[flow["id"]] = flow
        group["idempotency_key"] = key
        return {"id": flow["id"]}

    def register_tasks(self, args: dict) -> dict:
        data = args["input"]
        for t in data["serialized_tasks"]:
            existing = next((x for x in self.tasks.values()
                             if x["flow_id"] == data["flow_id"] and x["slug"] == t.get("slug")), None)
            if existing is not None:  # registering the same flow again: upsert by slug
                continue
            task = {
                "id": _id(),
                "flow_id": data["flow_id"],
                "name": t.get("name"),
                "slug": t.get("slug"),
                "type": t.get("type"),
                "mapped": bool(t.get("mapped")),
                "tags": t.get("tags", []),
            }
            self.tasks[task["id"]] = task
        return {"success": True}

    def register_edges(self, args: dict) -> dict:
        data = args["input"]
        for e in data["serialized_edges"]:
            edge = {"flow_id": data["flow_id"], **e}
            if edge not in self.edges:
                self.edges.append(edge)
        return {"success": True}

    # --- flow runs --------------------------------------------------------------

    def create_flow_run(self, args: dict) -> dict:
        data = args["input"]
        key = data.get("idempotency_key")
        if key and key in self._idempotency:
            return {"id": self._idempotency[key]}
        if data.get("flow_id"):
            flow = self.flows.get(data["flow_id"])
        else:
            candidates = [f for f in self.flows.values()
                          if f["flow_group_id"] == data.get("version_group_id") and not f["archived"]]
            flow = candidates[0] if candidates else None
        if flow is None:
            raise GraphQLRequestError(f"flow {data.get('flow_id') or data.get('version_group_id')!r} not found")
        group = self.flow_groups[flow["flow_group_id"]]
        run_config = data.get("run_config") or flow["run_config"]
        labels = data.get("labels")
        if labels is None:
            labels = group["labels"] if group["labels"] is not None else (run_config or {}).get("labels", [])
        start = data.get("scheduled_start_time") or _now()
        start = pendulum.parse(start).in_tz("UTC").isoformat()
        defaults = {p["name"]: p.get("default") for p in flow["parameters"] if not p.get("required")}
        run_id = _id()
        run = {
            "id": run_id,
            "flow_id": flow["id"],
            "name": data.get("flow_run_name") or f"run-{run_id[:8]}",
            "parameters": {**defaults, **(data.get("parameters") or {})},
            "context": data.get("context") or {},
            "labels": sorted(labels or []),
            "run_config": run_config,
            "version": 0,
            "scheduled_start_time": start,
            "start_time": None,
            "end_time": None,
            "heartbeat": None,
            "idempotency_key": key,
            "agent_id": None,
            "created": _now(),
            "updated": _now(),
            "_states": [],
        }
        self._set_state(run, _state("Scheduled", message="Flow run scheduled.", start_time=pendulum.parse(start)))
        run["version"] = 0
        self.flow_runs[run_id] = run
        for task in (t for t in self.tasks.values() if t["flow_id"] == flow["id"]):
            self._new_task_run(run_id, task["id"], -1)
        if key:
            self._idempotency[key] = run_id
        for callback in list(self.on_flow_run_created):
            threading.Thread(target=callback, args=(run_id,), daemon=True).start()
        return {"id": run_id}

    def _set_state(self, row: dict, serialized_state: dict) -> None:
        now = _now()
        kind = serialized_state["type"]
        row["serialized_state"] = serialized_state
        row["state"] = kind
        row["state_message"] = serialized_state.get("message")
        row["state_timestamp"] = now
        row["state_start_time"] = serialized_state.get("start_time")
        row["state_result"] = serialized_state.get("_result")
        row["updated"] = now
        row["version"] = row.get("version", 0) + 1
        if kind == "Running" and not row.get("start_time"):
            row["start_time"] = now
        if kind in FINISHED:
            row["end_time"] = now
        row["_states"].append({
            "id": _id(), "state": kind, "message": row["state_message"], "timestamp": now,
            "start_time": row["state_start_time"], "serialized_state": serialized_state,
            "version": row["version"],
        })

    def set_flow_run_states(self, args: dict) -> dict:
        out = []
        for item in args["input"]["states"]:
            run = self.flow_runs.get(item["flow_run_id"])
            if run is None:
                raise GraphQLRequestError(f"flow run {item['flow_run_id']!r} not found")
            version = item.get("version")
            if version is not None and version != run["version"]:
                raise GraphQLRequestError("State update failed: version locking error",
                                          code="VERSION_LOCKING_ERROR")
            self._set_state(run, item["state"])
            out.append({"id": run["id"], "status": "SUCCESS", "message": None})
        return {"states": out}

    def set_flow_run_name(self, args: dict) -> dict:
        data = args["input"]
        self.flow_runs[data["flow_run_id"]]["name"] = data["name"]
        return {"success": True}

    def cancel_flow_run(self, args: dict) -> dict:
        run = self.flow_runs.get(args["input"]["flow_run_id"])
        if run is None:
            raise GraphQLRequestError(f"flow run {args['input']['flow_run_id']!r} not found")
        if run["state"] in FINISHED:
            return {"state": run["state"]}
        if run["state"] == "Running":
            self._set_state(run, _state("Cancelling", message="Flow run is cancelling."))
        else:
            self._set_state(run, _state("Cancelled", message="Flow run is cancelled."))
        return {"state": run["state"]}

    def update_flow_run_heartbeat(self, args: dict) -> dict:
        run = self.flow_runs.get(args["input"]["flow_run_id"])
        if run is not None:
            run["heartbeat"] = _now()
        return {"success": True}

    # --- task runs ----------------------------------------------------------------

    def _new_task_run(self, flow_run_id: str, task_id: str, map_index: int) -> dict:
        task = self.tasks[task_id]
        task_run = {
            "id": _id(),
            "flow_run_id": flow_run_id,
            "task_id": task_id,
            "name": None,
            "map_index": map_index,
            "version": 0,
            "cache_key": None,
            "heartbeat": None,
            "start_time": None,
            "end_time": None,
            "created": _now(),
            "updated": _now(),
            "_states": [],
            "task_slug": task["slug"],
        }
        self._set_state(task_run, _state("Pending", message="Task run created"))
        task_run["version"] = 0
        self.task_runs[task_run["id"]] = task_run
        return task_run

    def get_or_create_task_run_info(self, args: dict) -> dict:
        data = args["input"]
        for t in self.task_runs.values():
            if (t["flow_run_id"] == data["flow_run_id"] and t["task_id"] == data["task_id"]
                    and t["map_index"] == data.get("map_index", -1)):
                break
        else:
            if data["task_id"] not in self.tasks:
                raise GraphQLRequestError(f"task {data['task_id']!r} not found")
            t = self._new_task_run(data["flow_run_id"], data["task_id"], data.get("map_index", -1))
        return {"id": t["id"], "version": t["version"], "serialized_state": t["serialized_state"]}

    def get_task_run_info(self, args: dict) -> Optional[dict]:
        t = self.task_runs.get(args.get("task_run_id"))
        return None if t is None else self._task_run_row(t)

    def set_task_run_states(self, args: dict) -> dict:
        out = []
        for item in args["input"]["states"]:
            t = self.task_runs.get(item["task_run_id"])
            if t is None:
                raise GraphQLRequestError(f"task run {item['task_run_id']!r} not found")
            version = item.get("version")
            if version is not None and version != t["version"]:
                raise GraphQLRequestError("State update failed: version locking error",
                                          code="VERSION_LOCKING_ERROR")
            self._set_state(t, item["state"])
            out.append({"id": t["id"], "status": "SUCCESS", "message": None})
        return {"states": out}

    def set_task_run_name(self, args: dict) -> dict:
        data = args["input"]
        self.task_runs[data["task_run_id"]]["name"] = data["name"]
        return {"success": True}

    def update_task_run_heartbeat(self, args: dict) -> dict:
        t = self.task_runs.get(args["input"]["task_run_id"])
        if t is not None:
            t["heartbeat"] = _now()
        return {"success": True}

    # --- logs and agents ----------------------------------------------------------

    def write_run_logs(self, args: dict) -> dict:
        for entry in args["input"]["logs"]:
            self.logs.append({"id": _id(), "timestamp": entry.get("timestamp") or _now(),
                              "level": entry.get("level", "INFO"), **entry})
        return {"success": True}

    def register_agent(self, args: dict) -> dict:
        data = args["input"]
        agent = {"id": _id(), "name": data.get("name"), "type": data.get("type"),
                 "labels": list(data.get("labels") or []), "last_queried": _now()}
        self.agents[agent["id"]] = agent
        for callback in list(self.on_agent_registered):
            callback(agent["id"])
        return {"id": agent["id"]}

    def get_runs_in_queue(self, args: dict) -> dict:
        data = args["input"]
        before = pendulum.parse(data.get("before") or _now())
        labels = set(data.get("labels") or [])
        ids = []
        for run in sorted(self.flow_runs.values(), key=lambda r: r["scheduled_start_time"]):
            if run["state"] != "Scheduled":
                continue
            start = pendulum.parse(run["state_start_time"] or run["scheduled_start_time"])
            if start <= before and set(run["labels"]) <= labels:
                ids.append(run["id"])
        for agent in self.agents.values():
            if set(agent["labels"]) == labels:
                agent["last_queried"] = _now()
        return {"flow_run_ids": ids}
