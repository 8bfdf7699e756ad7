"""Results and the results databases: the embedded SQLite default and MongoDB.

No MongoDB server can run on these machines, so ``MongodbResultsDB`` is tested
against ``mongomock``, an in-process stand-in of the pymongo API: its
``mongomock.patch`` replaces ``pymongo.MongoClient`` so the real client-building
code runs. Every behaviour of the ``ResultsDB`` contract runs against both
implementations through the ``results_db`` fixture.
"""

import multiprocessing
import pickle
import subprocess
import sys
from pathlib import Path

import mongomock
import pytest

from lume_services import config
from lume_services.errors import (
    InvalidDocumentError,
    InvalidIndexError,
    MultipleResultsFoundError,
    ResultNotFoundError,
    UnknownResultTypeError,
    UnsupportedQueryError,
)
from lume_services.results import Result, get_result_from_string, load_result
from lume_services.services.results import ResultsDBService
from lume_services.services.results import sqlite as sqlite_module
from lume_services.services.results import sqlite_keys
from lume_services.services.results.mongodb import MongodbResultsDB, MongodbResultsDBConfig
from lume_services.services.results.query import matches
from lume_services.services.results.sqlite import SQLiteResultsDB

MONGO_HOST = "mongo.test"


def mongo_config(**fields) -> MongodbResultsDBConfig:
    """A connection to the fake server (MongoDB needs a user and password, as in LUME-services)."""
    return MongodbResultsDBConfig(**{"host": MONGO_HOST, "port": 27017, "username": "lume",
                                     "password": "pw", **fields})


def mongo_environment(monkeypatch) -> None:
    """The LUME_RESULTS_DB__MONGODB__* variables of a connection to the fake server."""
    monkeypatch.setenv("LUME_RESULTS_DB__TYPE", "mongodb")
    monkeypatch.setenv("LUME_RESULTS_DB__MONGODB__HOST", MONGO_HOST)
    monkeypatch.setenv("LUME_RESULTS_DB__MONGODB__PORT", "27017")
    monkeypatch.setenv("LUME_RESULTS_DB__MONGODB__USERNAME", "lume")
    monkeypatch.setenv("LUME_RESULTS_DB__MONGODB__PASSWORD", "pw")


@pytest.fixture
def mongo():
    """pymongo's MongoClient replaced by mongomock for one fake server."""
    with mongomock.patch(servers=((MONGO_HOST, 27017),)):
        yield


@pytest.fixture(params=["sqlite", "mongodb"])
def results_db(request, tmp_path):
    """Each implementation of the ResultsDB contract."""
    if request.param == "sqlite":
        db = SQLiteResultsDB(tmp_path / "results.sqlite")
        yield db
        db.close()
    else:
        with mongomock.patch(servers=((MONGO_HOST, 27017),)):
            db = MongodbResultsDB(mongo_config(database="test"))
            yield db
            db.close()


@pytest.fixture
def service(results_db):
    return ResultsDBService(results_db)


class BeamResult(Result):
    """A user result type: one extra field, identity on inputs only."""

    beam_energy: float = 1.0
    unique_on: list = ["inputs"]


class Outer:
    class NestedResult(Result):
        """A result type nested in a class (a dotted qualname)."""


# --- the ResultsDB contract, on every implementation -------------------------------


def test_insert_one_returns_an_id_and_find_returns_the_document(results_db):
    id_ = results_db.insert_one("p", {"unique_hash": "h1", "outputs": {"cube": 27}})
    assert isinstance(id_, str) and id_
    assert results_db.find("p", {"outputs.cube": 27}) == [
        {"unique_hash": "h1", "outputs": {"cube": 27}}
    ]


def test_inserting_a_known_unique_hash_writes_nothing_and_returns_the_stored_id(results_db):
    first = results_db.insert_one("p", {"unique_hash": "h1", "outputs": {"v": 1}})
    again = results_db.insert_one("p", {"unique_hash": "h1", "outputs": {"v": 2}})
    assert again == first
    assert results_db.find_all("p") == [{"unique_hash": "h1", "outputs": {"v": 1}}]


def test_documents_without_unique_hash_are_always_inserted(results_db):
    results_db.insert_one("p", {"a": 1})
    results_db.insert_one("p", {"a": 1})
    assert results_db.count("p") == 2


def test_unique_hashes_are_unique_per_collection(results_db):
    results_db.insert_one("p", {"unique_hash": "h"})
    results_db.insert_one("q", {"unique_hash": "h"})
    assert results_db.count("p") == results_db.count("q") == 1


def test_documents_without_a_hash_are_never_de_duplicated(results_db):
    results_db.insert_one("p", {"unique_hash": None, "x": 1})
    results_db.insert_one("p", {"unique_hash": None, "x": 1})
    results_db.insert_one("p", {"x": 1})
    results_db.insert_one("p", {"x": 1})
    assert results_db.count("p") == 4


def test_insert_many_returns_ids_in_order_with_duplicates_mapped_to_the_stored_one(results_db):
    ids = results_db.insert_many(
        "p", [{"unique_hash": "a"}, {"unique_hash": "b"}, {"unique_hash": "a"}]
    )
    assert ids[0] == ids[2] != ids[1]
    assert results_db.count("p") == 2


def test_insert_many_gives_a_document_stored_before_its_stored_id_and_stores_the_rest(results_db):
    stored = results_db.insert_one("p", {"unique_hash": "a", "v": 1})
    ids = results_db.insert_many(
        "p", [{"unique_hash": "b"}, {"unique_hash": "a", "v": 2}, {"x": 1}, {"x": 1}, {"unique_hash": "b"}]
    )
    assert ids[1] == stored and ids[4] == ids[0]
    assert len({stored, ids[0], ids[2], ids[3]}) == 4
    assert results_db.find("p", {"unique_hash": "a"}) == [{"unique_hash": "a", "v": 1}]
    assert results_db.count("p") == 4
    assert results_db.insert_one("p", {"unique_hash": "b"}) == ids[0]


def test_insert_many_ids_follow_the_ids_insert_one_gives(results_db):
    first = results_db.insert_one("p", {"i": 0})
    many = results_db.insert_many("p", [{"i": 1}, {"i": 2}])
    last = results_db.insert_one("p", {"i": 3})
    assert len({first, *many, last}) == 4
    assert [d["i"] for d in results_db.find_all("p")] == [0, 1, 2, 3]


