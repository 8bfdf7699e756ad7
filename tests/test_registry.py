"""The local flow registry: stable ids, versions, atomic writes, several processes."""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

import flows_for_tests as ft
from lume_services.errors import FlowNotFoundError, FlowNotSerializableError
from lume_services.flows.flow import Flow
from lume_services.services.scheduling import SchedulingService
from lume_services.services.scheduling.backends import LocalBackend

TESTS = Path(__file__).parent
ROOT = TESTS.parent


def run_python(code: str, home: Path, timeout=120) -> str:
    env = {**os.environ, "LUME_HOME": str(home), "PYTHONPATH": f"{TESTS}{os.pathsep}{ROOT}"}
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def row_count(home: Path) -> int:
    with sqlite3.connect(home / "registry.sqlite") as conn:
        return conn.execute("SELECT COUNT(*) FROM flows").fetchone()[0]


def test_register_returns_a_flow_id_and_fills_the_model(lume_home):
    flow = Flow(name="doubler", project_name="p", prefect_flow=ft.doubler)
    flow_id = flow.register()
    assert flow.flow_id == flow_id and len(flow_id) == 36


def test_registering_an_unchanged_flow_returns_the_same_id_and_writes_nothing(lume_home):
    first = Flow(name="doubler", project_name="p", prefect_flow=ft.doubler).register()
    registry = lume_home / "registry.sqlite"
    size, mtime = registry.stat().st_size, registry.stat().st_mtime_ns
    second = Flow(name="doubler", project_name="p", prefect_flow=ft.doubler).register()
    assert first == second
    assert row_count(lume_home) == 1
    assert (registry.stat().st_size, registry.stat().st_mtime_ns) == (size, mtime)


def test_a_changed_flow_gets_a_new_version_and_load_returns_the_latest(lume_home):
    first = Flow(name="inc-chain", project_name="p", prefect_flow=ft.make_chain(n=1)).register()
    second = Flow(name="inc-chain", project_name="p", prefect_flow=ft.make_chain(n=2)).register()
    assert first != second
    loaded = Flow(name="inc-chain", project_name="p")
    loaded.load_flow()
    assert loaded.flow_id == second
    assert loaded.run_and_return({"x": 0}, task_name="inc") == [1, 2]
    metadata = LocalBackend(home=lume_home).registry.metadata("inc-chain", "p")
    assert metadata["version"] == 2
    assert metadata["parameters"] == [{"name": "x", "default": 0, "required": False}]
    assert [t["name"] for t in metadata["tasks"]] == ["inc", "inc", "x"]


def test_a_new_image_or_label_is_a_new_version(lume_home):
    first = Flow(name="doubler", prefect_flow=ft.doubler).register()
    second = Flow(name="doubler", prefect_flow=ft.doubler, image="other:1").register()
    third = Flow(name="doubler", prefect_flow=ft.doubler, image="other:1", labels=["gpu"]).register()
    assert len({first, second, third}) == 3


def test_unregistered_flow_raises_listing_the_projects_flows(lume_home):
    Flow(name="doubler", project_name="p", prefect_flow=ft.doubler).register()
    Flow(name="adder", project_name="p", prefect_flow=ft.adder).register()
    with pytest.raises(FlowNotFoundError) as info:
        Flow(name="tripler", project_name="p").load_flow()
    assert str(info.value) == (
        "flow 'tripler' is not registered in project 'p'; registered flows of 'p': 'adder', 'doubler'"
    )


def test_register_loads_first_when_the_prefect_flow_is_not_set(lume_home):
    flow_id = Flow(name="doubler", project_name="p", prefect_flow=ft.doubler).register()
    again = Flow(name="doubler", project_name="p")
    assert again.register() == flow_id


