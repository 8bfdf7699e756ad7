"""The tasks of a composed flow of flows (per-child composition) around each child's flow run.

- :class:`CreateChildRun` first checks the values passed to a child against the
  server's state limit (:func:`check_parameters`; :class:`CheckChildParameters`
  is the same check as a task of its own) *before* the child's run is created: a Prefect Server
  keeps every parameter's value in a task run state and refuses states over
  1 MB, and a child whose parameter state is refused stays ``Running`` for
  ever (a zombie), so an over-large mapped value fails the composed run at
  once, naming the child, the parameter and the limit (for a sweep, each
  item's values, before that item's run is created).
  It then creates the child's run as Prefect's
  ``create_flow_run`` does, the composed run's id and the child's name in its
  context, for the lineage its stored results record; a child that can run in
  the composed run's process is claimed for it (:mod:`._child_in_process`).
  Unless the composed run reuses the child (cached, or resumed): it then gives
  back the earlier run that made the child's results, and no run is created.
- :class:`WaitForChildRun` waits for the child's run. Prefect's own
  ``wait_for_flow_run`` task watches a run with ``watch_flow_run``, which
  polls from 2 s up to 10 s whatever interval is asked and sleeps once more
  after it saw the run finish: about 4 s per child of a chain. This one polls
  the child's state every ``poll_interval`` seconds and returns (or takes on
  the child's final state) as soon as it is finished, and has a deadline of
  its own: a child still unfinished then is cancelled and fails the wait.
  A child that its ``create_flow_run`` task claimed for the parent's process
  (:mod:`._child_in_process`) is run there first, then read as any other.
- :class:`ChildCacheKey` computes a succeeded child's cache key in the
  composed run, whose task result the server keeps: a later run finds the
  child by it (``ServerBackend.find_reusable_child``).

Every task of a composed run costs requests to the server (Prefect's
``CloudTaskRunner`` reads its task run and sets ``Running`` and its end state:
three per task), so the composed flow keeps per child only the tasks Prefect's
semantics need apart: the creation (with its check: its result, the run id, is
what the run history and the caller read), the wait (its failure is the
trigger that stops the child's descendants) and the cache key (a task result
the server searches). Their values are passed as keyword arguments, not as a
dict, which Prefect would build with tasks of its own (a ``Dict`` and a
``List`` per dict).

The interval and the deadline travel with the composed run: a server backend
puts the run's poll interval (``FlowRunConfig.poll_interval``, else the
backend's configured one) and the caller's deadline (as UTC epoch seconds) into
the flow run's context under :data:`POLL_INTERVAL_CONTEXT_KEY` and
:data:`DEADLINE_CONTEXT_KEY`, which Prefect's flow runner hands to every task
of the run.
"""

from typing import Any, Dict, List, Optional, Tuple, cast

from prefect import Task
from prefect.utilities.tasks import defaults_from_attrs

from lume_services.errors import ChildRunTimeoutError, StateTooLargeError
from lume_services.flows._child_in_process import create_and_claim, run_claimed, take_claim
from lume_services.services.scheduling.clock import SYSTEM_CLOCK, Clock
from lume_services.services.scheduling.run_options import REUSED_CHILDREN_CONTEXT_KEY
from lume_services.services.scheduling.state_limits import PARAMETER_KEPT, STATE_SIZE_LIMIT, oversized_parameter
from lume_services.services.scheduling.waiting import DEADLINE_CONTEXT_KEY, POLL_INTERVAL_CONTEXT_KEY, STATE_QUERY
from lume_services.tasks.db import CHILD_NAME_CONTEXT_KEY, PARENT_FLOW_CONTEXT_KEY, PARENT_RUN_CONTEXT_KEY

#: seconds a wait for a child allows when the composed run's context names no
#: deadline (a run started outside lume-services): LUME_PREFECT__RUN_TIMEOUT's default
DEFAULT_CHILD_TIMEOUT = 3600.0


def timed_out(message: Optional[str], child_name: str, flow_run_id: str) -> bool:
    """Whether a wait task's failure message is :class:`WaitForChildRun` giving up on this child's run."""
    if not message:
        return False
    probe = ChildRunTimeoutError(child_name, flow_run_id, 0.0, "Running")
    return message.split(" was still ")[0] == str(probe).split(" was still ")[0]


#: the prefix of the keyword arguments by which a composed flow passes values to
#: :class:`CreateChildRun` and :class:`ChildCacheKey` (``value_0``, ...: Prefect wants
#: identifiers, which parameter names need not be; the task keeps the names)
VALUE_PREFIX = "value_"