def test_a_query_on_unique_hash_finds_a_document_whose_hash_is_a_list_holding_it(results_db):
    results_db.insert_many("p", [{"unique_hash": ["a", "b"], "n": 1}, {"unique_hash": "c", "n": 2}])
    assert [d["n"] for d in results_db.find("p", {"unique_hash": "b"})] == [1]
    assert [d["n"] for d in results_db.find("p", {"unique_hash": "c"})] == [2]


def test_find_all_returns_documents_in_insertion_order(results_db):
    for i in range(5):
        results_db.insert_one("p", {"i": i})
    assert [d["i"] for d in results_db.find_all("p")] == list(range(5))
    assert results_db.find("p") == results_db.find_all("p")


@pytest.fixture
def stored(results_db):
    documents = [
        {"name": "int", "outputs": {"cube": 27, "flag": True, "tags": ["a", "b"]}},
        {"name": "float", "outputs": {"cube": 27.0, "flag": False, "tags": []}},
        {"name": "other", "outputs": {"cube": 8, "missing_flag": None}},
        {"name": "rows", "outputs": {"rows": [{"x": 1}, {"x": 2}], "cube": None}},
    ]
    results_db.insert_many("p", documents)
    return results_db


def _names(db, query):
    return [d["name"] for d in db.find("p", query)]


QUERIES = [
    ({"outputs.cube": 27}, ["int", "float"]),  # numbers compare by value
    ({"outputs.cube": 8, "name": "other"}, ["other"]),  # every path must match
    ({"outputs.cube": 8, "name": "int"}, []),
    ({"outputs.flag": True}, ["int"]),
    ({"outputs.flag": False}, ["float"]),
    ({"outputs.tags": "a"}, ["int"]),  # a value matches an element of a list
    ({"outputs.tags": ["a", "b"]}, ["int"]),  # or the whole list
    ({"outputs.tags": ["b", "a"]}, []),
    ({"outputs.tags": []}, ["float"]),
    ({"outputs.flag": None}, ["other", "rows"]),  # None matches missing fields
    ({"outputs.cube": None}, ["rows"]),  # and null values
    ({"outputs.rows.x": 2}, ["rows"]),  # a path continues into a list's dicts
    ({"outputs.rows.1.x": 2}, ["rows"]),  # and a number indexes the list
    ({"outputs.rows.0.x": 2}, []),
    ({"outputs.rows": {"x": 1}}, ["rows"]),
    ({"name": "nothing"}, []),
    ({}, ["int", "float", "other", "rows"]),
]


@pytest.mark.parametrize("query, names", QUERIES)
def test_queries_are_equality_on_dotted_paths(stored, query, names):
    assert _names(stored, query) == names


@pytest.mark.parametrize("query, names", [(q, n) for q, n in QUERIES if q])
def test_indexes_on_the_queried_paths_change_no_answer(stored, query, names):
    for path in query:
        stored.create_index("p", path)
    assert _names(stored, query) == names


def test_a_compound_index_serves_queries_on_its_fields(stored):
    stored.create_index("p", ["outputs.cube", "name"])
    assert _names(stored, {"outputs.cube": 27, "name": "float"}) == ["float"]
    assert _names(stored, {"outputs.cube": 27}) == ["int", "float"]


def test_creating_an_index_twice_is_harmless(stored):
    stored.create_index("p", "outputs.cube")
    stored.create_index("p", ["outputs.cube"])
    assert _names(stored, {"outputs.cube": 8}) == ["other"]


@pytest.mark.parametrize(
    "fields, reason",
    [
        ("outputs..cube", "not a dotted field path"),
        ("$where", "not a dotted field path"),
        ("", "not a dotted field path"),
        ([], "no field is given"),
        (["a", "a"], "given twice"),
        (3, "no field is given"),
    ],
)
def test_an_index_on_anything_but_dotted_paths_is_refused(results_db, fields, reason):
    with pytest.raises(InvalidIndexError, match=reason):
        results_db.create_index("p", fields)


# Documents where SQL and the matcher could part ways: JSON text that looks like
# an object, paths through scalars and lists, dict keys that look like indexes,
# numbers beyond 2**53, non-ASCII, NUL characters, NaN.
TRICKY = [
    {"name": "text", "v": '{"b":1}', "n": 1},
    {"name": "obj", "v": {"b": 1}, "n": 1.0},
    {"name": "scalar", "v": 5, "n": 2**60 + 1},
    {"name": "zero", "d": {"0": "x"}, "s": "\u00e9\U0001f600"},
    {"name": "list0", "d": ["x"], "s": "a\x00b"},
    {"name": "deep", "d": [[{"x": 1}]], "a": [{"b": {"c": 1}}, {"b": {"c": 2}}]},
    {"name": "nan", "x": float("nan"), "v": {"b": 1, "c": [1, 2]}, "\u540d": 1},
    {"name": "null", "v": None, "a": {"b": [{"c": 2}]}},
]
TRICKY_QUERIES = [
    {"v": '{"b":1}'}, {"v": {"b": 1}}, {"v.b": 1}, {"v.c": 2},
    {"v.c": [1, 2]}, {"v": None}, {"n": 1}, {"n": 2**60 + 1}, {"n": float(2**60)},
    {"d.0": "x"}, {"d.x": 1}, {"d.0.0.x": 1}, {"s": "\u00e9\U0001f600"}, {"s": "a"},
    {"s": "a\x00b"}, {"a.b.c": 2}, {"a.b.c": None}, {"a.b": {"c": 1}}, {"x": None},
    {"\u540d": 1}, {"name": "nan", "v.b": 1},
]


@pytest.mark.parametrize("query", TRICKY_QUERIES, ids=str)
def test_indexed_queries_answer_as_the_query_rules_say(results_db, query):
    results_db.insert_many("p", TRICKY)
    _index_every_path(results_db, query)
    expected = [d["name"] for d in TRICKY if matches(d, query)]
    assert [d["name"] for d in results_db.find("p", query)] == expected


def _index_every_path(db, query):
    for path in query:
        try:
            db.create_index("p", path)
        except InvalidIndexError:  # a key the embedded database cannot index (tested below)
            pass


def test_documents_must_be_dicts(results_db):
    with pytest.raises(InvalidDocumentError, match="not a list"):
        results_db.insert_one("p", [1, 2])
    with pytest.raises(InvalidDocumentError, match="not a str"):
        results_db.insert_many("p", [{"a": 1}, "text"])


