"""The reference flow models: fields, defaults, mapped-parameter validation."""

from datetime import timedelta
from typing import Dict, List

import prefect
import pytest
from pydantic import ValidationError

import flows_for_tests as ft
from lume_services.flows.flow import (
    DBMappedParameter,
    FileMappedParameter,
    Flow,
    FlowConfig,
    FlowRunConfig,
    MappedParameter,
    RawMappedParameter,
)
from lume_services.services.scheduling.backend import RunConfig


def test_flow_fields_match_the_reference():
    fields = Flow.__fields__
    assert list(fields) == [
        "name",
        "flow_id",
        "project_name",
        "prefect_flow",
        "parameters",
        "mapped_parameters",
        "task_slugs",
        "labels",
        "image",
    ]
    assert fields["name"].outer_type_ is str and fields["name"].required
    assert fields["flow_id"].outer_type_ is str and not fields["flow_id"].required
    assert fields["prefect_flow"].outer_type_ is prefect.Flow
    assert fields["parameters"].outer_type_ == Dict[str, prefect.Parameter]
    assert fields["mapped_parameters"].outer_type_ == Dict[str, MappedParameter]
    assert fields["task_slugs"].outer_type_ == Dict[str, str]
    assert fields["labels"].default == ["lume-services"]
    assert fields["image"].default == "build-test:latest"
    assert Flow.__config__.arbitrary_types_allowed and Flow.__config__.validate_assignment


def test_flow_run_config_fields_match_the_reference():
    config = FlowRunConfig()
    assert config.poll_interval == timedelta(seconds=10)
    assert config.scheduled_start_time is None and config.parameters is None
    assert FlowRunConfig.__fields__["run_config"].outer_type_ is RunConfig
    assert FlowRunConfig.__fields__["labels"].outer_type_ == List[str]
    assert FlowConfig(image="img", env=["A=1"]).env == ["A=1"]
    assert FlowConfig.__fields__["image"].outer_type_ is str


def test_mapped_parameter_types_and_defaults():
    assert MappedParameter(parent_flow_name="a", parent_task_name="t").map_type == "raw"
    assert RawMappedParameter(parent_flow_name="a", parent_task_name="t").map_type == "raw"
    assert FileMappedParameter(parent_flow_name="a", parent_task_name="t").map_type == "file"
    db = DBMappedParameter(parent_flow_name="a", parent_task_name="t", attribute="outputs")
    assert db.map_type == "db" and db.attribute_index is None
    assert DBMappedParameter.__fields__["attribute_index"].outer_type_ == List[str]
    with pytest.raises(ValidationError):
        FileMappedParameter(parent_flow_name="a", parent_task_name="t", map_type="raw")


def test_mapped_parameters_become_the_type_of_their_map_type():
    flow = Flow(
        name="f",
        mapped_parameters={
            "plain": {"parent_flow_name": "a", "parent_task_name": "t"},
            "file": {"parent_flow_name": "a", "parent_task_name": "t", "map_type": "file"},
            "db": {
                "parent_flow_name": "a",
                "parent_task_name": "t",
                "map_type": "db",
                "attribute": "outputs",
                "attribute_index": ["x"],
            },
            "kept": FileMappedParameter(parent_flow_name="b", parent_task_name="u"),
        },
    )
    mapped = flow.mapped_parameters
    assert type(mapped["plain"]) is RawMappedParameter
    assert type(mapped["file"]) is FileMappedParameter
    assert type(mapped["db"]) is DBMappedParameter and mapped["db"].attribute_index == ["x"]
    assert type(mapped["kept"]) is FileMappedParameter and mapped["kept"].parent_flow_name == "b"


def test_unknown_map_type_is_a_validation_error_naming_parameter_and_allowed_types():
    with pytest.raises(ValidationError) as info:
        Flow(name="f", mapped_parameters={"x": {"parent_flow_name": "a", "parent_task_name": "t", "map_type": "ftp"}})
    message = str(info.value)
    assert "'x'" in message and "'ftp'" in message
    assert "'raw'" in message and "'file'" in message and "'db'" in message


def test_mapped_parameter_that_is_not_a_mapping_is_a_validation_error():
    with pytest.raises(ValidationError, match="mapped parameter 'x' of flow 'f' must be a mapping"):
        Flow(name="f", mapped_parameters={"x": 42})


def test_a_db_mapping_without_attribute_is_refused_by_the_flow_model_as_by_a_declaration():
    with pytest.raises(ValidationError, match="flow 'f' maps parameter 'x' with map_type 'db' but gives no 'attribute'"):
        Flow(name="f", mapped_parameters={"x": {"parent_flow_name": "a", "parent_task_name": "t", "map_type": "db"}})


def test_a_db_mapped_parameter_with_an_empty_attribute_is_refused_by_the_flow_model():
    empty = DBMappedParameter(parent_flow_name="a", parent_task_name="t", attribute="")
    with pytest.raises(ValidationError, match="map_type 'db' but gives no 'attribute'"):
        Flow(name="f", mapped_parameters={"x": empty})


def test_a_key_of_another_map_type_is_refused_by_the_flow_model():
    raw_with_attribute = {"parent_flow_name": "a", "parent_task_name": "t", "attribute": "outputs"}
    with pytest.raises(ValidationError, match="has map_type 'raw', which takes no 'attribute'"):
        Flow(name="f", mapped_parameters={"x": raw_with_attribute})


def test_parameters_and_task_slugs_come_from_the_prefect_flow():
    flow = Flow(name="two-incs", prefect_flow=ft.two_incs)
    assert set(flow.parameters) == {"x"}
    assert isinstance(flow.parameters["x"], prefect.Parameter)
    assert flow.task_slugs == {"x": "x", "inc": "inc-1"}


def test_assigning_a_prefect_flow_refreshes_parameters():
    flow = Flow(name="f")
    assert flow.parameters is None
    flow.prefect_flow = ft.adder
    assert set(flow.parameters) == {"a", "b"}


def test_assignment_is_validated():
    flow = Flow(name="f")
    with pytest.raises(ValidationError):
        flow.prefect_flow = "not a flow"


def test_optional_fields_default_to_none():
    flow = Flow(name="f")
    assert flow.flow_id is None and flow.project_name is None
    assert flow.mapped_parameters is None and flow.task_slugs is None
    assert Flow.__fields__["project_name"].outer_type_ is str
    assert Flow.__fields__["labels"].outer_type_ == List[str]
