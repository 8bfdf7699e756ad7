"""The real server's background services that age runs: the zombie killer and Lazarus.

A real Prefect 1 Server runs them in its ``towel`` service (PrefectHQ/server,
``src/prefect_server/services/towel/zombie_killer.py`` and ``lazarus.py``, read at
the version :data:`SERVER_VERSION` names). The double runs them when a test
asks (:meth:`BackgroundServices.run_once`), not on a timer, and sees time
through a :class:`MovableClock` that tests move forward instead of sleeping.

What they do, as the real ones:

- **zombie killer** (every 120 s on a real server), with a heartbeat cutoff of
  10 minutes ago:
  - a task run ``Running`` whose *flow run's* heartbeat is older than the
    cutoff (and whose flow group does not disable heartbeats) becomes
    ``Retrying`` when its flow run is ``Running`` and it has retries left
    (``max_retries`` against its ``Retrying`` states so far, starting after
    its ``retry_delay``), else ``Failed`` ("No heartbeat detected from the
    remote task; marking the task run {id} ({name}) as failed.");
  - a flow run ``Cancelling`` with a stale heartbeat becomes ``Failed`` ("No
    heartbeat detected from the flow run; marking the run as failed."), so a
    cancellation nobody carries out ends;
  - each change is logged (``ERROR``) on the run.
- **Lazarus** (every 600 s), with the same cutoff: a flow run ``Submitted`` or
  ``Running`` with a stale heartbeat, none of whose task runs is in a state of
  the ``Scheduled`` or ``Running`` families, and whose flow group disables
  neither heartbeats nor Lazarus, is set ``Scheduled`` ("Rescheduled by a
  Lazarus process.") and its ``times_resurrected`` counted up, so an agent
  takes it again; at the third attempt (``resurrection_attempt_limit = 3``) it
  is ``Failed`` instead. Each change is logged.

The clock moves the services' view of time and the Submitted lock's: the
timestamps requests write (heartbeats, states) stay real time, as the agent
and flow runners (other processes) read real time too. Moving the clock by
11 minutes makes every heartbeat older than the cutoff, as if the services ran
11 minutes later.
"""

import time
from typing import Dict, List

import pendulum

from .schema import SERVER_VERSION  # noqa: F401 (the version the services were read from)

#: how old a heartbeat must be for the services to act (both use 10 minutes)
HEARTBEAT_CUTOFF_SECONDS = 600
#: ``config.services.lazarus.resurrection_attempt_limit`` of the real server
RESURRECTION_ATTEMPT_LIMIT = 3
#: how often a real server runs each service, in seconds (``loop_seconds_default``)
ZOMBIE_KILLER_LOOP_SECONDS = 120
LAZARUS_LOOP_SECONDS = 600


def _lazarus_exclude() -> List[str]:
    """State class names of the Scheduled and Running families (the real LAZARUS_EXCLUDE)."""
    from prefect.engine import state

    return [s.__name__ for s in vars(state).values()
            if isinstance(s, type) and issubclass(s, (state.Scheduled, state.Running))]


class MovableClock:
    """Real time plus an offset the tests move forward (never back)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward."""
        if seconds < 0:
            raise ValueError(f"the clock only moves forward, not by {seconds} s")
        self.offset += seconds

    def now(self) -> "pendulum.DateTime":
        """The clock's time, in UTC."""
        return pendulum.now("UTC").add(seconds=self.offset)

    def monotonic(self) -> float:
        """``time.monotonic()`` moved as the clock is (for the Submitted lock)."""
        return time.monotonic() + self.offset


