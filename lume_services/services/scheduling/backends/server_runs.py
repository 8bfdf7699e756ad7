"""Flow runs on a Prefect 1 Server: creating them and waiting for them to finish."""

from typing import Optional

from lume_services.errors import FlowNotRegisteredError, FlowRunTimeoutError
from lume_services.services.scheduling.backends.backend import check_parameters
from lume_services.services.scheduling.backends.waiting import Deadline


def create_flow_run(connection, options, flow_id: Optional[str], flow=None) -> str:
    """Create a flow run of a registered flow from resolved run options; return its id.

    Raises:
        FlowNotRegisteredError: no ``flow_id``: the flow is not registered or loaded.
        ParameterNotInFlowError: a parameter is not one of ``flow``'s.
        MissingParameterError: a required parameter of ``flow`` has no value.
    """
    if not flow_id:
        raise FlowNotRegisteredError(flow.name if flow is not None else None)
    if flow is not None:
        check_parameters(flow, options.parameters)
    return connection.client().create_flow_run(
        flow_id=flow_id,
        parameters=options.parameters,
        run_config=options.run_config,
        labels=options.labels,
        run_name=options.run_name,
        scheduled_start_time=options.scheduled_start_time,
    )


def wait_for_flow_run(connection, flow_run_id: str, interval: float, deadline: Deadline,
                      flow_name: Optional[str] = None, waited_for: Optional[str] = None):
    """Poll a flow run every ``interval`` seconds until it finishes; cancel it when ``deadline`` passes.

    Args:
        connection: the ``ServerConnection``.
        flow_run_id: the run.
        interval: seconds between polls.
        deadline: when to give up.
        flow_name: the run's flow, named in the timeout error.
        waited_for: what the deadline is for, when more than this run.

    Returns:
        The finished run's ``prefect.backend.FlowRunView``.

    Raises:
        FlowRunTimeoutError: not finished before the deadline; the run was cancelled.
        ServerUnreachableError: the server stopped answering.
    """
    import time

    from prefect.backend import FlowRunView
    from prefect.engine.state import State
    from prefect.utilities.graphql import with_args

    client = connection.client()
    query = {"query": {with_args("flow_run_by_pk", {"id": flow_run_id}): {"serialized_state"}}}
    while True:
        # a server that goes away during a wait is reported in seconds: a fast
        # check before each poll, not Prefect's minute of retries
        connection.ensure_reachable(force=True)
        data = connection.graphql(client, query).data.flow_run_by_pk
        state = State.deserialize(data.serialized_state)
        if state.is_finished():
            return FlowRunView.from_flow_run_id(flow_run_id)
        if deadline.passed():
            client.cancel_flow_run(flow_run_id)
            raise FlowRunTimeoutError(
                flow_run_id,
                deadline.limit.total_seconds(),
                type(state).__name__,
                flow_name=flow_name,
                waited_for=waited_for,
            )
        time.sleep(deadline.capped(interval))
