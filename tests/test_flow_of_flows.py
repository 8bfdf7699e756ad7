"""Flows of flows on the local backend: validation, order, composition, runs, failures."""

import pytest

import flows_for_tests as ft
from lume_services.errors import (
    DuplicateFlowNameError,
    FlowCycleError,
    FlowFailedError,
    FlowNotFoundError,
    FlowNotLoadedError,
    MissingDBAttributeError,
    ParameterNotInFlowError,
    ParentFlowNotInFlowsError,
    TaskNotInFlowError,
    UnknownMapTypeError,
)
from lume_services.flows.flow import DBMappedParameter, Flow, RawMappedParameter
from lume_services.errors import InvalidFlowOfFlowsError
from lume_services.flows.flow_of_flows import ChildProgress, FlowOfFlows
from lume_services.services.scheduling.backends import ExecutorConfig, LocalRunConfig


@pytest.fixture
def registered(lume_home):
    """doubler(x) -> double; adder(a, b=10) -> add; failing(x) -> fail; two-incs(x) -> inc, inc;
    meeting-a(x), meeting-b(x) -> meet; meeting-total(a, b) -> total."""
    for name, flow in [
        ("doubler", ft.doubler),
        ("adder", ft.adder),
        ("failing", ft.failing),
        ("meeting-a", ft.meeting_a),
        ("meeting-b", ft.meeting_b),
        ("meeting-total", ft.meeting_total),
        ("two-incs", ft.two_incs),
    ]:
        Flow(name=name, project_name="test", prefect_flow=flow).register()


def raw(parent, task):
    return {"parent_flow_name": parent, "parent_task_name": task}


# Given in non-topological order on purpose: adder needs doubler.
CHAIN = """
name: chain
project_name: test
composing_flows:
  - name: adder
    mapped_parameters:
      a: {parent_flow_name: doubler, parent_task_name: double}
  - name: doubler
"""


def test_children_run_in_dependency_order_not_list_order(registered):
    fof = FlowOfFlows.from_yaml(CHAIN)
    assert fof.execution_order() == ["doubler", "adder"]
    results = fof.run_and_return({"doubler-x": 4})
    assert results == {"doubler": {"double": 8, "x": 4}, "adder": {"a": 8, "b": 10, "add": 18}}


def test_unmapped_parameters_are_exposed_with_the_childrens_defaults(registered):
    fof = FlowOfFlows.from_yaml(CHAIN)
    flow = fof.compose("chain")
    params = {p.name: p for p in flow.parameters()}
    assert set(params) == {"doubler-x", "adder-b"}
    assert params["doubler-x"].default == 1 and params["adder-b"].default == 10
    assert fof.run_and_return({"adder-b": 100}, task_name="adder/add") == 102


def test_run_and_return_names_a_task_as_child_slash_task_or_a_unique_bare_name(registered):
    fof = FlowOfFlows.from_yaml(CHAIN)
    assert fof.run_and_return({"doubler-x": 1}, task_name="adder/add") == 12
    assert fof.run_and_return({"doubler-x": 1}, task_name="double") == 2
    assert fof.run_and_return({"doubler-x": 1}, task_name="adder/a") == 2  # what adder received


def test_an_unknown_task_name_lists_the_valid_names(registered):
    fof = FlowOfFlows.from_yaml(CHAIN)
    with pytest.raises(TaskNotInFlowError) as info:
        fof.run_and_return(task_name="adder/multiply")
    assert "'adder/add'" in str(info.value) and "'doubler/double'" in str(info.value)


def test_a_bare_name_shared_by_children_is_refused(registered):
    fof = FlowOfFlows(
        name="two",
        project_name="test",
        composing_flows=[{"name": "doubler"}, {"name": "two-incs", "mapped_parameters": {"x": raw("doubler", "double")}}],
    )
    with pytest.raises(TaskNotInFlowError, match="shared by flows"):
        fof.run_and_return(task_name="x")


def test_a_child_without_mapped_parameters_runs_on_its_own_values(registered):
    fof = FlowOfFlows(name="independent", project_name="test", composing_flows=[{"name": "doubler"}, {"name": "adder"}])
    results = fof.run_and_return({"doubler-x": 3, "adder-a": 1})
    assert results["doubler"]["double"] == 6 and results["adder"]["add"] == 11


def test_composing_does_not_change_the_children_and_twice_gives_the_same_flow(registered):
    fof = FlowOfFlows.from_yaml(CHAIN)
    children_before = {n: (c.prefect_flow, set(c.prefect_flow.tasks), dict(c.task_slugs)) for n, c in fof.composing_flows.items()}
    first = fof.compose("chain")
    second = fof.compose("chain")
    assert first is not second
    assert first.serialized_hash() == second.serialized_hash()
    for name, child in fof.composing_flows.items():
        flow, tasks, slugs = children_before[name]
        assert child.prefect_flow is flow and set(flow.tasks) == tasks and child.task_slugs == slugs
    assert ft.adder.name == "adder" and {t.name for t in ft.adder.tasks} == {"a", "b", "add"}


