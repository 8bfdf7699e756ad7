"""Cached children of a flow of flows: reused when version, parameters and mapped inputs are unchanged."""

import pytest

import flows_for_tests as ft
from lume_services.errors import InvalidCacheOptionError
from lume_services.flows.flow import Flow
from lume_services.flows.flow_of_flows import FlowOfFlows
from lume_services import config
from lume_services.services.scheduling.service import SchedulingService


@pytest.fixture
def registered(lume_home):
    """first(x, path) -> inc, append_line; second(x <- first/inc, path) -> inc, append_line;
    writer(text, filename) -> save_file; reader(file_rep <- writer/save_file) -> load_file."""
    for name, flow in [("first", ft.marker), ("second", ft.marker), ("writer", ft.write_text),
                       ("reader", ft.read_text)]:
        Flow(name=name, project_name="test", prefect_flow=flow).register()


def chain(cache="true", first_cache=None):
    first = f"\n    cache: {first_cache}" if first_cache is not None else f"\n    cache: {cache}"
    return f"""
name: marked
project_name: test
composing_flows:
  - name: first{first}
  - name: second
    cache: {cache}
    mapped_parameters:
      x: {{parent_flow_name: first, parent_task_name: inc}}
"""


def lines(path):
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.fixture
def logs(tmp_path):
    return tmp_path / "first.log", tmp_path / "second.log"


def params(logs, x=1):
    return {"first-x": x, "first-path": str(logs[0]), "second-path": str(logs[1])}


def service() -> SchedulingService:
    return config.context.scheduling_service()


def test_a_cached_child_with_unchanged_inputs_is_not_run_again_and_gives_its_recorded_results(registered, logs):
    first_run = FlowOfFlows.from_yaml(chain()).run_and_return(params(logs))
    again = FlowOfFlows.from_yaml(chain()).run_and_return(params(logs))
    assert (lines(logs[0]), lines(logs[1])) == (1, 1)
    assert again == first_run
    assert again["second"]["inc"] == 3


def test_the_history_marks_a_reused_child_cached_and_names_the_run_it_came_from(registered, logs):
    fof = FlowOfFlows.from_yaml(chain())
    fof.run_and_return(params(logs))
    origin = fof.last_run_id
    fof.run_and_return(params(logs))
    record = service().get_run(fof.last_run_id)
    assert [(c.name, c.state, c.reused_from) for c in record.children] == [
        ("first", "Cached", origin), ("second", "Cached", origin)]


def test_a_changed_parameter_runs_the_child_and_its_cached_descendant_again(registered, logs):
    FlowOfFlows.from_yaml(chain()).run_and_return(params(logs, x=1))
    results = FlowOfFlows.from_yaml(chain()).run_and_return(params(logs, x=5))
    assert (lines(logs[0]), lines(logs[1])) == (2, 2)
    assert results["second"]["inc"] == 7


def marker_version_2():
    """The ``marker`` flow with another line written: the same parameters and tasks, a new version."""
    from prefect import Flow as PrefectFlow, Parameter

    with PrefectFlow("marker") as flow:
        ft.inc(Parameter("x", default=0))
        ft.append_line(Parameter("path"), "ran, version 2")
    return flow


def test_a_child_registered_anew_is_not_reused(registered, logs):
    FlowOfFlows.from_yaml(chain()).run_and_return(params(logs))
    Flow(name="first", project_name="test", prefect_flow=marker_version_2()).register()
    fof = FlowOfFlows.from_yaml(chain())
    fof.run_and_return(params(logs))
    assert logs[0].read_text().splitlines() == ["ran", "ran, version 2"]
    assert [(c.name, c.state) for c in service().get_run(fof.last_run_id).children] == [
        ("first", "Success"), ("second", "Success")]  # second's input is known only once first ran


def test_a_child_without_cache_runs_every_time(registered, logs):
    FlowOfFlows.from_yaml(chain(cache="false")).run_and_return(params(logs))
    FlowOfFlows.from_yaml(chain(cache="false")).run_and_return(params(logs))
    assert (lines(logs[0]), lines(logs[1])) == (2, 2)