def numbered_values(values: Dict[str, Any]) -> Tuple[Dict[str, Any], List[str]]:
    """``({"value_<i>": value}, [name of value i])``: values as a composed flow passes them to its tasks."""
    names = list(values)
    return {f"{VALUE_PREFIX}{i}": values[name] for i, name in enumerate(names)}, names


def _named(values: Dict[str, Any], names: List[str]) -> Dict[str, Any]:
    """The values :func:`numbered_values` numbered, by their names again."""
    return {names[int(key[len(VALUE_PREFIX):])]: value for key, value in values.items()}


def check_parameters(child_name: str, parameters: Dict[str, Any], swept: bool) -> Dict[str, Any]:
    """Return ``parameters`` when every value fits in a task run state; else fail the running task.

    Args:
        child_name: the child the parameters are for (named in the failure).
        parameters: the child's parameter values (one item's, for a sweep).
        swept: whether they are an item's of a sweep (the failure names the item).

    Raises:
        prefect.engine.signals.FAIL: a value is over the server's state limit;
            its message is the ``StateTooLargeError``'s (child, parameter, item, size, limit).
    """
    import prefect
    from prefect.engine import signals

    found = oversized_parameter(parameters)
    if found is not None:
        item = prefect.context.get("map_index")
        what = f"parameter {found[0]!r}" + (f" of item {item}" if swept and item is not None else "")
        error = StateTooLargeError(child_name, what, found[1], STATE_SIZE_LIMIT, PARAMETER_KEPT)
        raise signals.FAIL(message=str(error))
    return parameters


class CheckChildParameters(Task):
    """Pass a child's parameters on unchanged, once each value fits in a task run state.

    Composed flows no longer include it: :class:`CreateChildRun` makes the
    same check (:func:`check_parameters`) before it creates the run, which
    spares the server a task run per child. It is kept because composed flows
    stored by an earlier version of lume-services hold it as a task of their
    own (``check:<child>``, mapped over a sweep's items), and must still load
    and run.

    Args:
        child_name: the child the parameters are for (named in the failure).
        **kwargs: passed to ``prefect.Task``.
    """

    def __init__(self, child_name: str, **kwargs: Any) -> None:
        self.child_name = child_name
        kwargs.setdefault("checkpoint", False)  # the values are kept by the child's run already
        super().__init__(**kwargs)

    def run(self, parameters: Optional[Dict[str, Any]] = None, **swept: Any) -> Dict[str, Any]:  # type: ignore[override]
        """Return ``parameters`` (with one item's ``swept`` values) when every value fits in a state.

        Args:
            parameters: the child's parameters the items share (all of them for a child that does not sweep).
            **swept: one item's value of each parameter the child sweeps.

        Raises:
            prefect.engine.signals.FAIL: a value is over the server's state limit;
                its message is the ``StateTooLargeError``'s (child, parameter, item, size, limit).
            StateTooLargeError: on a server, as that FAIL's message (the task's failure).
        """
        return check_parameters(self.child_name, {**(parameters or {}), **swept}, bool(swept))


def reused_run(child_name: str, map_index: Optional[int]) -> Optional[str]:
    """The earlier flow run the composed run reuses for a child (or item ``map_index`` of its sweep), if any.

    Read from the composed run's context (:data:`REUSED_CHILDREN_CONTEXT_KEY`):
    ``flow_run_id`` for a child that runs once, ``flow_run_ids`` (one per
    item, in item order) for a sweep. A sweep is reused only when its cache key
    matched, so its items are the same as the earlier run's, one for one.
    """
    import prefect

    reused = (prefect.context.get(REUSED_CHILDREN_CONTEXT_KEY) or {}).get(child_name)
    if not reused:
        return None
    if map_index is None:
        return str(reused["flow_run_id"]) if reused.get("flow_run_id") else None
    items = reused.get("flow_run_ids") or []
    return str(items[map_index]) if 0 <= map_index < len(items) and items[map_index] else None


