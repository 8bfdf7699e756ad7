"""Waiting for a child's flow run inside a composed flow of flows (per-child composition).

Prefect's own ``wait_for_flow_run`` task watches a run with ``watch_flow_run``,
which polls from 2 s up to 10 s whatever interval is asked and sleeps once
more after it saw the run finish: about 4 s per child of a chain. The task
here polls the child's state every ``poll_interval`` seconds and returns (or
takes on the child's final state) as soon as it is finished.

The interval travels with the composed run: a server backend puts the run's
poll interval (``FlowRunConfig.poll_interval``, else the backend's configured
one) into the flow run's context under :data:`POLL_INTERVAL_CONTEXT_KEY`,
which Prefect's flow runner hands to every task of the run.
"""

from typing import Any, Optional, cast

from prefect import Task
from prefect.utilities.tasks import defaults_from_attrs

from lume_services.services.scheduling.clock import SYSTEM_CLOCK, Clock
from lume_services.services.scheduling.waiting import POLL_INTERVAL_CONTEXT_KEY, STATE_QUERY


class WaitForChildRun(Task):
    """Wait for a child's flow run to finish, then take on its final state.

    The child's final state becomes this task's state (``Success`` returns the
    flow run id; ``Failed`` fails this task, so the child's descendants do not
    start and the composed run fails).

    Args:
        poll_interval: seconds between looks at the child's run when the
            composed run's context does not say (a run started outside
            lume-services, e.g. from Prefect's UI).
        clock: the clock the polls wait on (real time unless a test moves it).
        **kwargs: passed to ``prefect.Task`` (name, checkpoint, ...).
    """

    def __init__(self, poll_interval: float = 1.0, clock: Clock = SYSTEM_CLOCK, **kwargs: Any) -> None:
        self.poll_interval = poll_interval
        self.clock = clock
        kwargs.setdefault("checkpoint", False)  # its result is a run id: nothing worth keeping
        super().__init__(**kwargs)

    @defaults_from_attrs("poll_interval")
    def run(self, flow_run_id: Optional[str] = None, poll_interval: Optional[float] = None) -> str:
        """Poll the child's run until it is finished.

        Args:
            flow_run_id: the child's flow run id (from its ``create_flow_run`` task).
            poll_interval: seconds between polls; the run context's interval wins.

        Returns:
            ``flow_run_id``, once the child succeeded.

        Raises:
            prefect.engine.signals.PrefectStateSignal: the signal of the child's
                final state when it did not succeed (``FAIL``, ``TRIGGERFAIL``, ...).
        """
        import prefect
        from prefect.engine import signals
        from prefect.engine.state import State

        interval = float(prefect.context.get(POLL_INTERVAL_CONTEXT_KEY) or cast(float, poll_interval))  # defaults_from_attrs fills it
        client = prefect.Client()
        while True:
            data = client.graphql(STATE_QUERY, variables={"id": flow_run_id}).data
            state = State.deserialize(data.flow_run_by_pk.serialized_state)
            if state.is_finished():
                break
            self.clock.sleep(interval)
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
