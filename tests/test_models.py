"""``Model``, ``Deployment`` and ``Project``: store a model and its deployments, run them, read their results.

Every test runs on the embedded SQLite model database and on a real MariaDB
(``tests/fixtures/model_db.py``), with the local scheduling backend and the
embedded results database under the test's ``LUME_HOME``.
"""

import re

import pytest
from sqlalchemy import event

import model_flows as mf
from fixtures.model_db import (  # noqa: F401  (pytest fixtures)
    mariadb_database,
    mariadb_databases,
    mariadb_model_db,
    mariadb_url,
    model_db,
    sqlite_model_db,
)
from lume_services import config
from lume_services.errors import (
    DeploymentNotRegisteredError,
    IncompleteDeploymentError,
    ModelNotFoundError,
    ModelNotSpecifiedError,
    ProjectNotFoundError,
)
from lume_services.flows.flow_of_flows import FlowOfFlows
from lume_services.models import Deployment, Model, Project
from lume_services.services.results.service import ResultsDBService

MODEL = dict(author="Ada", laboratory="slac", facility="lcls", beampath="cu_hxr", description="injector surrogate")


@pytest.fixture(autouse=True)
def injected_model_db(model_db):
    """The test's model database is the one injected."""
    config.context.model_db.override(model_db)
    yield model_db
    config.context.model_db.reset_override()


@pytest.fixture
def model():
    return Model.create_model(**MODEL)


@pytest.fixture
def two_deployments(model):
    """Versions 1 (y = 2x) and 2 (y = 3x) of the model, each run once with x=1 and x=2."""
    model.store_deployment(flow=mf.surrogate_v1, project_name=mf.PROJECT, version="1")
    for x in (1, 2):
        model.run_and_return({"x": x})
    model.store_deployment(flow=mf.surrogate_v2, project_name=mf.PROJECT, version="2")
    for x in (1, 2):
        model.run_and_return({"x": x})
    return model


# --- models ----------------------------------------------------------------------------


def test_create_model_stores_a_model_once(model):
    again = Model.create_model(**MODEL)
    assert again.model_id == model.model_id
    assert Model(model_id=model.model_id).metadata.author == "Ada"


def test_a_model_needs_to_say_which_stored_model_it_is():
    with pytest.raises(ModelNotSpecifiedError, match="model_id, deployment_id or metadata"):
        Model()


def test_a_model_not_stored_is_model_not_found():
    with pytest.raises(ModelNotFoundError, match="model_id=404"):
        Model(model_id=404)


# --- deployments ---------------------------------------------------------------------


def test_storing_a_deployment_registers_its_flow_and_stores_it_with_its_project(model):
    deployment = model.store_deployment(flow=mf.surrogate_v1, project_name=mf.PROJECT, version="1")

    assert model.deployment is deployment
    assert deployment.metadata.version == "1" and deployment.project.project_name == mf.PROJECT
    assert re.fullmatch("[0-9a-f]{64}", deployment.metadata.sha_256)  # the flow's fingerprint
    registered = config.context.scheduling_service().load_flow("surrogate", mf.PROJECT)
    assert deployment.flow.flow_id == registered["flow_id"]


def test_storing_a_stored_version_again_changes_nothing(model):
    first = model.store_deployment(flow=mf.surrogate_v1, project_name=mf.PROJECT, version="1")
    again = model.store_deployment(flow=mf.surrogate_v1, project_name=mf.PROJECT, version="1")
    assert again.deployment_id == first.deployment_id
    assert len(config.context.model_db_service().get_deployments(model_id=model.model_id)) == 1


def test_a_deployment_without_a_version_is_refused_and_nothing_is_stored(model):
    with pytest.raises(IncompleteDeploymentError, match="version"):
        model.store_deployment(flow=mf.surrogate_v1, project_name=mf.PROJECT)
    with pytest.raises(DeploymentNotRegisteredError):
        model.load_deployment()


def test_the_latest_deployment_is_loaded_by_default(two_deployments):
    model = Model(model_id=two_deployments.model_id)
    assert model.load_deployment().metadata.version == "2"


def test_a_deployment_is_loaded_by_its_id_with_its_model(two_deployments):
    first = config.context.model_db_service().get_deployment(model_id=two_deployments.model_id, version="1")

    model = Model(deployment_id=first.deployment_id)

    assert model.model_id == two_deployments.model_id and model.deployment.metadata.version == "1"
    assert Deployment.load(first.deployment_id).flow.name == "surrogate"


def test_a_deployment_the_model_does_not_have_is_named_with_those_it_has(two_deployments):
    ids = [d.deployment_id for d in config.context.model_db_service().get_deployments(model_id=two_deployments.model_id)]
    with pytest.raises(DeploymentNotRegisteredError) as info:
        two_deployments.load_deployment(deployment_id=999)
    assert info.value.deployments == ids and str(ids[0]) in str(info.value)


