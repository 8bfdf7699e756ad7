"""Flow runs on a Prefect 1 Server: creating them and waiting for them to finish."""

import functools
from typing import Optional

from lume_services.errors import (
    FlowNotRegisteredError,
    FlowRunTimeoutError,
    FlowVersionArchivedError,
    ServerRequestError,
    StateTooLargeError,
)
from lume_services.services.scheduling.backend import check_parameters
from lume_services.services.scheduling.run_options import REUSED_CHILDREN_CONTEXT_KEY
from lume_services.services.scheduling.backends.server.registration import flow_versions
from lume_services.services.scheduling.state_limits import (
    PARAMETER_KEPT,
    STATE_SIZE_LIMIT,
    oversized_parameter,
)
from lume_services.services.scheduling.waiting import (
    DEADLINE_CONTEXT_KEY,
    IN_PROCESS_CONTEXT_KEY,
    POLL_INTERVAL_CONTEXT_KEY,
    STATE_QUERY,
    Deadline,
)


def create_flow_run(connection, options, flow_id: Optional[str], flow=None,
                    poll_interval: Optional[float] = None, deadline: Optional[Deadline] = None,
                    children_in_process: bool = True) -> str:
    """Create a flow run of a registered flow from resolved run options; return its id.

    ``poll_interval`` (seconds) goes into the run's context
    (:data:`POLL_INTERVAL_CONTEXT_KEY`): how often the run polls the runs it
    waits for, such as a composed flow of flows' children; ``deadline``, when
    it has a limit, goes there too (:data:`DEADLINE_CONTEXT_KEY`, as the UTC
    time it passes): the run stops waiting for those runs then.
    ``children_in_process=False`` goes there as :data:`IN_PROCESS_CONTEXT_KEY`:
    a composed run then leaves every child to an agent.

    Raises:
        FlowNotRegisteredError: no ``flow_id``: the flow is not registered or loaded.
        ParameterNotInFlowError: a parameter is not one of ``flow``'s.
        MissingParameterError: a required parameter of ``flow`` has no value.
        StateTooLargeError: a parameter's value is too large for its task run's state.
        FlowVersionArchivedError: the server refused the run: ``flow_id`` is an
            archived version; names the current one.
        ServerRequestError: the server refused the run for another reason.
    """
    from prefect.exceptions import ClientError

    if not flow_id:
        raise FlowNotRegisteredError(flow.name if flow is not None else None)
    if flow is not None:
        check_parameters(flow, options.parameters)
    check_state_sizes(flow.name if flow is not None else f"flow id {flow_id}", options.parameters)
    client = connection.client()
    try:
        return client.create_flow_run(
            flow_id=flow_id,
            parameters=options.parameters,
            run_config=options.run_config,
            labels=options.labels,
            run_name=options.run_name,
            scheduled_start_time=options.scheduled_start_time,
            context=_run_context(poll_interval, deadline, options.declaration, options.reused, children_in_process),
        )
    except ClientError as exc:
        # the real server's words: "Flow {id} is archived."
        version = flow_versions(connection, [flow_id]).get(flow_id) if "archived" in str(exc) else None
        if version is not None and version["archived"]:
            raise FlowVersionArchivedError(
                version["name"], version["project_name"], flow_id, version["version"],
                version["current_flow_id"], version["current_version"],
            ) from None
        raise ServerRequestError(connection.api_url, exc, flow_id=flow_id) from exc


def check_state_sizes(flow_name: str, parameters: dict) -> None:
    """Refuse parameter values too large for the task run states that will keep them.

    Raises:
        StateTooLargeError: a value is over the limit, naming it and the limit.
    """
    found = oversized_parameter(parameters)
    if found is not None:
        raise StateTooLargeError(flow_name, f"parameter {found[0]!r}", found[1], STATE_SIZE_LIMIT, PARAMETER_KEPT)


#: the run context key under which a composed flow of flows' run keeps its declaration (``run_declaration``)
DECLARATION_CONTEXT_KEY = "lume_declaration"


