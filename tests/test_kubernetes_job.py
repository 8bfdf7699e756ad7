"""KubernetesRunConfig builds jobs the kubernetes client's models accept.

No cluster can run on the CI machines, so these tests check what is built: the
job template itself, and the job Prefect's real ``KubernetesAgent`` generates
from it for a flow run, both read with the kubernetes client's own models.
"""

import json

import pytest
import yaml

from lume_services.services.scheduling.backends.kubernetes import KubernetesRunConfig

kubernetes = pytest.importorskip("kubernetes", reason="the kubernetes client is in the test extra")


def as_v1_job(job: dict):
    """The job read into ``kubernetes.client.V1Job`` the way the client reads API answers."""
    from kubernetes.client import ApiClient

    # ApiClient.deserialize() takes an HTTP response; this is the method it calls on the body
    return ApiClient()._ApiClient__deserialize(job, "V1Job")


@pytest.fixture
def run_config():
    return KubernetesRunConfig(
        image="registry.example/lume-flow-demo:0a1b2c3d4e5f",
        env={"LUME_BACKEND": "kubernetes", "LUME_RESULTS_DB__TYPE": "mongodb"},
        labels=["lume-services", "gpu"],
        cpu_request="500m",
        cpu_limit="2",
        memory_request="512Mi",
        memory_limit="1Gi",
        image_pull_policy="Always",
        service_account_name="lume-runner",
        image_pull_secrets=["registry-creds"],
    )


def flow_container(job):
    return next(c for c in job.spec.template.spec.containers if c.name == "flow")


def test_the_packaged_job_template_is_a_valid_job():
    job = as_v1_job(KubernetesRunConfig().load_job_template())
    assert job.kind == "Job"
    assert job.spec.backoff_limit == 0
    assert job.spec.template.spec.restart_policy == "Never"
    assert [c.name for c in job.spec.template.spec.containers] == ["flow"]


def test_the_built_job_carries_image_env_resources_and_labels(run_config):
    prefect_run = run_config.build()
    job = as_v1_job(prefect_run.job_template)

    container = flow_container(job)
    assert container.image == "registry.example/lume-flow-demo:0a1b2c3d4e5f"
    assert container.image_pull_policy == "Always"
    assert {e.name: e.value for e in container.env} == {
        "LUME_BACKEND": "kubernetes",
        "LUME_RESULTS_DB__TYPE": "mongodb",
    }
    assert container.resources.requests == {"cpu": "500m", "memory": "512Mi"}
    assert container.resources.limits == {"cpu": "2", "memory": "1Gi"}
    pod_spec = job.spec.template.spec
    assert pod_spec.service_account_name == "lume-runner"
    assert [s.name for s in pod_spec.image_pull_secrets] == ["registry-creds"]
    for labels in (job.metadata.labels, job.spec.template.metadata.labels):
        assert labels == {
            "app.kubernetes.io/part-of": "lume-services",
            "lume-services/agent-label-lume-services": "true",
            "lume-services/agent-label-gpu": "true",
        }
    assert prefect_run.labels == {"lume-services", "gpu"}


def test_a_users_template_keeps_its_own_containers_and_env(tmp_path):
    template = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "flow", "env": [{"name": "KEEP", "value": "1"}, {"name": "LUME_HOME", "value": "old"}]},
                        {"name": "sidecar", "image": "busybox"},
                    ]
                }
            }
        },
    }
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(template))

    job = as_v1_job(
        KubernetesRunConfig(job_template_path=str(path), env={"LUME_HOME": "/data"}, memory_limit="2Gi").build_job()
    )

    container = flow_container(job)
    assert {e.name: e.value for e in container.env} == {"KEEP": "1", "LUME_HOME": "/data"}
    assert container.resources.limits == {"memory": "2Gi"}
    assert [c.name for c in job.spec.template.spec.containers] == ["flow", "sidecar"]


