"""Flows registered on the Docker backend run in containers through a real Prefect ``DockerAgent``.

The server side is the Prefect 1 Server protocol double (tests/prefect_server_double);
everything else is real: the flow's image is built on the engine, the agent
(``prefect agent docker start`` in a subprocess) starts a container from it, and
the flow runner in the container (``prefect execute flow-run``) loads the flow
from the image and reports states and results to the double over HTTP. Run
containers use the host's network, so they reach the double on 127.0.0.1.
"""

import os
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest

from fixtures.docker_engine import (  # noqa: F401  (pytest fixtures)
    SESSION_ID,
    TEST_PROJECT,
    docker_engine,
    flow_image_cleanup,
    local_base_image,
    runtime_image,
)
from fixtures.server import _free_port, agent_environment
from lume_services.services.scheduling.backends.images.flow_images import flow_image_name

pytestmark = [pytest.mark.docker, pytest.mark.server, pytest.mark.timeout(600)]

#: the label of Docker runs: the session's LocalAgent (label lume-services) leaves them alone
DOCKER_LABELS = ["lume-docker"]


@pytest.fixture(scope="session")
def docker_agent(prefect_protocol_double, docker_engine, runtime_image, tmp_path_factory):
    """A real Prefect ``DockerAgent`` (subprocess) with the label ``lume-docker``."""
    import requests

    double = prefect_protocol_double
    workdir = tmp_path_factory.mktemp("docker-agent")
    address = f"http://127.0.0.1:{_free_port()}"
    log_path = workdir / "agent.log"
    registered = threading.Event()
    double.store.on_agent_registered.append(lambda agent_id: registered.set())
    command = [
        sys.executable, "-m", "prefect", "agent", "docker", "start",
        "--no-pull", "--agent-address", address, "--show-flow-logs",
        # a heartbeat thread instead of a heartbeat process per run
        "--env", "PREFECT__CLOUD__HEARTBEAT_MODE=thread",
    ]
    for label in DOCKER_LABELS:
        command += ["--label", label]
    log = open(log_path, "w")
    process = subprocess.Popen(
        command,
        env=agent_environment(double, workdir / "lume-home"),
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=str(workdir),
    )

    def poke(flow_run_id):
        try:
            requests.get(f"{address}/api/poke", timeout=2)
        except requests.RequestException:
            pass  # the agent polls anyway

    double.store.on_flow_run_created.append(poke)
    try:
        deadline = time.monotonic() + 60
        while not registered.wait(0.1):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the DockerAgent did not register; its log:\n{log_path.read_text()}")
        yield {"labels": DOCKER_LABELS, "log": log_path, "process": process}
    finally:
        double.store.on_flow_run_created.remove(poke)
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
def docker_service(prefect_protocol_double, docker_agent, lume_home, tmp_path):
    """A scheduling service on a DockerBackend pointed at the double; run containers use the host network."""
    from lume_services.config import PrefectConfig
    from lume_services.services.scheduling import SchedulingService
    from lume_services.services.scheduling.backends.docker import DockerBackend

    double = prefect_protocol_double
    backend = DockerBackend(
        config=PrefectConfig(
            server={"host": "http://127.0.0.1", "host_port": double.port, "graphql_path": double.path}
        ),
        network_mode="host",
        poll_interval=0.2,
        timeout=180,
    )
    return SchedulingService(backend)


def make_flow(name: str):
    """x + y, doubled; built here so that cloudpickle stores its code by value in the image."""
    from prefect import Flow, Parameter, task

    @task
    def add(x, y):
        return x + y

    @task
    def double(value):
        return 2 * value

    @task
    def where():
        return {"in_container": os.path.exists("/.dockerenv"), "image": os.environ.get("PREFECT__CONTEXT__IMAGE")}

    with Flow(name) as flow:
        double(add(Parameter("x"), Parameter("y", default=2)))
        where()
    return flow


