"""The public API type-checks: mypy reports no error on flows/, tasks/, files/, results/.

``lume_services`` ships ``py.typed``, so a user's type checker reads these
signatures; ``[tool.mypy]`` in ``pyproject.toml`` says what is checked and how.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow  # mypy takes several seconds from a cold cache


def test_mypy_reports_no_errors_on_the_public_packages(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy-cache")],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("Success: no issues found"), result.stdout


USER_CONFIG = """
[mypy]
plugins = pydantic.mypy

[mypy-prefect.*]
ignore_missing_imports = True

[mypy-lume_services.*]
follow_imports = silent
"""

USER_FILE = """
from prefect import Flow as PrefectFlow, Parameter, task

from lume_services.flows.flow import Flow
from lume_services.flows.flow_of_flows import FlowOfFlows


@task
def double(x: int) -> int:
    return 2 * x


with PrefectFlow("doubler") as prefect_flow:
    double(Parameter("x"))

flow = Flow(name="doubler", project_name="demo", prefect_flow=prefect_flow)
value = flow.run_and_return({"x": 21}, task_name="double")
fof = FlowOfFlows.from_yaml("my_fof.yaml")
results = fof.run_and_return({"doubler-x": 4})
"""


def test_a_users_file_type_checks_as_docs_development_says_and_a_wrong_argument_is_reported(tmp_path):
    """The documented set-up (MYPYPATH, pydantic's plugin): the documented API passes, a wrong call does not."""
    (tmp_path / "mypy.ini").write_text(USER_CONFIG)
    (tmp_path / "my_script.py").write_text(USER_FILE)
    (tmp_path / "wrong.py").write_text(
        "from lume_services.flows.flow import Flow\n\n"
        'Flow(name="doubler", project_name="demo").run_and_return(parameters=42)\n'
    )
    env = {**os.environ, "MYPYPATH": str(ROOT)}
    env.pop("PYTHONPATH", None)  # as after the README's install: only MYPYPATH shows mypy the package
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache"), "my_script.py", "wrong.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1, result.stdout + result.stderr
    assert errors[0].startswith("wrong.py:3: error: Argument \"parameters\"") and "[arg-type]" in errors[0]
    for doc_block in (USER_CONFIG.strip(), USER_FILE.strip()):  # the page shows what is tested here
        assert doc_block in (ROOT / "docs" / "development.md").read_text()
