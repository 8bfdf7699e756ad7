"""One unchanged file is one version, whichever way it is loaded for registration.

A CI job registers ``-p flows/``, a notebook imports ``mypkg.myflows``, a
colleague runs ``-m mypkg.myflows``: Python names the same classes by three
module names, and the registration must not bump the version for it.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

FLOW_FILE = '''
from prefect import Flow, Parameter, Task, task

FACTOR = 3


class Scale(Task):
    def run(self, x):
        return x * FACTOR


def helper(x):
    return x + 1


@task
def inc(x):
    return helper(x)


with Flow("route-flow") as flow:
    inc(Scale()(Parameter("x", default=1)))
'''

REGISTER_BY_IMPORT = '''
import mypkg.myflows as m
from lume_services.flows.flow import Flow
Flow(name="route-flow", project_name="routes", prefect_flow=m.flow).register()
'''


@pytest.fixture
def project(tmp_path):
    package = tmp_path / "proj" / "mypkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "myflows.py").write_text(FLOW_FILE)
    return package.parent


def _python(args, cwd, lume_home):
    env = {**os.environ, "PYTHONPATH": str(REPO), "LUME_HOME": str(lume_home)}
    done = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _cli(args, cwd, lume_home):
    return _python(["-m", "lume_services.cli.main", *args], cwd, lume_home)


@pytest.mark.slow
def test_a_file_registered_by_folder_by_module_and_by_import_is_one_version(project, lume_home):
    by_folder = json.loads(_cli(["flows", "register", "-p", "mypkg", "--project", "routes", "--json"], project, lume_home))
    by_module = json.loads(
        _cli(["flows", "register", "-m", "mypkg.myflows", "--project", "routes", "--json"], project, lume_home)
    )
    _python(["-c", REGISTER_BY_IMPORT], project, lume_home)  # the Python API, as a notebook would
    by_folder_again = json.loads(
        _cli(["flows", "register", "-p", "mypkg", "--project", "routes", "--json"], project, lume_home)
    )

    assert [(f["name"], f["version"], f["status"]) for f in by_folder["flows"]] == [("route-flow", 1, "new")]
    assert [(f["version"], f["status"]) for f in by_module["flows"]] == [(1, "unchanged")]
    assert [(f["version"], f["status"]) for f in by_folder_again["flows"]] == [(1, "unchanged")]