def test_a_registered_flow_runs_in_its_image_through_the_docker_agent(
    docker_service, docker_agent, runtime_image, flow_image_cleanup
):
    from lume_services.flows.flow import Flow, FlowRunConfig

    model = Flow(
        name="docker-adder",
        project_name=TEST_PROJECT,
        prefect_flow=make_flow("docker-adder"),
        labels=DOCKER_LABELS,
        image=runtime_image,
    )
    flow_id = model.register(scheduling_service=docker_service)
    image = docker_service.backend.registered_image(flow_id)
    flow_image_cleanup.append(image)

    fast = FlowRunConfig(poll_interval=timedelta(seconds=0.2))
    try:
        results = model.run_and_return({"x": 40}, fast, scheduling_service=docker_service)
    except Exception:
        print(docker_agent["log"].read_text())
        raise

    assert results["double"] == 84
    assert results["where"] == {"in_container": True, "image": image}
    assert image.startswith(flow_image_name("docker-adder", TEST_PROJECT) + ":")


def test_the_model_records_its_image_and_registering_again_reuses_it(
    docker_service, runtime_image, flow_image_cleanup
):
    from lume_services.flows.flow import Flow

    model = Flow(name="docker-reuse", project_name=TEST_PROJECT, prefect_flow=make_flow("docker-reuse"),
                 labels=DOCKER_LABELS, image=runtime_image)

    first_id = model.register(scheduling_service=docker_service)
    image = docker_service.backend.registered_image(first_id)
    flow_image_cleanup.append(image)
    assert model.image == image != runtime_image

    # registering from the recorded flow image builds from its base: the same image
    again_id = model.register(scheduling_service=docker_service)
    assert docker_service.backend.registered_image(again_id) == image
    assert model.image == image


def test_registering_an_unchanged_flow_again_from_its_recorded_image_keeps_its_id(
    docker_service, runtime_image, flow_image_cleanup
):
    import warnings

    from lume_services.flows.flow import Flow

    flow = make_flow("docker-same-id")
    model = Flow(name="docker-same-id", project_name=TEST_PROJECT, prefect_flow=flow,
                 labels=DOCKER_LABELS, image=runtime_image)
    first_id = model.register(scheduling_service=docker_service)
    flow_image_cleanup.append(model.image)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        again_id = model.register(scheduling_service=docker_service)  # from the recorded flow image

    assert [str(w.message) for w in caught] == []
    assert again_id == first_id
    assert flow.storage is None  # the caller's flow is not changed


def make_child_flows():
    """doubler(x) -> double, and adder(a, b=10) -> add, with their code stored by value."""
    from prefect import Flow, Parameter, task

    @task
    def double(x):
        return 2 * x

    @task
    def add(a, b):
        return a + b

    with Flow("docker-doubler") as doubler:
        double(Parameter("x"))
    with Flow("docker-adder") as adder:
        add(Parameter("a"), Parameter("b", default=10))
    return doubler, adder


RUN_COMPOSED_FLOW_INSIDE = """
import sys
from prefect.utilities.storage import flow_from_bytes_pickle
flow = flow_from_bytes_pickle(open(sys.argv[1], "rb").read())
print(flow.name, sorted(p.name for p in flow.parameters()))
"""


def test_a_composed_flow_of_flows_becomes_an_image_that_runs_its_children_in_containers(
    docker_service, docker_engine, runtime_image, flow_image_cleanup
):
    from lume_services.flows.flow import Flow, FlowRunConfig
    from lume_services.flows.flow_of_flows import FlowOfFlows

    doubler_flow, adder_flow = make_child_flows()
    common = dict(project_name=TEST_PROJECT, labels=DOCKER_LABELS, image=runtime_image)
    doubler = Flow(name="docker-doubler", prefect_flow=doubler_flow, **common)
    adder = Flow(
        name="docker-adder",
        prefect_flow=adder_flow,
        mapped_parameters={"a": {"parent_flow_name": "docker-doubler", "parent_task_name": "double"}},
        **common,
    )
    for child in (doubler, adder):
        child.register(scheduling_service=docker_service)
        flow_image_cleanup.append(docker_service.backend.registered_image(child.flow_id))
    fof = FlowOfFlows(
        name="docker-chain", composing_flows={"docker-doubler": doubler, "docker-adder": adder}, **common
    )

    composed_image = f"lume-test-docker-chain-{SESSION_ID}"
    fof.compose(composed_image, image_tag="composed", local=True, scheduling_service=docker_service)
    flow_id = fof.register(scheduling_service=docker_service)
    image = docker_service.backend.registered_image(flow_id)
    flow_image_cleanup.append(image)

    # the image holds the composed flow: load it in a container of the image
    out = docker_engine.containers.run(
        image, ["python", "-c", RUN_COMPOSED_FLOW_INSIDE, "/opt/prefect/flows/docker-chain.prefect"],
        remove=True, stderr=False,
    )
    assert out.decode().split()[0] == "docker-chain"
    assert image == f"{composed_image}:composed"

    # and it runs: the composed flow's container starts one container per child
    fast = FlowRunConfig(poll_interval=timedelta(seconds=0.2))
    results = fof.run_and_return({"docker-doubler-x": 4}, fast, scheduling_service=docker_service)

    assert results["docker-doubler"]["double"] == 8
    assert results["docker-adder"]["add"] == 18


