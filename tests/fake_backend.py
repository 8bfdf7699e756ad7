"""A fake scheduling backend: flows kept in memory, runs in this process, one task at a time.

It is a test double of :class:`lume_services.services.scheduling.backend.Backend`
written only from the contract the models rely on, so that the backend contract
suite (``tests/test_backend_contract.py``) holds the local and server backends
to that contract and this fake to it too: if the models came to depend on
something a backend does not declare, the fake would not have it.
"""

import itertools
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional

from lume_services.errors import (
    EmptyResultError,
    FlowFailedError,
    FlowNotFoundError,
    RunNotFoundError,
    TaskNotInFlowError,
    UnsupportedRunConfigError,
)
from lume_services.services.scheduling.backend import Backend, check_parameters
from lume_services.services.scheduling.task_order import slug_order
from lume_services.services.scheduling.fingerprint import flow_fingerprint
from lume_services.services.scheduling.run_records import ChildRun, RunRecord, TaskRun, recorded_result


class InMemoryBackend(Backend):
    """Registers flows in a dict and runs them with Prefect's ``LocalExecutor`` in this process."""

    composition = "inline"

    def __init__(self):
        self.projects = set()
        #: (project, flow name) -> versions, oldest first: {"flow_id", "flow", "fingerprint"}
        self.versions: Dict[tuple, List[dict]] = {}
        self._ids = itertools.count(1)
        #: every run, newest first
        self.runs: List[RunRecord] = []

    def create_project(self, project_name: str) -> None:
        self.projects.add(project_name)

    def register_flow(self, flow, project_name, image=None, labels=None) -> str:
        project_name = project_name or "default"
        self.projects.add(project_name)
        fingerprint = flow_fingerprint(flow, image, list(labels or []))
        versions = self.versions.setdefault((project_name, flow.name), [])
        if versions and versions[-1]["fingerprint"] == fingerprint:
            return versions[-1]["flow_id"]
        flow_id = f"fake-{next(self._ids)}"
        versions.append({"flow_id": flow_id, "flow": flow.copy(), "fingerprint": fingerprint})
        return flow_id

    def load_flow(self, flow_name: str, project_name: Optional[str]) -> dict:
        project_name = project_name or "default"
        versions = self.versions.get((project_name, flow_name))
        if not versions:
            names = [name for project, name in self.versions if project == project_name]
            raise FlowNotFoundError(flow_name, project_name, names)
        latest = versions[-1]
        return {"flow_id": latest["flow_id"], "flow": latest["flow"].copy(), "version": len(versions)}

    def list_flows(self, project_name: Optional[str] = None) -> List[dict]:
        return [
            {"name": name, "project_name": project, "flow_id": v[-1]["flow_id"], "version": len(v)}
            for (project, name), v in sorted(self.versions.items())
            if project_name in (None, project)
        ]

    def start_run(self, options, *, flow=None, flow_id=None, **kwargs):
        if options.run_config is not None:
            raise UnsupportedRunConfigError(type(self).__name__, options.run_config, accepted=[])
        check_parameters(flow, options.parameters)
        start = datetime.now(timezone.utc)
        state = flow.run(parameters=options.parameters, run_on_schedule=False, **kwargs)
        tasks = []
        for task in sorted(flow.tasks, key=lambda t: slug_order(flow.slugs[t])):
            st = self._states(state).get(task)
            done = st is not None and st.is_successful() and not st.is_skipped()
            tasks.append(TaskRun(task.name, flow.slugs[task], type(st).__name__ if st else "Pending",
                                 result=st.result if done else None, result_recorded=done))
        self.runs.insert(0, RunRecord(
            run_id=f"fake-run-{next(self._ids)}", flow_name=flow.name, state=type(state).__name__,
            project_name=self._project_of(flow_id) or options.project_name, flow_id=flow_id,
            parameters=dict(options.parameters), start=start, end=datetime.now(timezone.utc),
            message=state.message, tasks=tasks, children=self._children(options.children, tasks),
        ))
        return state

    def _project_of(self, flow_id) -> Optional[str]:
        """The project a registered flow is in (a run records it, as the history lists runs by project)."""
        for (project, _), versions in self.versions.items():
            if any(v["flow_id"] == flow_id for v in versions):
                return project
        return None

    @staticmethod
    def _children(plans, tasks: List[TaskRun]) -> List[ChildRun]:
        """A flow of flows' children as the composer planned them: a child succeeded when all its tasks did."""
        states = {t.name: t.state for t in tasks}
        children = []
        for plan in plans or []:
            mine = [states.get(name, "Pending") for name in plan.tasks]
            state = next((s for s in mine if s != "Success"), "Success")
            received = {param: next((t.result for t in tasks if t.name == source), None)
                        for param, source in plan.mapped.items()}
            children.append(ChildRun(plan.name, state, parents=list(plan.parents), mapped=received))
        return children

    def wait(self, handle, poll_interval=None, deadline=None, flow_name=None, waited_for=None):
        return handle

    def _states(self, finished) -> Dict[Any, Any]:
        return finished.result if isinstance(finished.result, dict) else {}

    def failed_tasks(self, finished) -> Dict[str, str]:
        from prefect.engine.state import TriggerFailed

        return {
            task.name: f"{type(state.result).__name__}: {state.result}"
            for task, state in self._states(finished).items()
            if state.is_failed() and not isinstance(state, TriggerFailed)
        }

    def raise_if_failed(self, finished, flow_name: str) -> None:
        if finished.is_failed():
            raise FlowFailedError(flow_name, self.failed_tasks(finished), message=finished.message)

    def collect_results(self, finished, flow, task_name: Optional[str]):
        states = self._states(finished)
        by_name: Dict[str, list] = {}
        for task in sorted(flow.tasks, key=lambda t: slug_order(flow.slugs[t])):
            by_name.setdefault(task.name, []).append(states.get(task))
        if task_name is not None:
            if task_name not in by_name:
                raise TaskNotInFlowError(flow.name, task_name, by_name)
            for state in by_name[task_name]:
                if state is None or state.is_skipped():
                    raise EmptyResultError(flow.name, task_name, "not run")
            values = [state.result for state in by_name[task_name]]
        else:
            return {
                name: (lambda vs: vs[0] if len(vs) == 1 else vs)([s.result if s else None for s in states_])
                for name, states_ in by_name.items()
            }
        return values[0] if len(values) == 1 else values

    def results_by_slug(self, finished, flow) -> Dict[str, Any]:
        states = self._states(finished)
        return {flow.slugs[t]: s.result for t, s in states.items() if s.is_successful()}

    def list_runs(self, query):
        found = [
            r for r in self.runs
            if query.flow_name in (None, r.flow_name) and query.project_name in (None, r.project_name)
            and query.state in (None, r.state) and (query.since is None or r.start >= query.since)
            and (query.until is None or r.start < query.until)
        ]
        return found[: query.limit]

    def get_run(self, run_id: str):
        for r in self.runs:
            if r.run_id == run_id:
                return r
        raise RunNotFoundError(run_id, "the in-memory fake")

    def run_result(self, run_id: str, task_name: str):
        return recorded_result(self.get_run(run_id), task_name)

    def prune_runs(self, older_than) -> int:
        cutoff = datetime.now(timezone.utc) - older_than
        kept = [r for r in self.runs if r.start >= cutoff]
        pruned, self.runs = len(self.runs) - len(kept), kept
        return pruned