class BackgroundServices:
    """The zombie killer and Lazarus over a :class:`~.store.DoubleStore`.

    Args:
        store: the double's store (its ``clock`` is theirs).
    """

    def __init__(self, store) -> None:
        self.store = store

    def _cutoff(self) -> "pendulum.DateTime":
        return self.store.clock.now().subtract(seconds=HEARTBEAT_CUTOFF_SECONDS)

    @staticmethod
    def _stale(heartbeat, cutoff) -> bool:
        # the real where clause ``heartbeat <= cutoff``: a NULL heartbeat never matches
        return heartbeat is not None and pendulum.parse(heartbeat) <= cutoff

    def _group_settings(self, flow_id: str) -> Dict:
        store = self.store
        return store.flow_groups[store.flows[flow_id]["flow_group_id"]]["settings"]

    def _log(self, flow_run_id: str, message: str, level: str, name: str, task_run_id: str = None) -> None:
        from .store import _id, _now

        store = self.store
        store.logs.append({
            "id": _id(), "tenant_id": store.flow_runs[flow_run_id]["tenant_id"],
            "flow_run_id": flow_run_id, "task_run_id": task_run_id, "timestamp": _now(),
            "message": message, "name": name, "level": level, "info": None,
            "created": _now(), "updated": _now(),
        })

    # --- zombie killer ----------------------------------------------------------

    def reap_zombie_task_runs(self) -> int:
        """Retry or fail the Running task runs of flow runs with a stale heartbeat; return how many."""
        from .store import _state

        store, cutoff, handled = self.store, self._cutoff(), 0
        for task_run in list(store.task_runs.values()):
            flow_run = store.flow_runs[task_run["flow_run_id"]]
            if task_run["state"] != "Running" or not self._stale(flow_run["heartbeat"], cutoff):
                continue
            if self._group_settings(flow_run["flow_id"]).get("heartbeat_enabled") is False:
                continue
            task = store.tasks[task_run["task_id"]]
            retries = sum(1 for s in task_run["_states"] if s["state"] == "Retrying")
            if flow_run["state"] == "Running" and retries < (task["max_retries"] or 0):
                message = ("No heartbeat detected from the remote task; retrying the run."
                           f"This will be retry {retries + 1} of {task['max_retries']}.")
                delay = pendulum.duration(seconds=float(task["retry_delay"] or 0))
                state = _state("Retrying", message=message, run_count=retries + 1,
                               start_time=pendulum.now("UTC") + delay)
            else:
                message = ("No heartbeat detected from the remote task; marking the "
                           f"task run {task_run['id']} ({task_run['name']}) as failed.")
                state = _state("Failed", message=message)
            store._record_state(task_run, state)
            self._log(flow_run["id"], message, "ERROR", "ZombieKiller.TaskRun", task_run["id"])
            handled += 1
        return handled

    def reap_zombie_cancelling_flow_runs(self) -> int:
        """Fail the Cancelling flow runs with a stale heartbeat; return how many."""
        from .store import _state

        store, cutoff, handled = self.store, self._cutoff(), 0
        message = "No heartbeat detected from the flow run; marking the run as failed."
        for run in list(store.flow_runs.values()):
            if run["state"] != "Cancelling" or not self._stale(run["heartbeat"], cutoff):
                continue
            if self._group_settings(run["flow_id"]).get("heartbeat_enabled") is False:
                continue
            store._set_flow_run_state(run, _state("Failed", message=message))
            self._log(run["id"], message, "ERROR", "ZombieKiller.FlowRun")
            handled += 1
        return handled

    def zombie_killer(self) -> int:
        """One pass of the zombie killer: task runs first, then Cancelling flow runs."""
        with self.store.lock:
            return self.reap_zombie_task_runs() + self.reap_zombie_cancelling_flow_runs()

    # --- Lazarus -------------------------------------------------------------------

    def lazarus(self) -> int:
        """One pass of Lazarus; return how many flow runs were rescheduled."""
        from .store import _state

        store, cutoff, rescheduled = self.store, self._cutoff(), 0
        exclude = set(_lazarus_exclude())
        with store.lock:
            runs = sorted(store.flow_runs.values(), key=lambda r: r["updated"])
            for run in runs:
                if run["state"] not in ("Running", "Submitted") or not self._stale(run["heartbeat"], cutoff):
                    continue
                if any(t["state"] in exclude for t in store.task_runs.values() if t["flow_run_id"] == run["id"]):
                    continue
                settings = self._group_settings(run["flow_id"])
                if settings.get("heartbeat_enabled") is False or settings.get("lazarus_enabled") is False:
                    continue
                if run["times_resurrected"] < RESURRECTION_ATTEMPT_LIMIT:
                    store._set_flow_run_state(
                        run, _state("Scheduled", message="Rescheduled by a Lazarus process."))
                    run["times_resurrected"] += 1
                    self._log(run["id"], "Rescheduled by a Lazarus process. "
                              f"This is attempt {run['times_resurrected']}.", "INFO", "Lazarus.FlowRun")
                    rescheduled += 1
                    for callback in list(store.on_flow_run_rescheduled):
                        callback(run["id"])
                else:
                    message = ("A Lazarus process attempted to reschedule this run "
                               f"{RESURRECTION_ATTEMPT_LIMIT} times without success. Marking as failed.")
                    store._set_flow_run_state(run, _state("Failed", message=message))
                    self._log(run["id"], message, "ERROR", "Lazarus.FlowRun")
        return rescheduled

    def run_once(self) -> None:
        """Run each service once, as the towel service's loops would."""
        self.zombie_killer()
        self.lazarus()
