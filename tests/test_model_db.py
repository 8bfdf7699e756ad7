"""The model database's contract, on the embedded SQLite database and on a real MariaDB server.

Every test of ``model_db`` runs twice: on a SQLite file of its own and on a
fresh database of the MariaDB server that ``scripts/test.sh`` starts (see
``tests/fixtures/model_db.py``). The tables and columns are LUME-services'.
"""

import os
import stat
import subprocess
import sys

import pytest
from sqlalchemy import event, inspect

from fixtures.model_db import (  # noqa: F401  (pytest fixtures)
    mariadb_config,
    mariadb_database,
    mariadb_databases,
    mariadb_model_db,
    mariadb_url,
    model_db,
    sqlite_model_db,
)
from lume_services import config
from lume_services.errors import (
    DeploymentNotFoundError,
    FlowNotFoundError,
    FlowNotInModelDBError,
    FlowOfFlowsNotFoundError,
    ModelDBConflictError,
    ModelDBError,
    ModelDBUnreachableError,
    ModelNotFoundError,
    ProjectNotFoundError,
    UnknownColumnError,
    UntrustedStoreError,
)
from lume_services.services.models.db import ModelDB, ModelDBConfig, SQLiteModelDB
from lume_services.services.models.service import ModelDBService

MODEL = dict(author="Ada", laboratory="slac", facility="lcls", beampath="cu_hxr", description="injector surrogate")


@pytest.fixture
def service(model_db):
    return ModelDBService(model_db)


@pytest.fixture
def model_id(service):
    return service.store_model(**MODEL)


def _deployment(service, model_id, version="0.1", **overrides):
    values = dict(model_id=model_id, version=version, source="dist/m-0.1.tar.gz", sha256="ab" * 32,
                  image="m:0.1", package_import_name="m", is_live=True)
    values.update(overrides)
    return service.store_deployment(**values)


def _count_statements(model_db):
    """A list that gets every SQL statement the database's engine runs."""
    statements = []
    event.listen(model_db.engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *args: statements.append(statement))
    return statements


# --- models ----------------------------------------------------------------------


def test_a_stored_model_is_found_by_its_id(service, model_id):
    model = service.get_model(model_id=model_id)
    assert (model.model_id, model.author, model.description) == (model_id, "Ada", "injector surrogate")
    assert model.created is not None  # the database dates it


def test_a_model_is_found_by_its_other_columns(service, model_id):
    assert service.get_model(author="Ada", beampath="cu_hxr").model_id == model_id


@pytest.mark.parametrize("missing", sorted(MODEL))
def test_a_model_without_one_of_its_five_values_is_refused(service, missing):
    values = {k: v for k, v in MODEL.items() if k != missing}
    with pytest.raises(TypeError, match=missing):
        service.store_model(**values)


def test_the_same_model_twice_is_a_conflict_and_writes_nothing(service, model_id):
    with pytest.raises(ModelDBConflictError) as info:
        service.store_model(**MODEL)
    assert info.value.table == "model" and info.value.values["author"] == "Ada"
    assert [m.model_id for m in service.get_models()] == [model_id]


def test_no_model_matching_is_model_not_found_naming_the_criteria(service):
    with pytest.raises(ModelNotFoundError, match="model_id=42") as info:
        service.get_model(model_id=42)
    assert info.value.query == {"model_id": 42} and isinstance(info.value, ModelDBError)


def test_a_criterion_that_is_no_column_is_refused_naming_the_columns(service):
    with pytest.raises(UnknownColumnError, match="'model_name'") as info:
        service.get_model(model_name="x")
    assert isinstance(info.value, ValueError)  # as LUME-services raised
    assert "author" in info.value.columns


# --- deployments -------------------------------------------------------------------


def test_a_stored_deployment_is_found_by_id_and_by_its_checksum_under_either_name(service, model_id):
    deployment_id = _deployment(service, model_id)
    assert service.get_deployment(deployment_id=deployment_id).version == "0.1"
    assert service.get_deployment(sha256="ab" * 32).deployment_id == deployment_id
    assert service.get_deployment(sha_256="ab" * 32).deployment_id == deployment_id


def test_the_latest_deployment_is_the_newest_even_within_one_second(service, model_id):
    _deployment(service, model_id, "0.1")
    newest = _deployment(service, model_id, "0.2")
    assert service.get_latest_deployment(model_id=model_id).deployment_id == newest


