"""Children of a composed flow of flows run in the parent's flow-run process, as their own server flow runs.

A per-child composition (``_compose_per_child``) gives every child its own flow
run on the Prefect Server. Run by an agent, each such run is a new ``prefect
execute flow-run`` process that imports Prefect and loads its flow: about
0.8 s a child, most of a short chain's time. Where a child would run exactly
where its parent runs, the parent's flow-run process runs it instead, the way
``prefect execute flow-run`` would, and the server sees the same flow run:

1. :func:`create_and_claim` (called by the composed run's ``CreateChildRun``
   task, in place of Prefect's ``create_flow_run``) reads, in one request, the child's registered flow (name, storage, run
   config) and the parent's run (labels, run config, storage), creates the
   child's run as Prefect's task does (same name, same idempotency key), and
   when the child can run here **claims** it at once with the ``Submitted``
   state an agent would set. The server refuses a second ``Submitted`` (its
   lock), so a run is started by the parent or by an agent, never both: an
   agent that found the run first keeps it and the parent waits for it.
2. :class:`~lume_services.flows._child_runs.WaitForChildRun` runs a claimed
   child (:func:`run_claimed`) before it polls: the child's flow is loaded from
   its storage (``loading_flow`` set, the storage's secrets read, as ``prefect
   execute flow-run`` does) and run by Prefect's ``CloudFlowRunner`` with
   ``prefect.context`` set afresh for the child's run (``flow_run_id``,
   ``flow_id``, ``running_with_backend``, the configuration), so its states,
   task runs, heartbeats and logs reach the server under its own ids; the
   wait's poll then reads its final state as for any child.
3. :class:`ChildTaskResult` (in place of ``get_task_run_result``) reads a
   value a child run here produced from the result location its task run
   recorded, without asking the server; other children's values as Prefect's
   task reads them.

A child runs here when all of these hold; otherwise an agent runs it as before:

- the composed run's context allows it (:data:`IN_PROCESS_CONTEXT_KEY`, from
  ``LUME_PREFECT__CHILDREN_IN_PROCESS``; unset: allowed);
- the child's run would have the parent run's labels (the same agents would
  take it) and the same run config apart from its labels (environment,
  working directory, image, ...);
- its storage is loadable here: not an image, or the parent's own image;
- the wait runs in the main thread of the process (a ``LocalExecutor``): the
  cancellation of a flow run interrupts the main thread.

In-process children send heartbeats from a thread (``heartbeat_mode``
``thread``) rather than a second heartbeat process each, unless heartbeats
are off. Secrets come from where the parent runs, i.e. from the agent's
environment, as for an agent-run child with the same run config.

Kept here rather than in a library: Prefect 1 has no "run this flow run here"
call besides its CLI, and no maintained package provides one.
"""

import threading
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, cast

from prefect import Task
from prefect.executors import LocalExecutor

from lume_services.errors import FlowIdNotFoundError
from lume_services.services.scheduling.waiting import CLAIM_MESSAGE, IN_PROCESS_CONTEXT_KEY, STATE_QUERY

#: the one request that tells whether a child may run in the parent's process
LOOKUP_QUERY = """query($flow: uuid!, $run: uuid!) {
  child: flow_by_pk(id: $flow) { name storage run_config flow_group { labels run_config } }
  parent: flow_run_by_pk(id: $run) { labels run_config flow { storage run_config } }
}"""

#: the child's flow alone, for a composed flow run without a server flow run (``flow.run()``)
CHILD_QUERY = """query($flow: uuid!) {
  child: flow_by_pk(id: $flow) { name storage run_config flow_group { labels run_config } }
}"""

@dataclass
class Claim:
    """A child's run claimed by this process: what running it needs."""

    flow_run_id: str
    flow_id: str
    flow_name: str
    storage: dict
    timed_out: bool = False
    #: slug -> final task state, once the run ended
    task_states: Dict[str, Any] = field(default_factory=dict)


_lock = threading.Lock()
#: flow run id -> its claim, from its creation until its wait runs it
_claimed: Dict[str, Claim] = {}
#: flow run id -> slug -> final task state, of the children this process ran
_finished: Dict[str, Dict[str, Any]] = {}


