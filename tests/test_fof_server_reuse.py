"""Cached children, resume and plan of a flow of flows on a server backend (the protocol double with a real
LocalAgent): a reused child gets no flow run of its own; the composed run reads its results from the earlier
run's child, and the server's run history says it was reused and from which run."""

import json
import uuid
from datetime import timedelta

import pytest
from click.testing import CliRunner
from prefect import Flow as PrefectFlow
from prefect import Parameter, task

import flows_for_tests as ft
from lume_services import config
from lume_services.cli.main import main
from lume_services.errors import ChildVersionChangedError, FlowFailedError
from lume_services.flows._reuse import cache_key, known_parameters
from lume_services.flows.flow import Flow, FlowRunConfig
from lume_services.flows.flow_of_flows import FlowOfFlows
from lume_services.services.scheduling.run_records import mermaid

pytestmark = pytest.mark.server

FAST = FlowRunConfig(poll_interval=timedelta(seconds=0.2))


def chain(project, cache="true"):
    return f"""
name: cached-chain
project_name: {project}
cache: {cache}
composing_flows:
  - name: doubler
  - name: adder
    mapped_parameters:
      a: {{parent_flow_name: doubler, parent_task_name: double}}
"""


@task(name="fail")
def mended(x):
    return 3 * x


def mended_flow():
    """``failing`` mended: its task ``fail`` triples x instead of raising."""
    with PrefectFlow("failing") as flow:
        mended(Parameter("x", default=1))
    return flow


@pytest.fixture
def project(server_backend):
    """A project of its own (the double lives for the session) with doubler, adder and failing registered."""
    name = f"reuse-{uuid.uuid4().hex[:8]}"
    for flow_name, flow in [("doubler", ft.doubler), ("adder", ft.adder), ("failing", ft.failing)]:
        Flow(name=flow_name, project_name=name, prefect_flow=flow).register()
    return name


@pytest.fixture
def store(prefect_protocol_double):
    return prefect_protocol_double.store


def runs_of(store, fof, child):
    """The flow runs the server has of ``child``'s registered version."""
    return [r for r in store.flow_runs.values() if r["flow_id"] == fof.composing_flows[child].flow_id]


def service():
    return config.context.scheduling_service()


# --- cached children ----------------------------------------------------------------------


def test_a_cached_child_with_unchanged_inputs_gets_no_flow_run_and_gives_its_recorded_results(project, store):
    first = FlowOfFlows.from_yaml(chain(project))
    first_results = first.run_and_return({"doubler-x": 4}, FAST)
    again = FlowOfFlows.from_yaml(chain(project))
    results = again.run_and_return({"doubler-x": 4}, FAST)
    assert results == first_results == {"doubler": {"double": 8, "x": 4}, "adder": {"a": 8, "b": 10, "add": 18}}
    assert (len(runs_of(store, again, "doubler")), len(runs_of(store, again, "adder"))) == (1, 1)
    assert again.child_states == {"doubler": "Cached", "adder": "Cached"}


def test_the_server_history_marks_a_reused_child_cached_and_names_the_run_it_came_from(project):
    fof = FlowOfFlows.from_yaml(chain(project))
    fof.run_and_return({"doubler-x": 2}, FAST)
    origin = fof.last_run_id
    fof.run_and_return({"doubler-x": 2}, FAST)
    record = service().get_run(fof.last_run_id)
    assert [(c.name, c.state, c.reused_from) for c in record.children] == [
        ("doubler", "Cached", origin), ("adder", "Cached", origin)]
    assert ":::cached" in mermaid(record) and f"from run {origin[:8]}" in mermaid(record)


def test_every_succeeded_child_of_a_server_run_records_the_cache_key_a_plan_computes(project):
    fof = FlowOfFlows.from_yaml(chain(project, cache="false"))
    fof.run_and_return({"doubler-x": 3}, FAST)
    record = service().get_run(fof.last_run_id)
    keys = {c.name: c.cache_key for c in record.children}
    known = known_parameters(fof, {"doubler-x": 3})
    assert keys["doubler"] == cache_key(fof, "doubler", known)
    assert keys["adder"] == cache_key(fof, "adder", {**known, "doubler/double": 6})


def test_a_changed_parameter_runs_the_child_and_its_descendant_again(project, store):
    FlowOfFlows.from_yaml(chain(project)).run_and_return({"doubler-x": 1}, FAST)
    fof = FlowOfFlows.from_yaml(chain(project))
    assert fof.run_and_return({"doubler-x": 5}, FAST)["adder"]["add"] == 20
    assert (len(runs_of(store, fof, "doubler")), len(runs_of(store, fof, "adder"))) == (2, 2)
    assert fof.child_states == {"doubler": "Success", "adder": "Success"}