def test_a_model_has_one_deployment_per_version(service, model_id):
    _deployment(service, model_id, "0.1")
    with pytest.raises(ModelDBConflictError, match="deployment"):
        _deployment(service, model_id, "0.1")
    assert len(service.get_deployments(model_id=model_id)) == 1


def test_a_deployment_of_a_model_not_stored_is_refused(service):
    with pytest.raises(ModelDBConflictError):
        _deployment(service, 999)
    with pytest.raises(DeploymentNotFoundError):
        service.get_deployments()


def test_a_deployment_without_a_package_name_is_stored_as_lume_services_57027da_stored_it(service, model_id):
    deployment_id = service.store_deployment(model_id=model_id, version="v0.0", sha256="placeholder",
                                             source="my source", is_live=1, image="placeholder")
    assert service.get_deployment(deployment_id=deployment_id).package_import_name == ""


def test_no_deployment_of_a_model_is_deployment_not_found(service, model_id):
    with pytest.raises(DeploymentNotFoundError, match=f"model_id={model_id}"):
        service.get_latest_deployment(model_id=model_id)


# --- projects and flows --------------------------------------------------------------


def test_a_stored_project_is_found_by_its_name(service):
    assert service.store_project(project_name="injector", description="LCLS injector") == "injector"
    assert service.get_project(project_name="injector").description == "LCLS injector"
    with pytest.raises(ProjectNotFoundError, match="'elsewhere'"):
        service.get_project(project_name="elsewhere")


def test_a_stored_flow_is_found_by_id_and_by_its_deployment(service, model_id):
    deployment_id = _deployment(service, model_id)
    service.store_project("injector", "LCLS injector")
    assert service.store_flow(deployment_id=deployment_id, flow_id="f-1", flow_name="surrogate",
                              project_name="injector") == "f-1"
    assert service.get_flow(flow_id="f-1").deployment_id == deployment_id
    assert service.get_deployment_flow(deployment_id).flow_id == "f-1"


def test_a_flow_not_stored_is_a_flow_not_found_error(service):
    with pytest.raises(FlowNotFoundError) as info:  # what LUME-services raised, and code catches
        service.get_flow(flow_id="nope")
    assert isinstance(info.value, FlowNotInModelDBError) and info.value.query == {"flow_id": "nope"}


def test_a_flow_of_a_project_not_stored_is_refused(service, model_id):
    deployment_id = _deployment(service, model_id)
    with pytest.raises(ModelDBConflictError, match="flow"):
        service.store_flow(deployment_id=deployment_id, flow_id="f-1", flow_name="x", project_name="nowhere")


# --- flows of flows -------------------------------------------------------------------


@pytest.fixture
def composed(service, model_id):
    """A deployment whose flow of flows 'fof' composes 'make' and 'use'."""
    deployment_id = _deployment(service, model_id)
    service.store_project("p", "a project")
    for flow_id in ("make", "use", "fof"):
        service.store_flow(deployment_id=deployment_id, flow_id=f"id-{flow_id}", flow_name=flow_id, project_name="p")
    return deployment_id


MAPPING = {"text": {"parent_flow_name": "make", "parent_task_name": "save", "map_type": "db",
                    "attribute": "outputs", "attribute_index": ["text"]}}


def test_a_flow_of_flows_is_stored_with_its_mappings_and_loads_back_by_name(service, composed):
    service.store_flow_of_flows("id-fof", [{"flow_id": "id-make"}, {"flow_id": "id-use", "mapped_parameters": MAPPING}])

    declaration = service.get_flow_of_flows_declaration(flow_name="fof", project_name="p")

    assert declaration == {
        "name": "fof", "project_name": "p", "flow_id": "id-fof",
        "composing_flows": [
            {"name": "make", "project_name": "p"},
            {"name": "use", "project_name": "p", "mapped_parameters": MAPPING},
        ],
    }


def test_a_flow_of_flows_child_s_sweep_and_cache_are_stored_and_load_back_in_its_declaration(service, composed):
    service.store_flow_of_flows("id-fof", [{"flow_id": "id-make", "cache": True},
                                           {"flow_id": "id-use", "map_over": ["text", "n"]}])

    children = service.get_flow_of_flows_declaration(flow_name="fof", project_name="p")["composing_flows"]

    assert children == [{"name": "make", "project_name": "p", "cache": True},
                        {"name": "use", "project_name": "p", "map_over": ["text", "n"]}]