def test_a_child_runs_when_a_parent_it_maps_from_runs(registered, logs):
    FlowOfFlows.from_yaml(chain(first_cache="false")).run_and_return(params(logs))
    FlowOfFlows.from_yaml(chain(first_cache="false")).run_and_return(params(logs))
    # second's input is known only once first ran again
    assert (lines(logs[0]), lines(logs[1])) == (2, 2)


def test_use_cache_false_runs_every_child(registered, logs):
    FlowOfFlows.from_yaml(chain()).run_and_return(params(logs))
    FlowOfFlows.from_yaml(chain()).run_and_return(params(logs), use_cache=False)
    assert (lines(logs[0]), lines(logs[1])) == (2, 2)


def test_the_python_cache_option_caches_the_children_it_names(registered, logs):
    yaml = chain(cache="false")
    FlowOfFlows.from_yaml(yaml).run_and_return(params(logs))
    fof = FlowOfFlows.from_yaml({**_loaded(yaml), "cache": ["first"]})
    assert fof.cached_children() == {"first"}
    fof.run_and_return(params(logs))
    assert (lines(logs[0]), lines(logs[1])) == (1, 2)


def _loaded(yaml):
    import yaml as pyyaml

    data = pyyaml.safe_load(yaml)
    for child in data["composing_flows"]:
        child.pop("cache", None)
    return data


def test_a_cache_option_naming_no_child_is_refused_naming_the_children(registered):
    with pytest.raises(InvalidCacheOptionError, match="'nobody'.*first, second|nobody"):
        FlowOfFlows.from_yaml({**_loaded(chain()), "cache": ["nobody"]})


def test_a_cache_value_that_is_not_true_or_false_is_refused(registered):
    with pytest.raises(InvalidCacheOptionError, match="'second' has cache: 'yes'"):
        FlowOfFlows.from_yaml(chain(cache="'yes'", first_cache="true"))


FILES = """
name: files
project_name: test
cache: true
composing_flows:
  - name: writer
  - name: reader
    mapped_parameters:
      file_rep: {parent_flow_name: writer, parent_task_name: save_file, map_type: file}
"""


def test_a_file_input_is_keyed_by_its_content_not_its_path(registered, tmp_path):
    target = str(tmp_path / "out.txt")
    fof = FlowOfFlows.from_yaml(FILES)
    fof.run_and_return({"writer-text": "one", "writer-filename": target})
    first = fof.last_run_id
    record = service().get_run(first)
    keys = {c.name: c.cache_key for c in record.children}
    (tmp_path / "out.txt").write_text("changed behind its back")
    steps = {s.child: s for s in FlowOfFlows.from_yaml(FILES).plan(
        {"writer-text": "one", "writer-filename": target})}
    # the writer is reused (same inputs); the reader's input file now has other content
    assert steps["writer"].action == "reuse" and steps["reader"].action == "run"
    assert keys["reader"] is not None


def test_pictures_draw_a_reused_child_distinctly(registered, logs):
    FlowOfFlows.from_yaml(chain()).run_and_return(params(logs))
    fof = FlowOfFlows.from_yaml(chain())
    fof.run_and_return(params(logs))
    assert fof.child_states == {"first": "Cached", "second": "Cached"}
    assert "classDef cached fill:#e1f5fe,stroke:#0277bd,color:#01579b,stroke-dasharray: 6 3" in fof.to_mermaid()
    assert 'style="rounded,filled,dashed"' in fof.to_dot()
    from lume_services.services.scheduling.run_records import mermaid

    drawn = mermaid(service().get_run(fof.last_run_id))
    assert ":::cached" in drawn and "from run" in drawn


def test_runs_show_names_the_run_a_cached_child_came_from(registered, logs):
    from click.testing import CliRunner

    from lume_services.cli.main import main

    fof = FlowOfFlows.from_yaml(chain())
    fof.run_and_return(params(logs))
    origin = fof.last_run_id
    fof.run_and_return(params(logs))
    shown = CliRunner().invoke(main, ["runs", "show", fof.last_run_id], catch_exceptions=False).stdout
    assert f"Cached (from run {origin})" in shown
