"""The run report: one self-contained HTML page (DAG by state, timeline, parameters, results, errors),
checked as text and in a real headless browser (Chromium from Debian's packages).

``scripts/test.sh`` installs Chromium; where it did, it sets
``LUME_TEST_REQUIRE_CHROMIUM=1`` and a browser that cannot start fails the
test instead of skipping it.
"""

import re

import pytest
from click.testing import CliRunner

import flows_for_tests as ft
from headless_browser import screenshot
from lume_services.cli.main import main
from lume_services.errors import FlowFailedError
from lume_services.flows.flow import Flow
from lume_services.flows.flow_of_flows import FlowOfFlows
from lume_services.services.scheduling.run_report import report_html
from lume_services.services.scheduling.state_colours import STATE_STYLES


@pytest.fixture
def failed_run(lume_home):
    """A recorded run of a flow of flows: doubler succeeded, failing failed, adder did not run."""
    for name, flow in [("doubler", ft.doubler), ("adder", ft.adder), ("failing", ft.failing)]:
        Flow(name=name, project_name="test", prefect_flow=flow).register()
    fof = FlowOfFlows(
        name="partly-failing", project_name="test",
        composing_flows=[
            {"name": "doubler"},
            {"name": "failing"},
            {"name": "adder", "mapped_parameters": {"a": {"parent_flow_name": "failing", "parent_task_name": "fail"}}},
        ],
    )
    with pytest.raises(FlowFailedError):
        fof.run_and_return({"failing-x": 1, "doubler-x": 21})
    return fof.last_run()


def test_the_report_needs_no_network(failed_run):
    page = report_html(failed_run)
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"<script|<link|<img|@import|url\((?!#)|src=|href=\"?https?:", page, re.I)


def test_the_report_shows_the_dag_timeline_parameters_mapped_values_results_and_errors(failed_run):
    page = report_html(failed_run)
    for child, state in (("doubler", "Success"), ("failing", "Failed"), ("adder", "TriggerFailed")):
        assert f'data-name="{child}" data-state="{state}"' in page
    assert page.count("<svg") == 2 and 'class="timeline"' in page
    assert "doubler/double" in page and "failing/fail" in page  # task rows of the timeline and results
    assert "doubler-x" in page and "21" in page  # the parameters
    assert "<h2>Mapped values</h2>" in page
    assert "42" in page  # doubler's result
    errors = page.split("<h2>Errors</h2>", 1)[1]
    assert "failing/fail" in errors


def test_a_run_record_displays_its_report_in_jupyter(failed_run):
    fragment = failed_run._repr_html_()
    assert fragment.startswith('<div class="lume-run-report">') and "<html" not in fragment


def test_runs_report_writes_the_page_for_a_run_id_beginning(failed_run, tmp_path):
    target = tmp_path / "run.html"
    result = CliRunner().invoke(main, ["runs", "report", failed_run.run_id[:8], "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"report of run {failed_run.run_id} (partly-failing, Failed) written to ")
    assert target.read_text() == report_html(failed_run)


def test_in_a_headless_browser_the_report_shows_each_node_in_its_states_colour(failed_run, tmp_path):
    from PIL import Image

    page = tmp_path / "run.html"
    page.write_text(report_html(failed_run))
    shot = screenshot(page.as_uri(), tmp_path / "out.png", home=tmp_path)
    pixels = Image.open(shot).convert("RGB")
    counts = {}
    for count, colour in pixels.getcolors(maxcolors=1 << 20):
        counts[colour] = count
    for kind in ("success", "failed", "notrun"):
        fill = STATE_STYLES[kind]["fill"]
        rgb = tuple(int(fill[i:i + 2], 16) for i in (1, 3, 5))
        assert counts.get(rgb, 0) > 2000, f"the {kind} fill {fill} covers {counts.get(rgb, 0)} pixels"