def take_claim(flow_run_id: Optional[str]) -> Optional[Claim]:
    """The claim on ``flow_run_id`` made in this process (removed), or ``None``."""
    with _lock:
        return _claimed.pop(flow_run_id or "", None)


def ran_here(flow_run_id: str) -> bool:
    """Whether this process ran the flow run ``flow_run_id`` as an in-process child."""
    with _lock:
        return flow_run_id in _finished


def _without_labels(run_config: Optional[dict]) -> Optional[dict]:
    if not run_config:
        return None
    return {k: v for k, v in run_config.items() if k != "labels"}


def _image(storage: Optional[dict]):
    storage = storage or {}
    if "image_name" not in storage:
        return None
    return (storage.get("registry_url"), storage.get("image_name"), storage.get("image_tag"))


def may_run_here(child_flow: dict, parent_run: dict, labels: Optional[Iterable[str]]) -> bool:
    """Whether a child's run would run where its parent runs (see the module docstring).

    Args:
        child_flow: the child's flow as the server has it (``storage``,
            ``run_config``, ``flow_group {labels run_config}``).
        parent_run: the parent's flow run (``labels``, ``run_config``, ``flow {storage run_config}``).
        labels: the labels the child's run is created with (``None``: its flow's).
    """
    group = child_flow.get("flow_group") or {}
    child_config = group.get("run_config") or child_flow.get("run_config")
    if labels is not None:
        child_labels = list(labels)
    elif child_config is not None:  # as the server picks a run's labels
        child_labels = child_config.get("labels") or []
    else:
        child_labels = group.get("labels") or []
    parent_flow = parent_run.get("flow") or {}
    parent_config = parent_run.get("run_config") or parent_flow.get("run_config")
    if sorted(child_labels) != sorted(parent_run.get("labels") or []):
        return False
    if _without_labels(child_config) != _without_labels(parent_config):
        return False
    image = _image(child_flow.get("storage"))
    return image is None or image == _image(parent_flow.get("storage"))


def create_and_claim(flow_id: Optional[str], parameters: Optional[dict] = None,
                     labels: Optional[Iterable[str]] = None, run_name: Optional[str] = None,
                     context: Optional[dict] = None) -> str:
    """Create a child's flow run as Prefect's ``create_flow_run`` task does; claim it when it can run here.

    Called by the composed run's ``CreateChildRun`` task (``_child_runs``). The
    run gets the same name (``<parent run name>-<flow name>`` unless given)
    and idempotency key (the task run's id, and its map index) as Prefect's
    task gives it. A child that may run in this process (module docstring) is
    claimed at once with the ``Submitted`` state an agent would set, for
    ``WaitForChildRun`` to run it.

    Args:
        flow_id: the child's registered flow.
        parameters: its parameters.
        labels: the run's labels (``None``: its flow's).
        run_name: the run's name (``None``: ``<parent run name>-<flow name>``).
        context: the run's context.

    Returns:
        The child's flow run id, whoever runs it.

    Raises:
        FlowIdNotFoundError: the server has no flow ``flow_id`` (deleted since).
    """
    import prefect
    from prefect.engine.state import Scheduled, Submitted
    from prefect.exceptions import ClientError
    from prefect.utilities.logging import get_logger

    client = prefect.Client()
    parent_id = prefect.context.get("flow_run_id")
    if parent_id:
        found = client.graphql(LOOKUP_QUERY, variables={"flow": flow_id, "run": parent_id}).data
    else:  # the composed flow run without a server flow run (flow.run()): no parent to run in
        found = client.graphql(CHILD_QUERY, variables={"flow": flow_id}).data
    child_flow, parent_run = found.child, found.get("parent")
    if child_flow is None:  # deleted since the composed flow was registered
        raise FlowIdNotFoundError(cast(str, flow_id), prefect.config.cloud.api)
    if not run_name and prefect.context.get("flow_run_name"):
        run_name = f"{prefect.context.get('flow_run_name')}-{child_flow.name}"
    logger = prefect.context.get("logger") or get_logger("CreateChildRun")
    logger.info(f"Creating flow run {run_name or '<generated-name>'!r} for flow {child_flow.name!r}...")
    key = prefect.context.get("task_run_id")
    if key and prefect.context.get("map_index") is not None:
        key += f"-{prefect.context.get('map_index')}"
    labels = list(labels) if labels is not None else None
    # None where Prefect's own create_flow_run task passes None (its annotations say str)
    flow_run_id = client.create_flow_run(flow_id=cast(str, flow_id), parameters=cast(dict, parameters),
                                         labels=cast(List[str], labels), run_name=cast(str, run_name),
                                         idempotency_key=key, context=cast(dict, context))
    logger.info(f"Created flow run {run_name or '<generated-name>'!r}: {flow_run_id}")
    here = (
        prefect.context.get(IN_PROCESS_CONTEXT_KEY, True) is not False
        and threading.current_thread() is threading.main_thread()
        and parent_run is not None
        and may_run_here(child_flow.to_dict(), parent_run.to_dict(), labels)
    )
    if not here:
        return flow_run_id
    try:  # the Submitted an agent would set: the server lets one of us have it
        client.set_flow_run_state(flow_run_id=flow_run_id,
                                  state=Submitted(message=CLAIM_MESSAGE, state=Scheduled()))
    except ClientError as exc:
        if "State update failed" not in str(exc):
            raise
        logger.info(f"Flow run {flow_run_id} was taken by an agent; waiting for it there")
        return flow_run_id
    with _lock:
        _claimed[flow_run_id] = Claim(flow_run_id, cast(str, flow_id), child_flow.name,
                                      child_flow.storage.to_dict())
    return flow_run_id


