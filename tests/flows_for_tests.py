"""The Prefect flows the tests register and run: one module, one flow per name.

They live in an importable module so that pickling a flow (registration, Local
storage) refers to its tasks by module and name; the LocalAgent's flow runs
find this module on ``PYTHONPATH``. Each flow name below means one signature
on every backend.

Flows (parameters -> tasks):

- ``doubler``: x=1 -> double
- ``adder``: a, b=10 -> add
- ``two-incs``: x=1 -> inc, inc (two tasks of one name)
- ``failing``: x=1 -> fail (raises ``ValueError("cannot handle <x>")``)
- ``skipping``: -> skipped (ends Skipped, no result)
- ``environment``: name="LUME_TEST_VALUE" -> read_env, cwd
- ``process``: name="LUME_TEST_VALUE" -> process_facts (the run's process, its parent, its flow run id)
- ``side-effect``: path -> append_line (appends "ran" to the file at path)
- ``marker``: x=0, path -> inc(x); append_line(path), which takes no value from x
- ``sleeper``: seconds=30 -> sleep_for
- ``context``: -> run_context (the flow run's name and scheduled start)
- ``write-text``: text="hello", filename -> save_file (a TextFile reference)
- ``read-text``: file_rep -> load_file
- ``store-words``: text="hello there" -> words_result, save_db_result (a stored Result's reference;
  its outputs are ``{"words": text.split(), "length": len(text)}``)
- ``meeting``: -> meet, meet (both at once, or neither finishes)
- ``meeting-a``: x=1 -> meet; ``meeting-b``: x=2 -> meet
- ``meeting-total``: a, b -> total (of two ``meet`` results)
- ``text-of-size``: n=10 -> text_of_size (a text of n characters)
- ``held``: x=0, gate="" -> hold (x + 1; with a gate folder, first tells the test its process id and
  blocks until released or killed: see :func:`hold`)
- ``make_chain(name="inc-chain", n)``: x=0 -> n inc tasks in a chain (versions of one flow)
- ``ranger``: n=3 -> make_range (``[0, ..., n-1]``: a list to sweep over)
- ``picky``: x -> pick (returns x; raises ``ValueError("1 is not picked")`` for 1: a sweep's failing item)
- ``logger``: path, line -> append_line (appends the line to the file at path)

Flows of flows (YAML):

- ``failing_chain(name, project)``: doubler -> failing -> adder (failing fails, adder never runs)
"""

import os
import threading
import time

from prefect import Flow, Parameter, task
from prefect.engine.signals import SKIP

from lume_services.files import TextFile
from lume_services.results import Result
from lume_services.tasks import SaveDBResult, SaveFile, load_file


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
def env_is_set(name):
    """Whether the variable is set in the run, without returning its value (it may be a secret)."""
    return bool(os.environ.get(name))


@task
def cwd():
    return os.getcwd()


@task
def append_line(path, line):
    with open(path, "a") as f:
        f.write(f"{line}\n")
    return line


@task
def make_range(n):
    return list(range(n))


@task
def pick(x):
    if x == 1:
        raise ValueError("1 is not picked")
    return x


@task
def text_of_size(n):
    return "x" * n


@task
def sleep_for(seconds):
    # a run that really takes time, to be observed while it runs (allowed in tests/test_no_sleeps.py)
    time.sleep(seconds)
    return seconds


@task
def run_context():
    """What the flow runner knows about its run: its name and scheduled start."""
    import prefect

    return {
        "flow_run_name": prefect.context.get("flow_run_name"),
        "scheduled_start_time": str(prefect.context.get("scheduled_start_time")),
    }


# Two `meet` tasks finish only when both run at the same time: each waits here for
# the other. Run one at a time, the first waits out the timeout and fails with
# BrokenBarrierError. Tests that use it call BARRIER.reset() first.
BARRIER = threading.Barrier(2, timeout=20)


@task
def meet(x):
    """Wait for the other ``meet`` task; return ``x`` and when this one started and finished."""
    import flows_for_tests  # not a global: the barrier cannot be pickled with the task

    started = time.monotonic()
    flows_for_tests.BARRIER.wait()
    return {"value": x, "started": started, "finished": time.monotonic()}


@task
def total(a, b):
    return a["value"] + b["value"]


@task
def hold(x, gate):
    """``x + 1``; when the folder ``gate`` exists, first hand this process's id to the test and wait.

    The test made two FIFOs in ``gate`` and holds the read end of ``ready`` open: the task
    writes its process id there (the test's ``select`` wakes up), then blocks opening
    ``release`` until the test opens it for writing, or kills this process. A run that
    finds no gate folder goes straight on (a resumed run, after the test removed it).
    """
    if gate and os.path.isdir(gate):
        with open(os.path.join(gate, "ready"), "w") as ready:
            ready.write(f"{os.getpid()}\n")
        with open(os.path.join(gate, "release")) as release:
            release.read()
    return x + 1