def test_use_cache_false_runs_every_child_on_a_server(project, store):
    FlowOfFlows.from_yaml(chain(project)).run_and_return({"doubler-x": 1}, FAST)
    fof = FlowOfFlows.from_yaml(chain(project))
    fof.run_and_return({"doubler-x": 1}, FAST, use_cache=False)
    assert (len(runs_of(store, fof, "doubler")), len(runs_of(store, fof, "adder"))) == (2, 2)


def test_runs_show_names_the_run_a_cached_child_came_from_on_a_server(project):
    fof = FlowOfFlows.from_yaml(chain(project))
    fof.run_and_return({"doubler-x": 1}, FAST)
    origin = fof.last_run_id
    fof.run_and_return({"doubler-x": 1}, FAST)
    shown = CliRunner().invoke(main, ["runs", "show", fof.last_run_id], catch_exceptions=False).stdout
    assert f"Cached (from run {origin})" in shown


# --- resume ----------------------------------------------------------------------------------


@pytest.fixture
def failed_run(project):
    """doubler -> failing -> adder, run once on the server: failing failed. Returns the composed run's id."""
    fof = FlowOfFlows.from_yaml(ft.failing_chain("mending-chain", project))
    with pytest.raises(FlowFailedError):
        fof.run_and_return({"doubler-x": 2}, FAST)
    return fof.last_run_id


def test_resume_on_a_server_runs_only_the_failed_child_and_those_after_it(project, failed_run, store):
    Flow(name="failing", project_name=project, prefect_flow=mended_flow()).register()
    fof = FlowOfFlows.from_yaml(ft.failing_chain("mending-chain", project))
    results = fof.resume(failed_run, run_config=FAST)
    assert results["adder"]["add"] == 3 * 4 + 10 and results["doubler"]["double"] == 4
    assert len(runs_of(store, fof, "doubler")) == 1  # it ran once, in the failed run
    record = service().get_run(fof.last_run_id)
    assert [(c.name, c.state, c.reused_from) for c in record.children] == [
        ("doubler", "Cached", failed_run), ("failing", "Success", None), ("adder", "Success", None)]


def test_resume_on_a_server_is_refused_naming_a_succeeded_child_registered_anew(project, failed_run, store):
    with PrefectFlow("doubler") as changed:
        ft.double(Parameter("x", default=7))
    Flow(name="doubler", project_name=project, prefect_flow=changed).register()
    before = len(store.flow_runs)
    with pytest.raises(ChildVersionChangedError, match="'doubler' ran as flow id"):
        FlowOfFlows.from_yaml(ft.failing_chain("mending-chain", project)).resume(failed_run)
    assert len(store.flow_runs) == before


