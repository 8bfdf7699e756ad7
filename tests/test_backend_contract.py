"""The backend contract: what a user sees on every scheduling backend, through the public API.

Each test runs on the local backend (in-process runs, the on-disk registry), on
the server backend against the Prefect 1 Server protocol double, whose runs a real
``LocalAgent`` executes in their own processes, and on the in-memory fake of
``fake_backend.py``, which implements only what ``Backend`` declares. The tests use only what a user
uses: ``Flow``, ``FlowOfFlows``, the ``SchedulingService`` that ``configure()``
wires, passed as ``scheduling_service=``, and the flows of ``flows_for_tests``.
Whatever differs between backends (ids, run ids, where results are kept) is not
part of the contract and is tested in the backend's own test file.
"""

import uuid

import pytest

import flows_for_tests as ft
from fake_backend import InMemoryBackend
from lume_services import config
from lume_services.config import LUMEServicesSettings
from lume_services.errors import (
    FlowFailedError,
    FlowNotFoundError,
    MissingParameterError,
    ParameterNotInFlowError,
    RunNotFoundError,
    TaskNotInFlowError,
)
from lume_services.flows.flow import Flow
from lume_services.flows.flow_of_flows import FlowOfFlows


BACKENDS = ["local", "fake", pytest.param("server", marks=pytest.mark.server)]
#: for tests whose server run takes more than five seconds (a flow run per child)
BACKENDS_SLOW_ON_SERVER = ["local", "fake", pytest.param("server", marks=[pytest.mark.server, pytest.mark.slow])]


@pytest.fixture(params=BACKENDS)
def service(request, lume_home):
    """The ``SchedulingService`` configured for the backend under test."""
    if request.param == "fake":  # tests/fake_backend.py, through the context like any backend
        context = config.configure(LUMEServicesSettings(backend="local", home=lume_home))
        context.scheduling_backend.override(InMemoryBackend())
        request.addfinalizer(context.scheduling_backend.reset_override)
        return context.scheduling_service()
    if request.param == "local":
        settings = LUMEServicesSettings(backend="local", home=lume_home)
    else:
        request.getfixturevalue("local_agent")
        settings = request.getfixturevalue("server_settings")
    return config.configure(settings).scheduling_service()


@pytest.fixture
def project():
    """A project of this test's own: the server double lives for the whole session."""
    return f"contract-{uuid.uuid4().hex[:8]}"


def register(flow, project, service) -> Flow:
    model = Flow(name=flow.name, project_name=project, prefect_flow=flow)
    model.register(scheduling_service=service)
    return model


def loaded(name, project, service) -> Flow:
    model = Flow(name=name, project_name=project)
    model.load_flow(scheduling_service=service)
    return model


# --- register and load -----------------------------------------------------------


def test_a_registered_flow_loads_by_name_with_its_id_parameters_and_tasks(service, project):
    flow_id = register(ft.adder, project, service).flow_id

    flow = loaded("adder", project, service)

    assert flow.flow_id == flow_id
    assert set(flow.parameters) == {"a", "b"}
    assert set(flow.task_slugs) == {"a", "b", "add"}


def test_registering_an_unchanged_flow_again_gives_the_same_id(service, project):
    first = register(ft.adder, project, service).flow_id
    second = register(ft.adder, project, service).flow_id

    assert first == second


def test_loading_an_unregistered_flow_names_the_flows_of_the_project(service, project):
    register(ft.adder, project, service)

    with pytest.raises(FlowNotFoundError) as info:
        loaded("no-such-flow", project, service)
    assert info.value.registered == ["adder"]
    assert "'no-such-flow'" in str(info.value) and "'adder'" in str(info.value)


# --- run and return --------------------------------------------------------------


def test_listed_flows_are_the_latest_versions_of_the_project(service, project):
    first = register(ft.adder, project, service).flow_id
    doubler_id = register(ft.doubler, project, service).flow_id

    listed = {f["name"]: f for f in service.list_flows(project)}

    assert set(listed) == {"adder", "doubler"}
    assert listed["adder"]["flow_id"] == first and listed["adder"]["project_name"] == project
    assert listed["doubler"]["flow_id"] == doubler_id and listed["doubler"]["version"] == 1


def test_a_flow_loaded_by_name_returns_the_named_tasks_result(service, project):
    register(ft.doubler, project, service)

    result = loaded("doubler", project, service).run_and_return({"x": 21}, task_name="double", scheduling_service=service)

    assert result == 42


