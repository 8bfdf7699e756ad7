"""A local run can be bounded: at its time limit it is stopped and FlowRunTimeoutError raised."""

import threading
import time

import pytest
from prefect import Flow as PrefectFlow, Parameter, task

from lume_services import config
from lume_services.errors import FlowRunTimeoutError
from lume_services.flows.flow import Flow
from lume_services.flows.flow_of_flows import FlowOfFlows
from lume_services.services.scheduling.backends import LocalBackend
from lume_services.services.scheduling.clock import ManualClock

import flows_for_tests as ft

released = threading.Event()
after_ran = threading.Event()
held_run_ended = threading.Event()


@task
def wait_for_release(x):
    released.wait(30)
    return x


@task
def after(x):
    after_ran.set()
    return x


def note_the_end(flow, old_state, new_state):
    if new_state.is_finished():
        held_run_ended.set()
    return new_state


with PrefectFlow("held", state_handlers=[note_the_end]) as held:
    after(wait_for_release(Parameter("x", default=1)))


@pytest.fixture(autouse=True)
def release_held_runs():
    released.clear()
    after_ran.clear()
    held_run_ended.clear()
    yield
    released.set()  # let a task left running in the background finish


def test_run_and_return_with_a_timeout_stops_the_run_and_raises(lume_home):
    started = time.monotonic()
    with pytest.raises(FlowRunTimeoutError) as info:
        Flow(name="held", prefect_flow=held).run_and_return({"x": 1}, timeout=0.5)

    assert time.monotonic() - started < 5
    exc = info.value
    assert (exc.local, exc.timeout, exc.flow_name) == (True, 0.5, "held")
    assert "the local run of flow 'held' did not finish within 0.5 s" in str(exc)
    released.set()
    assert held_run_ended.wait(30)  # the running task finished, and the run with it
    assert not after_ran.is_set()  # the task after it did not start


def test_a_run_that_finishes_in_time_returns_its_results(lume_home):
    released.set()
    assert Flow(name="held", prefect_flow=held).run_and_return({"x": 3}, task_name="after", timeout=10) == 3


def test_the_configured_run_timeout_applies_to_local_runs(lume_home, monkeypatch):
    monkeypatch.setenv("LUME_PREFECT__RUN_TIMEOUT", "0.5")
    config.reset()

    with pytest.raises(FlowRunTimeoutError):
        Flow(name="held", prefect_flow=held).run_and_return({"x": 1})


def test_the_time_limit_is_measured_on_the_backends_clock(lume_home):
    clock = ManualClock()
    backend = LocalBackend(home=lume_home, timeout=3600, clock=clock)
    started = clock.monotonic()

    with pytest.raises(FlowRunTimeoutError) as info:
        backend.run_and_return({"x": 1}, flow=held)

    assert clock.monotonic() - started == 3600  # an hour on the clock, no real hour
    assert info.value.timeout == 3600


def test_a_backend_timeout_applies_to_run_and_return(lume_home):
    backend = LocalBackend(home=lume_home, timeout=0.5)
    with pytest.raises(FlowRunTimeoutError):
        backend.run_and_return({"x": 1}, flow=held)


def test_a_flow_of_flows_run_with_a_timeout_stops_and_raises(lume_home):
    Flow(name="sleeper", project_name="test", prefect_flow=ft.sleeper).register()
    Flow(name="doubler", project_name="test", prefect_flow=ft.doubler).register()
    fof = FlowOfFlows.from_yaml({
        "name": "bounded", "project_name": "test",
        "composing_flows": [{"name": "sleeper"}, {"name": "doubler"}],
    })

    started = time.monotonic()
    with pytest.raises(FlowRunTimeoutError, match="did not finish within 0.5 s"):
        fof.run_and_return({"sleeper-seconds": 2, "doubler-x": 2}, timeout=0.5)
    assert time.monotonic() - started < 1.5
