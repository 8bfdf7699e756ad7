"""The lume-services command line: what a CI job can rely on (stdout, stderr, exit codes)."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from lume_services.cli.main import main

FLOWS_MODULE = """
from prefect import Flow, Parameter, task

@task
def triple(x):
    return 3 * x

@task
def fail(x):
    raise ValueError(f"cannot handle {x}")

with Flow("tripler") as tripler:
    triple(Parameter("x", default=1))

with Flow("failer") as failer:
    fail(Parameter("x", default=1))

not_a_flow = 42
"""


def invoke(*args, **kwargs):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False, **kwargs)


@pytest.fixture
def flows_dir(tmp_path, monkeypatch):
    """A folder with my_flows.py (tripler, failer) and more/other.py (quadrupler); the cwd."""
    (tmp_path / "my_flows.py").write_text(FLOWS_MODULE)
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "other.py").write_text(
        "from prefect import Flow, Parameter, task\n"
        "@task\ndef quadruple(x):\n    return 4 * x\n"
        "with Flow('quadrupler') as quadrupler:\n    quadruple(Parameter('x', default=1))\n"
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- flows register -------------------------------------------------------------


def test_register_a_folder_says_of_each_flow_new_then_unchanged_then_new_version(lume_home, flows_dir):
    first = invoke("flows", "register", "-p", flows_dir, "--project", "demo")
    assert first.exit_code == 0, first.output
    lines = first.stdout.splitlines()
    assert [line.split("  ")[:3] for line in lines[:-1]] == [  # files in path order, flows in file order
        ["quadrupler", "version 1", "new"], ["tripler", "version 1", "new"], ["failer", "version 1", "new"],
    ]
    assert lines[-1] == "3 flow(s) in project 'demo': 3 new, 0 new version, 0 unchanged, 0 failed"

    again = invoke("flows", "register", "-p", flows_dir, "--project", "demo")
    assert again.stdout.splitlines()[-1].endswith("0 new, 0 new version, 3 unchanged, 0 failed")

    (flows_dir / "more" / "other.py").write_text(
        (flows_dir / "more" / "other.py").read_text().replace("4 * x", "4 * x + 0")
    )
    changed = invoke("flows", "register", "-p", flows_dir / "more", "--project", "demo", "--json")
    document = json.loads(changed.stdout)
    assert [(f["name"], f["version"], f["status"]) for f in document["flows"]] == [("quadrupler", 2, "new version")]
    assert document["summary"] == {"new": 0, "new version": 1, "unchanged": 0, "failed": 0}


def test_register_a_module_registers_every_flow_it_defines(lume_home, flows_dir):
    result = invoke("flows", "register", "-m", "my_flows", "--project", "demo", "--json")
    assert result.exit_code == 0, result.output
    assert sorted(f["name"] for f in json.loads(result.stdout)["flows"]) == ["failer", "tripler"]
    listed = json.loads(invoke("flows", "list", "--project", "demo", "--json").stdout)
    assert sorted((r["name"], r["version"]) for r in listed) == [("failer", 1), ("tripler", 1)]


def test_register_module_flow_and_list(lume_home, flows_dir):
    first = invoke("flows", "register", "my_flows:tripler", "--project", "demo", "--label", "cpu")
    assert first.exit_code == 0, first.output
    flow_id = first.stdout.splitlines()[0].rsplit(" ", 1)[1]
    listed = invoke("flows", "list", "--project", "demo")
    assert listed.stdout == f"demo/tripler  version 1  id {flow_id}\n"


def test_register_tries_every_flow_and_exits_1_when_one_failed(lume_home, flows_dir):
    (flows_dir / "bad.py").write_text(
        "import threading\nfrom prefect import Flow, task\nLOCK = threading.Lock()\n"
        "@task\ndef locked():\n    with LOCK:\n        return 1\n"
        "with Flow('unpicklable') as unpicklable:\n    locked()\n"
    )
    result = invoke("flows", "register", "-p", flows_dir / "bad.py", "my_flows:tripler", "--project", "demo", "--json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert {f["name"]: f["status"] for f in document["flows"]} == {"tripler": "new", "unpicklable": "failed"}
    assert "error: registering 'unpicklable'" in result.stderr


def test_register_needs_a_project(lume_home, flows_dir):
    result = invoke("flows", "register", "my_flows:tripler")
    assert result.exit_code == 2
    assert "--project" in result.stderr


@pytest.mark.parametrize(
    "args, expected",
    [
        (["my_flows:not_a_flow"], "my_flows:not_a_flow is a int, not a prefect.Flow"),
        (["my_flows:missing"], "module 'my_flows' has no attribute 'missing'; its flows: tripler, failer"),
        (["no_such_module:flow"], "cannot import module 'no_such_module'"),
        (["-p", "nowhere.py"], "path 'nowhere.py' does not exist"),
        (["no_colon_here"], "is not MODULE:ATTRIBUTE"),
    ],
)
def test_register_with_wrong_input_exits_2_with_one_line_saying_what_is_wrong(lume_home, flows_dir, args, expected):
    result = invoke("flows", "register", *args, "--project", "demo")
    assert result.exit_code == 2
    assert expected in result.stderr
    assert result.stdout == ""


def test_a_file_that_does_not_import_is_named_in_a_one_line_error(lume_home, flows_dir):
    (flows_dir / "broken.py").write_text("def oops(:\n")
    result = invoke("flows", "register", "-p", "broken.py", "--project", "demo")
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("error: cannot import ") and "broken.py: SyntaxError" in line


# --- flows run --------------------------------------------------------------------


def test_flows_run_prints_the_results_as_json(lume_home, flows_dir):
    invoke("flows", "register", "my_flows:tripler", "--project", "demo")
    one = invoke("flows", "run", "tripler", "--project", "demo", "-p", "x=14", "--task", "triple")
    assert one.exit_code == 0, one.output
    assert json.loads(one.stdout) == 42
    assert "flow 'tripler' finished: Success" in one.stderr
    document = json.loads(invoke("flows", "run", "tripler", "--project", "demo", "--json").stdout)
    assert document["state"] == "Success" and document["results"] == {"triple": 3, "x": 1}


def test_flows_run_that_fails_exits_1_and_still_prints_one_json_document(lume_home, flows_dir):
    invoke("flows", "register", "my_flows:failer", "--project", "demo")
    result = invoke("flows", "run", "failer", "--project", "demo", "-p", "x=3", "--json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["state"] == "Failed"
    assert document["failed_tasks"] == {"fail": "ValueError: cannot handle 3"}
    assert result.stderr.splitlines()[-1].startswith("error: flow 'failer' failed")


def test_running_a_flow_that_is_not_registered_is_an_input_error(lume_home):
    result = invoke("flows", "run", "nobody", "--project", "demo", "--json")
    assert result.exit_code == 2
    assert json.loads(result.stdout)["error"]["type"] == "FlowNotFoundError"
    assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1


def test_debug_shows_the_traceback(lume_home, monkeypatch):
    plain = invoke("flows", "run", "nobody", "--project", "demo")
    assert "Traceback" not in plain.stderr
    assert "Traceback" in invoke("--debug", "flows", "run", "nobody", "--project", "demo").stderr
    monkeypatch.setenv("LUME_DEBUG", "1")
    assert "Traceback" in invoke("flows", "run", "nobody", "--project", "demo").stderr


# --- flow-of-flows ------------------------------------------------------------------


def test_flow_of_flows_run_takes_parameters_and_prints_one_json_document(lume_home, tmp_path):
    from lume_services.examples import register_example_flows, yaml_path

    register_example_flows()
    target = tmp_path / "t.txt"
    result = invoke(
        "flow-of-flows", "run", yaml_path("diamond"),
        "-p", f"save-text-filename={target}", "-p", "save-text-text2=there", "--json",
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["results"]["combine-text"]["combine"] == {"stored": "hello there", "shouted": "HELLO THERE", "agree": True}
    assert {c: v["state"] for c, v in document["children"].items()} == dict.fromkeys(document["order"], "Success")
    assert "flow 'combine-text' finished: Success" in result.stderr
    assert target.read_text() == "hello there"


def test_results_that_json_does_not_know_are_printed_as_json_not_reprs(lume_home):
    result = invoke("example", "--json")
    assert result.exit_code == 0, result.output
    results = json.loads(result.stdout)["results"]
    assert results["save-text"]["save_file"]["file_type_string"].endswith("TextFile")


@pytest.mark.parametrize(
    "executor",
    [
        {"LUME_EXECUTOR__TYPE": "local"},
        {"LUME_EXECUTOR__TYPE": "local_dask", "LUME_EXECUTOR__SCHEDULER": "threads"},
        {"LUME_EXECUTOR__TYPE": "local_dask", "LUME_EXECUTOR__SCHEDULER": "processes"},
        {"LUME_EXECUTOR__TYPE": "dask"},
    ],
    ids=["local", "local_dask threads", "local_dask processes", "dask"],
)
def test_the_example_runs_under_every_executor_with_progress(lume_home, monkeypatch, executor):
    for name, value in executor.items():
        monkeypatch.setenv(name, value)
    result = invoke("example", "--diamond")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["combine-text"]["combine"]["agree"] is True
    for child in ("save-text", "shout-text", "store-text", "combine-text"):
        assert f"flow {child!r} started" in result.stderr
        assert f"flow {child!r} finished: Success in " in result.stderr


def test_quiet_prints_no_progress(lume_home):
    result = invoke("-q", "example")
    assert result.exit_code == 0
    assert result.stderr == ""


def test_verbose_shows_prefects_task_lines_on_stderr_named_by_child(lume_home):
    result = invoke("-v", "example")
    assert "Task 'save-text/append_text'" in result.stderr
    json.loads(result.stdout)  # still exactly one document


def test_closed_pipes_do_not_change_the_outcome(lume_home, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lume_services.cli.main", "example", "--diamond"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path,
    )
    proc.stdout.close()  # like `| head` that is gone before anything is written
    proc.stderr.close()
    assert proc.wait(timeout=120) == 0


def test_a_closed_stdout_does_not_turn_a_failed_run_into_a_success(lume_home, flows_dir):
    invoke("flows", "register", "my_flows:failer", "--project", "demo")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lume_services.cli.main", "flows", "run", "failer", "--project", "demo", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=flows_dir,
    )
    proc.stdout.close()
    assert proc.wait(timeout=120) == 1


def test_an_invalid_yaml_file_is_a_one_line_input_error(lume_home, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    result = invoke("flow-of-flows", "run", bad)
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ")


def test_graph_prints_mermaid_and_dot(lume_home):
    from lume_services.examples import register_example_flows, yaml_path

    register_example_flows()
    mermaid = invoke("flow-of-flows", "graph", yaml_path("diamond"))
    assert mermaid.stdout.startswith("flowchart TD\n")
    assert '-->|"file_rep (file)"|' in mermaid.stdout
    dot = invoke("flow-of-flows", "graph", yaml_path("diamond"), "--format", "dot")
    assert '"save-text" -> "store-text" [label="file_rep (file)"];' in dot.stdout


@pytest.mark.skipif(shutil.which("dot") is not None, reason="Graphviz is installed here: svg renders")
def test_graph_as_svg_without_graphviz_says_what_to_install(lume_home):
    from lume_services.examples import register_example_flows, yaml_path

    register_example_flows()
    result = invoke("flow-of-flows", "graph", yaml_path("diamond"), "--format", "svg")
    assert result.exit_code == 2
    assert "lume-services[viz]" in result.stderr or "Graphviz's 'dot' program" in result.stderr


def test_env_lists_variables_and_hides_secrets(lume_home, monkeypatch):
    monkeypatch.setenv("LUME_RESULTS_DB__MONGODB__PASSWORD", "hunter2")
    result = invoke("env")
    assert "LUME_HOME=" + str(lume_home) in result.stdout
    assert "LUME_RESULTS_DB__MONGODB__PASSWORD=(set)" in result.stdout
    assert "hunter2" not in result.stdout
    assert json.loads(invoke("env", "--json").stdout)["LUME_HOME"] == str(lume_home)


def test_the_exit_codes_are_documented():
    doc = (Path(__file__).parents[1] / "docs" / "cli.md").read_text()
    for line in ("| 0 |", "| 1 |", "| 2 |"):
        assert line in doc
    assert textwrap.dedent(main.help).count("Exit codes") == 1


# --- commands that start at once --------------------------------------------------

#: what a read-only command may not import: Prefect and the optional extras
NOT_FOR_READ_ONLY_COMMANDS = ("prefect", "kubernetes", "docker", "pymongo", "sqlalchemy", "dask")

READ_ONLY_COMMANDS = [
    ["runs", "list"],
    ["runs", "show", "{run_id}"],
    ["flows", "list"],
    ["env"],
    ["--help"],
]


@pytest.mark.parametrize("command", READ_ONLY_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_read_only_commands_import_no_prefect_and_no_optional_extra(lume_home, flows_dir, command):
    """The read-only commands read the stores and print: they start without Prefect (issue 23)."""
    assert invoke("flows", "register", "-p", flows_dir, "--project", "demo").exit_code == 0
    ran = invoke("flows", "run", "tripler", "--project", "demo", "-p", "x=2", "--json")
    assert ran.exit_code == 0, ran.output
    run_id = json.loads(invoke("runs", "list", "--json").stdout)[0]["run_id"]
    args = [a.format(run_id=run_id) for a in command]
    code = textwrap.dedent(
        f"""
        import sys
        from lume_services.cli.main import main
        try:
            main({args!r})
        except SystemExit as exit:
            assert not exit.code, exit.code
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in {NOT_FOR_READ_ONLY_COMMANDS!r})
        print("imported:", ",".join(sorted({{m.split(".")[0] for m in heavy}})), file=sys.stderr)
        """
    )
    env = {**os.environ, "LUME_HOME": str(lume_home)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "imported:", done.stderr
