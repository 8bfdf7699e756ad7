"""The shipped example flows of flows: raw, file and db mappings end to end, and the CLI."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lume_services.errors import FlowFailedError
from lume_services.examples import example_parameters, register_example_flows, yaml_path
from lume_services.flows.flow import Flow
from lume_services.flows.flow_of_flows import FlowOfFlows
from lume_services.results import Result
from lume_services.services.scheduling.backends import ExecutorConfig, LocalRunConfig

ROOT = Path(__file__).parent.parent


@pytest.fixture
def examples(lume_home):
    return register_example_flows()


def test_the_diamond_in_non_topological_order_passes_raw_file_and_db_values(examples, lume_home):
    fof = FlowOfFlows.from_yaml(yaml_path("diamond"))
    assert [c for c in fof.composing_flows] == ["combine-text", "shout-text", "store-text", "save-text"]
    order = fof.execution_order()
    assert order.index("save-text") < order.index("store-text") < order.index("combine-text")
    assert order.index("shout-text") < order.index("combine-text")

    filename = str(lume_home / "out" / "text.txt")
    results = fof.run_and_return({"save-text-filename": filename, "save-text-text1": "good", "save-text-text2": "day"})

    saved = results["save-text"]
    assert saved["append_text"] == "good day"
    assert saved["save_file"] == {
        "file_type_string": "lume_services.files.file:TextFile",
        "filename": filename,
        "filesystem_identifier": "local",
    }
    assert Path(filename).read_text() == "good day"
    # file mapping: store-text received the reference and loaded the file with load_file
    assert results["store-text"]["file_rep"] == saved["save_file"]
    assert results["store-text"]["load_file"] == "good day"
    # raw mapping: shout-text received the value itself
    assert results["shout-text"] == {"text": "good day", "shout": "GOOD DAY"}
    # db mapping: combine-text received result.outputs["text"] of the stored result
    assert results["combine-text"]["stored"] == "good day"
    assert results["combine-text"]["shouted"] == "GOOD DAY"
    assert results["combine-text"]["combine"] == {"stored": "good day", "shouted": "GOOD DAY", "agree": True}
    stored = Result.load_from_query("examples", results["store-text"]["save_db_result"]["query"])
    assert stored.outputs == {"text": "good day", "length": 8}


def test_the_chain_example_compares_what_it_received_through_db_and_raw(examples):
    fof = FlowOfFlows.from_yaml(yaml_path("flow_of_flows"))
    params = example_parameters(fof)
    assert fof.run_and_return(params, task_name="compare-text/compare") is True
    assert fof.run_and_return(params, task_name="compare-text/text1") == "hello world"


def test_the_example_diamond_gives_its_result_under_a_parallel_executor(examples, lume_home):
    fof = FlowOfFlows.from_yaml(yaml_path("diamond"))
    run_config = LocalRunConfig(executor=ExecutorConfig(type="local_dask", num_workers=2))
    params = {"save-text-filename": str(lume_home / "t.txt")}
    assert fof.run_and_return(params, run_config, task_name="combine")["agree"] is True


def test_a_bad_db_attribute_fails_the_child_naming_the_attributes(examples, lume_home):
    spec = FlowOfFlows.from_yaml(yaml_path("flow_of_flows")).dict(include={"name", "project_name"})
    spec["composing_flows"] = [
        {"name": "save-text"},
        {"name": "store-text", "mapped_parameters": {"file_rep": {"parent_flow_name": "save-text", "parent_task_name": "save_file", "map_type": "file"}}},
        {
            "name": "shout-text",
            "mapped_parameters": {
                "text": {"parent_flow_name": "store-text", "parent_task_name": "save_db_result", "map_type": "db", "attribute": "outputs", "attribute_index": ["txt"]}
            },
        },
    ]
    fof = FlowOfFlows(**spec)
    with pytest.raises(FlowFailedError) as info:
        fof.run_and_return({"save-text-filename": str(lume_home / "t.txt")})
    assert list(info.value.failed_tasks) == ["shout-text/text"]
    assert "'txt'" in str(info.value) and "'length'" in str(info.value) and "'text'" in str(info.value)


def test_a_composed_and_registered_flow_of_flows_runs_in_another_process(examples, lume_home):
    fof = FlowOfFlows.from_yaml(yaml_path("diamond"))
    flow_id = fof.compose_and_register()
    code = (
        "import json; from lume_services.flows.flow import Flow;"
        "f = Flow(name='example-diamond', project_name='examples'); f.load_flow();"
        f"print(json.dumps([f.flow_id, f.run_and_return({{'save-text-filename': {str(lume_home / 'p.txt')!r}}}, task_name='combine-text/combine')]))"
    )
    env = {**os.environ, "LUME_HOME": str(lume_home)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    loaded_id, combined = json.loads(out.stdout)
    assert loaded_id == flow_id
    assert combined == {"stored": "hello world", "shouted": "HELLO WORLD", "agree": True}


def test_the_cli_example_registers_runs_and_reports_each_child(lume_home):
    env = {**os.environ, "LUME_HOME": str(lume_home)}
    cmd = [sys.executable, "-m", "lume_services.cli.main", "example", "--json"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stderr.splitlines()  # progress on stderr, results alone on stdout
    assert "flow of flows 'example-flow-of-flows': 3 flows, in order save-text, store-text, compare-text" in lines
    finished = [line.strip().rsplit(" in ", 1)[0] for line in lines if "finished" in line]
    assert finished == [
        "flow 'save-text' finished: Success",
        "flow 'store-text' finished: Success",
        "flow 'compare-text' finished: Success",
    ]
    results = json.loads(out.stdout)["results"]
    assert results["compare-text"]["compare"] is True
    # registering again changes nothing: same ids
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    ids = lambda text: [line for line in text.splitlines() if line.startswith("registered flow")]  # noqa: E731
    assert ids(again.stderr) == ids(out.stderr)


def test_the_cli_reports_a_bad_flow_of_flows_clearly(lume_home, tmp_path, examples):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nproject_name: examples\ncomposing_flows:\n  - name: save-text\n  - name: nowhere\n")
    env = {**os.environ, "LUME_HOME": str(lume_home)}
    out = subprocess.run(
        [sys.executable, "-m", "lume_services.cli.main", "flow-of-flows", "run", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2  # input error: nothing ran
    assert "error: flow 'nowhere' is not registered in project 'examples'" in out.stderr
    assert "Traceback" not in out.stderr


def test_registered_example_flows_can_be_loaded_by_name(examples):
    flow = Flow(name="shout-text", project_name="examples")
    flow.load_flow()
    assert flow.flow_id == examples["shout-text"]
    assert flow.run_and_return({"text": "hi"}, task_name="shout") == "HI"
