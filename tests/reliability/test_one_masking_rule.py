"""One masking rule: each secret of the table is hidden in env, the run history, runs show and an error message.

Every row is a parameter (a name and a value) and the secret it carries: a
value under a secret-looking name, a credential inside a URI, a secret inside
a JSON option string or a ``NAME=value`` option. The same row goes through
every place lume-services shows or keeps values, and the secret appears in
none of them.
"""

import json

import pytest
from click.testing import CliRunner
from prefect import Flow as PrefectFlow
from prefect import Parameter, task

from lume_services import config
from lume_services.cli.main import main
from lume_services.config import LUMEServicesSettings
from lume_services.errors import FlowFailedError
from lume_services.flows.flow import Flow
from lume_services.masking import MASK

#: (parameter name, parameter value, the secret inside it)
TABLE = [
    ("password", "hunter2-pw", "hunter2-pw"),
    ("pwd", "hunter2-pwd", "hunter2-pwd"),
    ("db_pwd", "hunter2-db", "hunter2-db"),
    ("token", "tok-123456", "tok-123456"),
    ("secret", "s3cr3t-value", "s3cr3t-value"),
    ("api_key", "key-987654", "key-987654"),
    ("AWS_SESSION_TOKEN", "aws-session-42", "aws-session-42"),
    ("credentials", "cred-77", "cred-77"),
    ("url", "mongodb://reader:pw-in-uri@db.example.org:27017/lume", "pw-in-uri"),
    ("options", json.dumps({"password": "pw-in-json", "authSource": "admin"}), "pw-in-json"),
    ("options", "authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:aws-in-opts", "aws-in-opts"),
]
IDS = [f"{name}-{i}" for i, (name, _, _) in enumerate(TABLE)]


@task
def refuse(value, name):
    raise ValueError(f"cannot connect with {name}={value}")


def flow_with(name):
    with PrefectFlow(f"connect-{name.lower().replace('_', '-')}") as flow:
        refuse(Parameter(name), name)
    return flow


@pytest.fixture
def failed_run(lume_home):
    """Run a flow whose task fails naming its parameter's value: the error and the run's id."""
    service = config.configure(LUMEServicesSettings(backend="local", home=lume_home)).scheduling_service()

    def run(name, value):
        flow = flow_with(name)
        model = Flow(name=flow.name, project_name="masking", prefect_flow=flow)
        model.register(scheduling_service=service)
        with pytest.raises(FlowFailedError) as info:
            model.run_and_return(parameters={name: value}, scheduling_service=service)
        (record,) = service.list_runs(flow_name=flow.name)
        return info.value, service.get_run(record.run_id)

    return run


@pytest.mark.parametrize("name, value, secret", TABLE, ids=IDS)
def test_env_masks_it_inside_a_json_option_string(monkeypatch, name, value, secret):
    monkeypatch.setenv("LUME_RESULTS_DB__MONGODB__OPTIONS", json.dumps({name: value}))

    shown = CliRunner().invoke(main, ["env"])

    assert shown.exit_code == 0
    assert secret not in shown.output and MASK in shown.output


@pytest.mark.parametrize("name, value, secret", TABLE, ids=IDS)
def test_the_run_history_records_it_masked(failed_run, name, value, secret):
    _, run = failed_run(name, value)

    recorded = json.dumps(run.to_dict())
    assert secret not in recorded and MASK in json.dumps(run.parameters)


@pytest.mark.parametrize("name, value, secret", TABLE, ids=IDS)
def test_runs_show_prints_it_masked(failed_run, name, value, secret):
    _, run = failed_run(name, value)

    for args in (["runs", "show", run.run_id], ["runs", "show", run.run_id, "--json"]):
        shown = CliRunner().invoke(main, args)
        assert shown.exit_code == 0, shown.output
        assert secret not in shown.output and MASK in shown.output


@pytest.mark.parametrize("name, value, secret", TABLE, ids=IDS)
def test_the_error_of_the_failed_run_names_it_masked(failed_run, name, value, secret):
    error, _ = failed_run(name, value)

    assert secret not in str(error) and MASK in str(error)
    assert "cannot connect with" in str(error)  # the rest of the message is kept


@pytest.fixture
def prefect_log():
    """What Prefect's own log handler writes, read from a buffer it is pointed at for the test."""
    import io
    import logging

    buffer = io.StringIO()
    handlers = [h for h in logging.getLogger("prefect").handlers if type(h) is logging.StreamHandler]
    saved = [h.setStream(buffer) for h in handlers]
    yield buffer
    for handler, stream in zip(handlers, saved):
        handler.setStream(stream)


@pytest.mark.parametrize("name, value, secret", TABLE, ids=IDS)
def test_the_log_lines_of_the_failed_run_show_it_masked(failed_run, prefect_log, name, value, secret):
    failed_run(name, value)

    logged = prefect_log.getvalue()
    assert "Exception encountered during task execution" in logged  # Prefect logged the failure
    assert secret not in logged and MASK in logged