def test_values_json_cannot_encode_are_stored_as_their_json_data(results_db):
    import datetime

    import numpy as np

    when = datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.timezone.utc)
    results_db.insert_one("p", {"when": when, "curve": np.array([1.5, 2.0]), "n": np.int64(3)})
    assert results_db.find_all("p") == [
        {"when": "2024-05-01T12:30:00+00:00", "curve": [1.5, 2.0], "n": 3}
    ]


@pytest.mark.parametrize(
    "query, reason",
    [
        ({"outputs.cube": {"$gt": 3}}, "operator"),
        ({"$or": [{"a": 1}]}, "operator"),
        ({"outputs..cube": 1}, "dotted field path"),
        ({"outputs.cube": object()}, "JSON data"),
        ("outputs.cube == 27", "a query is a dict"),
    ],
)
def test_anything_but_equality_is_refused(results_db, query, reason):
    with pytest.raises(UnsupportedQueryError, match=reason):
        results_db.find("p", query)


# --- implementation specifics ------------------------------------------------------


def test_sqlite_keeps_booleans_apart_from_numbers_as_mongodb_does(tmp_path):
    # MongoDB compares BSON types, so 1 does not match true; mongomock does not
    # reproduce this, hence a SQLite-only test of the documented meaning.
    db = SQLiteResultsDB(tmp_path / "r.sqlite")
    db.insert_many("p", [{"v": True}, {"v": 1}])
    assert db.find("p", {"v": 1}) == [{"v": 1}]
    assert db.find("p", {"v": True}) == [{"v": True}]


# What SQL leaves to the matcher for every document: numbers beyond 2**53, strings
# with NUL characters, keys that are not printable ASCII.
PYTHON_ONLY_QUERIES = [{"n": 2**60 + 1}, {"n": float(2**60)}, {"s": "a\x00b"}, {"\u540d": 1}]
# MongoDB matches a missing field through a scalar ({"v.b": None} for v = 5) and
# keeps true apart from 1; mongomock does neither, so these run on SQLite only.
SQLITE_QUERIES = [q for q in TRICKY_QUERIES if q not in PYTHON_ONLY_QUERIES] + [
    {"v.b": None}, {"n": True}, {"n": 1}, {"v": False}, {"v.b": 0},
]


def _check_sqlite_against_the_matcher(tmp_path, monkeypatch, query, indexed):
    db = SQLiteResultsDB(tmp_path / "r.sqlite")
    documents = TRICKY + [{"name": "bool", "n": True, "v": False}]
    db.insert_many("p", documents)
    if indexed:
        _index_every_path(db, query)
    checked = []
    monkeypatch.setattr(sqlite_module, "matches", lambda d, q: checked.append(d) or matches(d, q))
    expected = [d["name"] for d in documents if matches(d, query)]
    assert [d["name"] for d in db.find("p", query)] == expected
    return len(checked), len(documents)


@pytest.mark.parametrize("indexed", [False, True], ids=["unindexed", "indexed"])
@pytest.mark.parametrize("query", SQLITE_QUERIES, ids=str)
def test_sqlite_decides_queries_in_sql_exactly_as_the_matcher(tmp_path, monkeypatch, query,
                                                               indexed):
    checked, stored = _check_sqlite_against_the_matcher(tmp_path, monkeypatch, query, indexed)
    # the matcher saw at most what SQL cannot decide exactly: the two documents
    # with lists on the paths queried ("deep", "null"; "list0" is also NUL) and
    # the one with NaN
    assert checked <= 4 < stored


@pytest.mark.parametrize("query", PYTHON_ONLY_QUERIES, ids=str)
def test_sqlite_leaves_what_sql_cannot_compare_exactly_to_the_matcher(tmp_path, monkeypatch,
                                                                      query):
    checked, stored = _check_sqlite_against_the_matcher(tmp_path, monkeypatch, query, True)
    assert checked == stored


def test_sqlite_parses_only_the_documents_an_equality_query_selects(tmp_path, monkeypatch):
    db = SQLiteResultsDB(tmp_path / "r.sqlite")
    db.insert_many("p", [{"inputs": {"x": i, "tags": ["a"]}} for i in range(50)])
    parsed = []
    real_load = sqlite_module._load
    monkeypatch.setattr(sqlite_module, "_load", lambda text: parsed.append(text) or real_load(text))
    assert db.find("p", {"inputs.x": 7}) == [{"inputs": {"x": 7, "tags": ["a"]}}]
    assert len(parsed) == 1


