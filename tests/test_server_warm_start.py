"""Warm starts of ``lume-services agent``: each run's process forked from a process that imported Prefect already.

The agent is started as docs/server.md starts it, against the protocol
double, never poked. A run of the ``process`` flow reports where it ran: its
parent process (the zygote for a warm start, the agent for a new process) and
its flow run id as Prefect's context, Prefect's configuration and the
environment hold it.
"""

import logging
import os
import signal
import threading
import time
from datetime import timedelta

import pytest

import flows_for_tests as ft
from fixtures.server import lume_agent_command, lume_agent_environment, running_local_agent
from lume_services.flows.flow import Flow, FlowRunConfig
from lume_services.services.scheduling.backends import LocalRunConfig

pytestmark = pytest.mark.server

LABEL = "warm-agent"
ZYGOTE_MODULE = "lume_services.services.scheduling.backends.server.warm_start"


def _agent(double, workdir, label, env=None):
    return running_local_agent(double, workdir, labels=[label], poke=False, tuned=False,
                               command=lume_agent_command([label], poll_interval=0.1),
                               env={**lume_agent_environment(double), **(env or {})})


@pytest.fixture(scope="module")
def warm_agent(prefect_protocol_double, tmp_path_factory):
    with _agent(prefect_protocol_double, tmp_path_factory.mktemp("warm-agent"), LABEL) as agent:
        yield agent


def _children(pid: int) -> list:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def _command(pid: int) -> str:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().replace(b"\0", b" ").decode()


def _facts(label, project, env=None):
    model = Flow(name=ft.process.name, project_name=project, prefect_flow=ft.process, labels=[label])
    model.register()
    run_config = FlowRunConfig(poll_interval=timedelta(seconds=0.1), labels=[label],
                               run_config=LocalRunConfig(env=env or {}, labels=[label]))
    return model.run_and_return({"name": "LUME_TEST_VALUE"}, run_config, task_name="process_facts")


def test_a_run_runs_in_a_process_forked_from_the_agents_zygote_with_its_own_flow_run_id(
    warm_agent, server_backend, prefect_protocol_double
):
    facts = _facts(LABEL, "warm-start")

    agent_pid = warm_agent["process"].pid
    assert facts["ppid"] != agent_pid
    assert ZYGOTE_MODULE in facts["parent_command"]
    assert facts["ppid"] in _children(agent_pid)  # the agent's zygote
    run = prefect_protocol_double.store.flow_runs[facts["context_flow_run_id"]]
    assert run["labels"] == [LABEL] and run["state"] == "Success"
    run_id = run["id"]
    assert facts["context_flow_run_id"] == facts["config_flow_run_id"] == facts["env_flow_run_id"] == run_id
    assert facts["api"] == prefect_protocol_double.url
    assert facts["labels"] == [LABEL]


def test_each_forked_run_has_its_own_run_configs_environment_and_no_other_runs(warm_agent, server_backend):
    first = _facts(LABEL, "warm-env", env={"LUME_TEST_VALUE": "first run", "PREFECT__LOGGING__LEVEL": "DEBUG"})
    second = _facts(LABEL, "warm-env")

    assert first["value"] == "first run"
    assert (first["logging_level"], first["logger_level"]) == ("DEBUG", 10)  # Prefect's config and logger
    assert second["value"] is None
    assert second["logging_level"] != "DEBUG"  # the agent's, not the first run's
    assert second["logger_level"] == logging.getLevelName(second["logging_level"])
    assert first["pid"] != second["pid"]
    assert first["ppid"] == second["ppid"]  # both forked from the same zygote
    assert ZYGOTE_MODULE in second["parent_command"]


def test_when_the_zygote_is_gone_a_run_starts_as_a_new_process_and_the_next_is_warm_again(
    prefect_protocol_double, server_backend, tmp_path
):
    label = "warm-agent-killed"
    with _agent(prefect_protocol_double, tmp_path, label) as agent:
        agent_pid = agent["process"].pid
        warm = _facts(label, "warm-killed")
        zygote = warm["ppid"]
        assert ZYGOTE_MODULE in _command(zygote)
        os.kill(zygote, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while zygote in _children(agent_pid) and ZYGOTE_MODULE in _command(zygote):
            assert time.monotonic() < deadline, "the killed zygote did not end"
            os.sched_yield()  # the agent reaps it; nothing to wait for but the kernel

        cold = _facts(label, "warm-killed")
        again = _facts(label, "warm-killed")

    assert cold["ppid"] == agent_pid  # Prefect's new process, as without warm starts
    assert ZYGOTE_MODULE in again["parent_command"]
    assert again["ppid"] not in (zygote, agent_pid)  # a new zygote


def test_warm_starts_are_off_with_lume_prefect_agent_warm_start_false(prefect_protocol_double, server_backend,
                                                                       tmp_path):
    label = "cold-agent"
    with _agent(prefect_protocol_double, tmp_path, label, env={"LUME_PREFECT__AGENT__WARM_START": "false"}) as agent:
        facts = _facts(label, "cold-start")
        children = [_command(pid) for pid in _children(agent["process"].pid)]

    assert facts["ppid"] == agent["process"].pid
    assert not [c for c in children if ZYGOTE_MODULE in c]


def test_the_agent_learns_a_forked_runs_exit_code_from_the_zygote(tmp_path):
    from lume_services.services.scheduling.backends.server.warm_start import WarmStarter

    starter = WarmStarter(preload=("prefect",)).start()
    try:
        assert starter.ready(wait=60)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT__CONTEXT__")}
        # no flow run id: `prefect execute flow-run` refuses, with exit code 1
        process = starter.spawn(env, str(tmp_path))
        # the agent's watcher waits as Popen.wait does: woken by the zygote's message
        waiter = threading.Thread(target=process.wait, daemon=True)
        waiter.start()
        waiter.join(timeout=60)
        assert not waiter.is_alive(), "the forked process did not end"
    finally:
        starter.stop()

    assert process.returncode == 1
    assert process.poll() == 1  # as Popen.poll (the agent's heartbeat) reads it
    assert process.wait() == 1