# --- running -----------------------------------------------------------------------------


def test_a_model_runs_its_latest_deployment_through_the_scheduling_service(model):
    model.store_deployment(flow=mf.surrogate_v1, project_name=mf.PROJECT, version="1")
    fresh = Model(model_id=model.model_id)  # nothing loaded: the latest deployment runs

    result = fresh.run_and_return({"x": 4}, task_name="evaluate_v1")

    assert result.outputs == {"y": 8} and fresh.deployment.metadata.version == "1"


def test_a_model_without_deployments_cannot_run(model):
    with pytest.raises(DeploymentNotRegisteredError, match=f"model {model.model_id} has no deployment"):
        model.run({"x": 1})


# --- results ---------------------------------------------------------------------------------


class CountingResultsDBService(ResultsDBService):
    """The real results service, counting the queries it is asked."""

    finds = 0

    def find(self, collection, query=None, fields=None):
        self.finds += 1
        return super().find(collection, query, fields)


def test_results_across_deployments_are_one_dataframe_read_with_one_query_of_each_database(
    two_deployments, injected_model_db
):
    selects = []
    event.listen(injected_model_db.engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *args: selects.append(statement))
    results_db_service = CountingResultsDBService(config.context.results_db())

    df = two_deployments.get_results_df(all_deployments=True, results_db_service=results_db_service)

    rows = sorted(zip(df["version"], df["x"], df["y"]))
    assert rows == [("1", 1, 2), ("1", 2, 4), ("2", 1, 3), ("2", 2, 6)]
    assert len(selects) == 1 and results_db_service.finds == 1


def test_results_of_the_loaded_deployment_only_by_default(two_deployments):
    df = two_deployments.get_results_df()
    assert sorted(zip(df["version"], df["y"])) == [("2", 3), ("2", 6)]


def test_results_are_filtered_by_a_query(two_deployments):
    results = two_deployments.get_results(all_deployments=True, query={"inputs.x": 2})
    assert sorted(r.outputs["y"] for r in results) == [4, 6]


# --- flows of flows and projects -------------------------------------------------------------


def test_a_flow_of_flows_deployment_loads_back_with_its_mappings_and_runs(model):
    from lume_services.examples import example_parameters, register_example_flows, yaml_path

    register_example_flows()
    fof = FlowOfFlows.from_yaml(yaml_path("flow_of_flows"))
    stored = model.store_deployment(flow=fof, project_name=fof.project_name, version="fof-1")

    loaded = Model(deployment_id=stored.deployment_id).deployment.flow

    assert isinstance(loaded, FlowOfFlows) and loaded.execution_order() == fof.execution_order()
    for name, child in fof.composing_flows.items():
        assert loaded.composing_flows[name].mapped_parameters == child.mapped_parameters
    results = Model(model_id=model.model_id).run_and_return(example_parameters(loaded))
    assert results  # the composed flow ran


def test_a_flow_of_flows_deployment_loads_back_with_its_sweeps_and_cached_children(model):
    import flows_for_tests as ft
    from lume_services.flows.flow import Flow

    for name, flow in [("doubler", ft.doubler), ("inc-and-double", ft.inc_and_double)]:
        Flow(name=name, project_name="settings", prefect_flow=flow).register()
    fof = FlowOfFlows.from_yaml("""
name: swept-and-cached
project_name: settings
composing_flows:
  - name: doubler
    cache: true
  - name: inc-and-double
    map_over: [x]
""")
    stored = model.store_deployment(flow=fof, project_name="settings", version="fof-1")

    loaded = Model(deployment_id=stored.deployment_id).deployment.flow

    assert (loaded.map_over, loaded.cached_children()) == ({"inc-and-double": ["x"]}, {"doubler"})


def test_a_project_is_created_once_and_loaded_by_name():
    assert Project.create("injector", "LCLS injector").project_name == "injector"
    assert Project.create("injector").metadata.description == "LCLS injector"
    with pytest.raises(ProjectNotFoundError):
        Project.load("elsewhere")


def test_an_unchanged_flow_cannot_be_a_second_deployment_and_nothing_is_stored(model):
    from lume_services.errors import FlowAlreadyDeployedError

    first = model.store_deployment(flow=mf.surrogate_v1, project_name=mf.PROJECT, version="1")
    with pytest.raises(FlowAlreadyDeployedError, match=f"deployment {first.deployment_id}"):
        model.store_deployment(flow=mf.surrogate_v1, project_name=mf.PROJECT, version="2")
    assert [d.version for d in config.context.model_db_service().get_deployments(model_id=model.model_id)] == ["1"]