def test_compose_and_register_registers_the_composed_flow(registered):
    fof = FlowOfFlows.from_yaml(CHAIN)
    flow_id = fof.compose_and_register()
    assert fof.flow_id == flow_id
    loaded = Flow(name="chain", project_name="test")
    loaded.load_flow()
    assert loaded.flow_id == flow_id
    assert loaded.run_and_return({"doubler-x": 2}, task_name="adder/add") == 14
    assert fof.compose_and_register() == flow_id  # unchanged: same id


def test_from_yaml_accepts_a_path_a_string_and_a_dict(registered, tmp_path):
    import yaml

    path = tmp_path / "chain.yaml"
    path.write_text(CHAIN)
    for source in (path, str(path), CHAIN, yaml.safe_load(CHAIN)):
        assert FlowOfFlows.from_yaml(source).execution_order() == ["doubler", "adder"]


def test_from_yaml_reads_an_existing_file_whatever_its_suffix(registered, tmp_path):
    path = tmp_path / "chain.fof"
    path.write_text(CHAIN)
    assert FlowOfFlows.from_yaml(str(path)).execution_order() == ["doubler", "adder"]


def test_from_yaml_takes_a_long_one_line_yaml_string(registered):
    text = "{name: " + "x" * 300 + ", project_name: test, composing_flows: [{name: doubler}]}"
    assert "\n" not in text and len(text) > 255  # longer than a file name may be
    assert FlowOfFlows.from_yaml(text).execution_order() == ["doubler"]


def test_from_yaml_with_a_missing_file_says_so(registered, tmp_path):
    with pytest.raises(InvalidFlowOfFlowsError, match="does not exist"):
        FlowOfFlows.from_yaml(str(tmp_path / "nope.yaml"))


def test_composing_flows_may_be_given_as_a_dict_of_flows(registered):
    doubler = Flow(name="doubler", project_name="test")
    adder = Flow(name="adder", project_name="test", mapped_parameters={"a": RawMappedParameter(**raw("doubler", "double"))})
    fof = FlowOfFlows(name="chain", project_name="test", composing_flows={"adder": adder, "doubler": doubler})
    assert fof.run_and_return({"doubler-x": 5}, task_name="adder/add") == 20


def test_a_failing_child_stops_its_descendants_and_lets_independent_branches_finish(registered):
    fof = FlowOfFlows(
        name="partly-failing",
        project_name="test",
        composing_flows=[
            {"name": "failing"},
            {"name": "adder", "mapped_parameters": {"a": raw("failing", "fail")}},
            {"name": "doubler"},
        ],
    )
    seen = {}
    with pytest.raises(FlowFailedError) as info:
        fof.run_and_return({"failing-x": 3}, progress=lambda e: e.state and seen.__setitem__(e.child, e.state))
    assert info.value.failed_tasks == {"failing/fail": "ValueError: cannot handle 3"}
    assert "'failing'" in str(info.value) and "cannot handle 3" in str(info.value)
    assert seen == {"failing": "Failed", "adder": "TriggerFailed", "doubler": "Success"}


def test_a_child_progress_needs_the_flow_of_flows_composed(registered):
    fof = FlowOfFlows.from_yaml(CHAIN)
    with pytest.raises(FlowNotLoadedError, match="not composed yet"):
        ChildProgress(fof, print)


# A diamond: doubler feeds two branches, each waits for the other (ft.BARRIER), and
# meeting-total joins them.
DIAMOND = """
name: diamond
project_name: test
composing_flows:
  - name: doubler
  - name: meeting-a
    mapped_parameters:
      x: {parent_flow_name: doubler, parent_task_name: double}
  - name: meeting-b
    mapped_parameters:
      x: {parent_flow_name: doubler, parent_task_name: double}
  - name: meeting-total
    mapped_parameters:
      a: {parent_flow_name: meeting-a, parent_task_name: meet}
      b: {parent_flow_name: meeting-b, parent_task_name: meet}
"""


def test_the_diamonds_branches_run_at_the_same_time_under_a_parallel_executor(registered):
    ft.BARRIER.reset()
    fof = FlowOfFlows.from_yaml(DIAMOND)
    run_config = LocalRunConfig(executor=ExecutorConfig(type="local_dask", num_workers=2))

    # each branch's task waits for the other's: run one after the other, the first fails
    results = fof.run_and_return({"doubler-x": 3}, run_config)

    a, b = results["meeting-a"]["meet"], results["meeting-b"]["meet"]
    assert max(a["started"], b["started"]) < min(a["finished"], b["finished"])  # they overlapped
    assert (a["value"], b["value"], results["meeting-total"]["total"]) == (6, 6, 12)


