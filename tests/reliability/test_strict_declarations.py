"""A typo in a flow-of-flows declaration is refused before anything runs, never silently dropped."""

import pytest

import flows_for_tests as ft
from lume_services import errors
from lume_services.flows.flow import Flow
from lume_services.flows.flow_of_flows import FlowOfFlows


@pytest.fixture
def registered(lume_home):
    for name, flow in [("doubler", ft.doubler), ("adder", ft.adder)]:
        Flow(name=name, project_name="test", prefect_flow=flow).register()


def declaration(*children, **top):
    return {"name": "fof", "project_name": "test", "composing_flows": list(children), **top}


def raw(parent="doubler", task="double", **more):
    return {"parent_flow_name": parent, "parent_task_name": task, **more}


ADDER_FROM_DOUBLER = {"name": "adder", "mapped_parameters": {"a": raw()}}


def test_a_misspelled_child_key_is_refused_naming_it_and_the_closest_valid_key(registered):
    child = {"name": "adder", "maped_parameters": {"a": raw()}}

    with pytest.raises(errors.UnknownDeclarationKeyError) as info:
        FlowOfFlows.from_yaml(declaration({"name": "doubler"}, child))

    exc = info.value
    assert (exc.key, exc.part, exc.child, exc.suggestion) == ("maped_parameters", "composing_flow", "adder", "mapped_parameters")
    assert "composing flow 'adder' has unknown key 'maped_parameters'; did you mean 'mapped_parameters'?" in str(exc)


def test_a_misspelled_mapping_key_is_refused(registered):
    child = {"name": "adder", "mapped_parameters": {"a": {"parent_flow_name": "doubler", "parent_tsk": "double"}}}

    with pytest.raises(errors.UnknownDeclarationKeyError, match="did you mean 'parent_task_name'") as info:
        FlowOfFlows.from_yaml(declaration({"name": "doubler"}, child))
    assert (info.value.child, info.value.parameter) == ("adder", "a")


def test_a_misspelled_map_type_key_is_refused_not_read_as_a_raw_mapping(registered):
    child = {"name": "adder", "mapped_parameters": {"a": raw(map_typ="db")}}

    with pytest.raises(errors.UnknownDeclarationKeyError, match="did you mean 'map_type'"):
        FlowOfFlows.from_yaml(declaration({"name": "doubler"}, child))


def test_an_unknown_top_level_key_is_refused(registered):
    with pytest.raises(errors.UnknownDeclarationKeyError, match="top level .* 'composing_flow'.*did you mean 'composing_flows'"):
        FlowOfFlows.from_yaml({"name": "fof", "composing_flow": [{"name": "doubler"}], "composing_flows": [{"name": "doubler"}]})


@pytest.mark.parametrize("key, value", [("attribute", "outputs"), ("attribute_index", ["x"])])
def test_a_db_key_on_a_raw_mapping_is_refused_naming_the_map_type_it_belongs_to(registered, key, value):
    child = {"name": "adder", "mapped_parameters": {"a": raw(**{key: value})}}

    with pytest.raises(errors.KeyNotForMapTypeError) as info:
        FlowOfFlows.from_yaml(declaration({"name": "doubler"}, child))
    assert (info.value.key, info.value.map_type, info.value.belongs_to) == (key, "raw", ["db"])


def test_a_db_key_on_a_file_mapping_is_refused(registered):
    child = {"name": "adder", "mapped_parameters": {"a": raw(map_type="file", attribute="outputs")}}

    with pytest.raises(errors.KeyNotForMapTypeError, match="map_type 'file', which takes no 'attribute'"):
        FlowOfFlows.from_yaml(declaration({"name": "doubler"}, child))


def test_nothing_is_loaded_before_an_unknown_key_is_refused(lume_home):
    # no flow is registered: a loader would raise FlowNotFoundError first
    child = {"name": "adder", "maped_parameters": {}}
    with pytest.raises(errors.UnknownDeclarationKeyError):
        FlowOfFlows.from_yaml(declaration({"name": "doubler"}, child))


DUPLICATED_CHILD = """
name: fof
project_name: test
composing_flows:
  adder:
    mapped_parameters:
      a: {parent_flow_name: doubler, parent_task_name: double}
  doubler:
  adder:
"""


