"""``lume-services models`` and ``deployments``: store a model and a deployment, run it and read its results."""

import json

import pytest
from click.testing import CliRunner

from lume_services.cli.main import main

MODEL_OPTIONS = ["--author", "Ada", "--laboratory", "slac", "--facility", "lcls", "--beampath", "cu_hxr",
                 "--description", "injector surrogate"]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def data(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def model_id(lume_home):
    return data(invoke("models", "create", *MODEL_OPTIONS, "--json"))["model_id"]


@pytest.fixture
def deployed(model_id):
    """The model with version 1 of the surrogate deployed and run for x=1 and x=2."""
    data(invoke("deployments", "create", model_id, "model_flows:surrogate_v1", "--project", "surrogates",
                "--version", "1", "--json"))
    for x in (1, 2):
        data(invoke("models", "run", model_id, "-p", f"x={x}", "--json"))
    return model_id


def test_a_created_model_is_listed_and_creating_it_again_shows_the_stored_one(model_id):
    again = data(invoke("models", "create", *MODEL_OPTIONS, "--json"))
    assert again["model_id"] == model_id and again["status"] == "exists"
    assert [m["description"] for m in data(invoke("models", "list", "--json"))] == ["injector surrogate"]


def test_a_deployment_is_created_from_module_flow_and_listed(model_id):
    created = data(invoke("deployments", "create", model_id, "model_flows:surrogate_v1", "--project", "surrogates",
                          "--version", "1", "--json"))

    assert created["version"] == "1" and created["flow"]["name"] == "surrogate" and created["is_live"] is True
    listed = data(invoke("deployments", "list", "--model", model_id, "--json"))
    assert [(d["deployment_id"], d["flow"]["flow_id"]) for d in listed] == [
        (created["deployment_id"], created["flow"]["flow_id"])]


def test_a_model_runs_its_latest_deployment_and_prints_the_task_result(deployed):
    run = data(invoke("models", "run", deployed, "-p", "x=5", "--task", "evaluate_v1", "--json"))
    assert run["version"] == "1" and run["results"]["outputs"] == {"y": 10}


def test_a_model_s_results_across_deployments_print_as_rows(deployed):
    data(invoke("deployments", "create", deployed, "model_flows:surrogate_v2", "--project", "surrogates",
                "--version", "2", "--json"))
    data(invoke("models", "run", deployed, "-p", "x=1", "--json"))

    rows = data(invoke("models", "results", deployed, "--all-deployments", "--json"))

    assert sorted((r["version"], r["x"], r["y"]) for r in rows) == [("1", 1, 2), ("1", 2, 4), ("2", 1, 3)]
    text = invoke("models", "results", deployed, "--all-deployments")
    assert text.exit_code == 0 and "version" in text.stdout.splitlines()[0]


def test_running_a_model_not_stored_is_one_error_line_and_exit_2(lume_home):
    result = invoke("models", "run", 99, "--json")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "model_id=99" in result.stderr
    assert json.loads(result.stdout)["error"]["type"] == "ModelNotFoundError"


def test_a_deployment_needs_a_flow(model_id):
    result = invoke("deployments", "create", model_id, "--version", "1", "--project", "p")
    assert result.exit_code == 2 and "MODULE:FLOW or --flow-of-flows" in result.stderr


def test_a_flow_of_flows_deployment_shows_its_composing_flows_and_mappings(model_id):
    from lume_services.examples import register_example_flows, yaml_path

    register_example_flows()
    created = data(invoke("deployments", "create", model_id, "--flow-of-flows", yaml_path("flow_of_flows"),
                          "--version", "fof-1", "--json"))

    shown = data(invoke("deployments", "show", created["deployment_id"], "--json"))

    assert shown["flow"]["flow_of_flows"] is True
    mapped = shown["flow"]["composing_flows"]["store-text"]["mapped_parameters"]
    assert mapped["file_rep"]["parent_flow_name"] == "save-text" and mapped["file_rep"]["map_type"] == "file"


@pytest.mark.parametrize("first_import", ["lume_services.models", "lume_services.models.model",
                                          "lume_services.cli.models"])
def test_models_are_injected_whichever_module_a_fresh_process_imports_first(lume_home, first_import):
    import os
    import subprocess
    import sys

    code = (f"import {first_import}\n"
            "from lume_services.models import Model\n"
            "m = Model.create_model(author='a', laboratory='l', facility='f', beampath='b', description='d')\n"
            "print(Model(model_id=m.model_id).metadata.author)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "LUME_HOME": str(lume_home)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "a"
