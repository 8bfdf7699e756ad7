"""One documented way to quiet Prefect's log lines: ``LUME_PREFECT__LOGGING_LEVEL`` (``PrefectConfig.logging_level``).

Each case runs in a fresh process: the setting has to work where it matters,
in a script that imports Prefect itself (importing Prefect resets a level set before).
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import prefect
    from prefect import Flow as PrefectFlow, Parameter, task

    from lume_services.flows.flow import Flow

    @task
    def double(x):
        return 2 * x

    with PrefectFlow("doubler") as prefect_flow:
        double(Parameter("x"))

    flow = Flow(name="doubler", project_name="demo", prefect_flow=prefect_flow)
    flow.register()
    print("result", flow.run_and_return({"x": 21}, task_name="double"))
    """
)


def _run(tmp_path, level):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LUME_HOME": str(tmp_path / "home")}
    env.pop("PREFECT__LOGGING__LEVEL", None)
    env.pop("LUME_PREFECT__LOGGING_LEVEL", None)
    if level is not None:
        env["LUME_PREFECT__LOGGING_LEVEL"] = level
    (tmp_path / "script.py").write_text(SCRIPT)
    done = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "result 42" in done.stdout
    return done.stdout + done.stderr


def test_by_default_prefect_logs_each_task_run(tmp_path):
    assert "INFO - prefect.TaskRunner" in _run(tmp_path, None)


@pytest.mark.parametrize("level", ["WARNING", "error"])
def test_the_logging_level_setting_quiets_prefect_in_a_script(tmp_path, level):
    assert "INFO - prefect" not in _run(tmp_path, level)


def test_an_unknown_level_is_refused_naming_the_setting(tmp_path, monkeypatch):
    from lume_services.config import settings_from_environment
    from lume_services.errors import EnvironmentNotConfiguredError

    monkeypatch.setenv("LUME_PREFECT__LOGGING_LEVEL", "LOUD")
    with pytest.raises(EnvironmentNotConfiguredError, match="logging_level"):
        settings_from_environment()