def test_the_cli_resumes_a_server_run_by_its_id_from_the_declaration_kept_with_it(project, failed_run):
    Flow(name="failing", project_name=project, prefect_flow=mended_flow()).register()
    result = CliRunner().invoke(main, ["flow-of-flows", "resume", failed_run, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["resumed"] == failed_run
    assert document["results"]["adder"]["add"] == 22
    assert document["children"]["doubler"]["state"] == "Cached"


# --- plan ------------------------------------------------------------------------------------


def test_a_plan_on_a_server_says_which_children_would_be_reused_and_from_which_run_and_runs_nothing(
        project, store):
    fof = FlowOfFlows.from_yaml(chain(project))
    fof.run_and_return({"doubler-x": 6}, FAST)
    before = dict(store.flow_runs)
    steps = FlowOfFlows.from_yaml(chain(project)).plan({"doubler-x": 6})
    changed = FlowOfFlows.from_yaml(chain(project)).plan({"doubler-x": 7})
    assert [(s.child, s.action, s.reused_from) for s in steps] == [
        ("doubler", "reuse", fof.last_run_id), ("adder", "reuse", fof.last_run_id)]
    assert all(s.last_duration is not None and s.last_duration >= 0 for s in steps)
    assert [(s.child, s.action) for s in changed] == [("doubler", "run"), ("adder", "run")]
    assert store.flow_runs == before  # no create_flow_run: nothing was run


def test_the_cli_plan_on_a_server_prints_one_json_document(project, tmp_path, store):
    path = tmp_path / "chain.yaml"
    path.write_text(chain(project))
    FlowOfFlows.from_yaml(path).run_and_return({"doubler-x": 6}, FAST)
    before = len(store.flow_runs)
    result = CliRunner().invoke(main, ["flow-of-flows", "plan", str(path), "--param", "doubler-x=6", "--json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [(c["child"], c["action"]) for c in document["children"]] == [("doubler", "reuse"), ("adder", "reuse")]
    assert len(store.flow_runs) == before


def test_run_without_waiting_on_a_server_starts_a_composed_run_that_reuses_cached_children(project, store):
    fof = FlowOfFlows.from_yaml(chain(project))
    fof.run_and_return({"doubler-x": 9}, FAST)
    origin = fof.last_run_id
    run_id = fof.run({"doubler-x": 9}, FAST)
    service().wait(run_id, timedelta(seconds=0.2))
    assert [(c.name, c.state, c.reused_from) for c in service().get_run(run_id).children] == [
        ("doubler", "Cached", origin), ("adder", "Cached", origin)]
    assert len(runs_of(store, fof, "doubler")) == 1


def test_the_cli_run_with_no_cache_on_a_server_runs_every_child(project, tmp_path, store):
    path = tmp_path / "chain.yaml"
    path.write_text(chain(project))
    args = ["flow-of-flows", "run", str(path), "--param", "doubler-x=2", "--json"]
    assert CliRunner().invoke(main, args, catch_exceptions=False).exit_code == 0
    result = CliRunner().invoke(main, args + ["--no-cache"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["children"]["doubler"]["state"] == "Success"
    fof = FlowOfFlows.from_yaml(path)
    assert (len(runs_of(store, fof, "doubler")), len(runs_of(store, fof, "adder"))) == (2, 2)


# --- cached sweeps ---------------------------------------------------------------------------


def sweeps(project):
    """ranger's list swept by doubler, and doubler's items swept by adder, every child cached."""
    return f"""
name: cached-sweeps
project_name: {project}
cache: true
composing_flows:
  - name: ranger
  - name: doubler
    map_over: [x]
    mapped_parameters:
      x: {{parent_flow_name: ranger, parent_task_name: make_range}}
  - name: adder
    map_over: [a]
    mapped_parameters:
      a: {{parent_flow_name: doubler, parent_task_name: double}}
"""


def swept_parameter(project):
    """doubler swept over a list given as its parameter."""
    return f"""
name: swept-parameter
project_name: {project}
cache: true
composing_flows:
  - name: doubler
    map_over: [x]
"""


def beside_a_failing_sweep(project):
    """doubler and picky both sweep ranger's list; picky's item 1 fails."""
    return f"""
name: beside-a-failing-sweep
project_name: {project}
cache: true
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
def swept_project(project):
    """``project`` with ranger and picky registered too."""
    for flow_name, flow in [("ranger", ft.ranger), ("picky", ft.picky)]:
        Flow(name=flow_name, project_name=project, prefect_flow=flow).register()
    return project


def test_a_cached_sweep_gets_no_flow_run_on_a_rerun_and_gives_equal_results_in_item_order(swept_project, store):
    first = FlowOfFlows.from_yaml(sweeps(swept_project)).run_and_return({"ranger-n": 3}, FAST)
    again = FlowOfFlows.from_yaml(sweeps(swept_project))
    results = again.run_and_return({"ranger-n": 3}, FAST)
    assert results == first
    assert results["doubler"] == {"x": [0, 1, 2], "double": [0, 2, 4]}
    assert len(runs_of(store, again, "doubler")) == 3  # one per item, all in the first run
    assert again.child_states["doubler"] == "Cached"
    assert again.run_result("doubler/double", again.last_run_id) == [0, 2, 4]
    assert again.run_and_return({"ranger-n": 3}, FAST, task_name="doubler/double") == [0, 2, 4]


def test_a_child_mapped_from_a_cached_sweep_is_reused_when_its_own_inputs_are_unchanged(swept_project, store):
    FlowOfFlows.from_yaml(sweeps(swept_project)).run_and_return({"ranger-n": 2, "adder-b": 1}, FAST)
    again = FlowOfFlows.from_yaml(sweeps(swept_project))
    assert again.run_and_return({"ranger-n": 2, "adder-b": 1}, FAST)["adder"]["add"] == [1, 3]
    assert again.child_states == {"ranger": "Cached", "doubler": "Cached", "adder": "Cached"}
    assert len(runs_of(store, again, "adder")) == 2


def test_a_child_mapped_from_a_cached_sweep_runs_when_its_own_parameter_changed(swept_project, store):
    FlowOfFlows.from_yaml(sweeps(swept_project)).run_and_return({"ranger-n": 2, "adder-b": 1}, FAST)
    again = FlowOfFlows.from_yaml(sweeps(swept_project))
    assert again.run_and_return({"ranger-n": 2, "adder-b": 5}, FAST)["adder"]["add"] == [5, 7]
    assert again.child_states == {"ranger": "Cached", "doubler": "Cached", "adder": "Success"}
    assert (len(runs_of(store, again, "doubler")), len(runs_of(store, again, "adder"))) == (2, 4)


def test_a_sweep_with_a_failed_item_runs_again_while_a_succeeded_sweep_beside_it_is_reused(swept_project, store):
    for _ in range(2):
        fof = FlowOfFlows.from_yaml(beside_a_failing_sweep(swept_project))
        with pytest.raises(FlowFailedError) as failure:
            fof.run_and_return({"ranger-n": 3}, FAST)
        assert list(failure.value.failed_tasks) == ["picky/pick[1]"]
    record = service().get_run(fof.last_run_id)
    assert {c.name: c.state for c in record.children} == {"ranger": "Cached", "doubler": "Cached", "picky": "Failed"}
    assert record.children[2].cache_key is None
    assert (len(runs_of(store, fof, "doubler")), len(runs_of(store, fof, "picky"))) == (3, 6)


def test_a_sweep_is_reused_only_for_the_same_list_of_items(swept_project, store):
    first = FlowOfFlows.from_yaml(swept_parameter(swept_project))
    first.run_and_return({"doubler-x": [1, 2, 3]}, FAST)
    changed = FlowOfFlows.from_yaml(swept_parameter(swept_project))
    assert changed.run_and_return({"doubler-x": [1, 2, 4]}, FAST, task_name="doubler/double") == [2, 4, 8]
    assert changed.child_states == {"doubler": "Success"}
    assert len(runs_of(store, changed, "doubler")) == 6
    steps = FlowOfFlows.from_yaml(swept_parameter(swept_project)).plan({"doubler-x": [1, 2, 3]})
    assert [(s.child, s.action, s.reused_from) for s in steps] == [("doubler", "reuse", first.last_run_id)]


def test_the_history_marks_a_reused_sweep_cached_with_its_earlier_items(swept_project):
    fof = FlowOfFlows.from_yaml(sweeps(swept_project))
    fof.run_and_return({"ranger-n": 2}, FAST)
    origin = service().get_run(fof.last_run_id)
    fof.run_and_return({"ranger-n": 2}, FAST)
    record = service().get_run(fof.last_run_id)
    doubler = next(c for c in record.children if c.name == "doubler")
    assert (doubler.state, doubler.reused_from) == ("Cached", origin.run_id)
    assert [(i.state, i.run_id) for i in doubler.items] == [
        ("Cached", i.run_id) for i in next(c for c in origin.children if c.name == "doubler").items]
    assert doubler.cache_key is not None
    assert "2 items: 2 Cached" in mermaid(record)
    shown = CliRunner().invoke(main, ["runs", "show", fof.last_run_id], catch_exceptions=False).stdout
    assert f"Cached (from run {origin.run_id})" in shown and "2 items: 2 Cached" in shown


def test_a_plan_on_a_server_reuses_a_cached_sweep_and_the_child_mapped_from_it(swept_project, tmp_path, store):
    path = tmp_path / "sweeps.yaml"
    path.write_text(sweeps(swept_project))
    fof = FlowOfFlows.from_yaml(path)
    fof.run_and_return({"ranger-n": 2}, FAST)
    before = len(store.flow_runs)
    args = ["flow-of-flows", "plan", str(path), "--param", "ranger-n=2"]
    as_json = CliRunner().invoke(main, args + ["--json"], catch_exceptions=False)
    text = CliRunner().invoke(main, args, catch_exceptions=False)
    assert as_json.exit_code == 0 and text.exit_code == 0, as_json.output + text.output
    assert [(c["child"], c["action"], c["reused_from"]) for c in json.loads(as_json.stdout)["children"]] == [
        ("ranger", "reuse", fof.last_run_id), ("doubler", "reuse", fof.last_run_id),
        ("adder", "reuse", fof.last_run_id)]
    assert [line.split()[:4] for line in text.stdout.splitlines()] == [
        [child, "reuse", "from", "run"] for child in ("ranger", "doubler", "adder")]
    assert len(store.flow_runs) == before


def test_resume_on_a_server_reuses_a_sweep_that_succeeded_and_runs_the_failed_sweep_after_it(swept_project, store):
    declaration = f"""
name: mending-sweeps
project_name: {swept_project}
composing_flows:
  - name: ranger
  - name: doubler
    map_over: [x]
    mapped_parameters:
      x: {{parent_flow_name: ranger, parent_task_name: make_range}}
  - name: failing
    map_over: [x]
    mapped_parameters:
      x: {{parent_flow_name: doubler, parent_task_name: double}}
"""
    failed = FlowOfFlows.from_yaml(declaration)
    with pytest.raises(FlowFailedError):
        failed.run_and_return({"ranger-n": 3}, FAST)
    Flow(name="failing", project_name=swept_project, prefect_flow=mended_flow()).register()
    fof = FlowOfFlows.from_yaml(declaration)
    assert fof.resume(failed.last_run_id, run_config=FAST)["failing"]["fail"] == [0, 6, 12]
    assert fof.child_states == {"ranger": "Cached", "doubler": "Cached", "failing": "Success"}
    assert len(runs_of(store, fof, "doubler")) == 3  # its items ran once, in the failed run
