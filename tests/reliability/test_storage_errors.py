"""A store that cannot be used says why and where, keeps the original error, and keeps what it held."""

import sqlite3

import pytest

import flows_for_tests as ft
from lume_services import config
from lume_services.errors import StoreUnusableError
from lume_services.flows.flow import Flow
from lume_services.services.results.sqlite import SQLiteResultsDB
from lume_services.services.scheduling.backends import LocalBackend
from lume_services.storage import storage_errors


def fill_up(conn):
    """Make the next write find the database full, as a full disk would."""
    (pages,) = conn.execute("PRAGMA page_count").fetchone()
    conn.execute(f"PRAGMA max_page_count = {pages}")


def test_a_full_disk_is_reported_as_one_for_the_registry_and_what_was_registered_stays_loadable(lume_home):
    backend = LocalBackend(home=lume_home)
    backend.register_flow(ft.doubler, "p")
    fill_up(backend.registry._connect())

    with pytest.raises(StoreUnusableError) as info:
        backend.register_flow(ft.make_chain("inc-chain", 50), "p")

    exc = info.value
    assert (exc.store, exc.cause, exc.path) == ("registry", "disk_full", str(lume_home / "registry.sqlite"))
    assert "the disk is full" in str(exc) and "LUME_HOME" in str(exc)
    assert isinstance(exc.__cause__, sqlite3.OperationalError)
    assert "no transaction is active" not in str(exc.__cause__)
    assert backend.load_flow("doubler", "p")["version"] == 1


def test_a_full_disk_is_reported_as_one_for_the_results_database_and_results_stay_readable(tmp_path):
    db = SQLiteResultsDB(tmp_path / "results.sqlite")
    db.insert_one("p", {"unique_hash": "a", "x": 1})
    fill_up(db._connection())

    with pytest.raises(StoreUnusableError) as info:
        db.insert_many("p", [{"unique_hash": str(i), "text": "x" * 5000} for i in range(20)])

    assert (info.value.store, info.value.cause) == ("results_db", "disk_full")
    assert isinstance(info.value.__cause__, sqlite3.OperationalError)
    assert db.find("p") == [{"unique_hash": "a", "x": 1}]


def test_a_corrupt_registry_is_reported_naming_the_file_and_the_setting(lume_home):
    lume_home.mkdir(mode=0o700)
    (lume_home / "registry.sqlite").write_bytes(b"this is not a database" * 100)

    with pytest.raises(StoreUnusableError) as info:
        LocalBackend(home=lume_home).list_flows()
    assert info.value.cause == "not_a_database"
    assert str(lume_home / "registry.sqlite") in str(info.value) and "LUME_HOME" in str(info.value)


def test_lume_home_pointing_at_a_file_is_reported_naming_it(tmp_path, monkeypatch):
    home = tmp_path / "a-file"
    home.write_text("")
    monkeypatch.setenv("LUME_HOME", str(home))
    config.reset()

    with pytest.raises(StoreUnusableError) as info:
        Flow(name="doubler", project_name="p", prefect_flow=ft.doubler).register()
    assert (info.value.cause, info.value.path, info.value.variable) == ("not_a_directory", str(home), "LUME_HOME")


def test_lume_home_on_an_impossible_path_is_reported_naming_it(monkeypatch):
    monkeypatch.setenv("LUME_HOME", "/dev/null/lume")
    config.reset()

    with pytest.raises(StoreUnusableError, match="/dev/null/lume .*LUME_HOME"):
        Flow(name="doubler", project_name="p", prefect_flow=ft.doubler).register()


def test_a_results_path_that_is_a_folder_is_reported_naming_it_and_the_variable(tmp_path, monkeypatch):
    from lume_services.results import Result

    monkeypatch.setenv("LUME_RESULTS_DB__PATH", str(tmp_path))
    config.reset()

    with pytest.raises(StoreUnusableError) as info:
        Result(project_name="p", flow_id="f", inputs={}, outputs={}).insert()
    assert (info.value.cause, info.value.path) == ("is_a_directory", str(tmp_path))
    assert "LUME_RESULTS_DB__PATH" in str(info.value)


@pytest.mark.parametrize("error, cause", [
    (sqlite3.OperationalError("attempt to write a readonly database"), "read_only"),
    (sqlite3.OperationalError("database or disk is full"), "disk_full"),
    (sqlite3.DatabaseError("file is not a database"), "not_a_database"),
    (sqlite3.OperationalError("disk I/O error"), "io_error"),
    (OSError(30, "Read-only file system", "/x/registry.sqlite"), "read_only"),
    (OSError(28, "No space left on device", "/x/registry.sqlite"), "disk_full"),
])
def test_each_storage_failure_is_named_by_its_cause(error, cause):
    with pytest.raises(StoreUnusableError) as info:
        with storage_errors("registry", "/x/registry.sqlite"):
            raise error
    assert info.value.cause == cause and info.value.__cause__ is error


def test_a_locked_database_and_errors_of_other_files_pass_unchanged():
    for error in (sqlite3.OperationalError("database is locked"), OSError(2, "No such file", "/elsewhere/data.h5")):
        with pytest.raises(type(error)):
            with storage_errors("registry", "/x/registry.sqlite"):
                raise error