def register_docker_children(docker_service, runtime_image, flow_image_cleanup):
    """Register docker-doubler and docker-adder (unmapped) on the Docker backend.

    Returns:
        ``(children by name, the Flow fields they share)``.
    """
    from lume_services.flows.flow import Flow

    doubler_flow, adder_flow = make_child_flows()
    common = dict(project_name=TEST_PROJECT, labels=DOCKER_LABELS, image=runtime_image)
    children = {
        "docker-doubler": Flow(name="docker-doubler", prefect_flow=doubler_flow, **common),
        "docker-adder": Flow(name="docker-adder", prefect_flow=adder_flow, **common),
    }
    for child in children.values():
        child.register(scheduling_service=docker_service)
        flow_image_cleanup.append(child.image)
    return children, common


def test_registering_a_composed_flow_of_flows_twice_keeps_its_id_and_image_and_leaves_its_storage(
    docker_service, runtime_image, flow_image_cleanup
):
    import warnings

    from lume_services.flows.flow_of_flows import FlowOfFlows

    children, common = register_docker_children(docker_service, runtime_image, flow_image_cleanup)
    fof = FlowOfFlows(name="docker-twice", composing_flows=children, **common)
    composed = fof.compose(f"lume-test-docker-twice-{SESSION_ID}", image_tag="composed", local=True,
                           scheduling_service=docker_service)
    storage_before = composed.storage.serialize()

    with warnings.catch_warnings(record=True) as caught:
        # Prefect warns when a storage already holds the flow ("A flow with the same name ...")
        warnings.simplefilter("always", UserWarning)
        first_id = fof.register(scheduling_service=docker_service)
        flow_image_cleanup.append(fof.image)
        again_id = fof.register(scheduling_service=docker_service)  # from the recorded image

    assert [str(w.message) for w in caught] == []
    assert again_id == first_id
    assert fof.image == f"lume-test-docker-twice-{SESSION_ID}:composed"
    assert composed.storage.serialize() == storage_before
    assert composed.storage.flows == {}


def test_compose_and_register_builds_an_image_named_for_the_flow_of_flows_on_its_image(
    docker_service, docker_engine, runtime_image, flow_image_cleanup
):
    from lume_services.flows.flow_of_flows import FlowOfFlows

    children, common = register_docker_children(docker_service, runtime_image, flow_image_cleanup)
    runtime_id = docker_engine.images.get(runtime_image).id
    fof = FlowOfFlows(name=f"Auto Chain {SESSION_ID}", composing_flows=children, **common)

    # no `local` argument: the Docker backend's default (local images) means no pull
    flow_id = fof.compose_and_register(scheduling_service=docker_service)
    image = docker_service.backend.registered_image(flow_id)
    flow_image_cleanup.append(image)

    name, tag = image.rsplit(":", 1)
    # named for the flow of flows; "Auto Chain" is not lower-case ASCII, so a short hash
    # keeps it apart from a flow of flows named "auto-chain"
    assert name == fof.composed_image_name()[0]
    assert name.startswith(f"lume-flow-{TEST_PROJECT}-auto-chain-{SESSION_ID}-".lower().replace("_", "-"))
    assert len(tag) == 12 and tag != "latest"  # the composed flow's hash: one image per version
    assert fof.image == image
    assert docker_engine.images.get(runtime_image).id == runtime_id  # its base is untouched


