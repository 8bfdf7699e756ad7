"""The runtime image, flow images and their errors, on a real Docker engine.

Flows put into images are built inside functions here: cloudpickle stores such
task functions by value, so the image needs no copy of this test module.
"""

import json
import sys
import time
import zipfile

import pytest

from fixtures.docker_engine import (  # noqa: F401  (pytest fixtures)
    SESSION_ID,
    TEST_PROJECT,
    docker_engine,
    flow_image_cleanup,
    local_base_image,
    runtime_image,
)
from lume_services.errors import ImageBuildError
from lume_services.services.scheduling.backends.images import engine, flow_images, runtime_image as runtime

pytestmark = pytest.mark.docker


def make_adder_flow(name="adder", default_y=2):
    """x + y, and the sum doubled: a two-task flow with a required and a default parameter."""
    from prefect import Flow, Parameter, task

    @task
    def add(x, y):
        return x + y

    @task
    def double(value):
        return 2 * value

    with Flow(name) as flow:
        total = add(Parameter("x"), Parameter("y", default=default_y))
        double(total)
    return flow


# What the flow runner does in a flow's container: read the storage as Prefect
# serialized it at registration, load the flow from the image, run it.
RUN_STORED_FLOW = """
import json, os, sys
from prefect.serialization.storage import StorageSchema
storage = StorageSchema().load(json.loads(os.environ["STORED"]))
flow = storage.get_flow(sys.argv[1])
state = flow.run(**json.loads(sys.argv[2]))
results = {t.name: state.result[t].result for t in flow.tasks if t in state.result}
print(json.dumps({"storage": type(storage).__module__, "results": results}))
"""


def run_python(client, image, code, *args, env=None, **kwargs) -> str:
    """Run ``python -c code args...`` in a fresh container of ``image``; return its stdout."""
    env = {"PREFECT__LOGGING__LEVEL": "ERROR", **(env or {})}
    out = client.containers.run(
        image, ["python", "-c", code, *args], environment=env, remove=True, stderr=False, **kwargs
    )
    return out.decode().strip()


# --- the runtime image -----------------------------------------------------------------


def test_runtime_image_builds_from_the_local_base_image_with_pinned_prefect(docker_engine, runtime_image):
    labels = engine.image_labels(runtime_image, docker_engine)
    assert labels[engine.LABEL_ROLE] == "runtime"
    assert labels[engine.LABEL_BASE_IMAGE] == runtime.LOCAL_BASE_IMAGE
    out = run_python(
        docker_engine,
        runtime_image,
        "import lume_services, prefect, marshmallow, pendulum, sys;"
        "print(prefect.__version__, marshmallow.__version__[0], pendulum.__version__[0], sys.prefix)",
    )
    prefect_version, marshmallow_major, pendulum_major, prefix = out.split()
    assert (prefect_version, marshmallow_major, pendulum_major) == ("1.4.1", "3", "2")
    assert prefix == "/opt/lume-services/venv"


def test_rebuilding_an_unchanged_runtime_image_is_fast_and_gives_the_same_image(docker_engine, runtime_image):
    first = runtime.build_runtime_image(runtime_image, runtime.LOCAL_BASE_IMAGE, client=docker_engine)
    start = time.perf_counter()
    again = runtime.build_runtime_image(runtime_image, runtime.LOCAL_BASE_IMAGE, client=docker_engine)

    assert again == first
    assert time.perf_counter() - start < 10  # every layer from the cache (about 0.1 s)


def test_entrypoint_points_prefect_at_the_configured_server(docker_engine, runtime_image):
    out = run_python(
        docker_engine,
        runtime_image,
        "import prefect; print(prefect.config.backend, prefect.config.cloud.api)",
        env={"LUME_PREFECT__SERVER__HOST": "http://prefect-apollo", "LUME_PREFECT__SERVER__HOST_PORT": "4300"},
    )
    assert out == "server http://prefect-apollo:4300/graphql"


def test_entrypoint_keeps_the_api_an_agent_set(docker_engine, runtime_image):
    out = run_python(
        docker_engine,
        runtime_image,
        "import prefect; print(prefect.config.cloud.api)",
        env={"LUME_PREFECT__SERVER__HOST": "http://prefect-apollo", "PREFECT__CLOUD__API": "http://agent-says:4200"},
    )
    assert out == "http://agent-says:4200"


