"""Runs on a Prefect Server carry no secrets: nothing the server stores holds one (issue 20).

A run config, a flow, a label or a log stored on the server is readable by
anyone who reaches its API (which has no authentication). The caller's
non-secret ``LUME_*`` settings travel with every run; its secrets (the MongoDB
password, the Prefect API key) reach runs only from where the agent runs. The
double's store is read back whole after a flow was registered and run with
both set, with a real ``LocalAgent`` that holds the password in its environment.
"""

import json
from datetime import timedelta

import pytest

import flows_for_tests as ft
from fixtures.server import running_local_agent
from lume_services.errors import SecretInRunConfigError
from lume_services.flows.flow import Flow, FlowRunConfig

pytestmark = pytest.mark.server

PASSWORD = "mongo-pw-7Zq9xK2"
API_KEY = "api-key-Wm4Rt8pL"
LABEL = "secrets-agent"  # an agent of its own: the session's agent has no password


def _with_secrets(server_settings, username="flows"):
    data = server_settings.dict()
    data["results_db"] = {"type": "mongodb", "mongodb": {
        "host": "mongodb.invalid", "port": 27017, "database": "lume", "username": username,
        "password": PASSWORD}}
    data["prefect"]["api_key"] = API_KEY
    return type(server_settings).parse_obj(data)


def _everything_the_double_stores(store) -> str:
    """Every table of the double and every request's arguments, as text."""

    def plain(value):
        if callable(value):
            return None  # a relationship: its rows are in their own table
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    tables = {name: plain(getattr(store, name)) for name in (
        "tenants", "projects", "flows", "flow_groups", "tasks", "edges", "flow_runs", "task_runs",
        "logs", "agents", "requests", "request_log")}
    return json.dumps(tables, default=repr)


@pytest.fixture
def secrets_run(prefect_protocol_double, server_settings, tmp_path):
    """Register and run ``secret-check`` with a MongoDB password and an API key set."""
    from lume_services import config

    agent_env = {"LUME_RESULTS_DB__MONGODB__PASSWORD": PASSWORD}
    (tmp_path / "agent").mkdir()
    with running_local_agent(prefect_protocol_double, tmp_path / "agent", labels=[LABEL], env=agent_env):
        config.configure(_with_secrets(server_settings))
        model = Flow(name=ft.secret_check.name, project_name="secrets", prefect_flow=ft.secret_check,
                     labels=[LABEL])
        model.register()
        results = model.run_and_return({}, FlowRunConfig(poll_interval=timedelta(seconds=0.2)), task_name=None)
    return results


def test_a_run_gets_its_secret_from_the_agent_and_its_settings_from_the_caller(secrets_run):
    assert secrets_run["env_is_set"] is True
    assert secrets_run["read_env"] == "flows"


def test_no_secret_reaches_anything_the_server_stores(secrets_run, prefect_protocol_double):
    stored = _everything_the_double_stores(prefect_protocol_double.store)

    assert "LUME_RESULTS_DB__MONGODB__USERNAME" in stored  # the settings did travel
    assert PASSWORD not in stored
    assert API_KEY not in stored


def test_no_secret_reaches_the_flows_storage(secrets_run, server_settings):
    from pathlib import Path

    stored = b"".join(p.read_bytes() for p in Path(server_settings.prefect.agent.storage_dir).rglob("*")
                      if p.is_file())

    assert stored
    assert PASSWORD.encode() not in stored and API_KEY.encode() not in stored


def test_callers_with_different_settings_never_share_a_flow_id(server_settings, prefect_protocol_double):
    from lume_services import config

    ids = []
    for username in ("alice", "bob"):
        config.configure(_with_secrets(server_settings, username))
        model = Flow(name=ft.adder.name, project_name="two-users", prefect_flow=ft.adder)
        ids.append(model.register())
    config.configure(_with_secrets(server_settings, "alice"))
    again = Flow(name=ft.adder.name, project_name="two-users", prefect_flow=ft.adder).register()

    assert ids[0] != ids[1]
    assert again != ids[1]  # alice's settings are not bob's: a new version again


def test_the_same_settings_register_the_same_flow_id(server_settings, prefect_protocol_double):
    from lume_services import config

    config.configure(_with_secrets(server_settings))
    first = Flow(name=ft.adder.name, project_name="same-settings", prefect_flow=ft.adder).register()
    second = Flow(name=ft.adder.name, project_name="same-settings", prefect_flow=ft.adder).register()

    assert first == second


def test_a_run_config_holding_a_secret_is_refused_naming_the_variable_not_the_value(server_settings):
    from lume_services import config
    from lume_services.services.scheduling.backends import LocalRunConfig

    backend = config.configure(server_settings).scheduling_backend()

    with pytest.raises(SecretInRunConfigError) as caught:
        backend.build_run_config(LocalRunConfig(env={"LUME_RESULTS_DB__MONGODB__PASSWORD": PASSWORD}))

    assert caught.value.names == ["LUME_RESULTS_DB__MONGODB__PASSWORD"]
    assert PASSWORD not in str(caught.value)
    assert "agent" in str(caught.value)
