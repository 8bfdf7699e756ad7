"""An error names the value that is wrong, but never shows megabytes of it."""

from lume_services.errors import ParameterNotInFlowError
from lume_services.errors._base import MAX_MESSAGE_CHARACTERS


def test_an_error_naming_a_huge_value_shows_its_beginning_and_end_only():
    huge = "x" * 1_000_000
    error = ParameterNotInFlowError("flow", [huge], ["a", "b"])

    shown = str(error)

    assert len(shown) < MAX_MESSAGE_CHARACTERS + 100
    assert "characters left out" in shown
    assert shown.rstrip().endswith(str(ParameterNotInFlowError("flow", ["x"], ["a", "b"]))[-20:].rstrip())
    assert error.parameter_names == [huge]  # the facts stay whole for code that reads them


def test_a_short_message_is_shown_whole():
    error = ParameterNotInFlowError("flow", ["z"], ["a", "b"])

    assert "characters left out" not in str(error)
    assert "'z'" in str(error)