def test_entrypoint_installs_extra_pip_packages_before_the_command(docker_engine, runtime_image, tmp_path):
    wheel = write_wheel(tmp_path, "lume_extra_probe", "VALUE = 'installed by the entrypoint'\n")
    out = run_python(
        docker_engine,
        runtime_image,
        "import lume_extra_probe; print(lume_extra_probe.VALUE)",
        env={"EXTRA_PIP_PACKAGES": f"/wheels/{wheel.name}", "PIP_NO_INDEX": "1"},
        volumes={str(tmp_path): {"bind": "/wheels", "mode": "ro"}},
    )
    assert out == "installed by the entrypoint"


def write_wheel(directory, package: str, source: str):
    """A minimal pure-Python wheel holding one package (no build tools, no network)."""
    dist_info = f"{package}-0.1.dist-info"
    files = {
        f"{package}/__init__.py": source,
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n",
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{dist_info}/RECORD"] = "".join(f"{name},,\n" for name in [*files, f"{dist_info}/RECORD"])
    path = directory / f"{package}-0.1-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return path


# --- flow images -----------------------------------------------------------------------


def test_a_flow_packaged_into_an_image_runs_in_a_container(docker_engine, runtime_image, flow_image_cleanup):
    flow = make_adder_flow()
    storage = flow_images.build_flow_image(flow, base_image=runtime_image, project_name=TEST_PROJECT)
    flow_image_cleanup.append(storage.name)

    out = run_python(
        docker_engine,
        storage.name,
        RUN_STORED_FLOW,
        "adder",
        json.dumps({"x": 40}),
        env={"STORED": json.dumps(storage.serialize())},
    )
    # the container reads the storage back as Prefect's own Docker storage
    assert json.loads(out) == {
        "storage": "prefect.storage.docker",
        "results": {"x": 40, "y": 2, "add": 42, "double": 84},
    }


def make_raising_flow():
    """A one-task flow whose task raises ``ValueError("bad <x>")``."""
    from prefect import Flow, Parameter, task

    @task
    def fail(x):
        raise ValueError(f"bad {x}")

    with Flow("raiser") as flow:
        fail(Parameter("x"))
    return flow


# The flow runner's way of loading the flow in its container, then where the failed task raised.
RUN_STORED_FLOW_FAILING = """
import json, os, sys, traceback
from prefect.serialization.storage import StorageSchema
storage = StorageSchema().load(json.loads(os.environ["STORED"]))
flow = storage.get_flow(sys.argv[1])
state = flow.run(**json.loads(sys.argv[2]))
error = next(s.result for s in state.result.values() if s.is_failed())
last = traceback.extract_tb(error.__traceback__)[-1]
print(json.dumps([last.filename, last.name]))
"""


def test_a_task_of_a_flow_image_that_raises_names_its_file_in_the_container(
    docker_engine, runtime_image, flow_image_cleanup
):
    storage = flow_images.build_flow_image(make_raising_flow(), base_image=runtime_image, project_name=TEST_PROJECT)
    flow_image_cleanup.append(storage.name)

    out = run_python(
        docker_engine,
        storage.name,
        RUN_STORED_FLOW_FAILING,
        "raiser",
        json.dumps({"x": 1}),
        # Prefect logs the task's error at ERROR level, to stdout
        env={"STORED": json.dumps(storage.serialize()), "PREFECT__LOGGING__LEVEL": "CRITICAL"},
    )
    # the file is not in the image, its name is (cloudpickle alone names it <dynamic-code>)
    assert json.loads(out.splitlines()[-1]) == [__file__, "fail"]
    labels = engine.image_labels(storage.name, docker_engine)
    assert labels[engine.LABEL_FLOW_FILE] == flow_images.FLOW_FILE_FORMAT


def test_a_flow_image_is_labelled_with_flow_project_and_version(docker_engine, runtime_image, flow_image_cleanup):
    flow = make_adder_flow()
    storage = flow_images.build_flow_image(flow, base_image=runtime_image, project_name=TEST_PROJECT, version="7")
    flow_image_cleanup.append(storage.name)

    labels = engine.image_labels(storage.name, docker_engine)
    assert labels[engine.LABEL_FLOW_NAME] == "adder"
    assert labels[engine.LABEL_PROJECT] == TEST_PROJECT
    assert labels[engine.LABEL_VERSION] == "7"
    assert labels[engine.LABEL_BASE_IMAGE] == runtime_image
    assert storage.name == f"{flow_images.flow_image_name('adder', TEST_PROJECT)}:{labels[engine.LABEL_FLOW_HASH][:12]}"
    assert flow.storage is storage


def test_an_unchanged_flow_reuses_its_image_and_a_changed_one_gets_a_new_image(
    docker_engine, runtime_image, flow_image_cleanup
):
    first = flow_images.build_flow_image(make_adder_flow(), base_image=runtime_image, project_name=TEST_PROJECT)
    again = flow_images.build_flow_image(make_adder_flow(), base_image=runtime_image, project_name=TEST_PROJECT)
    changed = flow_images.build_flow_image(make_adder_flow(default_y=3), base_image=runtime_image, project_name=TEST_PROJECT)
    flow_image_cleanup.extend({first.name, changed.name})

    assert (first.reused, again.reused, changed.reused) == (False, True, False)
    assert again.name == first.name
    assert changed.name != first.name


def test_a_flow_image_built_on_a_flow_image_is_built_on_its_base(docker_engine, runtime_image, flow_image_cleanup):
    first = flow_images.build_flow_image(make_adder_flow(), base_image=runtime_image, project_name=TEST_PROJECT)
    second = flow_images.build_flow_image(make_adder_flow(default_y=5), base_image=first.name, project_name=TEST_PROJECT)
    flow_image_cleanup.extend([first.name, second.name])

    assert second.base_image == runtime_image


def test_a_flow_image_adds_less_than_a_megabyte_to_its_base(docker_engine, runtime_image, flow_image_cleanup):
    storage = flow_images.build_flow_image(make_adder_flow(name="size-probe"), base_image=runtime_image, project_name=TEST_PROJECT)
    flow_image_cleanup.append(storage.name)

    added = engine.image_size(storage.name, docker_engine) - engine.image_size(runtime_image, docker_engine)
    assert 0 < added < 1_000_000


# --- errors ------------------------------------------------------------------------------


def test_a_failed_build_reports_the_last_lines_of_its_log(docker_engine, local_base_image, tmp_path):
    (tmp_path / "Dockerfile").write_text(
        f"FROM {local_base_image}\n"
        "RUN echo 'preparing the model files' && echo 'model file missing: weights.h5' >&2 && exit 3\n"
    )
    with pytest.raises(ImageBuildError) as info:
        engine.build_image(tmp_path, f"lume-test-broken-{SESSION_ID}:1", client=docker_engine)
    message = str(info.value)
    assert f"'lume-test-broken-{SESSION_ID}:1' failed to build" in message
    assert "returned a non-zero code: 3" in message
    assert "model file missing: weights.h5" in message.split("last")[1]


def test_a_flow_whose_code_is_missing_from_the_image_fails_the_health_check(
    docker_engine, runtime_image, tmp_path, monkeypatch
):
    # a function from a module the image does not have: cloudpickle stores it by reference
    (tmp_path / "lume_probe_code.py").write_text("def shout(text):\n    return text.upper()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from prefect import Flow, Parameter, task

    import lume_probe_code

    with Flow("needs-probe-code") as flow:
        task(lume_probe_code.shout)(Parameter("text"))

    with pytest.raises(ImageBuildError) as info:
        flow_images.build_flow_image(flow, base_image=runtime_image, image_name=f"lume-test-missing-code-{SESSION_ID}")
    assert "No module named 'lume_probe_code'" in str(info.value)


def test_a_missing_base_image_is_named_and_not_pulled(docker_engine):
    with pytest.raises(ImageBuildError) as info:
        flow_images.build_flow_image(make_adder_flow(), base_image="lume-no-such-base:1", local=True)
    assert "base image 'lume-no-such-base:1' does not exist" in str(info.value)


def test_a_base_image_with_another_python_is_refused_naming_both_versions(docker_engine, local_base_image, tmp_path):
    # an image whose `python` reports another version than this one's
    (tmp_path / "Dockerfile").write_text(
        f"FROM {local_base_image}\n"
        "RUN printf '#!/bin/sh\\necho 2.7\\n' > /usr/local/bin/python && chmod +x /usr/local/bin/python\n"
    )
    other = f"lume-test-other-python-{SESSION_ID}:1"
    engine.build_image(tmp_path, other, client=docker_engine)
    try:
        with pytest.raises(ImageBuildError) as info:
            flow_images.build_flow_image(make_adder_flow(), base_image=other, local=True)
        here = "%d.%d" % sys.version_info[:2]
        assert f"pickled by Python {here} here, but base image {other!r} runs Python 2.7" in str(info.value)
    finally:
        docker_engine.images.remove(other, force=True)