def test_each_load_gets_its_own_flow_object(lume_home):
    from prefect import Task

    Flow(name="doubler", prefect_flow=ft.doubler).register()
    first, second = Flow(name="doubler"), Flow(name="doubler")
    first.load_flow()
    first.prefect_flow.add_task(Task(name="extra"))
    second.load_flow()
    assert "extra" not in {t.name for t in second.prefect_flow.tasks}


def test_a_flow_registered_under_another_name_does_not_rename_the_callers_flow(lume_home):
    Flow(name="renamed", prefect_flow=ft.doubler).register()
    assert ft.doubler.name == "doubler"
    loaded = Flow(name="renamed")
    loaded.load_flow()
    assert loaded.prefect_flow.name == "renamed"


def test_another_process_loads_what_this_one_registered(lume_home):
    flow_id = Flow(name="adder", project_name="p", prefect_flow=ft.adder).register()
    out = run_python(
        """
        from lume_services.flows.flow import Flow
        flow = Flow(name="adder", project_name="p")
        flow.load_flow()
        print(flow.flow_id, flow.run_and_return({"a": 5}, task_name="add"))
        """,
        lume_home,
    )
    assert out == f"{flow_id} 15"


def test_a_failed_registration_leaves_the_registry_as_it_was(lume_home):
    from prefect import Flow as PrefectFlow
    from prefect import task

    first = Flow(name="holder", prefect_flow=ft.make_chain("holder", 1)).register()

    lock = threading.Lock()  # cannot be pickled

    @task
    def holds_lock():
        return lock.locked()

    with PrefectFlow("holder") as unpicklable:
        holds_lock()
    with pytest.raises(FlowNotSerializableError, match="flow 'holder' cannot be registered: it cannot be pickled"):
        Flow(name="holder", prefect_flow=unpicklable).register()
    assert row_count(lume_home) == 1
    loaded = Flow(name="holder")
    loaded.load_flow()
    assert loaded.flow_id == first


def test_a_killed_registering_process_leaves_a_consistent_registry(lume_home):
    code = """
        import sys
        import flows_for_tests as ft
        from lume_services.flows.flow import Flow
        n = 1
        while True:
            Flow(name="inc-chain", project_name="p", prefect_flow=ft.make_chain(n=n)).register()
            print("registered", flush=True)
            n = n % 30 + 1
    """
    env = {**os.environ, "LUME_HOME": str(lume_home), "PYTHONPATH": f"{TESTS}{os.pathsep}{ROOT}"}
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env, stdout=subprocess.PIPE, text=True)
    for _ in range(5):  # kill it while it is registering, after a few registrations
        assert proc.stdout.readline().strip() == "registered"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    with sqlite3.connect(lume_home / "registry.sqlite") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        versions = [v for (v,) in conn.execute("SELECT version FROM flows ORDER BY version")]
    assert versions == list(range(1, len(versions) + 1))
    loaded = Flow(name="inc-chain", project_name="p")
    loaded.load_flow()
    assert loaded.run_and_return({"x": 0}, task_name="inc") is not None


