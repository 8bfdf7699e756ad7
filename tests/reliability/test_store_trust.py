"""Stores under LUME_HOME are private, and used only when they are ours: a registry holds code."""

import os
import pickle
import stat

import pytest

import flows_for_tests as ft
from lume_services.errors import StorageError, UntrustedStoreError
from lume_services.services.results.sqlite import SQLiteResultsDB
from lume_services.services.scheduling.backends import LocalBackend

NOBODY = 65534
as_root = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown needs root")


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask():
    old = os.umask(0)
    yield
    os.umask(old)


def test_home_and_registry_are_private_whatever_the_umask(lume_home, open_umask):
    LocalBackend(home=lume_home / "deep" / "home").register_flow(ft.doubler, "p")

    home = lume_home / "deep" / "home"
    assert mode(lume_home) == 0o700 and mode(home.parent) == 0o700 and mode(home) == 0o700
    assert mode(home / "registry.sqlite") == 0o600
    for extra in home.iterdir():  # -wal, -shm, the set-up lock
        assert mode(extra) & 0o077 == 0, extra


def test_the_results_database_is_private_whatever_the_umask(tmp_path, open_umask):
    db = SQLiteResultsDB(tmp_path / "results" / "results.sqlite")
    db.insert_one("p", {"unique_hash": "h", "x": 1})

    assert mode(tmp_path / "results") == 0o700
    for path in (tmp_path / "results").iterdir():
        assert mode(path) & 0o077 == 0, path


class Planted:
    """Unpickling this runs code: it writes a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def plant(registry_path, marker):
    import sqlite3

    with sqlite3.connect(registry_path) as conn:
        conn.execute("UPDATE flows SET flow = ?", (pickle.dumps(Planted(str(marker))),))


@pytest.fixture
def registered(lume_home):
    backend = LocalBackend(home=lume_home)
    backend.register_flow(ft.doubler, "p")
    return backend


@as_root
def test_a_registry_another_user_owns_is_refused_before_anything_is_unpickled(registered, lume_home, tmp_path):
    marker = tmp_path / "ran"
    plant(lume_home / "registry.sqlite", marker)
    os.chown(lume_home / "registry.sqlite", NOBODY, -1)

    with pytest.raises(UntrustedStoreError) as info:
        LocalBackend(home=lume_home).load_flow("doubler", "p")

    assert not marker.exists()
    exc = info.value
    assert (exc.store, exc.problem, exc.owner_uid) == ("registry", "other_owner", NOBODY)
    assert str(lume_home / "registry.sqlite") in str(exc) and "chown" in str(exc)


@pytest.mark.parametrize("bits, problem", [(0o020, "group_writable"), (0o002, "world_writable")])
def test_a_registry_others_may_write_is_refused_saying_how_to_fix_it(registered, lume_home, tmp_path, bits, problem):
    marker = tmp_path / "ran"
    plant(lume_home / "registry.sqlite", marker)
    os.chmod(lume_home / "registry.sqlite", 0o600 | bits)

    with pytest.raises(UntrustedStoreError) as info:
        LocalBackend(home=lume_home).load_flow("doubler", "p")

    assert not marker.exists()
    assert info.value.problem == problem
    assert f"chmod go-w {lume_home / 'registry.sqlite'}" in str(info.value)


def test_a_home_folder_others_may_write_is_refused(registered, lume_home):
    os.chmod(lume_home, 0o777)
    with pytest.raises(UntrustedStoreError, match="every user may write to it") as info:
        LocalBackend(home=lume_home).load_flow("doubler", "p")
    assert info.value.path == str(lume_home)


def test_a_registry_made_untrusted_after_it_was_opened_is_refused_at_load(registered, lume_home):
    os.chmod(lume_home / "registry.sqlite", 0o666)
    with pytest.raises(UntrustedStoreError):
        registered.load_flow("doubler", "p")


@as_root
def test_a_results_database_another_user_owns_is_refused(tmp_path):
    path = tmp_path / "results.sqlite"
    SQLiteResultsDB(path).insert_one("p", {"x": 1})
    os.chown(path, NOBODY, -1)

    with pytest.raises(UntrustedStoreError) as info:
        SQLiteResultsDB(path).find("p")
    assert info.value.store == "results_db" and "LUME_RESULTS_DB__PATH" in str(info.value)


def test_a_results_database_others_may_write_is_refused(tmp_path):
    path = tmp_path / "results.sqlite"
    SQLiteResultsDB(path).insert_one("p", {"x": 1})
    os.chmod(path, 0o664)

    with pytest.raises(StorageError, match="its group may write to it"):
        SQLiteResultsDB(path).find("p")


def test_a_store_of_ours_in_a_sticky_shared_folder_is_used(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    db = SQLiteResultsDB(shared / "results.sqlite")
    db.insert_one("p", {"x": 1})
    assert db.find("p") == [{"x": 1}]


def test_the_examples_folder_under_home_is_private_whatever_the_umask(lume_home, open_umask):
    from types import SimpleNamespace

    from lume_services.examples.registration import example_parameters

    params = example_parameters(SimpleNamespace(composing_flows={"save-text": None}))
    assert params["save-text-filename"].startswith(str(lume_home / "examples"))
    assert mode(lume_home / "examples") == 0o700 and mode(lume_home) == 0o700


def _history(path):
    from datetime import datetime, timezone

    from lume_services.services.scheduling.backends.local.run_history import RunHistory

    history = RunHistory(path)
    history.begin("run-1", "doubler", "p", None, 1, {"x": 1}, "local", datetime.now(timezone.utc))
    return history


def test_the_run_history_is_private_whatever_the_umask(tmp_path, open_umask):
    _history(tmp_path / "history" / "runs.sqlite")

    assert mode(tmp_path / "history") == 0o700
    for path in (tmp_path / "history").iterdir():  # the file, -wal, -shm, the set-up lock
        assert mode(path) & 0o077 == 0, path


@as_root
def test_a_run_history_another_user_owns_is_refused_as_every_store_is(tmp_path):
    from lume_services.services.scheduling.backends.local.run_history import RunHistory
    from lume_services.services.scheduling.run_records import run_query

    path = tmp_path / "history" / "runs.sqlite"
    _history(path)
    os.chown(path, NOBODY, -1)

    with pytest.raises(UntrustedStoreError) as info:
        RunHistory(path).list_runs(run_query())
    assert (info.value.store, info.value.path) == ("run_history", str(path))
    assert "LUME_RUN_HISTORY__PATH" in str(info.value)
