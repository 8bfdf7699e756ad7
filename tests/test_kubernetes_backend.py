"""KubernetesBackend keeps flows in the same flow images as the Docker backend.

No cluster can run on the CI machines: these tests check the storage the
backend builds, and, on a real Docker engine, the image registering a flow
builds and what the server (the protocol double) records for the
``KubernetesAgent``, which runs the image named by the flow's storage.
"""

import warnings

import pytest

from fixtures.docker_engine import (  # noqa: F401  (pytest fixtures)
    TEST_PROJECT,
    docker_engine,
    flow_image_cleanup,
    local_base_image,
    runtime_image,
)
from lume_services.errors import ImageBuildError
from lume_services.services.scheduling.backends.images import engine, flow_images
from lume_services.services.scheduling.backends.kubernetes import KubernetesBackend


def make_flow(name="k8s-adder"):
    """x + y; built here so that cloudpickle stores its code by value in the image."""
    from prefect import Flow, Parameter, task

    @task
    def add(x, y):
        return x + y

    with Flow(name) as flow:
        add(Parameter("x"), Parameter("y", default=2))
    return flow


def test_registered_flows_are_kept_in_lume_services_docker_storage_pushed_to_the_registry():
    storage = KubernetesBackend(registry_url="registry.example:5000").build_storage(
        make_flow(), "lume-services:1", project_name="Project A"
    )

    assert type(storage) is flow_images.Docker
    assert storage.image_name == "lume-flow-project-a-k8s-adder-8378d26c"  # a hash: "Project A" is not in image form
    assert storage.image_tag is None  # the flow hash, when it is built
    assert (storage.base_image, storage.registry_url, storage.local_image) == (
        "lume-services:1", "registry.example:5000", True
    )
    assert storage.project_name == "Project A"


def test_a_composed_flow_of_flows_is_kept_in_lume_services_docker_storage_pushed_to_the_registry():
    storage = KubernetesBackend(registry_url="registry.example:5000").build_flow_of_flows_storage(
        "my-flows:1.0", "composed", "v2", local=True, project_name="lume"
    )

    assert type(storage) is flow_images.Docker
    assert (storage.base_image, storage.name, storage.local_image) == (
        "my-flows:1.0", "registry.example:5000/composed:v2", True
    )
    assert storage.project_name == "lume"


@pytest.fixture
def kubernetes_backend(prefect_protocol_double):
    """A KubernetesBackend on the protocol double that pushes nowhere (the engine is shared)."""
    from lume_services.config import PrefectConfig

    double = prefect_protocol_double
    return KubernetesBackend(
        config=PrefectConfig(
            server={"host": "http://127.0.0.1", "host_port": double.port, "graphql_path": double.path}
        )
    )


@pytest.mark.docker
@pytest.mark.server
def test_registering_builds_a_labelled_flow_image_that_the_server_names_for_the_agent(
    kubernetes_backend, docker_engine, runtime_image, flow_image_cleanup
):
    flow = make_flow()

    flow_id = kubernetes_backend.register_flow(flow, TEST_PROJECT, image=runtime_image, labels=["k8s"])

    stored = kubernetes_backend.load_flow_by_id(flow_id)["storage"]
    flow_image_cleanup.append(stored.name)
    labels = engine.image_labels(stored.name, docker_engine)
    assert stored.name == f"{flow_images.flow_image_name('k8s-adder', TEST_PROJECT)}:{labels[engine.LABEL_FLOW_HASH][:12]}"
    assert labels[engine.LABEL_FLOW_NAME] == "k8s-adder"
    assert labels[engine.LABEL_PROJECT] == TEST_PROJECT
    assert labels[engine.LABEL_BASE_IMAGE] == runtime_image
    assert flow.storage is None  # the caller's flow is not changed


@pytest.mark.docker
@pytest.mark.server
def test_registering_an_unchanged_flow_again_reuses_its_image_and_id(
    kubernetes_backend, docker_engine, runtime_image, flow_image_cleanup
):
    first = kubernetes_backend.register_flow(make_flow(), TEST_PROJECT, image=runtime_image, labels=["k8s"])
    image = kubernetes_backend.load_flow_by_id(first)["storage"].name
    flow_image_cleanup.append(image)
    image_id = docker_engine.images.get(image).id

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        again = kubernetes_backend.register_flow(make_flow(), TEST_PROJECT, image=runtime_image, labels=["k8s"])

    assert [str(w.message) for w in caught] == []
    assert again == first
    assert docker_engine.images.get(image).id == image_id


@pytest.mark.docker
@pytest.mark.server
def test_a_missing_base_image_is_a_clear_build_error(kubernetes_backend, docker_engine):
    with pytest.raises(ImageBuildError) as info:
        kubernetes_backend.register_flow(make_flow(), TEST_PROJECT, image="lume-no-such-base:1")

    assert "base image 'lume-no-such-base:1' does not exist" in str(info.value)
