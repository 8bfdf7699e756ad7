"""A result that cannot be written as JSON never fails a run that succeeded.

A task that returns a list holding itself is a successful task; before, the CLI
failed with ``RecursionError`` after the run succeeded, and the run history kept
the run as "Running" (then "Crashed") because recording its end recursed too.
"""

import json

import pytest
from click.testing import CliRunner

from lume_services.cli.main import main
from lume_services.services.scheduling.run_records import MAX_RESULT_DEPTH, recordable

FLOW = """
from prefect import Flow, Parameter, task

@task
def loop(x):
    a = [x]
    a.append(a)
    return a

with Flow("self-referencing") as flow:
    loop(Parameter("x", default=1))
"""


@pytest.fixture
def registered(tmp_path, monkeypatch, lume_home):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "selfref.py").write_text(FLOW)
    result = CliRunner().invoke(main, ["flows", "register", "-p", "selfref.py", "--project", "unencodable"])
    assert result.exit_code == 0, result.output


def test_a_self_referencing_result_is_one_json_document_and_the_run_succeeds(registered):
    result = CliRunner().invoke(main, ["flows", "run", "self-referencing", "--project", "unencodable", "--json"])

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["state"] == "Success"
    assert document["results"]["loop"][0] == 1
    assert document["results"]["loop"][1]["repr"] == "<refers to itself>"


def test_the_history_records_the_run_as_succeeded_with_the_result_marked(registered):
    CliRunner().invoke(main, ["flows", "run", "self-referencing", "--project", "unencodable"])

    runs = json.loads(CliRunner().invoke(main, ["runs", "list", "--json"]).stdout)
    shown = CliRunner().invoke(main, ["runs", "show", "--last", "--json"]).stdout

    assert [r["state"] for r in runs] == ["Success"]
    assert "refers to itself" in shown


@pytest.mark.parametrize("value, why", [
    (lambda: (lambda a: (a.append(a), a)[1])([1]), "refers to itself"),
    (lambda: __import__("functools").reduce(lambda inner, _: [inner], range(MAX_RESULT_DEPTH + 5), 0),
     f"nested more than {MAX_RESULT_DEPTH} levels deep"),
])
def test_a_value_that_is_not_a_tree_is_noted_not_recorded(value, why):
    recorded, kept, note = recordable(value())

    assert recorded is False and kept is None
    assert why in note
