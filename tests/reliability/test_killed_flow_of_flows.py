"""A flow of flows killed half-way keeps, in the run history, the children and tasks it reached.

Its tasks and children used to be written when the run ended, so a run killed
(SIGKILL, an out-of-memory kill, a lost node) after hours kept 0 children and 0
tasks. They are now written as they finish; the run reads back as Crashed.
"""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import flows_for_tests as ft
from lume_services.flows.flow import Flow

TESTS = Path(__file__).resolve().parents[1]
DECLARATION = """
name: killed-half-way
project_name: killed
composing_flows:
  - name: doubler
  - name: sleeper
    mapped_parameters:
      seconds: {parent_flow_name: doubler, parent_task_name: double}
"""


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_killed_flow_of_flows_keeps_the_children_and_tasks_it_reached(tmp_path, lume_home):
    Flow(name="doubler", project_name="killed", prefect_flow=ft.doubler).register()
    Flow(name="sleeper", project_name="killed", prefect_flow=ft.sleeper).register()
    (tmp_path / "fof.yaml").write_text(DECLARATION)
    env = {**os.environ, "LUME_HOME": str(lume_home),
           "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent)])}
    run = subprocess.Popen(
        [sys.executable, "-m", "lume_services.cli.main", "flow-of-flows", "run", "fof.yaml", "--param", "doubler-x=300"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        for line in run.stderr:  # the event: the first child finished (and the second is sleeping 600 s)
            if line.startswith("flow 'doubler' finished"):
                break
        else:
            pytest.fail("the run ended before its first child finished")
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(timeout=30)
        run.stderr.close()

    def cli(*args):
        done = subprocess.run([sys.executable, "-m", "lume_services.cli.main", *args, "--json"], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    shown = cli("runs", "show", "--last")
    record = shown
    assert record["state"] == "Crashed"
    children = {c["name"]: c["state"] for c in record["children"]}
    assert children["doubler"] == "Success"
    assert children.get("sleeper") != "Success"
    tasks = {t["name"]: t for t in record["tasks"]}
    assert tasks["doubler/double"]["state"] == "Success" and tasks["doubler/double"]["result"] == 600