def _query_plan(db, query):
    conn = db._connection()
    statements = []
    conn.set_trace_callback(statements.append)
    try:
        db.find("p", query)
    finally:
        conn.set_trace_callback(None)
    (select,) = [sql for sql in statements if sql.startswith("SELECT document")]
    return " ".join(row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {select}"))


def test_sqlite_queries_use_the_index_on_the_queried_field(tmp_path):
    db = SQLiteResultsDB(tmp_path / "r.sqlite")
    db.insert_many("p", [{"outputs": {"cube": i**3}} for i in range(20)])
    assert "documents_by_outputs_cube" not in _query_plan(db, {"outputs.cube": 27})
    db.create_index("p", "outputs.cube")
    assert "USING INDEX documents_by_outputs_cube" in _query_plan(db, {"outputs.cube": 27})
    assert "USING INDEX documents_by_outputs_cube" in _query_plan(db, {"outputs.cube": None})


def test_sqlite_indexes_flow_id_and_unique_hash_from_the_start(tmp_path):
    db = SQLiteResultsDB(tmp_path / "r.sqlite")
    db.insert_one("p", {"unique_hash": "h", "flow_id": "f"})
    assert "USING INDEX documents_by_flow_id" in _query_plan(db, {"flow_id": "f"})
    # hash_keys serves queries on the hash: its prefix, then the documents by id
    plan = _query_plan(db, {"unique_hash": "h"})
    assert "SEARCH hash_keys USING INTEGER PRIMARY KEY (rowid=?)" in plan
    assert "SEARCH documents USING INDEX documents_hash_not_text (collection=?)" in plan
    assert "SCAN" not in plan


def _indexes_on_unique_hash(path) -> list:
    """The indexes of the documents table whose key holds unique_hash (as a column or in an expression)."""
    import sqlite3

    with sqlite3.connect(path) as conn:
        names = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")]
        return [
            name for name in names
            if any(column == "unique_hash" or (column is None and "unique_hash" in sql)
                   for (_, _, column, _, _, key), sql in (
                       (row, conn.execute("SELECT coalesce(sql, '') FROM sqlite_master WHERE name = ?",
                                          (name,)).fetchone()[0])
                       for row in conn.execute(f"PRAGMA index_xinfo({name})"))
                   if key)
        ]


def test_sqlite_indexes_unique_hash_once_in_hash_keys_and_never_in_the_documents_table(tmp_path):
    db = SQLiteResultsDB(tmp_path / "r.sqlite")
    db.insert_one("p", {"unique_hash": "h", "flow_id": "f"})
    db.create_index("p", "unique_hash")
    assert _indexes_on_unique_hash(tmp_path / "r.sqlite") == []
    assert _rows(tmp_path / "r.sqlite", "SELECT count(*) FROM hash_keys_recent") == [(1,)]


def _rows(path, sql) -> list:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_sqlite_drops_the_second_unique_hash_index_of_a_database_of_the_previous_layout(tmp_path):
    import sqlite3

    from lume_services.services.results import sqlite_query

    path = tmp_path / "r.sqlite"
    SQLiteResultsDB(path).insert_many("p", [{"unique_hash": "h1", "x": 1}, {"unique_hash": ["h2", "h3"], "x": 2}])
    with sqlite3.connect(path) as conn:  # as the previous layout kept them
        conn.execute(sqlite_query.index_sql(("unique_hash",)))
        conn.execute("UPDATE documents SET unique_hash = ? WHERE unique_hash IS NOT 'h1'", (str(["h2", "h3"]),))
        conn.execute("PRAGMA user_version = 1")

    db = SQLiteResultsDB(path)

    assert [d["x"] for d in db.find("p", {"unique_hash": "h1"})] == [1]
    assert _indexes_on_unique_hash(path) == []
    assert [d["x"] for d in db.find("p", {"unique_hash": "h3"})] == [2]
    assert db.insert_many("p", [{"unique_hash": ["h2", "h3"]}]) == [db.insert_one("p", {"unique_hash": ["h2", "h3"]})]
    assert db.count("p") == 2


# A results database written by lume-services before issue 23 (layout 2: the key was the table's
# UNIQUE (collection, unique_hash) constraint). Made by the code of commit e985f23:
#   db = SQLiteResultsDB(path); service = ResultsDBService(db)
#   Result.insert_many([Result(project_name="p", inputs={"i": i}, outputs={"y": i * i}, flow_id="f")
#                       for i in range(3)], results_db_service=service)                 # ids 1-3
#   db.insert_one("p", {"unique_hash": ["h2", "h3"], "x": 2})                            # id 4
#   db.insert_one("p", {"x": 3})                                                        # id 5
#   db.insert_many("p", [{"unique_hash": "a" * 15 + "0" * 49, "x": 4},
#                        {"unique_hash": "a" * 15 + "1" * 49, "x": 5}])                 # ids 6, 7
#   db.insert_one("p", {"unique_hash": "nan", "outputs": {"fit": float("nan")}})         # id 8
#   Result(project_name="q", inputs={"i": 0}, outputs={"y": 0}, flow_id="f").insert(
#       results_db_service=service)                                                      # id 9
#   db.create_index("p", "inputs.i"); db.close()
LAYOUT_2_FILE = Path(__file__).parent / "fixtures" / "results_db_layout_2.sqlite"
#: two hashes of the file sharing their first 15 digits: one prefix in hash_keys
COLLIDING = ("a" * 15 + "0" * 49, "a" * 15 + "1" * 49)


@pytest.fixture
def layout_2_file(tmp_path):
    """A copy of the file written before issue 23, where the store trust check accepts it."""
    import shutil

    path = tmp_path / "results.sqlite"
    shutil.copyfile(LAYOUT_2_FILE, path)
    path.chmod(0o600)
    return path


def _stored(path) -> list:
    return _rows(path, "SELECT id, collection, unique_hash, document FROM documents ORDER BY id")


def test_a_database_written_before_issue_23_keeps_every_document_and_id_when_opened(layout_2_file):
    before = _stored(layout_2_file)
    SQLiteResultsDB(layout_2_file).count("p")
    assert _stored(layout_2_file) == before
    assert [id_ for id_, *_ in before] == list(range(1, 10))


def test_a_database_written_before_issue_23_loses_its_unique_hash_constraint_and_gets_hash_keys(layout_2_file):
    SQLiteResultsDB(layout_2_file).count("p")
    assert _rows(layout_2_file, "PRAGMA user_version") == [(3,)]
    assert _indexes_on_unique_hash(layout_2_file) == []
    # every stored hash has its prefix in hash_keys; the second of the two sharing one is a collision
    assert _rows(layout_2_file, "SELECT count(*) FROM hash_keys") == [(7,)]
    assert _rows(layout_2_file, "SELECT unique_hash, id FROM hash_key_collisions") == [(COLLIDING[1], 7)]


def test_a_database_written_before_issue_23_refuses_its_stored_results_again(layout_2_file):
    db = SQLiteResultsDB(layout_2_file)
    service = ResultsDBService(db)
    again = [Result(project_name="p", inputs={"i": i}, outputs={"y": i * i}, flow_id="f") for i in range(3)]
    assert Result.insert_many(again, results_db_service=service) == ["1", "2", "3"]
    assert db.insert_one("p", {"unique_hash": ["h2", "h3"], "x": 2}) == "4"
    assert db.insert_many("p", [{"unique_hash": h} for h in COLLIDING]) == ["6", "7"]
    assert [db.insert_one("p", {"unique_hash": h}) for h in reversed(COLLIDING)] == ["7", "6"]
    assert db.insert_one("p", {"unique_hash": "nan"}) == "8"
    assert Result(project_name="q", inputs={"i": 0}, outputs={"y": 0}, flow_id="f").insert(
        results_db_service=service) == "9"
    assert (db.count("p"), db.count("q")) == (8, 1)


def test_a_database_written_before_issue_23_answers_queries_as_before(layout_2_file):
    db = SQLiteResultsDB(layout_2_file)
    first = db.find("p", {"inputs.i": 0})[0]
    assert [d["x"] for d in db.find("p", {"unique_hash": "h3"})] == [2]  # a list holding it
    assert db.find("q", {"unique_hash": first["unique_hash"]})[0]["project_name"] == "q"
    assert [d["x"] for d in db.find("p", {"unique_hash": COLLIDING[1]})] == [5]
    assert [d.get("x") for d in db.find_all("p")] == [None, None, None, 2, 3, 4, 5, None]
    assert "USING INDEX documents_by_inputs_i" in _query_plan(db, {"inputs.i": 1})  # its own index kept


def test_a_database_written_before_issue_23_numbers_new_documents_after_its_last(layout_2_file):
    db = SQLiteResultsDB(layout_2_file)
    assert db.insert_many("p", [{"unique_hash": "new"}, {"x": 6}]) == ["10", "11"]


def test_hashes_sharing_their_prefix_are_stored_apart_and_each_found_and_refused_again(tmp_path):
    from lume_services.services.results.sqlite_query import collection_salt, hash_prefix

    salt = collection_salt("p")
    assert hash_prefix(COLLIDING[0], salt) == hash_prefix(COLLIDING[1], salt)
    db = SQLiteResultsDB(tmp_path / "r.sqlite")
    first = db.insert_one("p", {"unique_hash": COLLIDING[0], "x": 0})
    second, third = db.insert_many("p", [{"unique_hash": COLLIDING[1], "x": 1}, {"unique_hash": "b" * 64, "x": 2}])
    assert len({first, second, third}) == 3
    assert db.insert_many("p", [{"unique_hash": h} for h in (*COLLIDING, "b" * 64)]) == [first, second, third]
    assert [db.insert_one("p", {"unique_hash": h}) for h in COLLIDING] == [first, second]
    assert [d["x"] for d in db.find("p", {"unique_hash": COLLIDING[1]})] == [1]
    assert [d["x"] for d in db.find("p", {"unique_hash": COLLIDING[0]})] == [0]
    assert db.count("p") == 3


def test_hashes_sharing_their_prefix_in_one_batch_are_both_stored(tmp_path):
    db = SQLiteResultsDB(tmp_path / "r.sqlite")
    ids = db.insert_many("p", [{"unique_hash": COLLIDING[0]}, {"unique_hash": COLLIDING[1]}, {"unique_hash": COLLIDING[0]}])
    assert ids[0] != ids[1] and ids[2] == ids[0]
    assert [d["unique_hash"] for d in db.find("p", {"unique_hash": COLLIDING[1]})] == [COLLIDING[1]]


def test_recent_prefixes_move_to_hash_keys_and_are_still_found_and_refused(tmp_path, monkeypatch):
    import hashlib

    monkeypatch.setattr(sqlite_keys, "RECENT_KEYS", 10)
    hashes = [hashlib.sha256(b"%d" % i).hexdigest() for i in range(12)]
    path = tmp_path / "r.sqlite"
    db = SQLiteResultsDB(path)
    first = db.insert_many("p", [{"unique_hash": h} for h in hashes[:6]])
    assert _rows(path, "SELECT count(*) FROM hash_keys_recent") == [(6,)]
    second = db.insert_many("p", [{"unique_hash": h} for h in hashes[6:]])
    assert _rows(path, "SELECT (SELECT count(*) FROM hash_keys), (SELECT count(*) FROM hash_keys_recent)") == [(12, 0)]
    assert db.insert_many("p", [{"unique_hash": h} for h in hashes]) == first + second
    assert db.insert_one("p", {"unique_hash": hashes[3]}) == first[3]
    assert db.find("p", {"unique_hash": hashes[9]}) == [{"unique_hash": hashes[9]}]
    assert db.count("p") == 12


def test_hashes_that_are_not_hex_text_are_found_by_their_digest_prefix(tmp_path):
    db = SQLiteResultsDB(tmp_path / "r.sqlite")
    ids = db.insert_many("p", [{"unique_hash": "not hex", "x": 1}, {"unique_hash": "\u540d", "x": 2}])
    assert db.insert_many("p", [{"unique_hash": "\u540d"}, {"unique_hash": "not hex"}]) == ids[::-1]
    assert [d["x"] for d in db.find("p", {"unique_hash": "\u540d"})] == [2]


def test_sqlite_refuses_an_index_on_keys_sql_cannot_address(tmp_path):
    db = SQLiteResultsDB(tmp_path / "r.sqlite")
    with pytest.raises(InvalidIndexError, match="printable ASCII without quotes"):
        db.create_index("p", "inputs.\u00e9nergie")


def test_sqlite_stores_documents_with_nan_and_nul_and_finds_them(tmp_path):
    db = SQLiteResultsDB(tmp_path / "r.sqlite")
    db.create_index("p", "outputs.fit")
    nan_doc = {"name": "nan", "outputs": {"fit": float("nan"), "s": "ok"}}
    db.insert_many("p", [nan_doc, {"name": "nul", "outputs": {"s": "a\x00b", "fit": 1.5}}])
    assert _names(db, {"outputs.s": "ok"}) == ["nan"]
    assert _names(db, {"outputs.s": "a"}) == []
    assert _names(db, {"outputs.fit": 1.5}) == ["nul"]
    assert db.find("p", {"name": "nan"})[0]["outputs"]["fit"] != 0  # NaN came back as NaN


def test_sqlite_opens_a_database_of_an_older_version_with_queries_in_sql(tmp_path):
    import json
    import sqlite3

    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE documents (id INTEGER PRIMARY KEY AUTOINCREMENT, collection TEXT NOT "
        "NULL, unique_hash TEXT, document TEXT NOT NULL, UNIQUE (collection, unique_hash));"
        "CREATE INDEX documents_collection ON documents (collection, id);"
    )
    rows = [{"unique_hash": "h1", "flow_id": "f", "x": float("nan")},
            {"unique_hash": "h2", "flow_id": "f", "s": "a\x00b"}]
    old.executemany(
        "INSERT INTO documents (collection, unique_hash, document) VALUES ('p', ?, ?)",
        [(row["unique_hash"], json.dumps(row, separators=(",", ":"))) for row in rows],
    )
    old.commit()
    old.close()
    db = SQLiteResultsDB(path)
    assert [d["unique_hash"] for d in db.find("p", {"flow_id": "f"})] == ["h1", "h2"]
    assert db.find("p", {"s": "a"}) == []
    assert "USING INDEX documents_by_flow_id" in _query_plan(db, {"flow_id": "f"})


def test_sqlite_insert_many_in_an_autoincrement_table_of_an_older_version_numbers_after_the_largest_id_ever_given(
    tmp_path,
):
    import sqlite3

    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as old:
        old.executescript(
            "CREATE TABLE documents (id INTEGER PRIMARY KEY AUTOINCREMENT, collection TEXT NOT "
            "NULL, unique_hash TEXT, document TEXT NOT NULL, UNIQUE (collection, unique_hash));"
            "INSERT INTO documents (collection, unique_hash, document) VALUES "
            "('p', 'h1', '{}'), ('p', 'h2', '{}'), ('p', 'h3', '{}');"
            "DELETE FROM documents WHERE id = 3;"
        )
    old.close()
    db = SQLiteResultsDB(path)
    assert db.insert_many("p", [{"unique_hash": "a"}, {"unique_hash": "b"}]) == ["4", "5"]
    assert db.insert_one("p", {"unique_hash": "c"}) == "6"


def test_sqlite_is_safe_for_threads_sharing_one_instance(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    db = SQLiteResultsDB(tmp_path / "r.sqlite")

    def insert(worker):
        for i in range(100):
            db.insert_one("p", {"unique_hash": f"{worker}-{i}"})

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(insert, range(4)))
    assert db.count("p") == 400


def test_sqlite_results_persist_for_a_new_connection(tmp_path):
    SQLiteResultsDB(tmp_path / "r.sqlite").insert_one("p", {"unique_hash": "h"})
    assert SQLiteResultsDB(tmp_path / "r.sqlite").find_all("p") == [{"unique_hash": "h"}]


def test_sqlite_uses_wal_and_a_busy_timeout(tmp_path):
    db = SQLiteResultsDB(tmp_path / "r.sqlite", timeout=7)
    db.insert_one("p", {})
    conn = db._connection()
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("PRAGMA busy_timeout").fetchone() == (7000,)


def test_sqlite_checkpoints_the_wal_every_10000_pages_not_after_every_batch(tmp_path):
    db = SQLiteResultsDB(tmp_path / "r.sqlite")
    db.insert_one("p", {})
    assert db._connection().execute("PRAGMA wal_autocheckpoint").fetchone() == (10_000,)


def test_results_dbs_pickle_without_their_connections(tmp_path, mongo):
    db = SQLiteResultsDB(tmp_path / "r.sqlite")
    db.insert_one("p", {"a": 1})
    assert pickle.loads(pickle.dumps(db)).find_all("p") == [{"a": 1}]
    mongo_db = MongodbResultsDB(mongo_config())
    mongo_db.insert_one("p", {"a": 1})
    assert pickle.loads(pickle.dumps(mongo_db)).config == mongo_db.config


def test_mongodb_password_never_appears_in_reprs_or_settings(monkeypatch, mongo):
    mongo_environment(monkeypatch)
    monkeypatch.setenv("LUME_RESULTS_DB__MONGODB__PASSWORD", "hunter2-secret")
    context = config.configure()
    db = context.results_db()
    texts = [repr(db), str(db), repr(db.config), str(db.config), repr(context.settings()),
             repr(context.results_db_service())]
    assert all("hunter2-secret" not in text for text in texts)
    assert db.config.client_kwargs()["password"] == "hunter2-secret"


def test_mongodb_is_configured_from_environment_variables(monkeypatch, mongo):
    mongo_environment(monkeypatch)
    monkeypatch.setenv("LUME_RESULTS_DB__MONGODB__DATABASE", "beams")
    config.configure()
    db = config.context.results_db()
    assert isinstance(db, MongodbResultsDB)
    assert db.config.database == "beams"
    result = Result(project_name="p", inputs={"x": 3}, outputs={"cube": 27})
    result.insert()
    assert Result.load_from_query("p", {"outputs.cube": 27}) == result


def test_mongodb_client_options_are_given_as_json_in_the_environment(monkeypatch, mongo):
    mongo_environment(monkeypatch)
    monkeypatch.setenv("LUME_RESULTS_DB__MONGODB__OPTIONS", '{"connect": false}')
    config.configure()
    assert config.context.results_db().config.client_kwargs()["connect"] is False


def test_the_settings_use_the_mongodb_config_itself():
    assert config.ResultsDBSettings.__fields__["mongodb"].outer_type_ is MongodbResultsDBConfig


def test_the_embedded_database_file_may_be_moved(tmp_path, monkeypatch):
    monkeypatch.setenv("LUME_RESULTS_DB__PATH", str(tmp_path / "elsewhere.sqlite"))
    config.configure()
    Result(project_name="p").insert()
    assert SQLiteResultsDB(tmp_path / "elsewhere.sqlite").count("p") == 1


def test_mongodb_config_builds_client_arguments():
    cfg = MongodbResultsDBConfig(
        host="h", port=1, username="u", password="pw", auth_mechanism="SCRAM-SHA-256",
        options={"tls": True},
    )
    assert cfg.client_kwargs() == {
        "host": "h", "port": 1, "username": "u", "password": "pw",
        "authMechanism": "SCRAM-SHA-256", "serverSelectionTimeoutMS": 5000, "tls": True,
    }


def test_mongodb_without_pymongo_names_the_extra_to_install(monkeypatch):
    from lume_services.errors import MissingExtraError

    db = MongodbResultsDB(mongo_config())
    monkeypatch.setitem(sys.modules, "pymongo", None)  # makes the import fail
    with pytest.raises(MissingExtraError, match=r"lume-services\[mongodb\]"):
        db.find_all("p")


def test_importing_the_results_services_does_not_import_pymongo():
    code = (
        "import sys, lume_services.results, lume_services.services.results.mongodb,"
        " lume_services.services.results.sqlite;"
        "print('pymongo' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


# --- Result -------------------------------------------------------------------


def test_unique_hash_depends_only_on_the_unique_on_fields():
    a = Result(project_name="p", inputs={"x": 1}, outputs={"y": 2}, flow_id="f1")
    b = Result(project_name="p", inputs={"x": 1}, outputs={"y": 2}, flow_id="f2")
    c = Result(project_name="p", inputs={"x": 1}, outputs={"y": 3})
    assert a.unique_hash == b.unique_hash != c.unique_hash
    assert len(a.unique_hash) == 64


def test_numpy_values_are_stored_as_lists_and_numbers(service):
    import numpy as np

    result = Result(project_name="p", inputs={"x": np.int64(3)},
                    outputs={"curve": np.array([1.0, 2.5]), "n": np.float64(0.5)})
    result.insert(results_db_service=service)
    loaded = load_result(result.unique_rep(), results_db_service=service)
    assert loaded.inputs == {"x": 3}
    assert loaded.outputs == {"curve": [1.0, 2.5], "n": 0.5}
    assert loaded.unique_hash == result.unique_hash


def test_unique_on_must_name_fields():
    with pytest.raises(ValueError, match="not fields of Result"):
        Result(project_name="p", unique_on=["inputs", "nope"])


def test_unique_rep_identifies_the_result():
    result = Result(project_name="p", inputs={"x": 1})
    assert result.unique_rep() == {
        "project_name": "p",
        "result_type_string": "lume_services.results.result:Result",
        "query": {"unique_hash": result.unique_hash},
    }


def test_results_are_stored_in_the_embedded_default_under_lume_home(lume_home):
    result = Result(project_name="p", inputs={"x": 3}, outputs={"cube": 27})
    result.insert()
    assert (lume_home / "results.sqlite").exists()
    assert load_result(result.unique_rep()) == result


def test_inserting_a_result_twice_stores_it_once(service):
    result = Result(project_name="p", inputs={"x": 3}, outputs={"cube": 27})
    first = result.insert(results_db_service=service)
    assert Result(project_name="p", inputs={"x": 3}, outputs={"cube": 27}).insert(
        results_db_service=service
    ) == first
    assert service.count("p") == 1


def test_insert_many_stores_results_in_their_projects_with_ids_in_order(service):
    results = [Result(project_name=project, inputs={"x": x})
               for x, project in enumerate(["a", "b", "a"])]
    ids = Result.insert_many(results, results_db_service=service)
    assert len(set(ids)) == 3
    assert [d["inputs"]["x"] for d in service.find_all("a")] == [0, 2]
    assert [r.insert(results_db_service=service) for r in results] == ids


def test_insert_many_writes_nothing_for_a_stored_or_repeated_hash(service):
    stored = Result(project_name="p", inputs={"x": 1})
    stored_id = stored.insert(results_db_service=service)
    again = [Result(project_name="p", inputs={"x": x}) for x in (2, 1, 2)]
    ids = Result.insert_many(again, results_db_service=service)
    assert ids[1] == stored_id
    assert ids[0] == ids[2] != stored_id
    assert service.count("p") == 2


def test_insert_many_takes_the_flow_id_from_the_prefect_context(service):
    import prefect

    results = [Result(project_name="p", inputs={"x": x}) for x in range(2)]
    with prefect.context(flow_id="flow-7"):
        Result.insert_many(results, results_db_service=service)
    assert [d["flow_id"] for d in service.find_all("p")] == ["flow-7", "flow-7"]


class CountedEncoding:
    """A value json encodes through ``json_default`` (its ``tolist``, as for a numpy array), counting the encodings."""

    encodings = 0

    def tolist(self):
        CountedEncoding.encodings += 1
        return [1, 2]


def test_inserting_a_result_encodes_its_fields_once_and_never_parses_json(tmp_path, monkeypatch):
    import json

    service = ResultsDBService(SQLiteResultsDB(tmp_path / "r.sqlite"))
    service.count("p")  # the database is set up before counting
    result = Result(project_name="p", inputs={"x": 1, "curve": CountedEncoding()}, outputs={"y": 2})
    loads = []
    monkeypatch.setattr(json, "loads", lambda *a, _f=json.loads, **k: loads.append(a) or _f(*a, **k))
    CountedEncoding.encodings = 0
    result.insert(results_db_service=service)
    monkeypatch.undo()
    # one encoding gives both the hash of the current values and the stored text
    assert CountedEncoding.encodings == 1
    assert loads == []
    assert service.find("p", {"inputs.curve": [1, 2]})[0]["unique_hash"] == result.unique_hash


def test_inserting_a_batch_in_the_embedded_database_encodes_each_result_once(tmp_path):
    service = ResultsDBService(SQLiteResultsDB(tmp_path / "r.sqlite"))
    results = [Result(project_name="p", inputs={"x": x, "curve": CountedEncoding()}) for x in range(3)]
    CountedEncoding.encodings = 0
    Result.insert_many(results, results_db_service=service)
    assert CountedEncoding.encodings == 3


def test_load_from_query_returns_the_matching_result(service):
    for x in range(3):
        Result(project_name="p", inputs={"x": x}, outputs={"cube": x**3}).insert(
            results_db_service=service
        )
    loaded = Result.load_from_query("p", {"outputs.cube": 8}, results_db_service=service)
    assert loaded.inputs == {"x": 2}


def test_load_from_query_with_no_match_names_the_query_and_the_stored_count(service):
    Result(project_name="p", inputs={"x": 1}).insert(results_db_service=service)
    with pytest.raises(ResultNotFoundError, match=r"'p' matches \{'inputs.x': 5\} \(1 result"):
        Result.load_from_query("p", {"inputs.x": 5}, results_db_service=service)


def test_load_from_query_with_several_matches_is_an_error(service):
    for y in range(2):
        Result(project_name="p", inputs={"x": 1}, outputs={"y": y}).insert(
            results_db_service=service
        )
    with pytest.raises(MultipleResultsFoundError, match="2 results"):
        Result.load_from_query("p", {"inputs.x": 1}, results_db_service=service)


def test_result_subclasses_round_trip_as_their_own_class(service):
    result = BeamResult(project_name="p", inputs={"x": 1}, beam_energy=3.5)
    result.insert(results_db_service=service)
    loaded = load_result(result.unique_rep(), results_db_service=service)
    assert type(loaded) is BeamResult
    assert loaded.beam_energy == 3.5
    assert loaded == result
    # loading through the base class still gives the stored type
    assert type(Result.load_from_query("p", {"beam_energy": 3.5},
                                       results_db_service=service)) is BeamResult


def test_a_subclass_may_define_its_own_identity(service):
    a = BeamResult(project_name="p", inputs={"x": 1}, outputs={"y": 1})
    b = BeamResult(project_name="p", inputs={"x": 1}, outputs={"y": 2})
    assert a.unique_hash == b.unique_hash
    assert a.insert(results_db_service=service) == b.insert(results_db_service=service)


def test_the_same_values_as_another_type_are_another_result():
    assert BeamResult(project_name="p").unique_hash != Result(project_name="p").unique_hash


def test_result_type_strings_resolve_nested_classes():
    nested = Outer.NestedResult(project_name="p")
    assert get_result_from_string(nested.result_type_string) is Outer.NestedResult


@pytest.mark.parametrize(
    "type_string, reason",
    [
        ("Result", "not a 'module:ClassName'"),
        ("no_such_module:Result", "cannot be imported"),
        ("lume_services.files.file:TextFile", "not a Result subclass"),
    ],
)
def test_an_unknown_result_type_is_refused(type_string, reason):
    with pytest.raises(UnknownResultTypeError, match=reason):
        get_result_from_string(type_string)


def test_flow_id_is_taken_from_the_prefect_context_inside_a_flow_run():
    import prefect

    with prefect.context(flow_id="flow-123"):
        inside = Result(project_name="p")
    assert inside.flow_id == "flow-123"
    assert Result(project_name="p").flow_id is None


# --- several processes at once -------------------------------------------------------


def _insert_results(path, worker, count, barrier):
    db = ResultsDBService(SQLiteResultsDB(path))
    barrier.wait()
    for i in range(count):
        Result(project_name="p", inputs={"worker": worker, "i": i}).insert(
            results_db_service=db
        )


def _insert_same_results(path, count, barrier):
    db = ResultsDBService(SQLiteResultsDB(path))
    barrier.wait()
    for i in range(count):
        Result(project_name="p", inputs={"i": i}).insert(results_db_service=db)


def _insert_same_batches(path, count, barrier):
    db = ResultsDBService(SQLiteResultsDB(path))
    results = [Result(project_name="p", inputs={"i": i}) for i in range(count)]
    barrier.wait()
    for start in range(0, count, 25):
        ids = Result.insert_many(results[start:start + 25] * 2, results_db_service=db)
        assert ids[:25] == ids[25:]


def _run_processes(target, args_of):
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(4)
    processes = [ctx.Process(target=target, args=(*args_of(w), barrier)) for w in range(4)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=120)
    assert [p.exitcode for p in processes] == [0, 0, 0, 0]


@pytest.mark.slow
def test_four_processes_inserting_500_results_each_store_2000(tmp_path):
    path = tmp_path / "r.sqlite"
    _run_processes(_insert_results, lambda w: (path, w, 500))
    documents = SQLiteResultsDB(path).find_all("p")
    assert len(documents) == 2000
    assert len({d["unique_hash"] for d in documents}) == 2000
    assert {(d["inputs"]["worker"], d["inputs"]["i"]) for d in documents} == {
        (w, i) for w in range(4) for i in range(500)
    }


@pytest.mark.slow
def test_four_processes_inserting_the_same_results_store_each_once(tmp_path):
    path = tmp_path / "r.sqlite"
    _run_processes(_insert_same_results, lambda w: (path, 200))
    documents = SQLiteResultsDB(path).find_all("p")
    assert sorted(d["inputs"]["i"] for d in documents) == list(range(200))



@pytest.mark.slow
def test_four_processes_inserting_the_same_batches_store_each_result_once(tmp_path):
    path = tmp_path / "r.sqlite"
    _run_processes(_insert_same_batches, lambda w: (path, 200))
    documents = SQLiteResultsDB(path).find_all("p")
    assert sorted(d["inputs"]["i"] for d in documents) == list(range(200))


# --- the unique hash is the same as before results were encoded once (issue 23) -------------


class RunOfASweep(Result):
    """A result type of its own: an extra field, an identity of its own."""

    sweep: str = "s"
    unique_on: list = ["inputs", "sweep"]


def hash_as_computed_before(result: Result) -> str:
    """The unique hash as lume-services computed it before issue 23: SHA-256 of json.dumps of the
    unique_on fields and the type, keys sorted (written out here, apart from the library's code)."""
    import hashlib
    import json

    from lume_services.services.results.encoding import json_default

    identity = {name: getattr(result, name) for name in result.unique_on}
    identity["result_type_string"] = result.result_type_string
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=json_default).encode()).hexdigest()