class CreateChildRun(Task):
    """Create a child's flow run (Prefect's ``create_flow_run``), its context naming the composed run and the child.

    Its parameter values are checked first (:func:`check_parameters`): a value
    over the server's state limit fails this task, and no run is created.

    A child the composed run's context names among the reused ones
    (:data:`REUSED_CHILDREN_CONTEXT_KEY`: cached, or succeeded in the run being
    resumed) gets no run: this returns the flow run id of the earlier run that
    made its results, so its wait finds it finished and its descendants read
    their mapped values from it; an item of a reused sweep returns the earlier
    run of the same item (:func:`reused_run`).

    The packaged tasks that store results (``SaveDBResult``) run in the
    child's own flow run, where Prefect's context knows only that run: the
    run's context (:data:`PARENT_RUN_CONTEXT_KEY`, :data:`PARENT_FLOW_CONTEXT_KEY`,
    :data:`CHILD_NAME_CONTEXT_KEY`) lets them record the composed run and the
    child they belong to (lineage). The context is read here, in the composed
    run, so that it costs no task of its own.

    Args:
        child_name: the child.
        value_names: the names of the values passed numbered (:func:`numbered_values`).
        swept: whether a sweep maps this task over its items (a refusal names the item).
        **kwargs: passed to ``prefect.Task``.
    """

    def __init__(self, child_name: str, value_names: Optional[List[str]] = None, swept: bool = False,
                 **kwargs: Any) -> None:
        self.child_name = child_name
        self.value_names = list(value_names or [])
        self.swept = swept
        super().__init__(**kwargs)

    def run(self, flow_id: Optional[str] = None, parameters: Optional[Dict[str, Any]] = None,  # type: ignore[override]
            labels: Optional[list] = None, run_name: Optional[str] = None, **values: Any) -> str:
        """Check the child's values, create its run as ``create_flow_run`` does and return its id.

        A reused child gives the earlier run's id. A child that can run in
        this run's process is claimed for it
        (:func:`._child_in_process.create_and_claim`); its wait runs it.

        Args:
            flow_id: the child's flow id.
            parameters: the child's parameter values.
            labels: the child run's labels.
            run_name: the child run's name.
            **values: more parameter values, numbered (:func:`numbered_values`,
                names in ``value_names``): how a composed flow passes them.

        Raises:
            prefect.engine.signals.FAIL: a value is over the server's state limit (no run is created).
        """
        import prefect

        child_name = getattr(self, "child_name", None) or self.name
        parameters = check_parameters(child_name,
                                      {**(parameters or {}), **_named(values, getattr(self, "value_names", []))},
                                      getattr(self, "swept", False))

        earlier = reused_run(child_name, prefect.context.get("map_index"))
        if earlier is not None:
            self.logger.info("child %r reused from run %s (flow run %s)", child_name,
                             prefect.context[REUSED_CHILDREN_CONTEXT_KEY][child_name].get("run_id"), earlier)
            return earlier

        context = {PARENT_RUN_CONTEXT_KEY: prefect.context.get("flow_run_id"),
                   PARENT_FLOW_CONTEXT_KEY: prefect.context.get("flow_id"),
                   CHILD_NAME_CONTEXT_KEY: child_name}
        return create_and_claim(flow_id=flow_id, parameters=parameters, labels=labels, run_name=run_name,
                                context=context)


