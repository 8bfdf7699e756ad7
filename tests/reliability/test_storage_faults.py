"""Storage faults are named for what they are, on a real small file system: a full disk, a read-only one, a damaged row.

A 1 MB tmpfs is mounted for each test (as root; skipped, with the reason,
where mounting is not allowed) and filled or remounted read-only, so SQLite
and the OS report the faults as they do in use. The rule: the error names the
store, the file and the cause; its advice never loses data (no "delete it"),
and what was stored stays intact.
"""

import os
import pickle
import sqlite3
import subprocess
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner

import flows_for_tests as ft
from lume_services import config
from lume_services.cli.main import main
from lume_services.errors import StoredRecordDamagedError, StoreUnusableError
from lume_services.services.scheduling.backends import LocalBackend
from lume_services.services.scheduling.backends.local.run_history import RunHistory
from lume_services.services.scheduling.run_records import run_query


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MB tmpfs, unmounted afterwards."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=True)


def fill(disk):
    """Write a file until the disk is full."""
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"x" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_only(disk):
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)


def no_data_loss_advice(message):
    return "delete" not in message and "remove it" not in message


def record_a_run(path):
    history = RunHistory(path)
    history.begin("run-1", "doubler", "p", None, 1, {"x": 1}, "local", datetime.now(timezone.utc))
    history.finish("run-1", datetime.now(timezone.utc), "Success", None)
    history._local.conn.close()


def register_then_damage(home, update):
    """Register ``doubler`` in project ``p`` of ``home``'s registry, then change its row with the SQL ``update``."""
    LocalBackend(home=home).register_flow(ft.doubler, "p")
    with sqlite3.connect(home / "registry.sqlite") as conn:
        conn.execute(update)


@pytest.fixture
def home_on(small_disk, monkeypatch, lume_home):
    """``LUME_HOME`` on the small disk (``lume_home`` has cleared the other ``LUME_*`` variables)."""
    home = small_disk / "home"
    monkeypatch.setenv("LUME_HOME", str(home))
    config.reset()
    yield home
    config.reset()


def test_runs_list_on_a_full_disk_says_the_disk_is_full_and_keeps_the_history(small_disk, home_on):
    path = home_on / "history" / "runs.sqlite"
    record_a_run(path)
    fill(small_disk)

    listed = CliRunner().invoke(main, ["runs", "list"])

    assert listed.exit_code == 1
    assert "the disk is full" in listed.stderr and str(path) in listed.stderr
    assert "not a" not in listed.stderr and no_data_loss_advice(listed.stderr)
    os.unlink(small_disk / "filler")
    assert [r.run_id for r in RunHistory(path).list_runs(run_query())] == ["run-1"]


def test_a_read_only_file_system_is_named_as_one_not_as_permissions(small_disk, home_on):
    backend = LocalBackend(home=home_on)
    backend.register_flow(ft.doubler, "p")
    backend.registry._local.conn.close()  # a clean close: SQLite removes the -wal and -shm files
    read_only(small_disk)

    with pytest.raises(StoreUnusableError) as info:
        LocalBackend(home=home_on).load_flow("doubler", "p")

    assert info.value.cause == "read_only" and "read-only" in str(info.value)
    assert "permission" not in str(info.value)


def test_a_read_only_history_is_named_as_read_only_when_a_run_is_recorded(small_disk, home_on):
    path = home_on / "history" / "runs.sqlite"
    record_a_run(path)
    read_only(small_disk)

    with pytest.raises(StoreUnusableError) as info:
        RunHistory(path).begin("run-2", "doubler", "p", None, 1, {}, "local", datetime.now(timezone.utc))

    assert (info.value.store, info.value.cause) == ("run_history", "read_only")
    assert no_data_loss_advice(str(info.value))


def test_registering_on_a_full_disk_says_so_and_keeps_what_was_registered(small_disk, home_on):
    backend = LocalBackend(home=home_on)
    backend.register_flow(ft.doubler, "p")
    fill(small_disk)

    with pytest.raises(StoreUnusableError) as info:
        backend.register_flow(ft.make_chain("long-chain", 200), "p")

    assert (info.value.store, info.value.cause) == ("registry", "disk_full")
    os.unlink(small_disk / "filler")
    assert LocalBackend(home=home_on).load_flow("doubler", "p")["version"] == 1


def test_a_damaged_registry_row_names_the_flow_its_version_and_the_file(lume_home):
    register_then_damage(lume_home, "UPDATE flows SET flow = substr(flow, 1, 40)")

    with pytest.raises(StoredRecordDamagedError) as info:
        LocalBackend(home=lume_home).load_flow("doubler", "p")

    exc = info.value
    assert (exc.store, exc.flow_name, exc.project_name, exc.version) == ("registry", "doubler", "p", 1)
    assert str(lume_home / "registry.sqlite") in str(exc) and "register the flow again" in str(exc)
    assert no_data_loss_advice(str(exc))
    assert not isinstance(exc, pickle.UnpicklingError)


def test_a_damaged_history_row_names_the_run_and_its_flow(tmp_path):
    path = tmp_path / "runs.sqlite"
    record_a_run(path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE runs SET parameters = '{\"x\": ' WHERE run_id = 'run-1'")

    with pytest.raises(StoredRecordDamagedError) as info:
        RunHistory(path).get_run("run-1")

    assert (info.value.store, info.value.run_id, info.value.flow_name) == ("run_history", "run-1", "doubler")
    assert "run 'run-1' of flow 'doubler'" in str(info.value)


def test_an_intact_store_is_never_called_damaged_by_sqlites_not_a_database(tmp_path):
    # SQLite says "file is not a database" also when it cannot map a file: the header decides
    from lume_services.storage import storage_errors

    path = tmp_path / "runs.sqlite"
    record_a_run(path)
    with pytest.raises(StoreUnusableError) as info:
        with storage_errors("run_history", path):
            raise sqlite3.DatabaseError("file is not a database")
    assert info.value.cause == "damaged" and "keep it" in str(info.value)


def test_a_registry_row_with_damaged_metadata_names_the_flow_when_loaded(lume_home):
    register_then_damage(lume_home, "UPDATE flows SET metadata = '{\"flow_id\": '")

    # listing reads plain columns only (tests/test_registry.py): loading decodes the metadata
    with pytest.raises(StoredRecordDamagedError) as info:
        LocalBackend(home=lume_home).load_flow("doubler", "p")

    assert (info.value.flow_name, info.value.version) == ("doubler", 1)
