"""Our code under the server's background services: a lost runner, a cancellation nobody carries out.

A real Prefect 1 Server's Lazarus reschedules a run whose heartbeat stopped
(its runner died) and its zombie killer fails a ``Cancelling`` run whose runner
is gone; the double runs both (``prefect_server_double.services``) with a
clock the tests move. These tests use a double and a real ``LocalAgent`` of
their own (label ``aging``), so that moving the clock touches no other test's
runs.
"""

from datetime import datetime, timedelta, timezone

import pytest

import flows_for_tests as ft
from fixtures.protocol_double import tenant_double
from fixtures.server import running_local_agent
from lume_services.errors import FlowFailedError
from lume_services.flows.flow import Flow, FlowRunConfig
from lume_services.services.scheduling.waiting import Deadline

pytestmark = [pytest.mark.server, pytest.mark.slow]

LABEL = "aging"
STALE = 11 * 60  # past the services' 10-minute heartbeat cutoff


@pytest.fixture(scope="module")
def aging(tmp_path_factory):
    """A double and a LocalAgent of their own."""
    with tenant_double() as double:
        workdir = tmp_path_factory.mktemp("aging-agent")
        with running_local_agent(double, workdir, labels=[LABEL]):
            yield double


@pytest.fixture
def backend(aging, lume_home, tmp_path):
    from lume_services import config
    from lume_services.config import LUMEServicesSettings, PrefectConfig

    settings = LUMEServicesSettings(
        backend="server", home=lume_home,
        prefect=PrefectConfig(
            server={"host": "http://127.0.0.1", "host_port": aging.port, "graphql_path": aging.path},
            agent={"storage_dir": str(tmp_path / "server-storage")}, poll_interval=0.2, run_timeout=120,
        ),
    )
    return config.configure(settings).scheduling_backend()


def _a_run_whose_runner_died(model, parameters):
    """A run an agent took and set Running, and that then stopped (no heartbeats, nobody runs it).

    It is scheduled an hour ahead so that the agent does not take it; the test
    plays the runner that set it Running and died.
    """
    import prefect
    from prefect.engine.state import Running

    later = datetime.now(timezone.utc) + timedelta(hours=1)
    run_id = model.run(parameters, FlowRunConfig(scheduled_start_time=later))
    prefect.Client().set_flow_run_state(run_id, Running())
    return run_id


def test_a_run_whose_runner_died_is_rescheduled_by_lazarus_and_its_result_still_returned(aging, backend):
    model = Flow(name=ft.adder.name, project_name="aging", prefect_flow=ft.adder, labels=[LABEL])
    model.register()
    run_id = _a_run_whose_runner_died(model, {"a": 1, "b": 2})
    aging.store.clock.advance(STALE)

    assert aging.store.services.lazarus() == 1  # Scheduled now: the agent takes it again

    finished = backend.wait(run_id, 0.2, Deadline(timedelta(seconds=60)), "adder")
    assert backend.collect_results(finished, ft.adder, "add") == 3
    assert aging.store.flow_runs[run_id]["times_resurrected"] == 1


def test_a_cancellation_nobody_carries_out_ends_failed_by_the_zombie_killer_and_our_wait_says_why(aging, backend):
    import prefect

    model = Flow(name=ft.adder.name, project_name="aging", prefect_flow=ft.adder, labels=[LABEL])
    model.register()
    run_id = _a_run_whose_runner_died(model, {"a": 1, "b": 2})
    prefect.Client().cancel_flow_run(run_id)
    assert aging.store.flow_runs[run_id]["state"] == "Cancelling"  # and it would stay so
    aging.store.clock.advance(STALE)

    assert aging.store.services.zombie_killer() == 1

    finished = backend.wait(run_id, 0.2, Deadline(timedelta(seconds=10)), "adder")
    with pytest.raises(FlowFailedError) as info:
        backend.raise_if_failed(finished, "adder")
    assert "No heartbeat detected from the flow run" in str(info.value)