def test_a_duplicate_yaml_key_is_refused_with_its_line_and_column(registered):
    with pytest.raises(errors.DuplicateDeclarationKeyError) as info:
        FlowOfFlows.from_yaml(DUPLICATED_CHILD)
    assert (info.value.key, info.value.line, info.value.column, info.value.first_line) == ("adder", 9, 3, 5)
    assert str(info.value).startswith("<string>:9:3: key 'adder' is given twice")


def test_a_duplicate_key_in_a_yaml_file_names_the_file(registered, tmp_path):
    path = tmp_path / "fof.yaml"
    path.write_text("name: a\nname: b\ncomposing_flows: [{name: doubler}]\n")
    with pytest.raises(errors.DuplicateDeclarationKeyError, match=f"{path}:2:1: key 'name'"):
        FlowOfFlows.from_yaml(str(path))


def test_malformed_yaml_names_the_file_line_and_column(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: fof\ncomposing_flows:\n  - name: [doubler\n")
    with pytest.raises(errors.DeclarationYAMLError) as info:
        FlowOfFlows.from_yaml(path)
    assert info.value.source == str(path) and info.value.line == 4
    assert str(info.value).startswith(f"{path}:4:")


def test_empty_composing_flows_are_refused_with_the_rule():
    with pytest.raises(errors.NoComposingFlowsError, match="at least one registered flow"):
        FlowOfFlows.from_yaml(declaration())


@pytest.mark.parametrize("name", ["", "  "])
def test_an_empty_flow_of_flows_name_is_refused(registered, name):
    with pytest.raises(errors.InvalidDeclarationNameError, match="non-empty name"):
        FlowOfFlows.from_yaml({"name": name, "composing_flows": [{"name": "doubler"}]})


@pytest.mark.parametrize("name", ["", "a/b"])
def test_a_child_name_that_cannot_be_addressed_is_refused_with_the_rule(registered, name):
    with pytest.raises(errors.InvalidDeclarationNameError, match="without '/'") as info:
        FlowOfFlows.from_yaml(declaration({"name": name}))
    assert info.value.role == "composing_flow" and info.value.position == 1


def test_a_child_keyed_by_a_name_with_a_slash_is_refused(registered):
    with pytest.raises(errors.InvalidDeclarationNameError):
        FlowOfFlows.from_yaml({"name": "fof", "composing_flows": {"dou/bler": None}})


def test_a_wrong_value_in_a_child_names_the_flow_and_the_field(registered):
    with pytest.raises(errors.InvalidDeclarationValueError) as info:
        FlowOfFlows.from_yaml(declaration({"name": "doubler", "labels": {"a": 1}}))
    assert info.value.flow_name == "doubler"
    assert "flow 'doubler' in the declaration has an invalid value: labels:" in str(info.value)


def test_a_wrong_value_in_a_mapping_names_the_flow_and_the_parameter(registered):
    child = {"name": "adder", "mapped_parameters": {"a": raw(map_type="db", attribute="outputs", attribute_index=3)}}
    with pytest.raises(errors.InvalidDeclarationValueError) as info:
        FlowOfFlows.from_yaml(declaration({"name": "doubler"}, child))
    assert (info.value.flow_name, info.value.parameter) == ("adder", "a")
    assert "attribute_index" in str(info.value)


def test_a_wrong_value_at_the_top_level_names_the_flow_of_flows(registered):
    with pytest.raises(errors.InvalidDeclarationValueError, match="flow 'fof' .* labels"):
        FlowOfFlows.from_yaml(declaration({"name": "doubler"}, labels=3))


def test_every_declaration_error_is_an_invalid_flow_of_flows_error():
    for cls in (errors.UnknownDeclarationKeyError, errors.KeyNotForMapTypeError, errors.DuplicateDeclarationKeyError,
                errors.DeclarationYAMLError, errors.InvalidDeclarationNameError, errors.NoComposingFlowsError,
                errors.InvalidDeclarationValueError):
        assert issubclass(cls, errors.InvalidFlowOfFlowsError)


def test_a_correct_declaration_still_runs(registered):
    fof = FlowOfFlows.from_yaml(declaration({"name": "doubler"}, ADDER_FROM_DOUBLER))
    assert fof.run_and_return({"doubler-x": 2}, task_name="adder/add") == 14
