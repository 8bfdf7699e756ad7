"""DockerBackend and Docker storage: what they build, without an engine.

The engine-dependent behaviour (images built and run) is in test_docker_images.py
and test_docker_agent.py.
"""

import json
import os

import pytest

from lume_services.config import build_scheduling_backend
from lume_services.errors import DockerEngineUnavailableError
from lume_services.services.scheduling.backends.docker import CONTAINER_RESULTS_DB_DIR, DockerBackend, DockerRunConfig
from lume_services.services.scheduling.backends.images.engine import docker_client
from lume_services.services.scheduling.backends.images.flow_images import Docker, flow_image_name


def test_no_engine_is_a_clear_error_saying_how_to_start_one(monkeypatch, tmp_path):
    socket = f"unix://{tmp_path}/no-engine.sock"
    monkeypatch.setenv("DOCKER_HOST", socket)

    with pytest.raises(DockerEngineUnavailableError) as info:
        docker_client()

    message = str(info.value)
    assert socket in message
    assert "scripts/docker-engine.sh start" in message
    assert "DOCKER_HOST" in message


def test_registered_flows_run_in_their_own_image_not_the_base_image():
    run = DockerBackend().build_run_config(None, labels=["lume-services", "docker"], image="lume-services:latest")

    # the agent takes the image from the flow's Docker storage
    assert run.image is None
    assert run.labels == {"lume-services", "docker"}


def test_run_containers_get_the_backends_volumes_env_and_network():
    backend = DockerBackend(
        volumes={"/srv/lume-files": "/lume/files"},
        env={"LUME_RESULTS_DB__TYPE": "sqlite", "LUME_HOME": "/lume/home"},
        network_mode="host",
    )
    user = DockerRunConfig(
        env={"LUME_HOME": "/lume/other"}, host_config={"binds": ["/tmp/x:/x"]}, image="custom:1"
    )

    run = backend.build_run_config(user)

    assert run.image == "custom:1"
    assert run.env == {"LUME_RESULTS_DB__TYPE": "sqlite", "LUME_HOME": "/lume/other"}
    assert run.host_config == {"binds": ["/tmp/x:/x", "/srv/lume-files:/lume/files"], "network_mode": "host"}


def _in_container(run_env):
    """The settings a run container builds from the environment its run config gives it."""
    from lume_services.config import LUMEServicesSettings

    saved = dict(os.environ)
    try:
        for name in [n for n in os.environ if n.startswith("LUME_")]:
            del os.environ[name]
        os.environ.update(run_env)
        return LUMEServicesSettings()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_the_mounted_filesystem_of_the_settings_is_bound_into_runs_and_configured_there(tmp_path):
    from lume_services.config import LUMEServicesSettings

    settings = LUMEServicesSettings(
        backend="docker",
        home=tmp_path,
        mounted_filesystem={"mount_path": "/srv/data", "mount_alias": "/lume/data", "identifier": "shared"},
    )

    run = build_scheduling_backend(settings).build_run_config()

    assert "/srv/data:/lume/data" in run.host_config["binds"]
    # in the container the folder is at the alias: there the mount path is the alias
    assert _in_container(run.env).mounted_filesystem.dict() == {
        "mount_path": "/lume/data", "mount_alias": "/lume/data", "identifier": "shared",
        "mount_type": "DirectoryOrCreate",
    }


def test_task_results_of_settings_built_backends_are_kept_under_the_home(tmp_path):
    from lume_services.config import LUMEServicesSettings

    backend = build_scheduling_backend(LUMEServicesSettings(backend="docker", home=tmp_path))

    results = str(tmp_path / "docker-results")
    assert backend.volumes[results] == results
    assert f"{results}:{results}" in backend.build_run_config().host_config["binds"]


def test_run_containers_share_the_sqlite_results_db_of_the_settings(tmp_path):
    from lume_services.config import LUMEServicesSettings, build_results_db

    db_file = tmp_path / "db" / "lume.sqlite"
    settings = LUMEServicesSettings(backend="docker", home=tmp_path / "home",
                                    results_db={"type": "sqlite", "path": db_file})

    run = build_scheduling_backend(settings).build_run_config()

    assert f"{tmp_path / 'db'}:{CONTAINER_RESULTS_DB_DIR}" in run.host_config["binds"]
    inside = _in_container(run.env)
    assert inside.results_db.type == "sqlite"
    assert str(inside.results_db.path) == f"{CONTAINER_RESULTS_DB_DIR}/lume.sqlite"
    assert build_results_db(settings).path == db_file  # the file the host uses is the one bound