def test_the_composing_flows_come_in_execution_order(service, composed):
    service.store_flow_of_flows("id-fof", [{"flow_id": "id-use"}, {"flow_id": "id-make"}])
    assert [f.flow_name for f in service.get_flow_of_flows(parent_flow_id="id-fof")] == ["use", "make"]


def test_a_deployment_of_a_flow_of_flows_runs_the_flow_of_flows_not_a_child(service, composed):
    service.store_flow_of_flows("id-fof", [{"flow_id": "id-make"}, {"flow_id": "id-use"}])
    assert service.get_deployment_flow(composed).flow_id == "id-fof"


def test_a_flow_of_flows_with_a_child_not_stored_writes_nothing(service, composed):
    with pytest.raises(ModelDBConflictError):
        service.store_flow_of_flows("id-fof", [{"flow_id": "id-make", "mapped_parameters": MAPPING},
                                               {"flow_id": "id-missing"}])
    with pytest.raises(FlowOfFlowsNotFoundError):
        service.get_flow_of_flows(parent_flow_id="id-fof")
    assert service.get_mapped_parameters("id-fof") == {}


def test_a_model_s_deployments_and_flows_are_read_in_one_query(service, model_id, model_db):
    service.store_project("p", "a project")
    for version in ("0.1", "0.2", "0.3"):
        deployment_id = _deployment(service, model_id, version)
        service.store_flow(deployment_id=deployment_id, flow_id=f"f-{version}", flow_name="m", project_name="p")
    statements = _count_statements(model_db)

    rows = service.get_model_flows(model_id)

    assert [(r["version"], r["flow_id"], r["project_name"]) for r in rows] == [
        ("0.1", "f-0.1", "p"), ("0.2", "f-0.2", "p"), ("0.3", "f-0.3", "p")]
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1


# --- the tables -----------------------------------------------------------------------------


def test_the_tables_are_lume_services_tables_and_the_mapping_and_child_setting_tables(model_db):
    ModelDBService(model_db).apply_schema()
    tables = inspect(model_db.engine)
    assert set(tables.get_table_names()) == {
        "model", "deployment", "project", "flow", "flow_of_flows", "flow_of_flows_mapped_parameter",
        "flow_of_flows_child_setting"}
    assert [c["name"] for c in tables.get_columns("deployment")] == [
        "deployment_id", "version", "deploy_date", "package_import_name", "asset_dir", "source", "sha256",
        "image", "is_live", "model_id"]
    assert [c["name"] for c in tables.get_columns("flow_of_flows")] == ["_id", "parent_flow_id", "flow_id", "position"]


# The tables as LUME-services' model-db-init.sql (8adfccc) makes them on MySQL, written out here.
LUME_SERVICES_TABLES = [
    """CREATE TABLE model (model_id INTEGER NOT NULL AUTO_INCREMENT, created DATETIME DEFAULT now(),
       author VARCHAR(50) NOT NULL, laboratory VARCHAR(50) NOT NULL, facility VARCHAR(50) NOT NULL,
       beampath VARCHAR(50) NOT NULL, description VARCHAR(255) NOT NULL, PRIMARY KEY (model_id),
       CONSTRAINT _model_entry UNIQUE (author, laboratory, facility, beampath, description))""",
    """CREATE TABLE project (project_name VARCHAR(50) NOT NULL, description VARCHAR(255) NOT NULL,
       PRIMARY KEY (project_name))""",
    """CREATE TABLE deployment (deployment_id INTEGER NOT NULL AUTO_INCREMENT, version VARCHAR(10) NOT NULL,
       deploy_date DATETIME DEFAULT now(), package_import_name VARCHAR(50) NOT NULL, asset_dir VARCHAR(255),
       source VARCHAR(255) NOT NULL, sha256 VARCHAR(64) NOT NULL, image VARCHAR(100), is_live BOOL NOT NULL,
       model_id INTEGER NOT NULL, PRIMARY KEY (deployment_id),
       CONSTRAINT _deployment_unique UNIQUE (model_id, version), FOREIGN KEY(model_id) REFERENCES model (model_id))""",
    """CREATE TABLE flow (flow_id VARCHAR(255) NOT NULL, flow_name VARCHAR(50) NOT NULL,
       project_name VARCHAR(50) NOT NULL, deployment_id INTEGER NOT NULL, PRIMARY KEY (flow_id),
       FOREIGN KEY(project_name) REFERENCES project (project_name),
       FOREIGN KEY(deployment_id) REFERENCES deployment (deployment_id))""",
    """CREATE TABLE flow_of_flows (_id INTEGER NOT NULL AUTO_INCREMENT, parent_flow_id VARCHAR(255) NOT NULL,
       flow_id VARCHAR(255) NOT NULL, position INTEGER NOT NULL, PRIMARY KEY (_id),
       CONSTRAINT _flow_of_flow_entry UNIQUE (parent_flow_id, flow_id),
       FOREIGN KEY(parent_flow_id) REFERENCES flow (flow_id), FOREIGN KEY(flow_id) REFERENCES flow (flow_id))""",
]


