"""A misspelled LUME_* variable is warned about as ignored, and is ignored.

``LUME_RESULTS_DB__MONGODB__HOTS=x`` was called "ignored" by the warning and
then made an empty MongoDB section that failed validation ("host: field
required"), so one typo broke every command.
"""

import pytest

from lume_services.config import settings_from_environment
from lume_services.errors import UnknownSettingWarning


@pytest.mark.parametrize("name, section", [
    ("LUME_RESULTS_DB__MONGODB__HOTS", "results_db"),
    ("LUME_MODEL_DB__HOTS", "model_db"),
    ("LUME_PREFECT__SERVR__HOST", "prefect"),
])
def test_a_misspelled_nested_variable_is_warned_about_and_changes_nothing(monkeypatch, name, section):
    expected = settings_from_environment()
    monkeypatch.setenv(name, "somewhere")

    with pytest.warns(UnknownSettingWarning, match=name):
        settings = settings_from_environment()

    assert getattr(settings, section) == getattr(expected, section)


def test_a_known_variable_beside_a_misspelled_one_still_applies(monkeypatch):
    monkeypatch.setenv("LUME_RESULTS_DB__MONGODB__HOTS", "somewhere")
    monkeypatch.setenv("LUME_RUN_HISTORY__MAX_RESULT_BYTES", "1024")

    with pytest.warns(UnknownSettingWarning):
        settings = settings_from_environment()

    assert settings.run_history.max_result_bytes == 1024
    assert settings.results_db.mongodb is None
