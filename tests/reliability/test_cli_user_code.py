"""Flow modules are user code: importing one may print or call sys.exit(), and neither may
change what a command prints on stdout or make it end as if it had succeeded."""

import json

import pytest
from click.testing import CliRunner

from lume_services.cli.main import main

FLOW = """
from prefect import Flow, Parameter, task

@task
def triple(x):
    return 3 * x

with Flow("{name}") as flow:
    triple(Parameter("x", default=1))
"""


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "a_good.py").write_text(FLOW.format(name="good"))
    return tmp_path / "flows"


def test_a_module_that_exits_at_import_is_an_input_error_naming_it(folder, lume_home):
    (folder / "b_exits.py").write_text("import sys\nsys.exit(0)\n")

    result = invoke("flows", "register", "-p", folder, "--project", "usercode")

    assert result.exit_code == 2
    assert "b_exits.py" in result.stderr and "sys.exit(0)" in result.stderr
    assert "__main__" in result.stderr  # says how to fix it


def test_a_module_that_exits_at_import_by_name_is_an_input_error(folder, lume_home, monkeypatch):
    monkeypatch.chdir(folder)
    (folder / "exits_by_name.py").write_text("raise SystemExit(3)\n")

    result = invoke("flows", "register", "-m", "exits_by_name", "--project", "usercode")

    assert result.exit_code == 2
    assert "module 'exits_by_name' called sys.exit(3)" in result.stderr


def test_what_a_module_prints_at_import_goes_to_stderr_and_json_stays_one_document(folder, lume_home):
    (folder / "a_good.py").write_text("print('hello from import')\n" + FLOW.format(name="good"))

    result = invoke("flows", "register", "-p", folder, "--project", "usercode", "--json")

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [f["name"] for f in document["flows"]] == ["good"]
    assert "hello from import" in result.stderr
