"""A mapping names one parent task, or is refused.

A parent that calls a task more than once (``two-incs``: ``inc`` twice, slugs
``inc-1`` and ``inc-2``) has one task name and several results. Mapping by that
name was accepted and the child got the first result while ``run_and_return``
reported both; now it is refused at validation naming the slugs, and a mapping
by slug maps exactly that task run, on the local backend and on a server.
"""

from datetime import timedelta

import pytest

import flows_for_tests as ft
from lume_services.errors import AmbiguousParentTaskError, InvalidFlowOfFlowsError, TaskNotInFlowError
from lume_services.flows.flow import Flow, FlowRunConfig
from lume_services.flows.flow_of_flows import FlowOfFlows


def _declaration(parent_task_name, project):
    return {
        "name": "loop-then-double",
        "project_name": project,
        "composing_flows": [
            {"name": "two-incs"},
            {"name": "doubler", "mapped_parameters": {"x": {"parent_flow_name": "two-incs",
                                                            "parent_task_name": parent_task_name}}},
        ],
    }


def _register(project):
    Flow(name="two-incs", project_name=project, prefect_flow=ft.two_incs).register()
    Flow(name="doubler", project_name=project, prefect_flow=ft.doubler).register()


def test_a_task_name_shared_by_several_task_runs_is_refused_naming_their_slugs():
    _register("ambiguous")

    with pytest.raises(AmbiguousParentTaskError) as raised:
        FlowOfFlows.from_yaml(_declaration("inc", "ambiguous"))

    assert raised.value.slugs == ["inc-1", "inc-2"]
    assert "'inc-1', 'inc-2'" in str(raised.value) and "parent_task_name" in str(raised.value)
    assert isinstance(raised.value, InvalidFlowOfFlowsError)


@pytest.mark.parametrize("slug, expected", [("inc-1", 8), ("inc-2", 10)])
def test_a_mapping_by_slug_maps_that_task_run_locally(slug, expected):
    _register("by-slug")
    fof = FlowOfFlows.from_yaml(_declaration(slug, "by-slug"))

    results = fof.run_and_return({"two-incs-x": 3})

    assert results["two-incs"]["inc"] == [4, 5]
    assert results["doubler"]["double"] == expected


def test_a_slug_the_parent_does_not_have_is_refused_naming_its_tasks():
    _register("no-slug")

    with pytest.raises(TaskNotInFlowError) as raised:
        FlowOfFlows.from_yaml(_declaration("inc-3", "no-slug"))

    assert "inc-3" in str(raised.value) and "'inc'" in str(raised.value)


@pytest.mark.server
def test_a_mapping_by_slug_maps_that_task_run_on_a_server(server_backend):
    _register("by-slug-server")
    fof = FlowOfFlows.from_yaml(_declaration("inc-2", "by-slug-server"))

    results = fof.run_and_return({"two-incs-x": 3}, FlowRunConfig(poll_interval=timedelta(seconds=0.2)))

    assert results["doubler"]["double"] == 10