def test_the_default_sqlite_results_db_under_the_home_is_shared_with_run_containers(tmp_path):
    from lume_services.config import LUMEServicesSettings

    run = build_scheduling_backend(LUMEServicesSettings(backend="docker", home=tmp_path)).build_run_config()

    assert f"{tmp_path}:{CONTAINER_RESULTS_DB_DIR}" in run.host_config["binds"]
    assert run.env["LUME_RESULTS_DB__PATH"] == f"{CONTAINER_RESULTS_DB_DIR}/results.sqlite"


def test_run_containers_get_the_mongodb_settings_but_never_the_password(tmp_path, caplog):
    """The run config is stored on the server in clear: the agent's --env gives runs the password."""
    import logging

    from lume_services.config import LUMEServicesSettings

    mongodb = {"host": "mongodb.example", "port": 27018, "database": "lume", "username": "flows",
               "password": "s3cret-pw", "auth_mechanism": "SCRAM-SHA-256", "options": {"tls": True}}
    settings = LUMEServicesSettings(backend="docker", home=tmp_path,
                                    results_db={"type": "mongodb", "mongodb": mongodb})

    with caplog.at_level(logging.DEBUG):
        backend = build_scheduling_backend(settings)
        run = backend.build_run_config()

    # as the agent started with --env LUME_RESULTS_DB__MONGODB__PASSWORD=... gives it
    inside = _in_container({**run.env, "LUME_RESULTS_DB__MONGODB__PASSWORD": "s3cret-pw"})
    assert inside.results_db.type == "mongodb"
    assert inside.results_db.mongodb == settings.results_db.mongodb
    assert "LUME_RESULTS_DB__MONGODB__PASSWORD" not in run.env
    assert "s3cret-pw" not in repr(run.env) + repr(run.host_config)
    assert not any(CONTAINER_RESULTS_DB_DIR in bind for bind in run.host_config["binds"])
    assert "s3cret-pw" not in repr(backend.env) + repr(vars(backend))
    assert "s3cret-pw" not in caplog.text


def test_an_explicit_local_wins_over_the_backends_local_images():
    def local_image(backend, local):
        return backend.build_flow_of_flows_storage(
            "my-flows:1.0", "composed", "v2", local=local, project_name="lume"
        ).local_image

    assert local_image(DockerBackend(local_images=True), False) is False  # pulled
    assert local_image(DockerBackend(local_images=False), True) is True  # not pulled
    assert local_image(DockerBackend(local_images=True), None) is True  # the backend's default
    assert local_image(DockerBackend(local_images=False), None) is False


def test_task_results_are_files_in_the_results_folder_bound_at_the_same_path(tmp_path):
    from prefect.engine.results import LocalResult, PrefectResult

    backend = DockerBackend(results_dir=tmp_path / "results")

    result = backend.build_result(None)
    assert isinstance(result, LocalResult)
    assert result.dir == str(tmp_path / "results")
    assert backend.volumes == {str(tmp_path / "results"): str(tmp_path / "results")}
    assert isinstance(DockerBackend().build_result(None), PrefectResult)


def test_a_composed_flow_of_flows_is_stored_in_an_image_built_from_its_image_without_pulling():
    storage = DockerBackend(local_images=False).build_flow_of_flows_storage(
        "my-flows:1.0", "composed", "v2", local=True, project_name="lume"
    )

    assert isinstance(storage, Docker)
    assert (storage.base_image, storage.name, storage.local_image) == ("my-flows:1.0", "composed:v2", True)
    assert storage.project_name == "lume"


def test_docker_storage_is_read_back_as_prefects_own_docker_storage():
    from prefect.serialization.storage import StorageSchema
    from prefect.storage import Docker as PrefectDocker

    storage = Docker(image_name="lume-flow-demo", image_tag="abc", base_image="lume-services:latest")
    serialized = json.loads(json.dumps(storage.serialize()))

    loaded = StorageSchema().load(serialized)

    assert type(loaded) is PrefectDocker
    assert loaded.name == "lume-flow-demo:abc"


@pytest.mark.parametrize(
    "flow_name, project, expected",
    [
        ("My Flow", "Project A", "lume-flow-project-a-my-flow-3e69f26d"),  # + a hash: the names changed
        ("flow_1", None, "lume-flow-flow-1-b9d1ec2a"),
        ("--odd--", "x", "lume-flow-x-odd-a6462969"),
    ],
)
def test_flow_image_names_are_valid_docker_names_without_a_registry(flow_name, project, expected):
    assert flow_image_name(flow_name, project) == expected


def test_an_engine_socket_nobody_answers_on_is_a_clear_error(monkeypatch, tmp_path):
    import socket as sockets

    path = tmp_path / "stale.sock"
    listener = sockets.socket(sockets.AF_UNIX)
    listener.bind(str(path))
    listener.close()  # the socket file stays, nobody listens: a stopped engine
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")

    with pytest.raises(DockerEngineUnavailableError) as info:
        docker_client()

    assert "scripts/docker-engine.sh start" in str(info.value)