save_file = SaveFile()


def make_chain(name="inc-chain", n=3):
    """A flow x -> inc -> inc ... with n inc tasks."""
    with Flow(name) as flow:
        value = Parameter("x", default=0)
        for _ in range(n):
            value = inc(value)
    return flow


def failing_chain(name: str, project: str) -> str:
    """A flow of flows doubler -> failing -> adder, as YAML: failing gets doubler's
    double and fails on it, so adder, which takes failing's fail, never runs."""
    return f"""
name: {name}
project_name: {project}
composing_flows:
  - name: doubler
  - name: failing
    mapped_parameters:
      x: {{parent_flow_name: doubler, parent_task_name: double}}
  - name: adder
    mapped_parameters:
      a: {{parent_flow_name: failing, parent_task_name: fail}}
"""


with Flow("doubler") as doubler:
    double(Parameter("x", default=1))

with Flow("adder") as adder:
    add(Parameter("a"), Parameter("b", default=10))

with Flow("two-incs") as two_incs:
    inc(inc(Parameter("x", default=1)))

with Flow("failing") as failing:
    fail(Parameter("x", default=1))

with Flow("ranger") as ranger:
    make_range(Parameter("n", default=3))

with Flow("picky") as picky:
    pick(Parameter("x"))

with Flow("logger") as logger:
    append_line(Parameter("path"), Parameter("line"))

with Flow("skipping") as skipping:
    skipped()

@task
def process_facts(name):
    """Where the run runs: its process and parent, its flow run id as Prefect and the environment have it."""
    import logging

    import prefect

    ppid = os.getppid()
    try:
        with open(f"/proc/{ppid}/cmdline", "rb") as f:
            parent_command = f.read().replace(b"\0", b" ").decode()
    except OSError:
        parent_command = ""
    return {
        "pid": os.getpid(), "ppid": ppid, "parent_command": parent_command,
        "context_flow_run_id": prefect.context.get("flow_run_id"),
        "config_flow_run_id": prefect.config.context.get("flow_run_id"),
        "env_flow_run_id": os.environ.get("PREFECT__CONTEXT__FLOW_RUN_ID"),
        "api": prefect.config.cloud.api, "labels": prefect.config.cloud.agent.labels,
        "value": os.environ.get(name), "cwd": os.getcwd(),
        "logging_level": prefect.config.logging.level, "logger_level": logging.getLogger("prefect").level,
    }


with Flow("process") as process:
    process_facts(Parameter("name", default="LUME_TEST_VALUE"))

with Flow("environment") as environment:
    read_env(Parameter("name", default="LUME_TEST_VALUE"))
    cwd()

with Flow("secret-check") as secret_check:
    env_is_set(Parameter("secret_name", default="LUME_RESULTS_DB__MONGODB__PASSWORD"))
    read_env(Parameter("name", default="LUME_RESULTS_DB__MONGODB__USERNAME"))

with Flow("side-effect") as side_effect:
    append_line(Parameter("path"), "ran")

with Flow("marker") as marker:
    inc(Parameter("x", default=0))
    append_line(Parameter("path"), "ran")

with Flow("sleeper") as sleeper:
    sleep_for(Parameter("seconds", default=30))

with Flow("held") as held:
    hold(Parameter("x", default=0), Parameter("gate", default=""))

with Flow("text-of-size") as text_of_size_flow:
    text_of_size(Parameter("n", default=10))

with Flow("context") as context_flow:
    run_context()

with Flow("write-text") as write_text:
    save_file(obj=Parameter("text", default="hello"), filename=Parameter("filename"), file_type=TextFile)

with Flow("read-text") as read_text:
    load_file(Parameter("file_rep"))


@task
def words_result(text):
    return Result(project_name="flows-for-tests", inputs={"text": text},
                  outputs={"words": text.split(), "length": len(text)})


with Flow("store-words") as store_words:
    SaveDBResult()(words_result(Parameter("text", default="hello there")))

with Flow("meeting") as meeting:
    meet(1)
    meet(2)

# Eight `gather` tasks finish only when all eight run at the same time (GATHERING).
GATHERING = threading.Barrier(8, timeout=20)


@task
def gather(i):
    import flows_for_tests  # not a global: the barrier cannot be pickled with the task

    flows_for_tests.GATHERING.wait()
    return i


with Flow("gathering") as gathering:
    for _i in range(8):
        gather(_i)

with Flow("meeting-a") as meeting_a:
    meet(Parameter("x", default=1))

with Flow("meeting-b") as meeting_b:
    meet(Parameter("x", default=2))

with Flow("meeting-total") as meeting_total:
    total(Parameter("a"), Parameter("b"))

# a child with a task outside its sweep when swept over ``x``: ``double`` takes only ``y``
with Flow("inc-and-double") as inc_and_double:
    inc(Parameter("x", default=0))
    double(Parameter("y", default=2))
