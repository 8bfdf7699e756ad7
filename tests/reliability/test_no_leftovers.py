"""Images and containers made by tests and benchmarks can all be removed by label, untagged ones too."""

import io
import uuid

import pytest

from fixtures.docker_engine import docker_engine  # noqa: F401  (pytest fixture)

pytestmark = pytest.mark.docker


def build_labelled(client, tag, labels):
    dockerfile = "FROM scratch\n" + "".join(f'LABEL {k}="{v}"\n' for k, v in labels.items())
    image, _ = client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True)
    return image


def test_images_with_a_label_go_tagged_or_dangling_with_their_containers(docker_engine):
    from lume_services.services.scheduling.backends.images.engine import LABEL_PROJECT, remove_images

    project = f"leftover-test-{uuid.uuid4().hex[:8]}"
    tag = f"lume-leftover-test:{project}"
    first = build_labelled(docker_engine, tag, {LABEL_PROJECT: project, "n": "1"})
    second = build_labelled(docker_engine, tag, {LABEL_PROJECT: project, "n": "2"})  # first is now dangling
    container = docker_engine.containers.create(second.id, command="none")

    removed = remove_images({LABEL_PROJECT: project}, docker_engine)

    assert set(removed) == {first.id, second.id}
    assert docker_engine.images.list(all=True, filters={"label": f"{LABEL_PROJECT}={project}"}) == []
    assert container.id not in {c.id for c in docker_engine.containers.list(all=True)}


def test_images_without_the_label_are_left(docker_engine):
    from lume_services.services.scheduling.backends.images.engine import LABEL_PROJECT, remove_images

    project = f"leftover-test-{uuid.uuid4().hex[:8]}"
    other = build_labelled(docker_engine, f"lume-leftover-test:{project}", {LABEL_PROJECT: "someone-else-" + project})
    try:
        assert remove_images({LABEL_PROJECT: project}, docker_engine) == []
        assert docker_engine.images.get(other.id)
    finally:
        docker_engine.images.remove(other.id, force=True)
