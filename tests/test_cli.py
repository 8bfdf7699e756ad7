"""The lume-services command line: what a CI job can rely on (stdout, stderr, exit codes)."""

import json
import os
import re
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


def test_flows_run_prints_one_document_whose_text_is_its_rendering(lume_home, flows_dir):
    invoke("flows", "register", "my_flows:tripler", "--project", "demo")
    one = invoke("flows", "run", "tripler", "--project", "demo", "--param", "x=14", "--task", "triple")
    assert one.exit_code == 0, one.output
    head, run_line, result_line = one.stdout.splitlines()
    assert head.startswith("flow 'tripler' (project 'demo'): Success in ")
    assert result_line == "result of triple: 42"
    assert "flow 'tripler' finished: Success" in one.stderr
    document = json.loads(invoke("flows", "run", "tripler", "--project", "demo", "--param", "x=14",
                                 "--task", "triple", "--json").stdout)
    assert document["state"] == "Success" and document["result"] == 42 and document["task"] == "triple"
    assert run_line.startswith("run: ") and len(run_line.split()[1]) == 36
    everything = json.loads(invoke("flows", "run", "tripler", "--project", "demo", "--json").stdout)
    assert everything["results"] == {"triple": 3, "x": 1}


def test_flows_run_that_fails_exits_1_and_still_prints_one_json_document(lume_home, flows_dir):
    invoke("flows", "register", "my_flows:failer", "--project", "demo")
    result = invoke("flows", "run", "failer", "--project", "demo", "--param", "x=3", "--json")
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
        "--param", f"save-text-filename={target}", "--param", "save-text-text2=there", "--json",
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
    result = invoke("example", "--diamond", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["results"]["combine-text"]["combine"]["agree"] is True
    for child in ("save-text", "shout-text", "store-text", "combine-text"):
        assert f"flow {child!r} started" in result.stderr
        assert f"flow {child!r} finished: Success in " in result.stderr


def test_quiet_prints_no_progress(lume_home):
    result = invoke("-q", "example")
    assert result.exit_code == 0
    assert result.stderr == ""


def test_verbose_shows_prefects_task_lines_on_stderr_named_by_child(lume_home):
    result = invoke("example", "-v", "--json")  # -v after the command, as anywhere on the line
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


# --- Prefect 1's habits ----------------------------------------------------------------


def test_register_name_selects_flows_by_name_and_is_repeatable(lume_home, flows_dir):
    result = invoke("flows", "register", "-p", ".", "-n", "tripler", "-n", "quadrupler", "--project", "demo", "--json")
    assert result.exit_code == 0, result.output
    assert sorted(f["name"] for f in json.loads(result.stdout)["flows"]) == ["quadrupler", "tripler"]


def test_register_name_that_selects_nothing_exits_2_naming_the_flows_found(lume_home, flows_dir):
    result = invoke("flows", "register", "-m", "my_flows", "-n", "nobody", "--project", "demo")
    assert result.exit_code == 2
    assert "no flow found is named 'nobody' (found: 'tripler', 'failer')" in result.stderr
    assert invoke("flows", "list", "--json").stdout.strip() == "[]"


def test_register_name_as_a_new_name_still_works_with_a_deprecation_note(lume_home, flows_dir):
    result = invoke("flows", "register", "my_flows:tripler", "--name", "renamed", "--project", "demo", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["flows"][0]["name"] == "renamed"
    assert "deprecated" in result.stderr and "--rename 'renamed'" in result.stderr


def test_register_label_has_prefects_short_option(lume_home, flows_dir):
    result = invoke("flows", "register", "my_flows:tripler", "-l", "cpu", "-l", "gpu", "--project", "demo")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("suffix, content", [(".json", '{"x": 5}'), (".yaml", "x: 5\n")])
def test_run_takes_parameters_from_a_json_or_yaml_file_and_param_wins(lume_home, flows_dir, suffix, content):
    invoke("flows", "register", "my_flows:tripler", "--project", "demo")
    (flows_dir / f"params{suffix}").write_text(content)
    from_file = invoke("flows", "run", "tripler", "--project", "demo", "--param-file", f"params{suffix}",
                       "--task", "triple", "--json")
    assert json.loads(from_file.stdout)["result"] == 15
    both = invoke("flows", "run", "tripler", "--project", "demo", "--param-file", f"params{suffix}",
                  "--param", "x=7", "--task", "triple", "--json")
    assert json.loads(both.stdout)["result"] == 21


def test_a_parameter_file_that_is_not_a_mapping_exits_2(lume_home, flows_dir):
    invoke("flows", "register", "my_flows:tripler", "--project", "demo")
    (flows_dir / "params.json").write_text("[1, 2]")
    result = invoke("flows", "run", "tripler", "--project", "demo", "--param-file", "params.json", "--json")
    assert result.exit_code == 2
    assert "holds a list; expected a mapping" in json.loads(result.stdout)["error"]["message"]


def test_the_old_p_for_a_parameter_still_works_with_a_deprecation_note(lume_home, flows_dir):
    invoke("flows", "register", "my_flows:tripler", "--project", "demo")
    result = invoke("flows", "run", "tripler", "--project", "demo", "-p", "x=2", "--task", "triple", "--json")
    assert json.loads(result.stdout)["result"] == 6
    assert "-p NAME=VALUE for a run's parameter is deprecated; write --param NAME=VALUE" in result.stderr


def test_run_name_is_part_of_the_document(lume_home, flows_dir):
    invoke("flows", "register", "my_flows:tripler", "--project", "demo")
    result = invoke("flows", "run", "tripler", "--project", "demo", "--run-name", "nightly", "--json")
    assert json.loads(result.stdout)["run_name"] == "nightly"


def test_flow_of_flows_run_reports_one_task_and_its_text_says_what_its_document_says(lume_home, tmp_path):
    from lume_services.examples import register_example_flows, yaml_path

    register_example_flows()
    args = ["flow-of-flows", "run", yaml_path("diamond"), "--param", f"save-text-filename={tmp_path / 't.txt'}"]
    text = invoke(*args, "--task", "combine-text/combine")
    assert text.exit_code == 0, text.output
    assert text.stdout.splitlines()[-1] == (
        'result of combine-text/combine: {"agree": true, "shouted": "HELLO WORLD", "stored": "hello world"}'
    )
    whole = invoke(*args)
    assert all(len(line) <= 140 for line in whole.stdout.splitlines())  # results shortened to a line each
    document = json.loads(invoke(*args, "--json").stdout)
    for child, info in document["children"].items():
        assert re.search(rf"^  {child}\s+{info['state']}\s", whole.stdout, re.M), whole.stdout
    for child, results in document["results"].items():
        for task in results:
            assert f"  {child}/{task}: " in whole.stdout


def test_flow_of_flows_register_composes_and_registers_once_then_says_unchanged(lume_home):
    from lume_services.examples import register_example_flows, yaml_path

    register_example_flows()
    first = invoke("flow-of-flows", "register", yaml_path("diamond"), "--json")
    assert first.exit_code == 0, first.output
    document = json.loads(first.stdout)
    assert document["status"] == "new" and document["version"] == 1
    assert [c["name"] for c in document["children"]] == ["save-text", "shout-text", "store-text", "combine-text"]
    assert all(c["version"] == 1 for c in document["children"])
    again = json.loads(invoke("flow-of-flows", "register", yaml_path("diamond"), "--json").stdout)
    assert (again["status"], again["flow_id"]) == ("unchanged", document["flow_id"])
    text = invoke("flow-of-flows", "register", yaml_path("diamond"))
    assert text.stdout.splitlines()[-1].startswith(f"{document['name']}  version 1  unchanged  id {document['flow_id']}")


def test_flow_of_flows_register_with_an_unregistered_child_exits_2(lume_home):
    from lume_services.examples import yaml_path

    result = invoke("flow-of-flows", "register", yaml_path("diamond"), "--json")
    assert result.exit_code == 2
    assert json.loads(result.stdout)["error"]["type"] == "FlowNotFoundError"


# --- run ids ----------------------------------------------------------------------------


@pytest.fixture
def runs_of_tripler(lume_home, flows_dir):
    """17 runs of tripler: by pigeonhole two run ids share their first hex digit."""
    invoke("flows", "register", "my_flows:tripler", "--project", "demo")
    for x in range(17):
        invoke("flows", "run", "tripler", "--project", "demo", "--param", f"x={x}")
    return [r["run_id"] for r in json.loads(invoke("runs", "list", "--json", "--limit", "100").stdout)]


def test_runs_show_takes_the_unique_beginning_of_a_run_id(runs_of_tripler):
    ids = runs_of_tripler
    unique = next(run_id[:n] for run_id in ids for n in range(1, 37)
                  if sum(other.startswith(run_id[:n]) for other in ids) == 1)
    result = invoke("runs", "show", unique, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["run_id"].startswith(unique)


def test_an_ambiguous_run_id_beginning_exits_2_naming_the_candidates(runs_of_tripler):
    ids = runs_of_tripler
    first = next(c for c in "0123456789abcdef" if sum(i.startswith(c) for i in ids) > 1)
    result = invoke("runs", "show", first)
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert f"run id {first!r} is the beginning of" in line
    assert all(run_id in line for run_id in ids if run_id.startswith(first))


def test_runs_show_last_is_the_newest_run(runs_of_tripler):
    shown = json.loads(invoke("runs", "show", "--last", "--json").stdout)
    assert shown["run_id"] == runs_of_tripler[0] and shown["parameters"] == {"x": 16}


@pytest.mark.parametrize("args", [["runs", "show", "ffffffff-0000"], ["runs", "list", "--since", "yesterday"],
                                  ["runs", "list", "--state", "Sleeping"], ["runs", "show"]])
def test_wrong_input_to_runs_exits_2_as_documented(lume_home, args):
    result = invoke(*args, "--json")
    assert result.exit_code == 2, result.output
    assert json.loads(result.stdout)["exit_code"] == 2


# --- global options, stdout, Ctrl-C ---------------------------------------------------------


def test_global_options_stand_anywhere_on_the_line(lume_home, flows_dir):
    invoke("flows", "register", "my_flows:tripler", "--project", "demo")
    before = invoke("--json", "flows", "list")
    after = invoke("flows", "list", "--json")
    assert json.loads(before.stdout) == json.loads(after.stdout)
    quiet = invoke("flows", "run", "tripler", "--project", "demo", "-q")
    assert quiet.exit_code == 0 and quiet.stderr == ""
    debug = invoke("flows", "run", "nobody", "--project", "demo", "--debug")
    assert "Traceback" in debug.stderr


def test_an_option_value_or_a_commands_own_option_that_looks_like_a_global_flag_stays_where_it_is():
    from lume_services.cli.main import hoist_global_options

    assert hoist_global_options(main, ["flows", "run", "tripler", "--run-name", "-v", "--project", "-q", "-v",
                                       "--json"]) == [
        "-v", "--json", "flows", "run", "tripler", "--run-name", "-v", "--project", "-q",
    ]
    assert hoist_global_options(main, ["flows", "--json", "list"]) == ["--json", "flows", "list"]
    assert hoist_global_options(main, ["models", "results", "1", "-q", "inputs.x=3", "-q"]) == [
        "models", "results", "1", "-q", "inputs.x=3", "-q",  # models results' own -q/--query
    ]


def test_with_json_stdout_holds_one_document_although_user_code_prints(lume_home, flows_dir):
    (flows_dir / "noisy.py").write_text(
        "print('hello from import')\n"
        "from prefect import Flow, task\n"
        "@task\ndef shout():\n    print('hello from a task')\n    raise ValueError('no')\n"
        "with Flow('noisy') as noisy:\n    shout()\n"
    )
    registered = invoke("flows", "register", "-p", "noisy.py", "--project", "demo", "--json")
    assert json.loads(registered.stdout)["flows"][0]["name"] == "noisy"
    assert "hello from import" in registered.stderr
    ran = invoke("-v", "flows", "run", "noisy", "--project", "demo", "--json")
    assert ran.exit_code == 1
    assert json.loads(ran.stdout)["state"] == "Failed"  # Prefect's ERROR lines and the print went to stderr
    assert "hello from a task" in ran.stderr


def test_ctrl_c_with_json_prints_an_interrupted_document_and_exits_130(lume_home, flows_dir):
    (flows_dir / "interrupted.py").write_text("raise KeyboardInterrupt\n")
    result = invoke("flows", "register", "-p", "interrupted.py", "--project", "demo", "--json")
    assert result.exit_code == 130
    document = json.loads(result.stdout)
    assert document["state"] == "Interrupted" and document["exit_code"] == 130
    assert result.stderr.splitlines()[-1].startswith("error: interrupted (Ctrl-C)")


def test_control_characters_in_names_are_escaped_in_text(lume_home, flows_dir):
    (flows_dir / "odd.py").write_text(
        "from prefect import Flow, task\n@task\ndef one():\n    return 1\n"
        "with Flow('red\\x1b[31m\\nname') as odd:\n    one()\n"
    )
    result = invoke("flows", "register", "-p", "odd.py", "--project", "demo")
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout and "red\\x1b[31m\\nname  version 1  new" in result.stdout
    assert json.loads(invoke("flows", "list", "--json").stdout)[0]["name"] == "red\x1b[31m\nname"


# --- every command's exit codes -------------------------------------------------------------

EXAMPLE = "EXAMPLE_YAML"


@pytest.mark.parametrize(
    "args, code",
    [
        (["env"], 0),
        (["env", "--bogus"], 2),
        (["example"], 0),
        (["example", "--param", "nobody-x=1"], 2),
        (["flows", "register", "my_flows:tripler", "--project", "demo"], 0),
        (["flows", "register", "my_flows:tripler"], 2),
        (["flows", "list"], 0),
        (["flows", "list", "--bogus"], 2),
        (["flows", "run", "tripler", "--project", "demo"], 0),
        (["flows", "run", "failer", "--project", "demo"], 1),
        (["flows", "run", "tripler", "--project", "demo", "--param", "y=1"], 2),
        (["flows", "run", "tripler", "--project", "demo", "--task", "nothing"], 2),
        (["flow-of-flows", "run", EXAMPLE, "--param", "save-text-filename=out.txt"], 0),
        (["flow-of-flows", "run", EXAMPLE], 2),
        (["flow-of-flows", "run", "missing.yaml"], 2),
        (["flow-of-flows", "register", EXAMPLE], 0),
        (["flow-of-flows", "register", "missing.yaml"], 2),
        (["flow-of-flows", "graph", EXAMPLE], 0),
        (["flow-of-flows", "graph", EXAMPLE, "--format", "png"], 2),
        (["runs", "list"], 0),
        (["runs", "show", "--last"], 0),
        (["runs", "show", "nope"], 2),
        (["runs", "report", "--last", "-o", "run.html"], 0),
        (["runs", "report", "--last"], 2),
        (["runs", "prune", "--older-than", "30"], 0),
        (["runs", "prune", "--older-than", "-1"], 2),
        (["models", "create", "--author", "Ada", "--laboratory", "slac", "--facility", "lcls", "--beampath", "cu_hxr",
          "--description", "surrogate"], 0),
        (["models", "create", "--author", "Ada"], 2),
        (["models", "list"], 0),
        (["models", "run", "99"], 2),
        (["models", "results", "99"], 2),
        (["deployments", "list"], 0),
        (["deployments", "show", "99"], 2),
        (["deployments", "create", "1", "--version", "1.0"], 2),
        (["no-such-command"], 2),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else str(value),
)
def test_every_command_exits_as_docs_cli_says(lume_home, flows_dir, args, code):
    from lume_services.examples import register_example_flows, yaml_path

    register_example_flows()
    for flow in ("tripler", "failer"):
        invoke("flows", "register", f"my_flows:{flow}", "--project", "demo")
    invoke("flows", "run", "tripler", "--project", "demo")
    args = [str(yaml_path("diamond")) if a == EXAMPLE else a for a in args]
    text = invoke(*args)
    assert text.exit_code == code, text.output
    as_json = invoke(*args, "--json")
    assert as_json.exit_code == code, as_json.output
    if args[0] != "flow-of-flows" or args[1] != "graph" or code != 0:  # graph prints a picture, not a document
        json.loads(as_json.stdout)  # exactly one document, whatever happened


def test_a_real_ctrl_c_during_a_run_gives_the_interrupted_document_and_130(lume_home, flows_dir):
    (flows_dir / "interrupting.py").write_text(
        "import os, signal, threading\nfrom prefect import Flow, task\n"
        "@task\ndef press_ctrl_c():\n"
        "    os.kill(os.getpid(), signal.SIGINT)  # as a terminal does on Ctrl-C\n"
        "    threading.Event().wait()\n"
        "with Flow('interrupting') as interrupting:\n    press_ctrl_c()\n"
    )
    assert invoke("flows", "register", "-p", "interrupting.py", "--project", "demo").exit_code == 0
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1]), "LUME_HOME": str(lume_home)}
    done = subprocess.run(
        [sys.executable, "-m", "lume_services.cli.main", "flows", "run", "interrupting", "--project", "demo", "--json"],
        capture_output=True, text=True, env=env, cwd=flows_dir, timeout=120,
    )
    assert done.returncode == 130, done.stderr
    assert json.loads(done.stdout)["state"] == "Interrupted"
    assert "Traceback" not in done.stderr


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
    ran = invoke("flows", "run", "tripler", "--project", "demo", "--param", "x=2", "--json")
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
