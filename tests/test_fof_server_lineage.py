"""Lineage and reproduce on a server backend (the protocol double with a real LocalAgent): each child is a flow
run of its own there, and what it stores names the composed run, the child, its version and its parameters."""

import json
from datetime import timedelta

import pytest
from click.testing import CliRunner

import flows_for_tests as ft
from lume_services import config
from lume_services.cli.main import main
from lume_services.flows.flow import Flow, FlowRunConfig
from lume_services.flows.flow_of_flows import FlowOfFlows
from lume_services.flows.lineage import lineage, reproduce

pytestmark = pytest.mark.server

FAST = FlowRunConfig(poll_interval=timedelta(seconds=0.2))
PROJECT = "server-lineage"

YAML = f"""
name: made
project_name: {PROJECT}
composing_flows:
  - name: doubler
  - name: writer
    mapped_parameters:
      text: {{parent_flow_name: doubler, parent_task_name: double}}
  - name: reader
    mapped_parameters:
      file_rep: {{parent_flow_name: writer, parent_task_name: save_file, map_type: file}}
"""


def service():
    return config.context.scheduling_service()


@pytest.fixture
def made(server_backend, tmp_path):
    """doubler(x=4) -> writer(text <- double, filename) -> reader(file_rep <- save_file), run once on the server."""
    for name, flow in [("doubler", ft.doubler), ("writer", ft.write_text), ("reader", ft.read_text)]:
        Flow(name=name, project_name=PROJECT, prefect_flow=flow).register()
    target = tmp_path / "eight.txt"
    fof = FlowOfFlows.from_yaml(YAML)
    fof.run_and_return({"doubler-x": 4, "writer-filename": str(target)}, FAST)
    return fof, target


def test_the_lineage_of_a_file_names_the_composed_run_the_child_its_version_and_inputs(made):
    fof, target = made
    chain = lineage(service(), str(target))
    assert [(link.run_id, link.child) for link in chain] == [(fof.last_run_id, "writer"), (fof.last_run_id, "doubler")]
    writer, doubler = chain
    assert writer.task == "writer/save_file" and writer.inputs == {"text": 8}
    assert writer.flow_id == fof.composing_flows["writer"].flow_id
    assert doubler.parameters == {"x": 4} and doubler.flow_id == fof.composing_flows["doubler"].flow_id


def test_a_server_run_reproduces_when_its_results_and_files_come_out_the_same(made):
    fof, _ = made
    outcome = reproduce(service(), fof.last_run_id)
    assert outcome.matches and outcome.compared > 0
    assert outcome.new_run_id not in (None, fof.last_run_id)
    assert service().get_run(outcome.new_run_id).flow_name == "made"


def test_a_file_changed_since_the_server_run_is_the_first_difference_and_the_cli_exits_1(made):
    fof, target = made
    target.write_text("tampered")  # the stored file no longer holds what the run wrote
    result = CliRunner().invoke(main, ["runs", "reproduce", fof.last_run_id, "--json"])
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["matches"] is False and document["differences"][0]["task"] == "writer/save_file"


def test_the_cli_lineage_reads_the_servers_runs_as_one_json_document(made):
    fof, target = made
    result = CliRunner().invoke(main, ["runs", "lineage", str(target), "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [(link["run_id"], link["child"]) for link in document["chain"]] == [
        (fof.last_run_id, "writer"), (fof.last_run_id, "doubler")]


def test_a_result_stored_by_a_child_on_the_server_records_the_composed_run_the_child_and_its_version(
        server_backend):
    Flow(name="store-words", project_name=PROJECT, prefect_flow=ft.store_words).register()
    fof = FlowOfFlows.from_yaml({"name": "storing", "project_name": PROJECT,
                                 "composing_flows": [{"name": "store-words"}]})
    reference = fof.run_and_return({"store-words-text": "a b c"}, FAST, task_name="store-words/save_db_result")
    [document] = config.context.results_db_service().find(reference["project_name"], reference["query"])
    record = service().get_run(fof.last_run_id)
    [child] = record.children
    assert document["lineage"] == {
        "run_id": fof.last_run_id, "flow_id": fof.flow_id, "task": "store-words/save_db_result",
        "child": "store-words", "child_flow_id": fof.composing_flows["store-words"].flow_id,
        "parameters": {"text": "a b c"}, "child_run_id": child.run_id,
    }
    [link] = lineage(service(), reference["query"]["unique_hash"])
    assert (link.run_id, link.child, link.parameters) == (fof.last_run_id, "store-words", {"text": "a b c"})


def test_a_server_sweep_reproduces_item_by_item(server_backend):
    Flow(name="doubler", project_name=PROJECT, prefect_flow=ft.doubler).register()
    fof = FlowOfFlows.from_yaml({"name": "swept-again", "project_name": PROJECT,
                                 "composing_flows": [{"name": "doubler", "map_over": ["x"]}]})
    fof.run_and_return({"doubler-x": [1, 2]}, FAST)
    outcome = reproduce(service(), fof.last_run_id)
    # each item's run: its parameter x and its task double
    assert outcome.matches and outcome.compared == 4
