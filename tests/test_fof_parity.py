"""Each flow-of-flows feature works alike on the local backend and on a server (the protocol double with a real
LocalAgent): every way a composed run starts keeps what resume and reproduce need, and a swept child's
results have one shape on both."""

import json
import uuid
from contextlib import contextmanager
from datetime import timedelta

import pytest
from click.testing import CliRunner

import flows_for_tests as ft
from lume_services import config
from lume_services.cli.main import main
from lume_services.errors import FlowFailedError
from lume_services.flows.flow import Flow, FlowRunConfig
from lume_services.flows.flow_of_flows import FlowOfFlows
from lume_services.services.scheduling.run_records import mermaid

FAST = FlowRunConfig(poll_interval=timedelta(seconds=0.2))


def service():
    return config.context.scheduling_service()


def chain(project):
    return f"""
name: parity-chain
project_name: {project}
composing_flows:
  - name: doubler
  - name: adder
    mapped_parameters:
      a: {{parent_flow_name: doubler, parent_task_name: double}}
"""


def swept(project):
    return f"""
name: parity-sweep
project_name: {project}
composing_flows:
  - name: inc-and-double
    map_over: [x]
"""


@pytest.fixture(params=["local", "server"])
def backend(request):
    """A project of its own with doubler, adder and inc-and-double registered, on each backend."""
    if request.param == "server":
        request.getfixturevalue("server_backend")
    name = f"parity-{uuid.uuid4().hex[:8]}"
    for flow_name, flow in [("doubler", ft.doubler), ("adder", ft.adder), ("inc-and-double", ft.inc_and_double)]:
        Flow(name=flow_name, project_name=name, prefect_flow=flow).register()
    return request.param, name


def finished(run_id):
    """Wait for a run started without waiting (the local backend's run() has already finished)."""
    if config.context.scheduling_service().composition == "per_child":
        service().wait(run_id, timedelta(seconds=0.2))
    return run_id


def test_a_run_started_with_run_keeps_its_declaration(backend):
    _, project = backend
    fof = FlowOfFlows.from_yaml(chain(project))
    fof.run({"doubler-x": 2}, FAST)
    run_id = finished(fof.last_run_id)
    assert service().run_declaration(run_id)["name"] == "parity-chain"


def started_with_run(project, tmp_path):
    fof = FlowOfFlows.from_yaml(chain(project))
    fof.run({"doubler-x": 2}, FAST)
    return finished(fof.last_run_id)


def started_with_run_and_return(project, tmp_path):
    fof = FlowOfFlows.from_yaml(chain(project))
    fof.run_and_return({"doubler-x": 2}, FAST)
    return fof.last_run_id


