"""Small Prefect flows the tests register and run (importable, so they pickle by reference)."""

import os
import threading

from prefect import Flow, Parameter, task
from prefect.engine.signals import SKIP


@task
def double(x):
    return 2 * x


@task
def add(a, b):
    return a + b


@task
def inc(x):
    return x + 1


@task
def fail(x):
    raise ValueError(f"cannot handle {x!r}")


@task
def skipped():
    raise SKIP("nothing to do")


@task
def read_env(name):
    return os.environ.get(name)


@task
def cwd():
    return os.getcwd()


@task
def append_line(path, line):
    with open(path, "a") as f:
        f.write(f"{line}\n")
    return line


# Two tasks that only finish when both run at the same time.
BARRIER = threading.Barrier(2, timeout=20)


@task
def meet(x):
    import flows_for_tests  # not a global: the barrier cannot be pickled with the task

    flows_for_tests.BARRIER.wait()
    return x


def make_chain(name="chain", n=3):
    """A flow x -> inc -> inc ... with n inc tasks."""
    with Flow(name) as flow:
        value = Parameter("x", default=0)
        for _ in range(n):
            value = inc(value)
    return flow


with Flow("doubler") as doubler:
    doubler_x = Parameter("x", default=1)
    double(doubler_x)

with Flow("adder") as adder:
    adder_a = Parameter("a")
    adder_b = Parameter("b", default=10)
    add(adder_a, adder_b)

with Flow("failing") as failing:
    failing_x = Parameter("x", default=1)
    fail(failing_x)

with Flow("two-incs") as two_incs:
    two_incs_x = Parameter("x", default=1)
    inc(inc(two_incs_x))

with Flow("skipping") as skipping:
    skipped()

with Flow("environment") as environment:
    environment_name = Parameter("name", default="LUME_TEST_VALUE")
    read_env(environment_name)
    cwd()

with Flow("side-effect") as side_effect:
    side_effect_path = Parameter("path")
    append_line(side_effect_path, "ran")

with Flow("meeting") as meeting:
    meet(1)
    meet(2)

with Flow("meeting-a") as meeting_a:
    meeting_a_x = Parameter("x", default=1)
    meet(meeting_a_x)

with Flow("meeting-b") as meeting_b:
    meeting_b_x = Parameter("x", default=2)
    meet(meeting_b_x)
