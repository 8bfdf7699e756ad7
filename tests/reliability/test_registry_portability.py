"""A registered flow runs wherever its record says it can, and says so clearly where it cannot.

The registry records the Python (and cloudpickle) version that pickled a flow,
and the folders its own modules are imported from. A flow pickled by another
Python minor version crashed the interpreter when loaded (a segmentation fault,
exit 139, no message); a flow whose module imports its own package, registered
with ``-m pkg.mod``, failed to run from the same folder (``ModuleNotFoundError``).
"""

import json
import os
import platform
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from lume_services.errors import FlowRegisteredWithOtherPythonError
from lume_services.flows.flow import Flow

import flows_for_tests as ft

REPO = Path(__file__).resolve().parents[2]


def _set_recorded_python(registry: Path, version: str) -> None:
    """What a row written by another Python holds: its version in the row's metadata."""
    with sqlite3.connect(registry) as conn:
        (text,) = conn.execute("SELECT metadata FROM flows").fetchone()
        metadata = json.loads(text)
        metadata["python"] = version
        conn.execute("UPDATE flows SET metadata = ?", (json.dumps(metadata),))


def test_the_registry_records_the_python_and_cloudpickle_that_pickled_a_flow(lume_home):
    import cloudpickle

    Flow(name="doubler", project_name="portable", prefect_flow=ft.doubler).register()
    with sqlite3.connect(lume_home / "registry.sqlite") as conn:
        (text,) = conn.execute("SELECT metadata FROM flows").fetchone()

    assert json.loads(text)["python"] == platform.python_version()
    assert json.loads(text)["cloudpickle"] == cloudpickle.__version__


def test_a_flow_pickled_by_another_python_is_refused_naming_both_versions_before_it_is_unpickled(lume_home):
    Flow(name="doubler", project_name="portable", prefect_flow=ft.doubler).register()
    _set_recorded_python(lume_home / "registry.sqlite", "3.99.0")
    from lume_services import config

    config.reset()  # a fresh process: nothing loaded yet
    with pytest.raises(FlowRegisteredWithOtherPythonError) as raised:
        Flow(name="doubler", project_name="portable").load_flow()

    assert raised.value.registered_python == "3.99.0"
    assert platform.python_version() in str(raised.value) and "register the flow again" in str(raised.value)


PACKAGE_FLOW = '''
from prefect import Flow, Parameter, task

from selfpkg.helpers import bump


@task
def grow(x):
    return bump(x)


with Flow("self-importing") as flow:
    grow(Parameter("x", default=1))
'''


@pytest.mark.slow
def test_a_flow_importing_its_own_package_registered_with_m_runs_from_the_same_folder(tmp_path, lume_home):
    package = tmp_path / "work" / "selfpkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "helpers.py").write_text("def bump(x):\n    return x + 100\n")
    (package / "flows.py").write_text(PACKAGE_FLOW)
    env = {**os.environ, "PYTHONPATH": str(REPO), "LUME_HOME": str(lume_home)}

    def cli(*args):
        # -P: like the lume-services command, nothing puts the current folder on sys.path
        return subprocess.run([sys.executable, "-P", "-m", "lume_services.cli.main", *args], cwd=package.parent,
                              env=env, capture_output=True, text=True, timeout=120)

    registered = cli("flows", "register", "-m", "selfpkg.flows", "--project", "selfpkg")
    assert registered.returncode == 0, registered.stderr
    ran = cli("flows", "run", "self-importing", "--project", "selfpkg", "--param", "x=1", "--task", "grow", "--json")

    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["result"] == 101
