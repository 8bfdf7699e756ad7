"""Image names are always valid Docker references, and distinct flow names get distinct images."""

import re

import pytest

from lume_services.flows.flow_of_flows import FlowOfFlows
from lume_services.services.scheduling.backends.images.flow_images import flow_image_name

# Docker's reference grammar for a repository path component (lower case, separators inside)
VALID = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")


def composed_name(name, project="rel"):
    fof = FlowOfFlows.construct(name=name, project_name=project, composing_flows={})
    return fof.composed_image_name()[0]


NAMES = ["fof-ä", "fof-ö", "FOF_Ö", "フロー", "---", "é", "a" * 300, "a" * 301, "flow_1", "flow-1", "Flow 1"]


@pytest.mark.parametrize("name_of", [composed_name, lambda n: flow_image_name(n, "rel")], ids=["composed", "flow"])
def test_every_name_gives_a_valid_reference(name_of):
    for name in NAMES:
        image = name_of(name)
        assert VALID.fullmatch(image), (name, image)
        assert len(image) <= 128


@pytest.mark.parametrize("name_of", [composed_name, lambda n: flow_image_name(n, "rel")], ids=["composed", "flow"])
def test_distinct_names_give_distinct_images(name_of):
    images = [name_of(name) for name in NAMES]
    assert len(set(images)) == len(NAMES), images


def test_names_already_in_image_form_stay_readable():
    assert flow_image_name("diamond", "test") == "lume-flow-test-diamond"
    assert composed_name("diamond", "test") == "lume-flow-test-diamond"


def test_transliterated_names_keep_their_letters():
    assert flow_image_name("fof-ä", "rel").startswith("lume-flow-rel-fof-a-")


@pytest.mark.parametrize("pairs", [
    [("x", "rel-y"), ("y-x", "rel")],            # a project's dash moved into the flow
    [("y-x", None), ("x", "y")],                 # no project against a one-word project
    [("a-b-c", "p-q"), ("q-a-b-c", "p"), ("b-c", "p-q-a")],
])
def test_distinct_project_and_flow_pairs_give_distinct_images(pairs):
    images = [flow_image_name(flow, project) for flow, project in pairs]

    assert len(set(images)) == len(pairs), images
    assert all(VALID.fullmatch(image) for image in images)


def test_a_project_with_a_dash_keeps_its_words_and_gains_a_hash():
    image = flow_image_name("save-text", "my-project")

    assert re.fullmatch(r"lume-flow-my-project-save-text-[0-9a-f]{8}", image)


def test_a_flow_without_a_project_stays_readable_when_it_is_one_word():
    assert flow_image_name("adder") == "lume-flow-adder"