def test_without_a_task_name_every_result_is_returned_by_task_name(service, project):
    flow = register(ft.adder, project, service)

    assert flow.run_and_return({"a": 1}, scheduling_service=service) == {"a": 1, "b": 10, "add": 11}


def test_tasks_sharing_a_name_give_a_list_in_flow_order(service, project):
    flow = register(ft.two_incs, project, service)

    assert flow.run_and_return({"x": 1}, task_name="inc", scheduling_service=service) == [2, 3]
    assert flow.run_and_return({"x": 1}, scheduling_service=service)["inc"] == [2, 3]


# --- refused before anything runs ------------------------------------------------


def test_an_unknown_task_name_is_refused_before_the_run_listing_the_tasks(service, project, tmp_path):
    marker = tmp_path / "ran.txt"
    flow = register(ft.side_effect, project, service)

    with pytest.raises(TaskNotInFlowError) as info:
        flow.run_and_return({"path": str(marker)}, task_name="nope", scheduling_service=service)
    assert "'nope'" in str(info.value)
    assert "'append_line'" in str(info.value) and "'path'" in str(info.value)
    assert not marker.exists()


def test_an_unknown_parameter_is_refused_before_the_run_naming_the_flows_parameters(service, project, tmp_path):
    marker = tmp_path / "ran.txt"
    flow = register(ft.side_effect, project, service)

    with pytest.raises(ParameterNotInFlowError) as info:
        flow.run_and_return({"path": str(marker), "colour": "red"}, scheduling_service=service)
    assert "'colour'" in str(info.value) and "parameters of 'side-effect': 'path'" in str(info.value)
    assert not marker.exists()


def test_a_missing_required_parameter_is_refused_before_the_run(service, project):
    flow = register(ft.adder, project, service)

    with pytest.raises(MissingParameterError) as info:
        flow.run_and_return({"b": 1}, scheduling_service=service)
    assert "'a'" in str(info.value)


# --- failures --------------------------------------------------------------------


def test_a_failing_flow_raises_flow_failed_error_naming_the_task_and_its_error(service, project):
    flow = register(ft.failing, project, service)

    with pytest.raises(FlowFailedError) as info:
        flow.run_and_return({"x": 7}, task_name="fail", scheduling_service=service)
    assert list(info.value.failed_tasks) == ["fail"]
    # the wording around the error differs (the server reports Prefect's message)
    assert "ValueError" in info.value.failed_tasks["fail"] and "cannot handle 7" in info.value.failed_tasks["fail"]
    assert "flow 'failing' failed" in str(info.value) and "cannot handle 7" in str(info.value)


# --- flows of flows --------------------------------------------------------------

# doubler --raw--> adder, and write-text --file--> read-text
RAW_AND_FILE = """
name: raw-and-file
composing_flows:
  - name: adder
    mapped_parameters:
      a: {parent_flow_name: doubler, parent_task_name: double}
  - name: doubler
  - name: read-text
    mapped_parameters:
      file_rep: {parent_flow_name: write-text, parent_task_name: save_file, map_type: file}
  - name: write-text
"""


@pytest.mark.parametrize("service", BACKENDS_SLOW_ON_SERVER, indirect=True)
def test_a_flow_of_flows_passes_raw_and_file_mapped_values_and_returns_results_by_child(service, project, tmp_path):
    for flow in (ft.doubler, ft.adder, ft.write_text, ft.read_text):
        register(flow, project, service)
    fof = FlowOfFlows.from_yaml(RAW_AND_FILE + f"project_name: {project}\n", scheduling_service=service)
    filename = str(tmp_path / "text.txt")

    results = fof.run_and_return(
        {"doubler-x": 4, "write-text-text": "hello there", "write-text-filename": filename},
        scheduling_service=service,
    )

    reference = {"file_type_string": "lume_services.files.file:TextFile", "filename": filename, "filesystem_identifier": "local"}
    assert results == {
        "doubler": {"x": 4, "double": 8},
        "adder": {"a": 8, "b": 10, "add": 18},
        "write-text": {"text": "hello there", "filename": filename, "save_file": reference},
        "read-text": {"file_rep": reference, "load_file": "hello there"},
    }


