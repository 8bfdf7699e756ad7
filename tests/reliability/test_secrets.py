"""Secrets are never shown: not by `lume-services env`, not in reprs, not in errors."""

import json
import socket
import time

import pytest
from click.testing import CliRunner

from lume_services.cli.main import main
from lume_services.config import LUMEServicesSettings, shown_env_value
from lume_services.errors import ResultsDBUnreachableError
from lume_services.masking import MASK, mask_uri
from lume_services.services.results.mongodb import MongodbResultsDB, MongodbResultsDBConfig

SECRET = "hunter2-secret"


def env_output(monkeypatch, **variables):
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, ["env"])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("name, value", [
    ("LUME_PREFECT__API_KEY", SECRET),
    ("LUME_PREFECT", json.dumps({"server": {"host": "http://prefect"}, "api_key": SECRET})),
    ("LUME_RESULTS_DB", json.dumps({"type": "mongodb", "mongodb": {"password": SECRET}})),
    ("LUME_RESULTS_DB__MONGODB", json.dumps({"username": "u", "password": SECRET})),
    ("LUME_RESULTS_DB__MONGODB__PASSWORD", SECRET),
    ("LUME_RESULTS_DB__MONGODB__OPTIONS", json.dumps({"tlsCertificateKeyFilePassword": SECRET, "tls": True})),
    ("LUME_RESULTS_DB__MONGODB__HOST", f"mongodb://user:{SECRET}@db.example.org"),
    ("LUME_RESULTS_DB", json.dumps({"type": "mongodb", "mongodb": {"host": f"mongodb://u:{SECRET}@db"}})),
])
def test_env_never_prints_a_secret_however_it_is_given(monkeypatch, name, value):
    output = env_output(monkeypatch, **{name: value})
    assert SECRET not in output
    assert f"{name}=(set)" in output or (f"{name}=" in output and MASK in output)


def test_env_still_shows_what_is_not_secret(monkeypatch):
    output = env_output(
        monkeypatch,
        LUME_PREFECT=json.dumps({"server": {"host": "http://prefect"}, "api_key": SECRET}),
        LUME_RESULTS_DB__MONGODB__HOST="mongodb://user:pw@db.example.org",
    )
    assert '"host": "http://prefect"' in output
    assert "mongodb://user:**********@db.example.org" in output


def test_a_variable_that_is_not_json_but_looks_like_it_is_masked_whole():
    assert shown_env_value("LUME_PREFECT", '{"api_key": "x", oops') == "(set)"


#: what MongodbResultsDBConfig requires (as LUME-services' did); the tests vary the rest
CREDENTIALS = {"host": "localhost", "port": 27017, "username": "u", "password": "p"}


def test_the_repr_of_a_mongodb_results_db_masks_a_uri_password():
    db = MongodbResultsDB(MongodbResultsDBConfig(**{**CREDENTIALS, "host": f"mongodb://user:{SECRET}@db.example.org"}))
    assert SECRET not in repr(db) and "mongodb://user:**********@db.example.org" in repr(db)


def test_the_repr_of_mongodb_settings_masks_the_password_the_uri_and_secret_options():
    config = MongodbResultsDBConfig(
        **{**CREDENTIALS, "host": f"mongodb://u:{SECRET}@db", "password": SECRET},
        options={"tlsCertificateKeyFilePassword": SECRET},
    )
    settings = LUMEServicesSettings(results_db={"type": "mongodb", "mongodb": config})
    for shown in (repr(config), str(config), repr(settings)):
        assert SECRET not in shown


def test_a_uri_without_credentials_is_left_as_it_is():
    assert mask_uri("mongodb://db.example.org:27017/?tls=true") == "mongodb://db.example.org:27017/?tls=true"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_mongodb_answers_within_seconds_naming_the_settings_and_no_password():
    db = MongodbResultsDB(MongodbResultsDBConfig(
        **{**CREDENTIALS, "host": f"mongodb://user:{SECRET}@127.0.0.1:{free_port()}"},
        options={"serverSelectionTimeoutMS": 500},
    ))
    started = time.monotonic()
    with pytest.raises(ResultsDBUnreachableError) as info:
        db.find("p")
    assert time.monotonic() - started < 10
    assert "LUME_RESULTS_DB__MONGODB__HOST" in str(info.value) and SECRET not in str(info.value)


def test_the_client_waits_seconds_for_a_server_by_default():
    assert MongodbResultsDBConfig(**CREDENTIALS).client_kwargs()["serverSelectionTimeoutMS"] <= 10000
