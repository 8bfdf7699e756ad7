"""Pictures of a flow of flows: the DAG of children as Mermaid and DOT, coloured after a run."""

import pytest

import flows_for_tests as ft
from lume_services.errors import FlowFailedError
from lume_services.flows.flow import Flow
from lume_services.flows.flow_of_flows import Edge, FlowOfFlows


@pytest.fixture
def partly_failing(lume_home):
    for name, flow in [("doubler", ft.doubler), ("adder", ft.adder), ("failing", ft.failing)]:
        Flow(name=name, project_name="test", prefect_flow=flow).register()
    return FlowOfFlows(
        name="partly-failing",
        project_name="test",
        composing_flows=[
            {"name": "failing"},
            {"name": "adder", "mapped_parameters": {"a": {"parent_flow_name": "failing", "parent_task_name": "fail"}}},
            {"name": "doubler"},
        ],
    )


def test_the_dag_has_one_edge_per_mapped_parameter(partly_failing):
    assert partly_failing.dag() == [Edge("failing", "fail", "adder", "a", "raw")]


def test_mermaid_names_children_and_labels_edges_with_parameter_and_map_type(partly_failing):
    assert partly_failing.to_mermaid() == (
        "flowchart TD\n"
        '    c0["failing"]\n'
        '    c1["adder"]\n'
        '    c2["doubler"]\n'
        '    c0 -->|"a (raw)"| c1\n'
    )


def test_dot_names_children_and_labels_edges(partly_failing):
    dot = partly_failing.to_dot()
    assert dot.startswith('digraph "partly-failing" {')
    assert '    "failing" -> "adder" [label="a (raw)"];' in dot


def test_after_a_run_the_pictures_are_coloured_by_each_childs_final_state(partly_failing):
    with pytest.raises(FlowFailedError):
        partly_failing.run_and_return({"failing-x": 1})
    assert partly_failing.child_states == {"failing": "Failed", "adder": "TriggerFailed", "doubler": "Success"}
    assert "class c0 failed" in partly_failing.to_mermaid()
    assert "class c1 notrun" in partly_failing.to_mermaid()
    assert '"doubler" [fillcolor="#c8e6c9"' in partly_failing.to_dot()


def test_every_picture_colours_a_state_from_the_one_table(partly_failing):
    from lume_services.services.scheduling.run_records import mermaid
    from lume_services.services.scheduling.run_report import report_html
    from lume_services.services.scheduling.state_colours import STATE_STYLES, state_kind

    with pytest.raises(FlowFailedError):
        partly_failing.run_and_return({"failing-x": 1})
    recorded = partly_failing.last_run()
    pictures = {
        "to_mermaid": partly_failing.to_mermaid(), "to_dot": partly_failing.to_dot(),
        "runs show --format mermaid": mermaid(recorded), "report": report_html(recorded),
    }
    for state in ("Success", "Failed", "TriggerFailed"):
        fill = STATE_STYLES[state_kind(state)]["fill"]
        for name, picture in pictures.items():
            assert fill in picture, f"{name} does not fill {state} with {fill}"
    assert "#ffe0b2" not in pictures["to_dot"]  # TriggerFailed is "did not run" (grey) everywhere


def test_in_jupyter_the_value_of_a_cell_shows_the_dag(partly_failing):
    markdown = partly_failing._repr_markdown_()
    assert "```mermaid\nflowchart TD\n" in markdown


def test_in_jupyter_a_flow_of_flows_is_an_inline_svg_coloured_by_state_with_or_without_graphviz(partly_failing):
    with pytest.raises(FlowFailedError):
        partly_failing.run_and_return({"failing-x": 1})
    svg = partly_failing._repr_html_()
    assert svg.lstrip().startswith(("<svg", "<?xml", "<!DOCTYPE"))
    assert "#ffcdd2" in svg and "#c8e6c9" in svg  # failed and succeeded, from the one table
    assert "http" not in svg.replace("http://www.w3.org", "")  # nothing to fetch
