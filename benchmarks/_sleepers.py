"""The sleep-bound flow of B10, in an importable module so that process pools can unpickle it."""

import time

from prefect import Flow, task

SECONDS = 0.5
TASKS = 8


@task
def nap(i):
    time.sleep(SECONDS)
    return i


def sleepers():
    """A flow of TASKS independent tasks, each sleeping SECONDS."""
    with Flow("sleepers") as flow:
        for i in range(TASKS):
            nap(i)
    return flow


@task
def nap_for(x, seconds):
    """Sleep ``seconds`` and return ``x`` (B14's sweep)."""
    time.sleep(seconds)
    return x