def _run_context(poll_interval: Optional[float], deadline: Optional[Deadline],
                 declaration: Optional[dict] = None, reused: Optional[dict] = None,
                 children_in_process: bool = True) -> Optional[dict]:
    """What a run's context tells its waits for other runs (the poll interval, the deadline, where
    children run), its declaration, and the children it gives back from earlier runs instead of running them.

    A flow of flows' declaration is kept with its run so that the run can be
    read back as what made it (lineage), run again (reproduce) or resumed by its
    id; the reused children (:data:`REUSED_CHILDREN_CONTEXT_KEY`) are read by its
    ``CreateChildRun`` tasks, and by the run history.
    """
    context: dict = {}
    if declaration is not None:
        context[DECLARATION_CONTEXT_KEY] = declaration
    if reused:
        context[REUSED_CHILDREN_CONTEXT_KEY] = reused
    if not children_in_process:
        context[IN_PROCESS_CONTEXT_KEY] = False
    if poll_interval:
        context[POLL_INTERVAL_CONTEXT_KEY] = poll_interval
    if deadline is not None and deadline.wall_clock() is not None:
        context[DEADLINE_CONTEXT_KEY] = deadline.wall_clock()
    return context or None


#: a finished flow run and its task runs, in one request: what ``FlowRunView.from_flow_run_id``
#: and its ``get_all_task_runs`` read in three (the flow run, its task run ids, the task runs)
FINISHED_RUN_QUERY = """query($id: uuid!) { flow_run_by_pk(id: $id) {
  id name flow_id serialized_state states { timestamp serialized_state } labels parameters context updated run_config
  task_runs { id name task { id slug } map_index serialized_state flow_run_id }
} }"""


def finished_run_view(connection, flow_run_id: str, data: Optional[dict] = None):
    """The finished flow run ``flow_run_id`` as a ``FlowRunView`` holding its task runs, read in one request.

    Args:
        data: the run as :data:`FINISHED_RUN_QUERY` read it, when read already.
    """
    from prefect.backend import FlowRunView, TaskRunView

    if data is None:
        data = connection.poll(FINISHED_RUN_QUERY, {"id": flow_run_id})["flow_run_by_pk"]
    data = dict(data)
    task_runs = [TaskRunView._from_task_run_data(t) for t in data.pop("task_runs") or []]
    view = FlowRunView._from_flow_run_data(data)  # as FlowRunView.from_flow_run_id builds it
    finished = _finished_view_class()(
        flow_run_id=view.flow_run_id, name=view.name, flow_id=view.flow_id, labels=view.labels,
        parameters=view.parameters, context=view.context, state=view.state, states=view.states,
        updated_at=view.updated_at, run_config=view.run_config, task_runs=task_runs,
    )
    finished.all_task_runs = task_runs
    return finished


@functools.lru_cache(maxsize=None)
def _finished_view_class():
    """Made on first use: it subclasses Prefect's ``FlowRunView`` (Prefect is imported lazily)."""
    from prefect.backend import FlowRunView

    class FinishedFlowRunView(FlowRunView):
        """A finished run's ``FlowRunView`` holding its task runs (a finished run's change no more)."""

        all_task_runs: list = []

        def get_all_task_runs(self):
            """Every task run of the run, as read with the run (no request)."""
            return list(self.all_task_runs)

    return FinishedFlowRunView


def wait_for_flow_run(connection, flow_run_id: str, interval: float, deadline: Deadline,
                      flow_name: Optional[str] = None, waited_for: Optional[str] = None):
    """Poll a flow run every ``interval`` seconds until it finishes; cancel it when ``deadline`` passes.

    The first poll, at once, reads the run with its task runs (a run waited
    for once it ended, such as a flow of flows' child, costs that one
    request); later polls read its state alone, and the run with its task
    runs once it has finished.

    Args:
        connection: the ``ServerConnection``.
        flow_run_id: the run.
        interval: seconds between polls.
        deadline: when to give up; its clock is the one the polls wait on.
        flow_name: the run's flow, named in the timeout error.
        waited_for: what the deadline is for, when more than this run.

    Returns:
        The finished run's ``prefect.backend.FlowRunView``, its task runs read.

    Raises:
        FlowRunTimeoutError: not finished before the deadline; the run was cancelled.
        ServerUnreachableError: the server stopped answering.
    """
    from prefect.engine.state import State

    client = connection.client()
    first = True
    while True:
        # each poll is one request without Prefect's minute of retries, so a
        # server that goes away during a wait is reported in seconds without a
        # reachability check before every poll
        data = connection.poll(FINISHED_RUN_QUERY if first else STATE_QUERY, {"id": flow_run_id})["flow_run_by_pk"]
        state = State.deserialize(data["serialized_state"])
        if state.is_finished():
            return finished_run_view(connection, flow_run_id, data if first else None)
        first = False
        if deadline.passed():
            client.cancel_flow_run(flow_run_id)
            raise FlowRunTimeoutError(
                flow_run_id,
                deadline.limit.total_seconds(),
                type(state).__name__,
                flow_name=flow_name,
                waited_for=waited_for,
            )
        deadline.clock.sleep(deadline.capped(interval))
