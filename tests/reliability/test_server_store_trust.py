"""On the server backend, flow files and task result files are private and never unpickled unless they are ours.

A real LocalAgent (against the Prefect 1 Server protocol double) loads the
registered flow files and writes ``LocalResult`` files; the caller reads the
results back (``run_and_return``, ``Flow.run_result``). Every file is made
0600 in 0700 folders whatever the umask; a file another user owns, or one
others may write to, is refused before it is unpickled, naming the file and
the fix.
"""

import os
import pickle
import stat
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

import flows_for_tests as ft
from fixtures.server import running_local_agent
from lume_services.errors import FlowFailedError, UntrustedStoreError
from lume_services.flows.flow import Flow, FlowRunConfig

pytestmark = pytest.mark.server

FAST = FlowRunConfig(poll_interval=timedelta(seconds=0.2))
NOBODY = 65534
as_root = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown needs root")


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


class Planted:
    """Unpickling this runs code: it creates a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def registered(flow, labels=None):
    model = Flow(name=flow.name, project_name=f"trust-{uuid.uuid4().hex[:8]}", prefect_flow=flow,
                 **({"labels": labels} if labels else {}))
    model.register()
    return model


def storage_dir(server_settings):
    return Path(server_settings.prefect.agent.storage_dir)


def only_file(folder):
    (found,) = [p for p in folder.rglob("*") if p.is_file()]
    return found


def assert_private(folder):
    assert mode(folder) == 0o700
    for path in folder.rglob("*"):
        assert mode(path) == (0o700 if path.is_dir() else 0o600), path


@pytest.fixture
def umask_000():
    old = os.umask(0)
    yield
    os.umask(old)


@pytest.fixture
def agent_under_umask_000(prefect_protocol_double, tmp_path, server_backend):
    """A LocalAgent of its own (label ``umask-000``) started under umask 000: its flow runs write results."""
    workdir = tmp_path / "agent-000"
    workdir.mkdir()
    old = os.umask(0)
    try:
        with running_local_agent(prefect_protocol_double, workdir, labels=["umask-000"]) as agent:
            os.umask(old)
            yield agent
    finally:
        os.umask(old)


def test_flow_files_and_task_results_are_private_whatever_the_umask(
        server_backend, server_settings, agent_under_umask_000, umask_000):
    model = registered(ft.adder, labels=["umask-000"])

    assert model.run_and_return({"a": 1}, FAST, "add") == 11

    assert_private(storage_dir(server_settings))
    assert only_file(storage_dir(server_settings) / "flows")
    assert only_file(storage_dir(server_settings) / "results")


def test_a_group_writable_flow_file_is_refused_by_the_agent_naming_the_file_and_the_fix(
        server_backend, server_settings):
    model = registered(ft.adder)
    flow_file = only_file(storage_dir(server_settings) / "flows")
    os.chmod(flow_file, 0o660)

    with pytest.raises(FlowFailedError) as info:
        model.run_and_return({"a": 1}, FAST, "add")

    assert "UntrustedStoreError" in str(info.value) and str(flow_file) in str(info.value)
    assert "its group may write to it" in str(info.value) and "chmod go-w" in str(info.value)


@as_root
def test_a_flow_file_another_user_owns_is_refused_before_it_is_unpickled(server_backend, server_settings, tmp_path):
    model = registered(ft.adder)
    flow_file = only_file(storage_dir(server_settings) / "flows")
    marker = tmp_path / "flow-file-ran"
    flow_file.write_bytes(pickle.dumps(Planted(str(marker))))
    os.chown(flow_file, NOBODY, -1)

    with pytest.raises(FlowFailedError) as info:
        model.run_and_return({"a": 1}, FAST, "add")

    assert not marker.exists()
    assert "belongs to another user (uid 65534)" in str(info.value) and str(flow_file) in str(info.value)


def test_a_world_writable_result_file_is_refused_on_the_callers_side(server_backend, server_settings):
    model = registered(ft.adder)
    model.run_and_return({"a": 1}, FAST, "add")
    result_file = only_file(storage_dir(server_settings) / "results")
    os.chmod(result_file, 0o666)

    with pytest.raises(UntrustedStoreError) as info:
        model.run_result("add")

    assert (info.value.store, info.value.problem, info.value.path) == ("task_results", "world_writable", str(result_file))
    assert "chmod go-w" in str(info.value)


@as_root
def test_a_result_file_another_user_owns_is_refused_before_it_is_unpickled(server_backend, server_settings, tmp_path):
    model = registered(ft.adder)
    model.run_and_return({"a": 1}, FAST, "add")
    result_file = only_file(storage_dir(server_settings) / "results")
    marker = tmp_path / "result-file-ran"
    result_file.write_bytes(pickle.dumps(Planted(str(marker))))
    os.chown(result_file, NOBODY, -1)

    with pytest.raises(UntrustedStoreError) as info:
        model.run_result("add")

    assert not marker.exists()
    assert info.value.problem == "other_owner" and f"chown {os.geteuid()} {result_file}" in str(info.value)


def test_a_results_folder_others_may_write_to_is_refused(server_backend, server_settings):
    model = registered(ft.adder)
    model.run_and_return({"a": 1}, FAST, "add")
    os.chmod(storage_dir(server_settings) / "results", 0o777)

    with pytest.raises(UntrustedStoreError) as info:
        model.run_result("add")

    assert info.value.path == str(storage_dir(server_settings) / "results")