@pytest.fixture
def settings_service(prefect_protocol_double, docker_agent, lume_home, tmp_path):
    """Settings with a mounted filesystem, configured here, and a service on the
    DockerBackend built from the same settings (only the network mode is added:
    run containers reach the double on the host's loopback).

    Yields:
        ``{"settings", "service", "backend", "host_folder", "alias"}``.
    """
    from lume_services import config
    from lume_services.config import LUMEServicesSettings, PrefectConfig
    from lume_services.services.scheduling import SchedulingService
    from lume_services.config import DockerSettings, build_scheduling_backend

    host_folder = tmp_path / "shared"
    host_folder.mkdir()
    alias = "/lume/data"
    double = prefect_protocol_double
    settings = LUMEServicesSettings(
        backend="local",  # flows outside containers run here; runs in containers use `backend`
        home=lume_home,
        prefect=PrefectConfig(
            server={"host": "http://127.0.0.1", "host_port": double.port, "graphql_path": double.path},
            poll_interval=0.2,
            run_timeout=180,
        ),
        mounted_filesystem={"mount_path": str(host_folder), "mount_alias": alias},
    )
    config.configure(settings)
    backend = build_scheduling_backend(settings.copy(update={"backend": "docker", "docker": DockerSettings(network_mode="host")}))
    yield {"settings": settings, "service": SchedulingService(backend), "backend": backend,
           "host_folder": host_folder, "alias": alias}


def test_a_file_saved_in_the_container_on_the_mounted_filesystem_is_loaded_by_a_flow_outside(
    settings_service, runtime_image, flow_image_cleanup
):
    from prefect import Flow as PrefectFlow
    from prefect import Parameter

    from lume_services.flows.flow import Flow
    from lume_services.tasks.file import SaveFile, load_file

    alias, service = settings_service["alias"], settings_service["service"]
    with PrefectFlow("docker-writer") as writer:
        SaveFile()(Parameter("text"), filename=f"{alias}/out/greeting.txt", filesystem_identifier="mounted")
    model = Flow(name="docker-writer", project_name=TEST_PROJECT, prefect_flow=writer,
                 labels=DOCKER_LABELS, image=runtime_image)
    model.register(scheduling_service=service)
    flow_image_cleanup.append(settings_service["backend"].registered_image(model.flow_id))

    # no environment given by hand: the container's file service is configured from the settings
    reference = model.run_and_return({"text": "written in a container"}, task_name="save_file",
                                     scheduling_service=service)

    assert reference["filename"] == f"{alias}/out/greeting.txt"
    assert (settings_service["host_folder"] / "out" / "greeting.txt").read_text() == "written in a container"
    # the next flow runs here, where the same folder is mounted at its host path
    with PrefectFlow("reader") as reader:
        load_file(Parameter("file_rep"))
    loaded = Flow(name="reader", prefect_flow=reader).run_and_return({"file_rep": reference}, task_name="load_file")
    assert loaded == "written in a container"


def make_result_flow(name: str):
    """text -> a Result stored with SaveDBResult; its code stored by value in the image."""
    from prefect import Flow as PrefectFlow
    from prefect import Parameter, task

    from lume_services.tasks.db import SaveDBResult

    @task
    def make_result(text):
        from lume_services.results import Result

        return Result(project_name=TEST_PROJECT, inputs={"text": text}, outputs={"words": text.split()})

    with PrefectFlow(name) as flow:
        SaveDBResult()(make_result(Parameter("text")))
    return flow


