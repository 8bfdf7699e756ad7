"""A flow-run process that ended without a final state: its runs are marked ``Failed`` at once.

Prefect 1's ``LocalAgent`` starts each flow run as a ``prefect execute
flow-run`` process and, once a minute, only logs a non-zero exit code. A
process killed by a signal (``SIGKILL``, the kernel's out-of-memory killer)
never sets its run's final state: on the server the run stays ``Running``
(and a composed flow of flows' in-process children with it, see
``flows/_child_in_process.py``) until the server's zombie killer fails its
running task runs and Lazarus reschedules the run, 10 to 20 minutes later;
anyone waiting on the run waits that long, or until their timeout.

The agent of ``lume-services agent`` (``fast_agent``) watches each process it
starts (a thread blocked in ``Popen.wait``) and, when one ends, calls
:func:`fail_unfinished_run`: when the run is still ``Submitted`` or
``Running`` it sets its running task runs and the run ``Failed`` (a run
being cancelled: ``Cancelled``), with a
message naming the process and its signal or exit code, and does the same for
the child runs that process had claimed to run in itself (found by the
idempotency keys their ``CreateChildRun`` task runs gave them, and by the
claim's ``Submitted`` message). Before that it stops the run's heartbeat
process, when runs send heartbeats from one (``--heartbeat process``,
Prefect's default): killed with its flow-run process, it would be left behind
sending the run's heartbeats forever, so that even the server's zombie killer
and Lazarus never see the run as dead. The ``Failed`` state's context holds the facts
(:data:`ENDED_CONTEXT_KEY`) so that a waiting caller raises
:class:`~lume_services.errors.FlowRunProcessEndedError`.

Kept here rather than in a library: neither Prefect 1 nor a maintained package
watches an agent's flow-run processes.
"""

import os
import signal
from pathlib import Path
from typing import Any, Dict, List, Optional

from lume_services.services.scheduling.waiting import CLAIM_MESSAGE, ENDED_CONTEXT_KEY

#: the states of a run whose process still had work to do
UNFINISHED = ("Submitted", "Running", "Cancelling")

RUN_QUERY = """query($id: uuid!) {
  flow_run_by_pk(id: $id) { id state task_runs { id map_index state } }
}"""

CHILDREN_QUERY = """query($keys: [String!]) {
  flow_run(where: {idempotency_key: {_in: $keys}}) {
    id state agent_id states { state message } task_runs { id map_index state }
  }
}"""


def describe_exit(returncode: Optional[int]) -> Dict[str, Any]:
    """The facts of a process's end: ``{"exit_code", "signal"}`` (``signal`` ``None`` for a plain exit)."""
    name = None
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
    return {"exit_code": returncode, "signal": name}


def ended_message(pid: int, facts: Dict[str, Any], child_of: Optional[str] = None) -> str:
    """The ``Failed`` state's message: the process, how it ended, and (a child) whose process it was."""
    how = f"was killed by {facts['signal']}" if facts.get("signal") else f"exited with code {facts.get('exit_code')}"
    whose = f" of its parent flow run {child_of}, which ran it" if child_of else ""
    return f"the flow-run process (pid {pid}){whose} {how} before the run finished"


def heartbeat_processes(flow_run_id: str) -> List[int]:
    """The ids of this user's processes sending heartbeats for ``flow_run_id``
    (Prefect's ``python -m prefect heartbeat flow-run -i <id>``); none where ``/proc`` is missing."""
    tail = ["-m", "prefect", "heartbeat", "flow-run", "-i", flow_run_id]
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if entry.stat().st_uid != os.getuid():
                continue
            args = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if args and args[-1] == "":
            args.pop()
        if args[1:] == tail:
            found.append(int(entry.name))
    return found


def stop_heartbeat_processes(flow_run_id: str) -> List[int]:
    """Stop (``SIGTERM``) the heartbeat processes of ``flow_run_id`` left behind by its ended process."""
    stopped = []
    for pid in heartbeat_processes(flow_run_id):
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            continue
        stopped.append(pid)
    return stopped


def _idempotency_keys(task_runs: List[Any]) -> List[str]:
    """The keys a run's ``CreateChildRun`` task runs gave their child runs (``id``, or ``id-<map index>``)."""
    keys = []
    for t in task_runs:
        keys.append(t.id if t.map_index in (None, -1) else f"{t.id}-{t.map_index}")
    return keys


def _claimed_here(run) -> bool:
    """Whether a child run was claimed by its parent's process (not started by an agent)."""
    return run.agent_id is None and any(
        s.state == "Submitted" and s.message == CLAIM_MESSAGE for s in (run.states or []))


def _end(client, run_id: str, task_runs: List[Any], message: str, context: Dict[str, Any],
         cancelling: bool) -> None:
    """Set a run whose process ended ``Failed`` (its running task runs first), or ``Cancelled`` when it
    was being cancelled (the server then cancels its unfinished task runs itself)."""
    from prefect.engine.state import Cancelled, Failed

    if cancelling:
        client.set_flow_run_state(flow_run_id=run_id, state=Cancelled(message=f"{message}, while it was cancelled"))
        return
    for t in task_runs:
        if t.state == "Running":  # what the process was doing when it ended
            client.set_task_run_state(task_run_id=t.id, state=Failed(message=message))
    client.set_flow_run_state(flow_run_id=run_id, state=Failed(message=message, context=context))


def fail_unfinished_run(client, flow_run_id: str, pid: int, returncode: Optional[int],
                        max_depth: int = 8) -> List[str]:
    """Mark ``Failed`` a flow run whose process ended before it did, and the children it ran in itself.

    A run that was being cancelled (``Cancelling``) is set ``Cancelled`` instead, its children too.

    Args:
        client: a ``prefect.Client`` (the agent's).
        flow_run_id: the run the process ran.
        pid: the process's id.
        returncode: its ``Popen.returncode`` (negative: the signal that killed it).
        max_depth: how deep children of children are followed.

    Returns:
        The ids of the runs ended (none when the run had finished).
    """
    run = client.graphql(RUN_QUERY, variables={"id": flow_run_id}).data.flow_run_by_pk
    if run is None or run.state not in UNFINISHED:
        return []
    facts = {**describe_exit(returncode), "pid": pid, "flow_run_id": flow_run_id}
    cancelling = run.state == "Cancelling"  # a cancellation asked for: it ends Cancelled, children with it
    failed: List[str] = []

    def children_of(parent, depth: int) -> None:
        keys = _idempotency_keys(parent.task_runs or [])
        if not keys or depth > max_depth:
            return
        found = client.graphql(CHILDREN_QUERY, variables={"keys": keys}).data.flow_run or []
        for child in found:
            if child.state not in UNFINISHED or not _claimed_here(child):
                continue  # finished, or run by an agent in a process of its own
            children_of(child, depth + 1)
            message = ended_message(pid, facts, child_of=flow_run_id)
            _end(client, child.id, child.task_runs or [], message,
                 {ENDED_CONTEXT_KEY: {**facts, "child_of": flow_run_id}}, cancelling)
            failed.append(child.id)

    children_of(run, 1)
    _end(client, flow_run_id, run.task_runs or [], ended_message(pid, facts), {ENDED_CONTEXT_KEY: facts},
         cancelling)
    failed.append(flow_run_id)
    return failed
