"""Lineage of a stored file or result, and reproduce-and-verify of a recorded run."""

import json

import pytest
from click.testing import CliRunner

import flows_for_tests as ft
from lume_services import config
from lume_services.cli.main import main
from lume_services.errors import ChildVersionChangedError, LineageNotFoundError
from lume_services.flows.lineage import lineage, reproduce
from lume_services.flows.flow import Flow
from lume_services.flows.flow_of_flows import FlowOfFlows

YAML = """
name: made
project_name: test
composing_flows:
  - name: doubler
  - name: writer
    mapped_parameters:
      text: {parent_flow_name: doubler, parent_task_name: double}
  - name: reader
    mapped_parameters:
      file_rep: {parent_flow_name: writer, parent_task_name: save_file, map_type: file}
"""


@pytest.fixture
def made(lume_home, tmp_path):
    """doubler(x=4) -> writer(text <- double, filename) -> reader(file_rep <- save_file); run once."""
    for name, flow in [("doubler", ft.doubler), ("writer", ft.write_text), ("reader", ft.read_text)]:
        Flow(name=name, project_name="test", prefect_flow=flow).register()
    target = tmp_path / "eight.txt"
    fof = FlowOfFlows.from_yaml(YAML)
    fof.run_and_return({"doubler-x": 4, "writer-filename": str(target)})
    return fof.last_run_id, target


def service():
    return config.context.scheduling_service()


def test_the_lineage_of_a_file_names_the_run_the_child_its_version_and_inputs_back_to_the_first_child(made):
    run_id, target = made
    chain = lineage(service(), str(target))
    assert [(link.run_id, link.child) for link in chain] == [(run_id, "writer"), (run_id, "doubler")]
    writer, doubler = chain
    assert writer.task == "writer/save_file" and writer.inputs == {"text": 8}
    assert writer.flow_id == Flow(name="writer", project_name="test").register()
    assert doubler.parameters == {"x": 4}


def test_the_lineage_of_a_reused_child_leads_to_the_run_where_it_ran(made):
    run_id, target = made
    again = FlowOfFlows.from_yaml({**__import__("yaml").safe_load(YAML), "cache": True})
    again.run_and_return({"doubler-x": 4, "writer-filename": str(target)})
    chain = lineage(service(), str(target))
    assert chain[0].run_id == again.last_run_id and chain[0].reused_from == run_id
    assert (chain[1].run_id, chain[1].child, chain[1].reused_from) == (run_id, "writer", None)


def test_the_lineage_of_something_no_run_made_is_refused_naming_it(made):
    with pytest.raises(LineageNotFoundError, match="no recorded run produced 'nothing-made-this'"):
        lineage(service(), "nothing-made-this")


def test_a_run_reproduces_when_its_results_and_files_come_out_the_same(made):
    run_id, target = made
    outcome = reproduce(service(), run_id)
    assert outcome.matches and outcome.compared > 0 and outcome.new_run_id != run_id


def test_a_file_changed_since_the_run_is_a_difference_named_by_its_task(made, tmp_path):
    run_id, target = made
    target.write_text("tampered")  # the stored file no longer holds what the run wrote
    outcome = reproduce(service(), run_id)
    assert not outcome.matches
    assert outcome.differences[0][0] == "writer/save_file"


def test_reproduce_is_refused_when_a_child_was_registered_anew(made):
    run_id, _ = made
    from prefect import Flow as PrefectFlow, Parameter

    with PrefectFlow("doubler") as changed:  # another default: another version
        ft.double(Parameter("x", default=2))
    Flow(name="doubler", project_name="test", prefect_flow=changed).register()
    with pytest.raises(ChildVersionChangedError, match="cannot reproduce run .*'doubler' ran as flow id"):
        reproduce(service(), run_id)


def test_the_cli_reproduce_exits_0_when_results_match_and_1_with_the_first_difference(made):
    run_id, target = made
    ok = CliRunner().invoke(main, ["runs", "reproduce", run_id], catch_exceptions=False)
    assert ok.exit_code == 0, ok.output
    assert "results match" in ok.stdout
    target.write_text("tampered")
    bad = CliRunner().invoke(main, ["runs", "reproduce", run_id])
    assert bad.exit_code == 1
    assert "first: 'writer/save_file'" in bad.stderr


def test_the_cli_lineage_prints_one_json_document(made):
    run_id, target = made
    result = CliRunner().invoke(main, ["runs", "lineage", str(target), "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [link["child"] for link in document["chain"]] == ["writer", "doubler"]


def test_a_result_stored_by_a_child_records_the_run_the_child_its_version_and_parameters(lume_home):
    Flow(name="store-words", project_name="test", prefect_flow=ft.store_words).register()
    fof = FlowOfFlows.from_yaml({"name": "storing", "project_name": "test",
                                 "composing_flows": [{"name": "store-words"}]})
    reference = fof.run_and_return({"store-words-text": "a b c"}, task_name="store-words/save_db_result")
    [document] = config.context.results_db_service().find(reference["project_name"], reference["query"])
    # flow_id: the composed flow is not registered, and a local run then names it by its name (as Result.flow_id)
    assert document["lineage"] == {
        "run_id": fof.last_run_id, "flow_id": "storing", "task": "store-words/save_db_result", "child": "store-words",
        "child_flow_id": fof.composing_flows["store-words"].flow_id, "parameters": {"text": "a b c"},
    }


def test_the_lineage_of_a_stored_result_is_found_by_its_unique_hash(lume_home):
    Flow(name="store-words", project_name="test", prefect_flow=ft.store_words).register()
    fof = FlowOfFlows.from_yaml({"name": "storing", "project_name": "test",
                                 "composing_flows": [{"name": "store-words"}]})
    reference = fof.run_and_return({"store-words-text": "x y"}, task_name="store-words/save_db_result")
    [link] = lineage(service(), reference["query"]["unique_hash"])
    assert (link.run_id, link.child, link.parameters) == (fof.last_run_id, "store-words", {"text": "x y"})