def started_from_the_cli(project, tmp_path):
    path = tmp_path / "chain.yaml"
    path.write_text(chain(project))
    result = CliRunner().invoke(main, ["flow-of-flows", "run", str(path), "--param", "doubler-x=2", "--json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["run_id"]


def started_by_resume(project, tmp_path):
    fof = FlowOfFlows.from_yaml(chain(project))
    fof.resume(started_with_run_and_return(project, tmp_path), run_config=FAST)
    return fof.last_run_id


def started_by_the_cli_resume(project, tmp_path):
    result = CliRunner().invoke(main, ["flow-of-flows", "resume", started_with_run(project, tmp_path), "--json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["run_id"]


@contextmanager
def deployed(declaration, project, tmp_path):
    """A model (on a model database of its own) with one deployment, of the flow of flows ``declaration``;
    yields the model as loaded back from the database, as a new process would load it."""
    from lume_services.models import Model
    from lume_services.services.models.db import SQLiteModelDB

    db = SQLiteModelDB(tmp_path / "model-db" / "models.sqlite")
    config.context.model_db.override(db)
    try:
        model = Model.create_model(author="Ada", laboratory="slac", facility="lcls", beampath="cu_hxr",
                                   description="parity")
        model.store_deployment(flow=FlowOfFlows.from_yaml(declaration), project_name=project, version="1")
        yield Model(model_id=model.model_id)
    finally:
        config.context.model_db.reset_override()
        db.dispose()


def started_by_a_deployment(project, tmp_path):
    """A model deployment whose flow is the flow of flows, run through the model."""
    with deployed(chain(project), project, tmp_path) as loaded:
        loaded.run_and_return({"doubler-x": 2}, run_config=FAST)
        return loaded.deployment.flow.last_run_id


STARTS = [started_with_run, started_with_run_and_return, started_from_the_cli, started_by_resume,
          started_by_the_cli_resume, started_by_a_deployment]


@pytest.mark.parametrize("start", STARTS, ids=lambda s: s.__name__)
def test_a_composed_run_can_be_resumed_by_its_id_however_it_started(backend, tmp_path, start):
    _, project = backend
    run_id = start(project, tmp_path)
    fof = FlowOfFlows.from_yaml(chain(project))
    assert fof.resume(run_id, run_config=FAST) == {"doubler": {"double": 4, "x": 2},
                                                   "adder": {"a": 4, "b": 10, "add": 14}}
    assert fof.child_states == {"doubler": "Cached", "adder": "Cached"}


@pytest.mark.parametrize("start", STARTS, ids=lambda s: s.__name__)
def test_a_composed_run_can_be_reproduced_by_its_id_however_it_started(backend, tmp_path, start):
    _, project = backend
    run_id = start(project, tmp_path)
    result = CliRunner().invoke(main, ["runs", "reproduce", run_id, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["matches"] and document["compared"] > 0


# --- a deployment runs its flow of flows as declared: sweeps and cached children ----------------


def test_a_deployed_flow_of_flows_runs_its_swept_child_once_per_item(backend, tmp_path):
    _, project = backend
    with deployed(swept(project), project, tmp_path) as model:
        assert model.run_and_return({"inc-and-double-x": [1, 2, 3]}, run_config=FAST) == SWEPT_RESULTS


def test_a_deployed_flow_of_flows_reuses_its_cached_child_from_its_earlier_run(backend, tmp_path):
    _, project = backend
    cached_doubler = chain(project).replace("  - name: doubler\n", "  - name: doubler\n    cache: true\n")
    with deployed(cached_doubler, project, tmp_path) as model:
        model.run_and_return({"doubler-x": 2}, run_config=FAST)
        first = model.deployment.flow.last_run_id
        again = loaded_anew(model)
        assert again.run_and_return({"doubler-x": 2}, run_config=FAST)["adder"]["add"] == 14
        assert again.deployment.flow.child_states == {"doubler": "Cached", "adder": "Success"}
        assert again.deployment.flow.last_run_id != first


def loaded_anew(model):
    """The model loaded anew from the model database (a new process's view of it)."""
    from lume_services.models import Model

    return Model(model_id=model.model_id)


def test_the_cli_run_names_the_composed_run_when_a_child_in_another_project_has_the_flow_of_flows_name(
        backend, tmp_path):
    _, project = backend
    path = tmp_path / "named-like-its-child.yaml"
    path.write_text(f"""
name: doubler
project_name: {project}-composed
composing_flows:
  - name: doubler
    project_name: {project}
  - name: adder
    project_name: {project}
    mapped_parameters:
      a: {{parent_flow_name: doubler, parent_task_name: double}}
""")
    result = CliRunner().invoke(main, ["flow-of-flows", "run", str(path), "--param", "doubler-x=2", "--json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    record = service().get_run(json.loads(result.stdout)["run_id"])
    assert (record.project_name, [c.name for c in record.children]) == (f"{project}-composed", ["doubler", "adder"])


# --- a swept child's results: one per item, in item order, for every task ------------------------

SWEPT_RESULTS = {"inc-and-double": {"x": [1, 2, 3], "inc": [2, 3, 4], "y": 2, "double": [4, 4, 4]}}


def test_every_task_of_a_swept_child_gives_one_result_per_item_in_item_order(backend):
    _, project = backend
    fof = FlowOfFlows.from_yaml(swept(project))
    assert fof.run_and_return({"inc-and-double-x": [1, 2, 3]}, FAST) == SWEPT_RESULTS


def test_one_task_of_a_swept_child_asked_for_by_name_gives_one_result_per_item(backend):
    _, project = backend
    fof = FlowOfFlows.from_yaml(swept(project))
    assert fof.run_and_return({"inc-and-double-x": [1, 2, 3]}, FAST, task_name="inc-and-double/double") == [4, 4, 4]


def test_run_result_reads_back_every_task_of_a_swept_child_as_run_and_return_gave_it(backend):
    _, project = backend
    fof = FlowOfFlows.from_yaml(swept(project))
    fof.run_and_return({"inc-and-double-x": [1, 2, 3]}, FAST)
    read = {task: fof.run_result(f"inc-and-double/{task}", fof.last_run_id) for task in SWEPT_RESULTS["inc-and-double"]}
    assert read == SWEPT_RESULTS["inc-and-double"]


def test_the_cli_run_prints_a_swept_childs_results_one_per_item(backend, tmp_path):
    _, project = backend
    path = tmp_path / "swept.yaml"
    path.write_text(swept(project))
    args = ["flow-of-flows", "run", str(path), "--param", "inc-and-double-x=[1, 2, 3]", "--json"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["results"] == SWEPT_RESULTS


def test_a_cached_swept_child_gives_back_one_result_per_item_for_every_task(backend):
    _, project = backend
    declaration = {**FlowOfFlows.from_yaml(swept(project)).declaration(), "cache": True}
    FlowOfFlows.from_yaml(declaration).run_and_return({"inc-and-double-x": [1, 2, 3]}, FAST)
    again = FlowOfFlows.from_yaml(declaration)
    assert again.run_and_return({"inc-and-double-x": [1, 2, 3]}, FAST) == SWEPT_RESULTS
    assert again.child_states == {"inc-and-double": "Cached"}


def test_a_task_that_takes_no_swept_value_runs_once_per_item(backend, tmp_path):
    _, project = backend
    Flow(name="marker", project_name=project, prefect_flow=ft.marker).register()
    fof = FlowOfFlows(name="parity-marker", project_name=project, composing_flows=[{"name": "marker"}],
                      map_over={"marker": ["x"]})
    log = tmp_path / "marker.log"
    results = fof.run_and_return({"marker-x": [1, 2, 3], "marker-path": str(log)}, FAST)
    assert results["marker"]["append_line"] == ["ran", "ran", "ran"]
    assert log.read_text().splitlines() == ["ran", "ran", "ran"]  # as each item's run of the child does on a server


def from_a_task_outside_the_sweep(project):
    """doubler sweeps the values inc-and-double's double gave its items (double takes no swept value)."""
    return f"""
name: parity-outside
project_name: {project}
composing_flows:
  - name: inc-and-double
    map_over: [x]
  - name: doubler
    map_over: [x]
    mapped_parameters:
      x: {{parent_flow_name: inc-and-double, parent_task_name: double}}
"""


def test_a_child_mapped_from_a_task_outside_a_sweep_receives_one_value_per_item(backend):
    _, project = backend
    fof = FlowOfFlows.from_yaml(from_a_task_outside_the_sweep(project))
    results = fof.run_and_return({"inc-and-double-x": [1, 2], "inc-and-double-y": 5}, FAST)
    assert results["doubler"] == {"x": [10, 10], "double": [20, 20]}


def beside_a_fixed_input(project):
    """adder sweeps ranger's list over a, and takes b, not swept, from doubler."""
    return f"""
name: parity-fixed-input
project_name: {project}
composing_flows:
  - name: ranger
  - name: doubler
  - name: adder
    map_over: [a]
    mapped_parameters:
      a: {{parent_flow_name: ranger, parent_task_name: make_range}}
      b: {{parent_flow_name: doubler, parent_task_name: double}}
"""


def test_a_swept_childs_mapped_parameter_it_does_not_sweep_is_one_value_in_results_and_history(backend):
    _, project = backend
    Flow(name="ranger", project_name=project, prefect_flow=ft.ranger).register()
    fof = FlowOfFlows.from_yaml(beside_a_fixed_input(project))
    results = fof.run_and_return({"ranger-n": 3, "doubler-x": 2}, FAST)
    assert results["adder"] == {"a": [0, 1, 2], "b": 4, "add": [4, 5, 6]}
    adder = next(c for c in service().get_run(fof.last_run_id).children if c.name == "adder")
    assert adder.mapped == {"a": [0, 1, 2], "b": 4}
    assert fof.run_result("adder/b", fof.last_run_id) == 4


# --- a sweep's items in the run history, the table and the picture ------------------------------


def picked(project, cache="false"):
    """picky sweeps ranger's list (its item 1 fails), doubler sweeps it too."""
    return f"""
name: parity-picked
project_name: {project}
cache: {cache}
composing_flows:
  - name: ranger
  - name: doubler
    map_over: [x]
    mapped_parameters:
      x: {{parent_flow_name: ranger, parent_task_name: make_range}}
  - name: picky
    map_over: [x]
    mapped_parameters:
      x: {{parent_flow_name: ranger, parent_task_name: make_range}}
"""


@pytest.fixture
def swept_backend(backend):
    _, project = backend
    for flow_name, flow in [("ranger", ft.ranger), ("picky", ft.picky)]:
        Flow(name=flow_name, project_name=project, prefect_flow=flow).register()
    return backend


def child(record, name):
    return next(c for c in record.children if c.name == name)


def test_the_history_gives_a_swept_child_its_items_in_order_each_with_its_state_and_values(swept_backend):
    _, project = swept_backend
    fof = FlowOfFlows.from_yaml(picked(project))
    with pytest.raises(FlowFailedError):
        fof.run_and_return({"ranger-n": 3}, FAST)
    record = service().get_run(fof.last_run_id)
    assert [(i.state, i.mapped) for i in child(record, "doubler").items] == [
        ("Success", {"x": 0}), ("Success", {"x": 1}), ("Success", {"x": 2})]
    assert [i.state for i in child(record, "picky").items] == ["Success", "Failed", "Success"]
    assert child(record, "picky").state == "Failed"
    assert "3 items: 1 Failed, 2 Success" in mermaid(record)
    shown = CliRunner().invoke(main, ["runs", "show", fof.last_run_id], catch_exceptions=False).stdout
    assert "Failed (3 items: 1 Failed, 2 Success)" in shown
    document = json.loads(CliRunner().invoke(main, ["runs", "show", fof.last_run_id, "--json"]).stdout)
    assert [i["state"] for i in child_doc(document, "picky")["items"]] == ["Success", "Failed", "Success"]


def child_doc(document, name):
    return next(c for c in document["children"] if c["name"] == name)


def test_a_reused_sweeps_items_are_cached_from_the_run_it_reused_in_the_history_table_and_picture(swept_backend):
    _, project = swept_backend
    first = FlowOfFlows.from_yaml(picked(project, cache="true"))
    with pytest.raises(FlowFailedError):
        first.run_and_return({"ranger-n": 3}, FAST)
    again = FlowOfFlows.from_yaml(picked(project, cache="true"))
    with pytest.raises(FlowFailedError):
        again.run_and_return({"ranger-n": 3}, FAST)
    record = service().get_run(again.last_run_id)
    doubler = child(record, "doubler")
    assert (doubler.state, doubler.reused_from) == ("Cached", first.last_run_id)
    assert [(i.state, i.reused_from) for i in doubler.items] == [("Cached", first.last_run_id)] * 3
    assert "3 items: 3 Cached" in mermaid(record)
    shown = CliRunner().invoke(main, ["runs", "show", again.last_run_id], catch_exceptions=False).stdout
    assert f"Cached (from run {first.last_run_id}) (3 items: 3 Cached)" in shown
