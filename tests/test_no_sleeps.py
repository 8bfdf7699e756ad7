"""No test passes time by sleeping: time is moved on a clock, and what a test waits for is an event.

The scheduling code takes a clock (``lume_services.services.scheduling.clock``):
tests of deadlines, intervals and timestamps pass a ``ManualClock`` and move
it. A test waiting for something to happen waits on a ``threading.Event`` (the
Prefect server double's ``on_request`` hooks, a flow's state handler). The
scan reads every module under ``tests/`` with ``ast``; a sleep is allowed only
inside a flow task listed in :data:`ALLOWED`, where the run must really take
time to be observed while it runs.
"""

import ast
from pathlib import Path
from typing import List, Tuple

TESTS_DIR = Path(__file__).resolve().parent

#: (module path under tests/, function) -> why it sleeps
ALLOWED = {
    ("flows_for_tests.py", "sleep_for"): (
        "the task of the `sleeper` flow: a run that is still going when a timeout, a "
        "cancellation or an overlap with another run is to be observed; the tests that "
        "run it wait for events and clocks, not for the sleep"
    ),
}


def sleep_calls(source: str) -> List[Tuple[str, int]]:
    """``(enclosing function, line)`` of every ``time.sleep(...)`` or ``sleep(...)`` call in ``source``."""
    tree = ast.parse(source)
    found = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, ast.Call):
                func = child.func
                is_time_sleep = (
                    isinstance(func, ast.Attribute) and func.attr == "sleep"
                    and isinstance(func.value, ast.Name) and func.value.id == "time"
                )
                if is_time_sleep or (isinstance(func, ast.Name) and func.id == "sleep"):
                    found.append((function, child.lineno))
            visit(child, name)

    visit(tree, "<module>")
    return found


def test_no_test_module_sleeps_except_the_allowed_flow_tasks():
    sleeps = []
    for path in sorted(TESTS_DIR.rglob("*.py")):
        module = path.relative_to(TESTS_DIR).as_posix()
        for function, line in sleep_calls(path.read_text()):
            if (module, function) not in ALLOWED:
                sleeps.append(f"{module}:{line} in {function}")
    assert sleeps == []


def test_every_allowed_sleep_is_still_there():
    for module, function in ALLOWED:
        assert function in {f for f, _ in sleep_calls((TESTS_DIR / module).read_text())}, (module, function)


def test_the_scan_sees_time_sleep_and_a_bare_sleep_and_names_their_function():
    source = (
        "import time\nfrom time import sleep\n"
        "def waits():\n    time.sleep(1)\n"
        "def also():\n    sleep(2)\n"
        "time.sleep(3)\n"
        "def fine():\n    event.wait(1)\n"
    )
    assert sleep_calls(source) == [("waits", 4), ("also", 6), ("<module>", 7)]