@pytest.mark.slow
def test_several_processes_register_and_load_at_once(lume_home):
    code = """
        import sys
        import flows_for_tests as ft
        from lume_services.flows.flow import Flow
        worker = int(sys.argv[1])
        ids = set()
        for i in range(15):
            ids.add(Flow(name="shared", project_name="p", prefect_flow=ft.doubler).register())
            Flow(name=f"own-{worker}", project_name="p", prefect_flow=ft.make_chain(f"own-{worker}", i % 3 + 1)).register()
            flow = Flow(name="shared", project_name="p")
            flow.load_flow()
            assert flow.run_and_return({"x": i}, task_name="double") == 2 * i
        print(",".join(sorted(ids)))
    """
    env = {**os.environ, "LUME_HOME": str(lume_home), "PYTHONPATH": f"{TESTS}{os.pathsep}{ROOT}"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code), str(w)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for w in range(4)
    ]
    outputs = [p.communicate(timeout=180) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    shared_ids = {out.strip() for out, _ in outputs}
    assert len(shared_ids) == 1 and "," not in shared_ids.pop()  # one id for the unchanged flow
    backend = LocalBackend(home=lume_home)
    names = backend.registry.flow_names("p")
    assert names == ["own-0", "own-1", "own-2", "own-3", "shared"]
    assert backend.registry.metadata("own-0", "p")["version"] == 15


def test_an_explicit_service_registers_in_its_own_home(tmp_path, lume_home):
    service = SchedulingService(LocalBackend(home=tmp_path / "other"))
    Flow(name="doubler", prefect_flow=ft.doubler).register(scheduling_service=service)
    with pytest.raises(FlowNotFoundError):
        Flow(name="doubler").load_flow()


def _scaled_flow(k, offset=0):
    from prefect import Flow as PrefectFlow
    from prefect import Parameter, task

    @task
    def scale(x, offset=offset):
        return k * x + offset

    with PrefectFlow("scaled") as flow:
        scale(Parameter("x", default=1))
    return flow


def test_a_changed_closure_value_or_default_is_a_new_version(lume_home):
    base = Flow(name="scaled", prefect_flow=_scaled_flow(2)).register()
    assert Flow(name="scaled", prefect_flow=_scaled_flow(2)).register() == base
    other_closure = Flow(name="scaled", prefect_flow=_scaled_flow(3)).register()
    other_default = Flow(name="scaled", prefect_flow=_scaled_flow(3, offset=1)).register()
    assert len({base, other_closure, other_default}) == 3
    loaded = Flow(name="scaled")
    loaded.load_flow()
    assert loaded.run_and_return({"x": 1}, task_name="scale") == 4


class Scale(__import__("prefect").Task):
    """A task configured by an instance attribute (not part of Prefect's serialized structure)."""

    def __init__(self, factor, **kwargs):
        self.factor = factor
        super().__init__(**kwargs)

    def run(self):
        return self.factor


def test_a_changed_attribute_of_a_task_instance_is_a_new_version(lume_home):
    from prefect import Flow as PrefectFlow

    def flow_with(factor):
        flow = PrefectFlow("configured")
        flow.add_task(Scale(factor))
        return flow

    first = Flow(name="configured", prefect_flow=flow_with(2)).register()
    assert Flow(name="configured", prefect_flow=flow_with(2)).register() == first
    second = Flow(name="configured", prefect_flow=flow_with(3)).register()
    assert second != first
    loaded = Flow(name="configured")
    loaded.load_flow()
    assert loaded.run_and_return(task_name="Scale") == 3


def test_the_fingerprint_does_not_depend_on_the_hash_seed(lume_home):
    code = """
        from prefect import Flow, Parameter, task
        from lume_services.services.scheduling.fingerprint import flow_fingerprint

        @task
        def is_known(name):
            return name in {"alpha", "beta", "gamma", "delta"}  # a frozenset constant

        with Flow("seeded") as flow:
            is_known(Parameter("name"))
        print(flow_fingerprint(flow, None, []))
    """
    digests = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        digests.add(out.stdout.strip())
    assert len(digests) == 1


# --- what the fingerprint sees, computed afresh at every registration ---------------


def test_a_task_attribute_changed_in_place_after_registering_is_a_new_version(lume_home):
    from prefect import Flow as PrefectFlow

    task = Scale(2)
    prefect_flow = PrefectFlow("configured")
    prefect_flow.add_task(task)
    first = Flow(name="configured", prefect_flow=prefect_flow).register()
    task.factor = 3
    second = Flow(name="configured", prefect_flow=prefect_flow).register()
    assert second != first
    assert Flow(name="configured", prefect_flow=prefect_flow).register() == second


def test_a_mutable_task_attribute_changed_in_place_is_a_new_version(lume_home):
    from prefect import Flow as PrefectFlow

    task = Scale([1, 2])
    prefect_flow = PrefectFlow("configured")
    prefect_flow.add_task(task)
    first = Flow(name="configured", prefect_flow=prefect_flow).register()
    task.factor.append(3)
    assert Flow(name="configured", prefect_flow=prefect_flow).register() != first


def test_a_changed_constant_argument_is_a_new_version(lume_home):
    from prefect import Flow as PrefectFlow
    from prefect import Parameter

    def flow_with(step):
        with PrefectFlow("stepped") as flow:
            ft.add(Parameter("a"), step)  # the constant is bound to the task, not a task itself
        return flow

    first = Flow(name="stepped", prefect_flow=flow_with(5)).register()
    assert Flow(name="stepped", prefect_flow=flow_with(5)).register() == first
    assert Flow(name="stepped", prefect_flow=flow_with(6)).register() != first


def test_a_task_function_given_new_code_or_defaults_in_place_is_a_new_version(lume_home):
    from prefect import Flow as PrefectFlow
    from prefect import Parameter, task

    def offset(x, by=1):
        return x + by

    def scaled(x, by=1):
        return x * by

    with PrefectFlow("offset") as prefect_flow:
        task(offset)(Parameter("x"))
    first = Flow(name="offset", prefect_flow=prefect_flow).register()
    offset.__defaults__ = (2,)
    second = Flow(name="offset", prefect_flow=prefect_flow).register()
    offset.__code__ = scaled.__code__  # the same function object, other code
    third = Flow(name="offset", prefect_flow=prefect_flow).register()
    assert len({first, second, third}) == 3


def _annotated_task_class(annotation):
    import prefect

    class Annotated(prefect.Task):
        def run(self, x: annotation):  # noqa: F821 (the annotation is a local)
            return x

    return Annotated


def test_a_changed_annotation_of_a_tasks_run_is_a_new_version(lume_home):
    from prefect import Flow as PrefectFlow
    from prefect import Parameter

    def flow_with(annotation):
        with PrefectFlow("annotated") as flow:
            _annotated_task_class(annotation)()(Parameter("x"))
        return flow

    first = Flow(name="annotated", prefect_flow=flow_with(int)).register()
    assert Flow(name="annotated", prefect_flow=flow_with(int)).register() == first
    assert Flow(name="annotated", prefect_flow=flow_with(str)).register() != first


def test_new_reference_tasks_are_a_new_version(lume_home):
    prefect_flow = ft.make_chain(n=2)
    first = Flow(name="inc-chain", prefect_flow=prefect_flow).register()
    chain_start = next(t for t in prefect_flow.tasks if prefect_flow.slugs[t] == "inc-1")
    prefect_flow.set_reference_tasks([chain_start])
    assert Flow(name="inc-chain", prefect_flow=prefect_flow).register() != first


def test_a_flow_with_a_cycle_is_refused_at_registration(lume_home):
    prefect_flow = ft.make_chain(n=2)
    first, second = sorted((t for t in prefect_flow.tasks if t.name == "inc"), key=prefect_flow.slugs.get)
    prefect_flow.add_edge(second, first, validate=False)
    with pytest.raises(ValueError, match="Cycle found"):
        Flow(name="inc-chain", prefect_flow=prefect_flow).register()
    assert not (lume_home / "registry.sqlite").exists() or row_count(lume_home) == 0


# --- listing reads plain columns only ---------------------------------------------------


def _tables_read(connection, action) -> set:
    """The tables SQLite reads while ``action()`` runs on ``connection`` (its authorizer's reads)."""
    read = set()

    def authorize(code, table, column, database, trigger):
        if code == sqlite3.SQLITE_READ:
            read.add(table)
        return sqlite3.SQLITE_OK

    connection.set_authorizer(authorize)
    try:
        action()
    finally:
        connection.set_authorizer(None)
    return read


def test_listing_reads_no_table_that_holds_pickled_flows(lume_home):
    backend = LocalBackend(home=lume_home)
    backend.register_flow(ft.doubler, "p")
    registry = backend.registry
    connection = registry._connect()
    holding_pickles = {
        table for (table,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if any(column[2].upper() == "BLOB" for column in connection.execute(f"PRAGMA table_info({table})"))
    }

    read = _tables_read(connection, registry.list_flows)

    assert holding_pickles and read and not read & holding_pickles


def test_a_flow_whose_pickle_and_metadata_are_damaged_still_lists_and_refuses_to_load(lume_home):
    from lume_services.errors import StoredRecordDamagedError

    flow_id = LocalBackend(home=lume_home).register_flow(ft.doubler, "p", labels=["gpu"])
    with sqlite3.connect(lume_home / "registry.sqlite") as conn:
        conn.execute("UPDATE flows SET flow = substr(flow, 1, 40), metadata = '{\"flow_id\": '")

    backend = LocalBackend(home=lume_home)
    [listed] = backend.list_flows("p")

    assert (listed["name"], listed["flow_id"], listed["version"], listed["labels"]) == ("doubler", flow_id, 1, ["gpu"])
    with pytest.raises(StoredRecordDamagedError):
        backend.load_flow("doubler", "p")


def test_listing_gives_the_latest_version_of_each_flow_with_its_image_labels_and_registration_time(lume_home):
    Flow(name="inc-chain", project_name="p", prefect_flow=ft.make_chain(n=1)).register()
    latest = Flow(name="inc-chain", project_name="p", prefect_flow=ft.make_chain(n=2),
                  image="img:2", labels=["cpu", "gpu"]).register()
    Flow(name="doubler", project_name="q", prefect_flow=ft.doubler).register()

    rows = LocalBackend(home=lume_home).list_flows()

    assert [(r["project_name"], r["name"], r["version"]) for r in rows] == [("p", "inc-chain", 2), ("q", "doubler", 1)]
    assert (rows[0]["flow_id"], rows[0]["image"], rows[0]["labels"]) == (latest, "img:2", ["cpu", "gpu"])
    assert len(rows[0]["fingerprint"]) > 0 and rows[0]["registered"].endswith("+00:00")


def _as_registry_of_the_previous_layout(path: Path) -> None:
    """What lume-services wrote before the listing table: the same ``flows`` rows, nothing else."""
    with sqlite3.connect(path) as conn:
        conn.executescript(
            "DROP TRIGGER flows_listed; DROP TABLE flow_listing; PRAGMA user_version = 0;"
        )


def test_a_registry_of_the_previous_layout_keeps_every_flow_listed_and_loadable(lume_home):
    Flow(name="inc-chain", project_name="p", prefect_flow=ft.make_chain(n=1)).register()
    second = Flow(name="inc-chain", project_name="p", prefect_flow=ft.make_chain(n=2), labels=["gpu"]).register()
    doubler = Flow(name="doubler", project_name="p", prefect_flow=ft.doubler, image="img:1").register()
    listed_before = LocalBackend(home=lume_home).list_flows("p")
    _as_registry_of_the_previous_layout(lume_home / "registry.sqlite")

    backend = LocalBackend(home=lume_home)

    assert backend.list_flows("p") == listed_before
    assert [(r["name"], r["version"], r["flow_id"]) for r in listed_before] == [
        ("doubler", 1, doubler), ("inc-chain", 2, second)]
    assert (listed_before[0]["image"], listed_before[1]["labels"]) == ("img:1", ["gpu"])
    assert backend.load_flow("inc-chain", "p")["flow_id"] == second
    assert row_count(lume_home) == 3  # every version is kept
    third = Flow(name="inc-chain", project_name="p", prefect_flow=ft.make_chain(n=3)).register()
    assert [r["flow_id"] for r in LocalBackend(home=lume_home).list_flows("p")] == [doubler, third]