def run_claimed(claim: Claim, end: Optional[float], clock) -> None:
    """Run a claimed child's flow run in this process with Prefect's ``CloudFlowRunner``.

    ``prefect.context`` is set afresh for the child's run (as a new process
    would have it) and put back afterwards. A run no longer in the claim's
    ``Submitted`` (rescheduled since by the server's Lazarus) is left to its
    agent. When ``end`` (epoch seconds on
    ``clock``) passes first, the child's run is cancelled on the server; its
    runner notices, as an agent-run child's would, and ``claim.timed_out`` is set.

    Raises:
        BaseException: an interruption of the parent (its own cancellation)
            reaching the child's run; the child's run is first set ``Cancelled``.
    """
    import prefect
    from prefect.engine.cloud import CloudFlowRunner
    from prefect.engine.state import Cancelled, Failed, State
    from prefect.serialization.storage import StorageSchema
    from prefect.tasks.secrets import PrefectSecret
    from prefect.utilities.collections import merge_dicts
    from prefect.utilities.context import Context
    from prefect.utilities.logging import get_logger

    logger = get_logger("ChildInParentProcess")
    client = prefect.Client()
    # still as claimed? A claim left waiting past the server's heartbeat cutoff (10 min) is
    # rescheduled by its Lazarus for an agent to run: then the agent runs it, not this process
    data = client.graphql(STATE_QUERY, variables={"id": claim.flow_run_id}).data
    current = State.deserialize(data.flow_run_by_pk.serialized_state)
    if not (current.is_submitted() and current.message == CLAIM_MESSAGE):
        get_logger("ChildInParentProcess").info(
            f"Flow run {claim.flow_run_id} is {type(current).__name__} since it was claimed; left to its agent")
        return
    timer = None
    if end is not None:
        def cancel():
            claim.timed_out = True
            client.cancel_flow_run(claim.flow_run_id)

        timer = threading.Timer(max(0.0, end - clock.time()), cancel)
        timer.daemon = True
        timer.start()
    fresh = dict(Context())  # what a new process's context holds: the configuration's
    heartbeat_mode = fresh["config"].cloud.heartbeat_mode
    if heartbeat_mode == "process":  # the parent's process is here already: a thread, not a process
        fresh["config"] = merge_dicts(fresh["config"], {"cloud": {"heartbeat_mode": "thread"}})
    fresh.update(flow_run_id=claim.flow_run_id, flow_id=claim.flow_id, running_with_backend=True)
    saved = prefect.context.__dict__.copy()
    prefect.context.clear()
    prefect.context.update(fresh)
    try:
        logger.info(f"{CLAIM_MESSAGE} (flow run {saved.get('flow_run_id')})")
        try:
            storage = StorageSchema().load(claim.storage)
            secrets = dict(prefect.context.get("secrets", {}))
            for secret in storage.secrets:
                secrets[secret] = PrefectSecret(name=secret).run()
            with prefect.context(secrets=secrets, loading_flow=True):
                flow = storage.get_flow(claim.flow_name)
            with prefect.context(secrets=secrets):
                state = CloudFlowRunner(flow=flow).run(return_tasks=flow.tasks, executor=_executor(flow))
        except Exception as exc:  # as `prefect execute flow-run` reports it
            message = f"Failed to load and execute flow run: {exc!r}"
            client.set_flow_run_state(flow_run_id=claim.flow_run_id, state=Failed(message=message))
            logger.error(message)
            return
        except BaseException:  # the parent is being cancelled: its child with it
            client.set_flow_run_state(flow_run_id=claim.flow_run_id,
                                      state=Cancelled(message="the parent's flow run was cancelled"))
            raise
        task_states = {flow.slugs[task]: task_state for task, task_state in (state.result or {}).items()}
        claim.task_states = task_states
        with _lock:
            _finished[claim.flow_run_id] = task_states
    finally:
        if timer is not None:
            timer.cancel()
        prefect.context.clear()
        prefect.context.update(saved)