class WaitForChildRun(Task):
    """Wait for a child's flow run to finish, then take on its final state.

    The child's final state becomes this task's state (``Success`` returns the
    flow run id; ``Failed`` fails this task, so the child's descendants do not
    start and the composed run fails). A child not finished by the deadline
    (the composed run's, from its context, or ``max_wait`` seconds, whichever
    comes first) is cancelled, and the wait fails with a
    ``ChildRunTimeoutError``'s message naming the child.

    Args:
        poll_interval: seconds between looks at the child's run when the
            composed run's context does not say (a run started outside
            lume-services, e.g. from Prefect's UI).
        child_name: the child, named when it is too late.
        max_wait: seconds the wait allows at most; ``None``:
            :data:`DEFAULT_CHILD_TIMEOUT` unless the context gives a deadline.
        clock: the clock the polls wait on (real time unless a test moves it).
        **kwargs: passed to ``prefect.Task`` (name, checkpoint, ...).
    """

    def __init__(self, poll_interval: float = 1.0, child_name: Optional[str] = None,
                 max_wait: Optional[float] = None, clock: Clock = SYSTEM_CLOCK, **kwargs: Any) -> None:
        self.poll_interval = poll_interval
        self.child_name = child_name
        self.clock = clock
        self.max_wait = max_wait  # not "timeout": prefect.Task's own attribute (a time limit on run())
        kwargs.setdefault("checkpoint", False)  # its result is a run id: nothing worth keeping
        super().__init__(**kwargs)

    @defaults_from_attrs("poll_interval")
    def run(self, flow_run_id: Optional[str] = None, poll_interval: Optional[float] = None) -> str:
        """Poll the child's run until it is finished, or cancel it when the deadline passes.

        Args:
            flow_run_id: the child's flow run id (from its ``create_flow_run`` task).
            poll_interval: seconds between polls; the run context's interval wins.

        Returns:
            ``flow_run_id``, once the child succeeded.

        Raises:
            prefect.engine.signals.PrefectStateSignal: the signal of the child's
                final state when it did not succeed (``FAIL``, ``TRIGGERFAIL``, ...),
                or ``FAIL`` when the deadline passed (the child is then cancelled).
            ChildRunTimeoutError: on a server, as that FAIL's message when the deadline passed.
        """
        import prefect
        from prefect.engine import signals
        from prefect.engine.state import State

        interval = float(prefect.context.get(POLL_INTERVAL_CONTEXT_KEY) or cast(float, poll_interval))  # defaults_from_attrs fills it
        # getattr: a composed flow stored by an earlier version unpickles without them
        clock = getattr(self, "clock", SYSTEM_CLOCK)
        started = clock.time()
        max_wait = getattr(self, "max_wait", None)
        child_name = getattr(self, "child_name", None) or self.name
        ends = [started + (max_wait if max_wait is not None else DEFAULT_CHILD_TIMEOUT)]
        if prefect.context.get(DEADLINE_CONTEXT_KEY):
            ends.append(float(prefect.context[DEADLINE_CONTEXT_KEY]))
        end = min(ends)
        client = prefect.Client()
        claim = take_claim(flow_run_id)
        if claim is not None:  # created and claimed by this process: run here (_child_in_process)
            run_claimed(claim, end, clock)
        while True:
            data = client.graphql(STATE_QUERY, variables={"id": flow_run_id}).data
            state = State.deserialize(data.flow_run_by_pk.serialized_state)
            if claim is not None and claim.timed_out and not state.is_successful():
                error = ChildRunTimeoutError(child_name, cast(str, flow_run_id), end - started, "Running")
                raise signals.FAIL(message=str(error), result=flow_run_id)
            if state.is_finished():
                break
            if clock.time() >= end:
                client.cancel_flow_run(cast(str, flow_run_id))
                error = ChildRunTimeoutError(
                    child_name, cast(str, flow_run_id), end - started, type(state).__name__
                )
                raise signals.FAIL(message=str(error), result=flow_run_id)
            clock.sleep(max(0.0, min(interval, end - clock.time())))
        if state.is_successful():
            return cast(str, flow_run_id)
        try:
            signal = signals.signal_from_state(state)
        except ValueError:  # Cancelled and others without a signal of their own
            signal = signals.FAIL
        raise signal(
            message=f"flow run {flow_run_id} finished {type(state).__name__}: {state.message}",
            result=flow_run_id,
        )


class ChildCacheKey(Task):
    """Compute a succeeded child's cache key where its run finished, so the server keeps it with the run.

    The key is ``_reuse.key_from`` of the child's version, its parameter values
    and the values its mapped parameters received (the parents' raw results:
    a ``file`` by its content, a ``db`` by its stored result's reference), each
    as the run history records values. Its result (kept in the task run's
    state with a ``PrefectResult``: a 64-character text) is what a later run
    finds the child by. A key that cannot be computed is ``None``: the child is
    then not reusable, and the run goes on.

    Args:
        key_inputs: what the key reads (``_reuse.KeyInputs``).
        value_names: the names of the values passed numbered (:func:`numbered_values`).
        **kwargs: passed to ``prefect.Task``.
    """

    def __init__(self, key_inputs: Any, value_names: Optional[List[str]] = None, **kwargs: Any) -> None:
        from prefect.engine.results import PrefectResult

        self.key_inputs = key_inputs  # not "inputs": prefect.Task's own method
        self.value_names = list(value_names or [])
        kwargs.setdefault("result", PrefectResult())  # in the state, whatever the flow's result type
        super().__init__(**kwargs)

    def run(self, values: Optional[Dict[str, Any]] = None, **named: Any) -> Optional[str]:  # type: ignore[override]
        """Return the key of the child, from ``{name in the composed flow: value}``.

        Args:
            values: the values the key reads, by their names in the composed flow.
            **named: more of them, numbered (:func:`numbered_values`, names in
                ``value_names``): how a composed flow passes them, with no task of
                Prefect's to build a dict.
        """
        from lume_services.flows._reuse import key_from, recorded_values

        try:
            return key_from(self.key_inputs, recorded_values(
                {**dict(values or {}), **_named(named, getattr(self, "value_names", []))}))
        except Exception as exc:  # a key that cannot be computed makes the child not reusable, nothing more
            self.logger.warning("the cache key of this child could not be computed: %s", exc)
            return None