def representative_results():
    import datetime

    import numpy as np

    return [
        Result(project_name="p", inputs={"worker": 0, "i": 3}, outputs={"y": 9}),
        Result(project_name="p", inputs={"z": {"b": [1, 2.5], "a": None}, "a": "\u540d \"q\""},
               outputs={"curve": np.array([0.1, 1e16]), "n": np.int64(7), "big": 2**70}),
        Result(project_name="p", inputs={"when": datetime.datetime(2026, 1, 2, 3, 4, 5)},
               outputs={"x": float("nan")}, flow_id="f", unique_on=["inputs", "outputs", "flow_id"]),
        Result(project_name="p", inputs={}, outputs={}),
        RunOfASweep(project_name="p", inputs={"x": 1}, outputs={"y": 2}, sweep="grid"),
    ]


@pytest.mark.parametrize("position", range(5))
def test_inserting_keeps_the_unique_hash_computed_before(position, tmp_path):
    result = representative_results()[position]
    service = ResultsDBService(SQLiteResultsDB(tmp_path / "r.sqlite"))
    result.inputs["added after creation"] = position  # the hash is of the values at insert time
    Result.insert_many([result], results_db_service=service)
    (stored,) = service.find_all("p")
    assert result.unique_hash == stored["unique_hash"] == hash_as_computed_before(result)