def test_a_composed_flow_runs_its_tasks_in_a_topological_order_child_by_child(registered):
    fof = FlowOfFlows.from_yaml(DIAMOND)
    flow = fof.compose("x")
    order = flow.sorted_tasks()
    assert set(order) == flow.tasks and len(order) == len(flow.tasks)
    position = {task: i for i, task in enumerate(order)}
    assert all(position[e.upstream_task] < position[e.downstream_task] for e in flow.edges)
    children = [t.name.partition("/")[0] for t in order if "/" in t.name]
    assert list(dict.fromkeys(children)) == fof.execution_order()
    assert children == sorted(children, key=fof.execution_order().index)  # no child interleaved


# --- validation ------------------------------------------------------------------


def make(composing_flows):
    return FlowOfFlows(name="fof", project_name="test", composing_flows=composing_flows)


def test_a_mapped_parameter_that_the_child_does_not_have_is_refused(registered):
    with pytest.raises(ParameterNotInFlowError) as info:
        make([{"name": "doubler"}, {"name": "adder", "mapped_parameters": {"c": raw("doubler", "double")}}])
    assert str(info.value) == (
        "flow 'adder' maps parameter(s) ['c'], but flow 'adder' has no parameter 'c'; "
        "parameters of 'adder': 'a', 'b'"
    )


def test_a_parent_that_is_not_a_composing_flow_is_refused(registered):
    with pytest.raises(ParentFlowNotInFlowsError) as info:
        make([{"name": "adder", "mapped_parameters": {"a": raw("tripler", "triple")}}, {"name": "doubler"}])
    assert str(info.value) == (
        "flow 'adder' maps parameter 'a' from flow 'tripler', which is not one of the "
        "composing flows; composing flows: 'adder', 'doubler'"
    )


def test_a_parent_task_that_the_parent_does_not_have_is_refused(registered):
    with pytest.raises(TaskNotInFlowError) as info:
        make([{"name": "doubler"}, {"name": "adder", "mapped_parameters": {"a": raw("doubler", "triple")}}])
    assert str(info.value) == (
        "flow 'adder' maps parameter 'a' from task 'triple' of 'doubler', but flow 'doubler' "
        "has no task 'triple'; tasks of 'doubler': 'double', 'x'"
    )


def test_an_unknown_map_type_is_refused(registered):
    mapping = {**raw("doubler", "double"), "map_type": "carrier-pigeon"}
    with pytest.raises(UnknownMapTypeError) as info:
        make([{"name": "doubler"}, {"name": "adder", "mapped_parameters": {"a": mapping}}])
    assert "'carrier-pigeon'" in str(info.value) and "'raw', 'file', 'db'" in str(info.value)


def test_a_db_mapping_without_attribute_is_refused(registered):
    mapping = {**raw("doubler", "double"), "map_type": "db"}
    with pytest.raises(MissingDBAttributeError, match="flow 'adder' maps parameter 'a' with map_type 'db' but gives no 'attribute'"):
        make([{"name": "doubler"}, {"name": "adder", "mapped_parameters": {"a": mapping}}])


def test_a_db_mapping_with_an_empty_attribute_is_refused_as_one_without(registered):
    empty = DBMappedParameter(parent_flow_name="doubler", parent_task_name="double", attribute="")
    with pytest.raises(MissingDBAttributeError, match="flow 'adder' maps parameter 'a' with map_type 'db'"):
        make([{"name": "doubler"}, {"name": "adder", "mapped_parameters": {"a": empty}}])


def test_duplicate_child_names_are_refused(registered):
    with pytest.raises(DuplicateFlowNameError, match="duplicated: 'doubler'"):
        make([{"name": "doubler"}, {"name": "adder"}, {"name": "doubler"}])


def test_an_unregistered_child_is_refused_listing_the_registered_flows(registered):
    with pytest.raises(FlowNotFoundError) as info:
        make([{"name": "doubler"}, {"name": "tripler"}])
    assert "'tripler'" in str(info.value) and "'adder', 'doubler', 'failing'" in str(info.value)


def test_a_cycle_is_refused_naming_its_flows(registered):
    with pytest.raises(FlowCycleError) as info:
        make(
            [
                {"name": "two-incs", "mapped_parameters": {"x": raw("adder", "add")}},
                {"name": "doubler", "mapped_parameters": {"x": raw("two-incs", "inc-2")}},
                {"name": "adder", "mapped_parameters": {"a": raw("doubler", "double")}},
            ]
        )
    message = str(info.value)
    assert "cycle" in message
    assert info.value.cycle == ["two-incs", "doubler", "adder"]
    assert "'two-incs' -> 'doubler' -> 'adder' -> 'two-incs'" in message


