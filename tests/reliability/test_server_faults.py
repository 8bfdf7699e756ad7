"""A Prefect Server that fails part of the way: registration is whole or nothing, errors come
at once, and malformed answers are named, never a raw RetryError, JSONDecodeError or BoxKeyError.

Faults are planned on the protocol double (``ProtocolDouble.fail``): the request
naming the field is answered with the fault instead of being executed.
"""

import time
from datetime import timedelta

import pytest

import flows_for_tests as ft
from lume_services.errors import FlowRegistrationError, ServerReplyError, ServerRequestError
from lume_services.flows.flow import Flow, FlowRunConfig

pytestmark = [pytest.mark.server, pytest.mark.timeout(60)]

FAST = FlowRunConfig(poll_interval=timedelta(seconds=0.2))


def _versions(store, name, project):
    project_ids = {p["id"] for p in store.projects.values() if p["name"] == project}
    return sorted(f["version"] for f in store.flows.values() if f["name"] == name and f["project_id"] in project_ids)


def test_a_failed_task_registration_leaves_no_version_and_says_so(server_backend, prefect_protocol_double):
    prefect_protocol_double.fail("register_tasks", status=500)
    started = time.monotonic()

    with pytest.raises(FlowRegistrationError) as raised:
        Flow(name="half", project_name="faults-tasks", prefect_flow=ft.doubler).register()

    assert time.monotonic() - started < 10  # not Prefect's minute of retries
    assert raised.value.removed is True
    assert "'half'" in str(raised.value) and "deleted" in str(raised.value)
    assert _versions(prefect_protocol_double.store, "half", "faults-tasks") == []


def test_registering_again_after_a_failure_gives_a_flow_that_runs(server_backend, prefect_protocol_double):
    prefect_protocol_double.fail("register_edges", status=500)
    flow = Flow(name="half-edges", project_name="faults-again", prefect_flow=ft.two_incs)
    with pytest.raises(FlowRegistrationError):
        flow.register()

    flow.register()

    assert flow.run_and_return({"x": 3}, FAST)["inc"] == [4, 5]


def test_a_version_left_incomplete_is_repaired_by_the_next_registration(server_backend, prefect_protocol_double):
    prefect_protocol_double.fail("register_tasks", status=500)
    prefect_protocol_double.fail("delete_flow", status=500)  # the clean-up fails too
    flow = Flow(name="left-half", project_name="faults-repair", prefect_flow=ft.doubler)
    with pytest.raises(FlowRegistrationError) as raised:
        flow.register()
    assert raised.value.removed is False and "registering again repairs it" in str(raised.value)
    assert _versions(prefect_protocol_double.store, "left-half", "faults-repair") == [1]  # left behind

    flow_id = flow.register()

    store = prefect_protocol_double.store
    assert sum(1 for t in store.tasks.values() if t["flow_id"] == flow_id) == len(ft.doubler.tasks)
    assert flow.run_and_return({"x": 4}, FAST)["double"] == 8


def test_a_server_error_is_reported_at_once_not_after_a_minute_of_retries(server_backend, prefect_protocol_double):
    prefect_protocol_double.fail("flow", status=500)
    started = time.monotonic()

    with pytest.raises(ServerRequestError) as raised:
        server_backend.list_flows("faults-500")

    assert time.monotonic() - started < 5
    assert f":{prefect_protocol_double.port}/" in str(raised.value)


def test_an_answer_that_is_not_json_names_the_url_and_the_request(server_backend, prefect_protocol_double):
    prefect_protocol_double.fail("flow", status=200, body=b"<html>502 Bad Gateway</html>")

    with pytest.raises(ServerReplyError) as raised:
        server_backend.list_flows("faults-html")

    assert f":{prefect_protocol_double.port}/" in raised.value.url
    assert "not JSON" in str(raised.value) and "flow" in raised.value.request


def test_an_answer_without_the_fields_asked_for_is_a_reply_error(server_backend, prefect_protocol_double):
    prefect_protocol_double.fail("flow", status=200, body={"data": {"something_else": []}})

    with pytest.raises(ServerReplyError, match="lacks flow"):
        server_backend.list_flows("faults-shape")