def test_a_result_saved_in_the_container_is_loaded_outside_from_the_settings_results_db(
    settings_service, runtime_image, flow_image_cleanup
):
    from lume_services.flows.flow import Flow
    from lume_services.tasks.db import load_db_result_value

    service = settings_service["service"]
    model = Flow(name="docker-result-saver", project_name=TEST_PROJECT,
                 prefect_flow=make_result_flow("docker-result-saver"), labels=DOCKER_LABELS, image=runtime_image)
    model.register(scheduling_service=service)
    flow_image_cleanup.append(settings_service["backend"].registered_image(model.flow_id))

    reference = model.run_and_return({"text": "saved in a container"}, task_name="save_db_result",
                                     scheduling_service=service)

    # loaded here, from the SQLite file under this process's LUME_HOME
    assert load_db_result_value(reference, "outputs", ["words", 3]) == "container"
    assert load_db_result_value(reference).flow_id == model.flow_id


def test_a_value_json_cannot_hold_comes_back_through_the_results_folder(
    prefect_protocol_double, docker_agent, runtime_image, flow_image_cleanup, tmp_path
):
    from prefect import Flow as PrefectFlow
    from prefect import Parameter, task

    from lume_services.config import PrefectConfig
    from lume_services.flows.flow import Flow, FlowRunConfig
    from lume_services.services.scheduling import SchedulingService
    from lume_services.services.scheduling.backends.docker import DockerBackend

    @task
    def digits(n):
        return {int(d) for d in str(n)}  # a set: PrefectResult (JSON) could not keep it

    with PrefectFlow("docker-digits") as digits_flow:
        digits(Parameter("n"))
    double = prefect_protocol_double
    backend = DockerBackend(
        config=PrefectConfig(
            server={"host": "http://127.0.0.1", "host_port": double.port, "graphql_path": double.path}
        ),
        network_mode="host",
        results_dir=tmp_path / "results",
        poll_interval=0.2,
        timeout=180,
    )
    service = SchedulingService(backend)
    model = Flow(name="docker-digits", project_name=TEST_PROJECT, prefect_flow=digits_flow,
                 labels=DOCKER_LABELS, image=runtime_image)
    model.register(scheduling_service=service)
    flow_image_cleanup.append(backend.registered_image(model.flow_id))

    value = model.run_and_return({"n": 1223}, FlowRunConfig(poll_interval=timedelta(seconds=0.2)),
                                 task_name="digits", scheduling_service=service)

    assert value == {1, 2, 3}
    assert any((tmp_path / "results").iterdir())


def test_a_db_mapping_passes_a_result_saved_in_one_container_to_a_flow_in_another(
    settings_service, runtime_image, flow_image_cleanup
):
    from prefect import Flow as PrefectFlow
    from prefect import Parameter, task

    from lume_services.flows.flow import Flow
    from lume_services.flows.flow_of_flows import FlowOfFlows

    @task
    def echo(word):
        return word

    with PrefectFlow("docker-echo") as echo_flow:
        echo(Parameter("word"))
    service, backend = settings_service["service"], settings_service["backend"]
    common = dict(project_name=TEST_PROJECT, labels=DOCKER_LABELS, image=runtime_image)
    saver = Flow(name="docker-db-saver", prefect_flow=make_result_flow("docker-db-saver"), **common)
    reader = Flow(
        name="docker-echo",
        prefect_flow=echo_flow,
        mapped_parameters={"word": {"parent_flow_name": "docker-db-saver", "parent_task_name": "save_db_result",
                                    "map_type": "db", "attribute": "outputs", "attribute_index": ["words", "3"]}},
        **common,
    )
    for child in (saver, reader):
        child.register(scheduling_service=service)
        flow_image_cleanup.append(backend.registered_image(child.flow_id))
    fof = FlowOfFlows(name="docker-db-chain", composing_flows={"docker-db-saver": saver, "docker-echo": reader},
                      **common)
    fof.compose(f"lume-test-docker-db-chain-{SESSION_ID}", image_tag="composed", local=True,
                scheduling_service=service)
    fof.register(scheduling_service=service)
    flow_image_cleanup.append(backend.registered_image(fof.flow_id))

    # the composed flow's container loads the result the saver's container stored
    results = fof.run_and_return({"docker-db-saver-text": "stored in one container"}, scheduling_service=service)

    assert results["docker-echo"]["echo"] == "container"