@pytest.fixture
def agent_job(tmp_path, monkeypatch):
    """``agent_job(run_config)``: the job Prefect's real ``KubernetesAgent`` makes for a run of it."""
    # the agent loads a kube config when it is created; it never contacts the cluster here
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "none", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "none", "user": {"token": "unused"}}],
                "contexts": [{"name": "none", "context": {"cluster": "none", "user": "none"}}],
                "current-context": "none",
            }
        )
    )
    # (kubernetes reads KUBECONFIG when it is imported, so set where it keeps the path)
    monkeypatch.setattr("kubernetes.config.kube_config.KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))
    from prefect.agent.kubernetes import KubernetesAgent
    from prefect.serialization.run_config import RunConfigSchema
    from prefect.serialization.storage import StorageSchema
    from prefect.storage import Docker
    from prefect.utilities.graphql import GraphQLResult

    def make(prefect_run_config) -> dict:
        storage = Docker(image_name="lume-flow-demo", image_tag="0a1b2c3d4e5f", registry_url="registry.example")
        flow_run = GraphQLResult(
            {
                "id": "flow-run-1",
                "name": "demo-run",
                "flow": {"id": "flow-1", "core_version": "1.4.1", "storage": StorageSchema().dump(storage)},
                # as the agent reads it back from the server: serialized and loaded
                "run_config": RunConfigSchema().dump(prefect_run_config),
            }
        )
        agent = KubernetesAgent(namespace="lume", labels=["lume-services"])
        return agent.generate_job_spec(flow_run)

    return make


def test_the_prefect_kubernetes_agent_turns_the_run_config_into_a_valid_job(run_config, agent_job):
    job = as_v1_job(agent_job(run_config.build()))

    container = flow_container(job)
    assert container.image == "registry.example/lume-flow-demo:0a1b2c3d4e5f"
    assert container.args == ["prefect", "execute", "flow-run"]
    env = {e.name: e.value for e in container.env}
    assert env["LUME_RESULTS_DB__TYPE"] == "mongodb"
    assert env["PREFECT__CONTEXT__FLOW_RUN_ID"] == "flow-run-1"
    assert container.resources.limits == {"cpu": "2", "memory": "1Gi"}
    assert job.metadata.labels["lume-services/agent-label-gpu"] == "true"
    assert job.metadata.labels["prefect.io/flow_run_id"] == "flow-run-1"


def test_the_run_config_edits_the_first_container_as_the_agent_does(agent_job):
    """Prefect's agent sets image, command and env on ``containers[0]``, whatever its name."""
    template = {"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": {"containers": [
        {"name": "runner"}, {"name": "flow", "image": "busybox"}]}}}}
    config = KubernetesRunConfig(job_template=template, env={"LUME_RESULTS_DB__TYPE": "mongodb"}, memory_limit="1Gi")

    ours = as_v1_job(config.build_job()).spec.template.spec.containers
    agents = as_v1_job(agent_job(config.build())).spec.template.spec.containers

    assert ours[0].name == agents[0].name == "runner"
    assert {e.name: e.value for e in ours[0].env} == {"LUME_RESULTS_DB__TYPE": "mongodb"}
    assert ours[0].resources.limits == {"memory": "1Gi"}
    assert agents[0].args == ["prefect", "execute", "flow-run"]
    assert ours[1].env is None and ours[1].image == "busybox"


PASSWORD = "k8s-mongo-pw-3Vb8"


@pytest.fixture
def configured_kubernetes_backend(tmp_path, prefect_config_restored):
    from lume_services.config import LUMEServicesSettings, build_scheduling_backend

    settings = LUMEServicesSettings(
        backend="kubernetes", home=tmp_path,
        results_db={"type": "mongodb", "mongodb": {"host": "mongodb.lume", "port": 27017, "database": "lume",
                                                    "username": "flows", "password": PASSWORD}},
    )
    return build_scheduling_backend(settings)


def test_kubernetes_runs_carry_the_results_database_settings_and_the_password_as_a_secret_ref(
    configured_kubernetes_backend, agent_job
):
    from prefect.serialization.run_config import RunConfigSchema

    run_config = configured_kubernetes_backend.build_run_config(labels=["lume-services"], image="lume:1")
    job = as_v1_job(agent_job(run_config))

    env = {e.name: e for e in job.spec.template.spec.containers[0].env}
    assert env["LUME_RESULTS_DB__TYPE"].value == "mongodb"
    assert env["LUME_RESULTS_DB__MONGODB__HOST"].value == "mongodb.lume"
    assert env["LUME_RESULTS_DB__MONGODB__USERNAME"].value == "flows"
    ref = env["LUME_RESULTS_DB__MONGODB__PASSWORD"].value_from.secret_key_ref
    assert (ref.name, ref.key) == ("lume-services", "LUME_RESULTS_DB__MONGODB__PASSWORD")
    assert env["LUME_RESULTS_DB__MONGODB__PASSWORD"].value is None
    # what is stored on the server: the run config as serialized
    assert PASSWORD not in json.dumps(RunConfigSchema().dump(run_config))


def test_the_secret_name_of_the_kubernetes_backend_can_be_chosen(configured_kubernetes_backend):
    configured_kubernetes_backend.secret_name = "team-a-lume"

    job = as_v1_job(configured_kubernetes_backend.build_run_config().job_template)

    env = {e.name: e for e in job.spec.template.spec.containers[0].env}
    assert env["LUME_RESULTS_DB__MONGODB__PASSWORD"].value_from.secret_key_ref.name == "team-a-lume"
