"""A reference's type string resolves only to a subclass of the expected base; nothing it names runs."""

import sys

import pytest

from lume_services.errors import UnknownFileTypeError, UnknownResultTypeError
from lume_services.files.file import TextFile, get_file_type
from lume_services.results.result import Result, get_result_from_string


@pytest.mark.parametrize("type_string", ["os:system", "builtins:eval", "subprocess:Popen", "os:path.join"])
def test_a_type_string_naming_something_that_is_not_a_file_type_is_refused(type_string, monkeypatch):
    called = []
    monkeypatch.setattr("os.system", lambda *a: called.append(a))
    with pytest.raises(UnknownFileTypeError, match="not a File subclass"):
        get_file_type(type_string)
    assert called == []


@pytest.mark.parametrize("type_string", [
    "lume_services.files.file:File.__subclasses__",
    "lume_services.files.file:TextFile.__init__",
    "os:_exit",
    "../evil:Thing",
    "lume_services.files.file:TextFile; import os",
])
def test_a_type_string_with_private_or_odd_parts_is_refused_before_any_lookup(type_string):
    with pytest.raises(UnknownFileTypeError, match="dotted Python names"):
        get_file_type(type_string)


def test_a_result_type_string_resolves_only_to_a_result():
    assert get_result_from_string("lume_services.results.result:Result") is Result
    with pytest.raises(UnknownResultTypeError, match="not a Result subclass"):
        get_result_from_string("lume_services.files.file:TextFile")


def test_a_module_already_imported_is_looked_into_without_importing(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("imported")

    monkeypatch.setattr("importlib.import_module", refuse)
    assert "lume_services.files.file" in sys.modules
    assert get_file_type("lume_services.files.file:TextFile") is TextFile
