"""The lume-services command line, in process through click's runner."""

import json

from click.testing import CliRunner

from lume_services.cli.main import main


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_flows_register_and_list(lume_home, monkeypatch, tmp_path):
    module = tmp_path / "my_flows.py"
    module.write_text(
        "from prefect import Flow, Parameter, task\n"
        "@task\ndef triple(x):\n    return 3 * x\n"
        "with Flow('tripler') as tripler:\n    triple(Parameter('x', default=1))\n"
    )
    monkeypatch.chdir(tmp_path)
    first = invoke("flows", "register", "my_flows:tripler", "--project", "demo", "--label", "cpu")
    assert first.exit_code == 0, first.output
    again = invoke("flows", "register", "my_flows:tripler", "--project", "demo", "--label", "cpu")
    assert again.output == first.output  # unchanged flow: same id
    listed = invoke("flows", "list", "--project", "demo")
    assert listed.output == f"demo/tripler  version 1  id {first.output.strip()}\n"


def test_register_with_a_bad_spec_says_what_is_expected(lume_home):
    result = CliRunner().invoke(main, ["flows", "register", "no_colon_here"])
    assert result.exit_code == 2
    assert "is not MODULE:ATTRIBUTE" in result.output


def test_flow_of_flows_run_takes_parameters(lume_home, tmp_path):
    from lume_services.examples import register_example_flows, yaml_path

    register_example_flows()
    target = tmp_path / "t.txt"
    result = invoke(
        "flow-of-flows", "run", str(yaml_path("diamond")),
        "-p", f"save-text-filename={target}", "-p", "save-text-text2=there",
    )
    assert result.exit_code == 0, result.output
    results = json.loads(result.output[result.output.index("results:") + len("results:"):])
    assert results["combine-text"]["combine"] == {"stored": "hello there", "shouted": "HELLO THERE", "agree": True}
    assert target.read_text() == "hello there"


def test_env_lists_variables_and_hides_secrets(lume_home, monkeypatch):
    monkeypatch.setenv("LUME_RESULTS_DB__MONGODB__PASSWORD", "hunter2")
    result = invoke("env")
    assert "LUME_HOME=" + str(lume_home) in result.output
    assert "LUME_RESULTS_DB__MONGODB__PASSWORD=(set)" in result.output
    assert "hunter2" not in result.output