def test_a_database_made_by_lume_services_init_sql_opens_and_gains_the_mapping_and_child_setting_tables(
        mariadb_model_db):
    from sqlalchemy import text

    with mariadb_model_db.engine.begin() as cxn:
        for statement in LUME_SERVICES_TABLES:
            cxn.execute(text(statement))
        cxn.execute(text("INSERT INTO model (author, laboratory, facility, beampath, description) "
                         "VALUES ('Ada', 'slac', 'lcls', 'cu_hxr', 'stored by LUME-services')"))
    service = ModelDBService(mariadb_model_db)

    assert service.get_model(author="Ada").description == "stored by LUME-services"
    deployment_id = _deployment(service, service.get_model(author="Ada").model_id)
    service.store_project("p", "a project")
    for flow_id in ("a", "b"):
        service.store_flow(deployment_id=deployment_id, flow_id=flow_id, flow_name=flow_id, project_name="p")
    service.store_flow_of_flows("b", [{"flow_id": "a", "map_over": ["x"], "cache": True}])
    assert {"flow_of_flows_mapped_parameter", "flow_of_flows_child_setting"} <= set(
        inspect(mariadb_model_db.engine).get_table_names())
    assert service.get_flow_of_flows_declaration(flow_id="b")["composing_flows"] == [
        {"name": "a", "project_name": "p", "map_over": ["x"], "cache": True}]


def test_a_server_that_does_not_answer_is_named_with_the_settings_to_check():
    config_ = ModelDBConfig(host="127.0.0.1", port=1, user="u", password="secret", database="d")
    with pytest.raises(ModelDBUnreachableError, match="127.0.0.1:1") as info:
        ModelDBService(ModelDB(config_)).get_models()
    assert "secret" not in str(info.value) and "LUME_MODEL_DB__HOST" in str(info.value)


# --- the embedded database's file ------------------------------------------------------------


