"""A local flow of flows whose process is killed mid-run (``SIGKILL``), then listed, shown and resumed.

``lume-services flow-of-flows run`` runs in a process of its own, as from a
shell; its ``held`` child stops at the test's gate (``fixtures/process_gate``)
and the test kills the process there, after ``doubler`` finished. The history
then says the process died, and ``flow-of-flows resume`` reuses ``doubler``.
"""

import json
import os
import signal
import subprocess
import sys

import pytest

import flows_for_tests as ft
from fixtures.process_gate import ProcessGate
from lume_services.flows.flow import Flow

pytestmark = pytest.mark.slow

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))

CHAIN = """
name: killed-chain
project_name: killed
composing_flows:
  - name: doubler
  - name: held
    mapped_parameters:
      x: {parent_flow_name: doubler, parent_task_name: double}
"""


def _cli(*args, check=True):
    """``lume-services ARGS`` as a shell runs it (the console script's entry point), in a process of its own."""
    env = {**os.environ, "PREFECT__LOGGING__LEVEL": "ERROR",
           "PYTHONPATH": os.pathsep.join([TESTS_DIR, os.path.dirname(TESTS_DIR), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-c", "import sys; from lume_services.cli.console import main; sys.exit(main())", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    if check:
        assert done.returncode == 0, done.stderr
    return done


@pytest.fixture
def killed_run(lume_home, tmp_path):
    """The chain run by ``flow-of-flows run`` and killed while ``held`` runs; returns ``(run id, pid)``."""
    for name, flow in (("doubler", ft.doubler), ("held", ft.held)):
        Flow(name=name, project_name="killed", prefect_flow=flow).register()
    declaration = tmp_path / "chain.yaml"
    declaration.write_text(CHAIN)
    gate = ProcessGate(tmp_path / "gate")
    env = {**os.environ, "PREFECT__LOGGING__LEVEL": "ERROR",
           "PYTHONPATH": os.pathsep.join([TESTS_DIR, os.path.dirname(TESTS_DIR), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen(
        [sys.executable, "-m", "lume_services.cli.main", "flow-of-flows", "run", str(declaration),
         "--param", "doubler-x=4", "--param", f"held-gate={gate.path}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        pid = gate.wait_for_process(60)
        assert pid == process.pid  # the task runs in the command's own process
        os.kill(pid, signal.SIGKILL)
        assert process.wait(30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        gate.close()  # a resumed held child goes straight on
    (listed,) = json.loads(_cli("runs", "list", "--json").stdout)
    return listed["run_id"], pid


def test_a_killed_flow_of_flows_run_is_listed_as_crashed_naming_its_process_and_how_to_resume(killed_run):
    run_id, pid = killed_run

    (listed,) = json.loads(_cli("runs", "list", "--json").stdout)
    table = _cli("runs", "list").stdout

    assert listed["state"] == "Crashed"
    assert f"pid {pid}" in listed["message"]
    assert f"lume-services flow-of-flows resume {run_id}" in listed["message"]
    assert f"{run_id}  killed-chain" in table and "Crashed" in table


def test_runs_show_of_a_killed_run_keeps_the_children_it_finished(killed_run):
    run_id, pid = killed_run

    shown = json.loads(_cli("runs", "show", run_id, "--json").stdout)
    text = _cli("runs", "show", run_id).stdout

    assert shown["state"] == "Crashed"
    assert [(c["name"], c["state"]) for c in shown["children"]] == [("doubler", "Success")]
    assert f"Crashed (the process that ran it (pid {pid}" in text
    assert f"flow-of-flows resume {run_id}" in text


def test_resume_of_a_killed_run_reuses_the_children_it_finished_and_runs_the_others(killed_run):
    run_id, _ = killed_run

    resumed = json.loads(_cli("flow-of-flows", "resume", run_id, "--json").stdout)

    assert resumed["resumed"] == run_id
    assert {name: child["state"] for name, child in resumed["children"].items()} == {
        "doubler": "Cached", "held": "Success"}
    assert resumed["results"]["held"]["hold"] == 9