# failing --raw--> marker, whose append_line takes only the unmapped parameter 'path'
PARENT_FAILS = """
name: parent-fails
composing_flows:
  - name: failing
  - name: marker
    mapped_parameters:
      x: {parent_flow_name: failing, parent_task_name: fail}
"""


@pytest.mark.parametrize("service", BACKENDS_SLOW_ON_SERVER, indirect=True)
def test_a_childs_task_that_takes_no_mapped_value_does_not_run_when_its_parent_fails(
    service, project, tmp_path
):
    for flow in (ft.failing, ft.marker):
        register(flow, project, service)
    fof = FlowOfFlows.from_yaml(PARENT_FAILS + f"project_name: {project}\n", scheduling_service=service)
    marker = tmp_path / "ran.txt"

    with pytest.raises(FlowFailedError) as info:
        fof.run_and_return({"failing-x": 3, "marker-path": str(marker)}, scheduling_service=service)

    assert list(info.value.failed_tasks) == ["failing/fail"]
    assert not marker.exists()  # marker's append_line did not run


# store-words --db--> doubler: x is the stored result's outputs["length"]
DB_MAPPING = """
name: db-mapping
composing_flows:
  - name: store-words
  - name: doubler
    mapped_parameters:
      x: {parent_flow_name: store-words, parent_task_name: save_db_result, map_type: db,
          attribute: outputs, attribute_index: [length]}
"""


@pytest.mark.parametrize("service", BACKENDS_SLOW_ON_SERVER, indirect=True)
def test_a_flow_of_flows_passes_a_db_mapped_value_read_from_the_stored_result(service, project):
    for flow in (ft.store_words, ft.doubler):
        register(flow, project, service)
    fof = FlowOfFlows.from_yaml(DB_MAPPING + f"project_name: {project}\n", scheduling_service=service)

    results = fof.run_and_return({"store-words-text": "four words in all"}, scheduling_service=service)

    assert results["doubler"] == {"x": 17, "double": 34}
    assert results["store-words"]["save_db_result"]["project_name"] == "flows-for-tests"


# --- run history -------------------------------------------------------------------


def test_a_finished_run_is_listed_with_its_state_and_parameters(service, project):
    register(ft.doubler, project, service).run_and_return({"x": 21}, scheduling_service=service)

    (listed,) = service.list_runs(flow_name="doubler", project_name=project)

    assert (listed.flow_name, listed.state, listed.parameters) == ("doubler", "Success", {"x": 21})
    assert listed.start is not None and listed.end is not None and listed.start <= listed.end


def test_a_listed_run_is_read_back_with_its_tasks_and_their_results(service, project):
    register(ft.doubler, project, service).run_and_return({"x": 21}, scheduling_service=service)
    (listed,) = service.list_runs(flow_name="doubler", project_name=project)

    run = service.get_run(listed.run_id)

    assert {t.name: t.state for t in run.tasks} == {"x": "Success", "double": "Success"}
    assert service.run_result(listed.run_id, "double") == 42


def test_runs_are_listed_by_state_newest_first(service, project):
    flow = register(ft.failing, project, service)
    with pytest.raises(FlowFailedError):
        flow.run_and_return({"x": 1}, scheduling_service=service)
    register(ft.doubler, project, service).run_and_return({"x": 2}, scheduling_service=service)

    assert [r.state for r in service.list_runs(project_name=project, state="Failed")] == ["Failed"]
    assert [r.flow_name for r in service.list_runs(project_name=project)] == ["doubler", "failing"]


def test_an_unknown_run_id_is_not_found(service):
    with pytest.raises(RunNotFoundError) as info:
        service.get_run("no-such-run")
    assert "'no-such-run'" in str(info.value)


@pytest.mark.parametrize("service", BACKENDS_SLOW_ON_SERVER, indirect=True)
def test_a_flow_of_flows_run_is_read_back_with_its_children(service, project):
    for flow in (ft.store_words, ft.doubler):
        register(flow, project, service)
    fof = FlowOfFlows.from_yaml(DB_MAPPING + f"project_name: {project}\n", scheduling_service=service)
    fof.run_and_return({"store-words-text": "four words in all"}, scheduling_service=service)
    (listed,) = service.list_runs(flow_name="db-mapping", project_name=project)

    run = service.get_run(listed.run_id)

    assert listed.state == "Success"
    assert [(c.name, c.state, c.parents) for c in run.children] == [
        ("store-words", "Success", []),
        ("doubler", "Success", ["store-words"]),
    ]
