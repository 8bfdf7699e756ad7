"""Bad configuration is refused when settings are read, not when a server fails to answer."""

import warnings

import pytest

from lume_services import config
from lume_services.errors import EnvironmentNotConfiguredError, UnknownSettingWarning


@pytest.mark.parametrize("name, value, field", [
    ("LUME_PREFECT__SERVER__HOST_PORT", "99999", "host_port"),
    ("LUME_PREFECT__SERVER__HOST_PORT", "0", "host_port"),
    ("LUME_PREFECT__SERVER__HOST", "localhost", "host"),
    ("LUME_PREFECT__UI__HOST", "prefect-ui", "host"),
    ("LUME_RESULTS_DB__MONGODB__PORT", "70000", "port"),
])
def test_an_invalid_port_or_a_host_without_a_scheme_is_refused_when_settings_are_read(monkeypatch, name, value, field):
    monkeypatch.setenv(name, value)
    with pytest.raises(EnvironmentNotConfiguredError, match=field):
        config.settings_from_environment()


def test_a_host_without_a_scheme_is_told_how_to_write_it(monkeypatch):
    monkeypatch.setenv("LUME_PREFECT__SERVER__HOST", "localhost")
    with pytest.raises(EnvironmentNotConfiguredError, match="write 'http://localhost'"):
        config.settings_from_environment()


def test_a_misspelled_variable_is_reported_naming_the_closest_one(monkeypatch):
    monkeypatch.setenv("LUME_BAKEND", "server")
    with pytest.warns(UnknownSettingWarning, match="LUME_BAKEND is not a lume-services setting.*did you mean LUME_BACKEND"):
        settings = config.settings_from_environment()
    assert settings.backend == "local"  # still ignored, but now said


def test_known_variables_and_mapping_entries_are_not_reported(monkeypatch):
    monkeypatch.setenv("LUME_BACKEND", "local")
    monkeypatch.setenv("LUME_RESULTS_DB__MONGODB__HOST", "mongodb.example")
    monkeypatch.setenv("LUME_RESULTS_DB__MONGODB__PORT", "27017")
    monkeypatch.setenv("LUME_RESULTS_DB__MONGODB__USERNAME", "lume")
    monkeypatch.setenv("LUME_RESULTS_DB__MONGODB__PASSWORD", "pw")
    monkeypatch.setenv("LUME_RESULTS_DB__MONGODB__OPTIONS__TLS", "true")
    monkeypatch.setenv("LUME_DEBUG", "1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        config.settings_from_environment()