def test_the_unique_hash_of_a_result_is_the_one_stored_databases_hold(tmp_path):
    # the value lume-services gave this result before issue 23 (computed by the code of main then)
    result = Result(project_name="p", inputs={"worker": 0, "i": 3}, outputs={"y": 9})
    result.insert(results_db_service=ResultsDBService(SQLiteResultsDB(tmp_path / "r.sqlite")))
    assert result.unique_hash == "ee2e5e1d16c09ec107f4f7422505d9ec0ea0f2cefc2d82335e3dfb02a7fe8939"


def test_a_batch_finds_the_results_a_database_stored_before(tmp_path):
    db = SQLiteResultsDB(tmp_path / "r.sqlite")
    service = ResultsDBService(db)
    old = representative_results()
    # stored as before: the document as a plain dict, its hash computed the old way
    old_ids = [db.insert_one("p", {**r.document(), "unique_hash": hash_as_computed_before(r)}) for r in old]
    ids = Result.insert_many(representative_results(), results_db_service=service)
    assert ids == old_ids
    assert service.count("p") == len(old)


def test_a_result_inserted_in_a_batch_loads_back_equal(tmp_path):
    service = ResultsDBService(SQLiteResultsDB(tmp_path / "r.sqlite"))
    result = representative_results()[4]
    Result.insert_many([result], results_db_service=service)
    assert load_result(result.unique_rep(), results_db_service=service) == result