def test_the_embedded_database_is_private_to_its_user(tmp_path):
    db = SQLiteModelDB(tmp_path / "home" / "models.sqlite")
    ModelDBService(db).store_project("p", "d")
    assert stat.S_IMODE(os.stat(db.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(db.path.parent).st_mode) == 0o700


def test_an_embedded_database_others_may_write_to_is_not_used(tmp_path):
    db = SQLiteModelDB(tmp_path / "home" / "models.sqlite")
    ModelDBService(db).store_project("p", "d")
    db.dispose()
    os.chmod(db.path, 0o666)
    with pytest.raises(UntrustedStoreError, match="model database"):
        ModelDBService(SQLiteModelDB(db.path)).get_projects()


# --- the Context's providers -------------------------------------------------------------


@pytest.fixture
def model_db_override_undone():
    yield
    config.context.model_db.reset_override()


def test_with_no_configuration_the_model_db_is_the_sqlite_file_under_lume_home(lume_home):
    service = config.context.model_db_service()
    service.store_project("p", "d")
    assert isinstance(service.model_db, SQLiteModelDB) and service.model_db.path == lume_home / "models.sqlite"


def test_model_db_settings_of_lume_services_make_a_mariadb_model_db(monkeypatch):
    for name, value in {"HOST": "db.example", "PORT": "3307", "USER": "lume", "PASSWORD": "pw",
                        "DATABASE": "models", "CONNECTION__POOL_SIZE": "2"}.items():
        monkeypatch.setenv(f"LUME_MODEL_DB__{name}", value)
    config.configure()
    db = config.context.model_db()
    assert type(db) is ModelDB
    assert db.url == "mysql+pymysql://lume:***@db.example:3307/models"
    assert db.engine.pool.size() == 2


def test_a_mysql_model_db_without_a_host_is_refused_naming_the_variables(monkeypatch):
    from lume_services.errors import EnvironmentNotConfiguredError

    monkeypatch.setenv("LUME_MODEL_DB__TYPE", "mysql")
    config.configure()  # the settings read back as given; the database needs its server
    with pytest.raises(EnvironmentNotConfiguredError, match="host") as info:
        config.context.model_db_service()
    assert "LUME_MODEL_DB__HOST" in info.value.env_vars


def test_overriding_the_model_db_takes_effect_after_the_service_was_used(tmp_path, model_db_override_undone):
    config.context.model_db_service().store_project("first", "d")  # first use
    other = SQLiteModelDB(tmp_path / "other.sqlite")

    config.context.model_db.override(other)
    config.context.model_db_service().store_project("second", "d")

    assert [p.project_name for p in ModelDBService(other).get_projects()] == ["second"]


def test_reset_override_of_the_model_db_brings_the_configured_one_back(tmp_path, lume_home, model_db_override_undone):
    other = SQLiteModelDB(tmp_path / "other.sqlite")
    config.context.model_db.override(other)
    config.context.model_db.reset_override()
    config.context.model_db_service().store_project("third", "d")
    assert ModelDBService(SQLiteModelDB(lume_home / "models.sqlite")).get_project(project_name="third")
    assert ModelDBService(other).get_projects() == []


def test_importing_lume_services_and_its_config_does_not_import_sqlalchemy():
    code = ("import sys, lume_services, lume_services.config, lume_services.services.models;"
            "print(','.join(m for m in ('sqlalchemy', 'pymysql', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


# --- LUME-services' module paths and names (57027da and 8adfccc) ---------------------------

ORIGINAL_NAMES = [
    ("lume_services.services.models", ["ModelDB", "ModelDBConfig", "ModelDBService", "MySQLModelDB",
                                       "MySQLModelDBConfig"]),
    ("lume_services.services.models.db", ["ModelDB", "ModelDBConfig", "MySQLModelDB", "MySQLModelDBConfig",
                                          "Flow", "Model", "Deployment", "Project", "FlowOfFlows"]),
    ("lume_services.services.models.db.db", ["ModelDB", "ModelDBConfig", "ConnectionConfig"]),
    ("lume_services.services.models.db.mysql", ["MySQLModelDB", "MySQLModelDBConfig", "ConnectionConfig"]),
    ("lume_services.services.models.db.schema", ["Base", "Model", "Deployment", "Project", "Flow", "FlowOfFlows"]),
    ("lume_services.services.models.service", ["ModelDBService"]),
    ("lume_services.services.models.utils", ["validate_kwargs_exist"]),
    ("lume_services.models", ["Model"]),
    ("lume_services.models.model", ["Model", "Deployment", "Project"]),
    ("lume_services.models.templating", []),
    ("lume_services.errors", ["ModelNotFoundError", "DeploymentNotFoundError", "ProjectNotFoundError",
                              "FlowNotFoundError", "FlowOfFlowsNotFoundError", "DeploymentNotRegisteredError"]),
]


@pytest.mark.parametrize("module, names", ORIGINAL_NAMES, ids=[m for m, _ in ORIGINAL_NAMES])
def test_the_originals_model_db_names_import_from_its_module_paths(module, names):
    import importlib

    imported = importlib.import_module(module)
    assert [name for name in names if not hasattr(imported, name)] == []


def test_the_first_mysql_names_are_the_model_db_client_and_its_settings():
    from lume_services.services.models.db.mysql import MySQLModelDB, MySQLModelDBConfig

    assert issubclass(MySQLModelDB, ModelDB) and issubclass(MySQLModelDBConfig, ModelDBConfig)
    db = MySQLModelDB.from_config_init(host="h", port=3306, user="u", password="p", database="d")
    assert isinstance(db.config, MySQLModelDBConfig) and db.url == "mysql+pymysql://u:***@h:3306/d"


def test_a_model_db_config_never_exports_its_password():
    assert "password" not in ModelDBConfig(host="h", port=1, user="u", password="p", database="d").dict()


def test_a_statement_s_rows_are_readable_after_its_session_closed(service, model_id, model_db):
    from sqlalchemy import select

    from lume_services.services.models.db.schema import Model as ModelRow

    rows = model_db.execute(select(ModelRow.model_id, ModelRow.author)).fetchall()
    assert [tuple(row) for row in rows] == [(model_id, "Ada")]


def test_a_model_db_client_pickles_as_its_settings(model_db):
    import pickle

    copy = pickle.loads(pickle.dumps(model_db))
    assert type(copy) is type(model_db) and copy.url == model_db.url
    ModelDBService(copy).store_project("p", "d")
    assert ModelDBService(model_db).get_project(project_name="p").description == "d"
    copy.dispose()