def test_a_child_mapping_from_itself_is_a_cycle(registered):
    with pytest.raises(FlowCycleError, match="'two-incs' -> 'two-incs'"):
        make([{"name": "two-incs", "mapped_parameters": {"x": raw("two-incs", "inc-1")}}])


def test_exposed_parameter_names_that_would_clash_are_refused(lume_home):
    from prefect import Flow as PrefectFlow
    from prefect import Parameter

    with PrefectFlow("a") as a:
        ft.inc(Parameter("b-c"))
    with PrefectFlow("a-b") as ab:
        ft.inc(Parameter("c"))
    Flow(name="a", project_name="test", prefect_flow=a).register()
    Flow(name="a-b", project_name="test", prefect_flow=ab).register()
    with pytest.raises(InvalidFlowOfFlowsError, match="'a-b-c' from 'b-c' of 'a' and 'c' of 'a-b'"):
        make([{"name": "a"}, {"name": "a-b"}])


def test_a_child_without_a_name_is_refused(registered):
    with pytest.raises(InvalidFlowOfFlowsError, match="composing flow #2 has no name"):
        make([{"name": "doubler"}, {"project_name": "test"}])


def test_validation_does_not_load_children_again_on_assignment(registered):
    fof = FlowOfFlows.from_yaml(CHAIN)
    flows_before = {n: c.prefect_flow for n, c in fof.composing_flows.items()}
    fof.labels = ["other"]
    assert {n: c.prefect_flow for n, c in fof.composing_flows.items()} == flows_before
    assert fof.labels == ["other"]


def test_a_child_registered_again_since_the_flow_of_flows_was_built_is_warned_of(registered):
    from lume_services.flows.flow_of_flows import ChildReregisteredWarning

    from prefect import Flow as PrefectFlow
    from prefect import Parameter

    fof = FlowOfFlows.from_yaml(CHAIN)
    with PrefectFlow("doubler") as changed:
        ft.double(Parameter("x", default=2))  # a new default: a new version
    Flow(name="doubler", project_name="test", prefect_flow=changed).register()
    with pytest.warns(ChildReregisteredWarning, match="'doubler' registered again since it was built"):
        fof.run_and_return({"doubler-x": 1})
    assert FlowOfFlows.from_yaml(CHAIN).warn_if_children_reregistered() == []


def test_both_composers_build_the_db_loader_alike(registered):
    """The inline composer (local runs) and the per-child one (server runs) read a db mapping with
    the same task: a LoadDBResult named "<child>/<parameter>" holding the mapping's attribute path."""
    from lume_services.flows._compose_inline import compose_inline
    from lume_services.flows._compose_per_child import compose_per_child
    from lume_services.tasks import LoadDBResult

    Flow(name="store-words", project_name="test", prefect_flow=ft.store_words).register()
    fof = FlowOfFlows.from_yaml(
        "name: db-mapped\nproject_name: test\ncomposing_flows:\n  - name: store-words\n  - name: doubler\n"
        "    mapped_parameters:\n      x: {parent_flow_name: store-words, parent_task_name: save_db_result,"
        " map_type: db, attribute: outputs, attribute_index: [length]}\n"
    )

    def loaders(composed):
        return [(t.name, t.attribute, t.attribute_index) for t in composed.tasks if isinstance(t, LoadDBResult)]

    assert loaders(compose_inline(fof)) == loaders(compose_per_child(fof)) == [("doubler/x", "outputs", ["length"])]


REFERENCE_STYLE = """
name: chain
project_name: test
composing_flows:
  - name: doubler
    project_name: test
  - name: adder
    project_name: test
    mapped_parameters:
      a: {parent_flow_name: doubler, parent_project_name: %s, parent_task_name: double}
"""


def test_a_mapping_may_name_its_parents_project_as_the_references_declarations_do(registered):
    fof = FlowOfFlows.from_yaml(REFERENCE_STYLE % "test")
    assert fof.composing_flows["adder"].mapped_parameters["a"].parent_project_name == "test"
    assert fof.run_and_return({"doubler-x": 1}, task_name="adder/add") == 12


def test_a_mapping_naming_another_project_than_its_parents_is_refused(registered):
    from lume_services.errors import ParentProjectMismatchError

    with pytest.raises(ParentProjectMismatchError, match="project 'elsewhere'.*in project 'test'"):
        FlowOfFlows.from_yaml(REFERENCE_STYLE % "elsewhere")
