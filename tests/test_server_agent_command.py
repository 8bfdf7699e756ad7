"""``lume-services agent``: Prefect's LocalAgent with a constant short poll and heartbeat threads.

Started as docs/server.md starts it (a process of its own, pointed at the
server by ``LUME_PREFECT__SERVER__*``), against the protocol double, never
poked: what a user gets. Prefect's own agent backs off 0.25 s to 10 s between
its queries when it finds nothing; this one queries every ``--poll-interval``.
"""

import threading
import time
from datetime import timedelta

import pytest

import flows_for_tests as ft
from fixtures.server import lume_agent_command, lume_agent_environment, running_local_agent
from lume_services.flows.flow import Flow, FlowRunConfig

pytestmark = pytest.mark.server

LABEL = "quick-agent"


@pytest.fixture(scope="module")
def quick_agent(prefect_protocol_double, tmp_path_factory):
    double = prefect_protocol_double
    workdir = tmp_path_factory.mktemp("quick-agent")
    with running_local_agent(double, workdir, labels=[LABEL], poke=False, tuned=False,
                             command=lume_agent_command([LABEL], poll_interval=0.3),
                             env=lume_agent_environment(double)) as agent:
        yield agent


def _queries(store, label):
    return [when for when, field, args in list(store.request_log)
            if field == "get_runs_in_queue" and args["input"].get("labels") == [label]]


def test_the_agent_queries_for_runs_at_its_poll_interval_without_backing_off(quick_agent, prefect_protocol_double):
    store = prefect_protocol_double.store
    first = len(_queries(store, LABEL))
    enough = threading.Event()

    def count(field, args):  # runs under the double's lock, after each answer
        if field == "get_runs_in_queue" and len(_queries(store, LABEL)) >= first + 9:
            enough.set()

    store.on_request.append(count)
    try:
        assert enough.wait(30), "the agent did not query 9 times in 30 s"
    finally:
        store.on_request.remove(count)

    times = _queries(store, LABEL)[first:first + 9]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert len(gaps) == 8
    # Prefect's back-off would have reached 4 s and 8 s by the 6th and 7th gap
    assert all(gap < 1.5 for gap in gaps), gaps


def test_a_run_starts_without_a_poke_and_its_flow_runner_sends_heartbeats_from_a_thread(
    quick_agent, server_backend
):
    model = Flow(name=ft.environment.name, project_name="quick-agent", prefect_flow=ft.environment, labels=[LABEL])
    model.register()
    started = time.monotonic()

    mode = model.run_and_return({"name": "PREFECT__CLOUD__HEARTBEAT_MODE"},
                                FlowRunConfig(poll_interval=timedelta(seconds=0.2)), task_name="read_env")

    assert mode == "thread"
    assert time.monotonic() - started < 30


def test_a_poll_interval_that_is_not_positive_is_refused():
    from lume_services.services.scheduling.backends.server.fast_agent import make_fast_local_agent

    with pytest.raises(ValueError, match="must be positive seconds"):
        make_fast_local_agent(["x"], poll_interval=0)