def _executor(flow):
    """The executor of a child run here: the flow's own, a :class:`LeanLocalExecutor` in place of a ``LocalExecutor``."""
    from prefect.engine import get_default_executor_class

    executor = getattr(flow, "executor", None) or get_default_executor_class()()
    return LeanLocalExecutor() if type(executor) is LocalExecutor else executor


class ChildTaskResult(Task):
    """A task's result from a child's finished run, as Prefect's ``get_task_run_result`` returns it.

    For a child this process ran, the value is read from the result location
    its task run recorded (the same ``Result`` the server's copy of the state
    names), with no request; any other run's through Prefect's task.

    Args:
        **kwargs: passed to ``prefect.Task``.
    """

    def run(self, flow_run_id: Optional[str] = None, task_slug: Optional[str] = None,
            map_index: int = -1, poll_time: int = 5) -> Any:
        """The result of ``task_slug`` (at ``map_index``) in the flow run ``flow_run_id``."""
        from prefect.tasks.prefect import get_task_run_result

        with _lock:
            states = _finished.get(flow_run_id or "")
        task_state = (states or {}).get(cast(str, task_slug)) if map_index == -1 else None
        if task_state is not None and task_state.is_successful():
            result = task_state._result
            if getattr(result, "location", None) is not None:
                return result.read(result.location).value
        prefects = cast(Any, get_task_run_result)  # a FunctionTask: its run() is the function
        return prefects.run(flow_run_id, task_slug, map_index=map_index, poll_time=poll_time)


#: the task instance the composition calls, as it called Prefect's
child_task_result = ChildTaskResult(name="get_task_run_result")


class LeanLocalExecutor(LocalExecutor):
    """Prefect's ``LocalExecutor`` without a copy of Prefect's whole configuration per task.

    The executor of a composed flow of flows' run and of the children it runs
    in its process. Prefect's flow runner submits each task with a copy of its
    context, which holds the whole configuration, and every ``with
    prefect.context(...)`` that finds a configuration merges it (copies it
    recursively): three copies per task, most of Prefect's own time per task.
    A task submitted with the run's own configuration object is run with that
    object in its context instead (the local backend's
    ``backends/local/lean_context`` does the same around any local executor):
    the same values, shared instead of copied. Tasks run one at a time in the
    flow runner's thread, as with ``LocalExecutor`` (an in-process child runs
    from the main thread).
    """

    def submit(self, fn, *args: Any, **kwargs: Any):
        """Run ``fn`` now, as ``LocalExecutor`` does; a task run without its configuration copy."""
        import prefect
        from prefect.engine.flow_runner import run_task

        context = kwargs.get("context") or {}
        config = context.get("config")
        if fn is run_task and config is not None and config is prefect.context.get("config"):
            kwargs["context"] = {k: v for k, v in context.items() if k != "config"}
        return super().submit(fn, *args, **kwargs)
