"""What importing the flow models leaves behind in the garbage collector (issue 18's import goal, B11).

``lume_services.flows`` pauses the collector while the flow models, Prefect,
pydantic and dependency-injector are imported, and moves what the import made
to the oldest generation before resuming it: the program's first allocations
after the import must not pay for walking the import's objects.
"""

import os
import subprocess
import sys

import pytest


def _in_a_fresh_process(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PREFECT__LOGGING__LEVEL": "WARNING"})
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_flow_models_import_leaves_its_objects_in_the_oldest_generation_with_the_collector_on():
    young, old, enabled = _in_a_fresh_process(
        "import gc\nimport lume_services.flows.flow\n"
        "print(len(gc.get_objects(0)) + len(gc.get_objects(1)), len(gc.get_objects(2)), gc.isenabled())"
    ).split()
    assert enabled == "True"
    assert int(young) < 5_000 < 50_000 < int(old)


@pytest.mark.parametrize("before, after", [("gc.disable()", "not gc.isenabled()"),
                                           ("gc.freeze(); frozen = gc.get_freeze_count()",
                                            "gc.isenabled() and gc.get_freeze_count() > frozen // 2 > 0")])  # still frozen (a few freed)
def test_the_flow_models_import_leaves_the_programs_own_collector_policy_as_it_was(before, after):
    assert _in_a_fresh_process(f"import gc\n{before}\nimport lume_services.flows.flow\nprint({after})") == "True"
