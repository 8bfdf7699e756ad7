"""The console script's light path for ``runs list`` (issue 23): the click command's output, without its start-up.

``lume_services.cli.console.main`` answers ``runs list`` itself when it can
answer exactly as ``lume_services.cli.main.main`` would, and hands the line to
it otherwise. These tests hold it to that: the same output on a real history
for every option, the history's path read from the same variables as the
settings models read it, and every environment, command line or history it is
not sure of (a misspelled variable, an invalid value, ``--help``, a running
run, a file that is not ours) answered by the click command.
"""

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from lume_services.cli.console import history_path, light_runs_list, parse_runs_list
from lume_services.cli.main import main as click_main
from lume_services.services.scheduling.backends.local.backend import LocalBackend
from lume_services.services.scheduling.backends.local.run_listing import light_listing
from lume_services.services.scheduling.run_records import RunRecord, TaskRun

HEAVY = ("click", "pydantic", "dependency_injector", "prefect", "yaml")


def write_history(home: Path, runs: int = 30) -> LocalBackend:
    """A real run history under ``home``: finished runs of several flows and projects, some failed."""
    backend = LocalBackend(home=home)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    records = []
    for i in range(runs):
        at = start + timedelta(minutes=i, microseconds=7 * i)
        records.append(RunRecord(
            run_id=f"run-{i:04d}", flow_name=["tripler", "adder", "bad\x1bname", "ünïcode"][i % 4],
            project_name=None if i % 5 == 0 else f"project-{i % 3}",
            state="Failed" if i % 7 == 0 else "Success", message="boom" if i % 7 == 0 else None,
            parameters={"x": i, "nested": {"y": [1, 2.5, None]}, "text": "ä\n"}, executor="local",
            start=at, end=None if i == 3 else at + timedelta(seconds=i * 0.37),
        ))
    backend.history.insert_many(records)
    backend.history.finish("run-0001", start + timedelta(minutes=2), "Success", None,
                           [TaskRun("inc", "inc-1", "Success", result=1, result_recorded=True)])
    return backend


def click_says(*args):
    done = CliRunner().invoke(click_main, list(args), catch_exceptions=False)
    return done.exit_code, done.stdout, done.stderr


def light_says(capsys, *args):
    code = light_runs_list(list(args), dict(os.environ))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("args", [
    [], ["--json"], ["--limit", "3", "--state", "failed"], ["--flow", "tripler", "--json"],
    ["--project=project-2", "--since", "2026-01-01T00:10"], ["--flow", "nope"], ["-q", "--limit=2", "-v"],
    ["--since", "2026-01-01T00:20:00Z", "--json", "--limit", "100"], ["--flow", "ünïcode", "--state", "SUCCESS"],
], ids=lambda a: " ".join(a) or "(none)")
def test_runs_list_prints_on_the_light_path_what_the_click_command_prints(lume_home, capsys, args):
    write_history(lume_home)
    light = light_says(capsys, "runs", "list", *args)
    assert light[0] == 0, "the light path should answer this line"
    assert light == click_says("runs", "list", *args)


def test_global_flags_may_stand_before_the_command_on_the_light_path(lume_home, capsys):
    write_history(lume_home)
    assert light_says(capsys, "--json", "runs", "-q", "list") == click_says("--json", "runs", "-q", "list")


def _full_history_path(monkeypatch, environ):
    """Where the local backend the settings build keeps its run history (the click command's path)."""
    from lume_services.composition import build_scheduling_backend
    from lume_services.env_vars import settings_from_environment

    for name in list(os.environ):
        if name.upper().startswith("LUME_"):
            monkeypatch.delenv(name)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    return build_scheduling_backend(settings_from_environment()).history.path


@pytest.mark.parametrize("environ", [
    {}, {"LUME_HOME": "{tmp}/h"}, {"lume_home": "{tmp}/lower"}, {"Lume_Home": "~/mixed"}, {"LUME_HOME": "~/h"},
    {"LUME_RUN_HISTORY__PATH": "{tmp}/elsewhere/runs.db"}, {"LUME_HOME": "{tmp}/h", "LUME_RUN_HISTORY__PATH": "~/r.db"},
    {"LUME_BACKEND": "local"}, {"LUME_RUN_HISTORY__ENABLED": "false"}, {"LUME_RUN_HISTORY__ENABLED": "Yes"},
    {"LUME_RUN_HISTORY__MAX_RESULT_BYTES": "100"}, {"LUME_DEBUG": "1", "LUME_HOME": "{tmp}/d"},
], ids=lambda e: ",".join(f"{k}={v}" for k, v in e.items()) or "(none)")
def test_the_light_path_finds_the_history_where_the_settings_models_put_it(tmp_path, monkeypatch, environ):
    environ = {name: value.replace("{tmp}", str(tmp_path)) for name, value in environ.items()}
    light = history_path(environ)
    assert light is not None
    assert light == _full_history_path(monkeypatch, environ)


@pytest.mark.parametrize("environ, full", [
    ({"LUME_HOEM": "/tmp/x"}, "warns"),  # misspelled: the settings warn of it
    ({"LUME_RUN_HISTORY__PTAH": "/tmp/x"}, "warns"),
    ({"LUME_BACKEND": "loca"}, "refuses"),
    ({"LUME_BACKEND": " local"}, "refuses"),
    ({"LUME_RUN_HISTORY__ENABLED": "maybe"}, "refuses"),
    ({"LUME_RUN_HISTORY__MAX_RESULT_BYTES": "-1"}, "refuses"),
    ({"LUME_RUN_HISTORY__MAX_RESULT_BYTES": "lots"}, "refuses"),
    ({"LUME_EXECUTOR__TYPE": "nope"}, "refuses"),  # a setting the light path does not read
    ({"LUME_RESULTS_DB__TYPE": "oracle"}, "refuses"),
    ({"LUME_BACKEND": "server"}, "reads"),
    ({"LUME_RESULTS_DB__TYPE": "sqlite"}, "reads"),
    ({"LUME_RUN_HISTORY": '{"path": "/tmp/x.db"}'}, "reads"),
    ({"LUME_RUN_HISTORY__PATH": ""}, "reads"),
    ({"LUME_HOME": "/tmp/a", "lume_home": "/tmp/b"}, "reads"),
], ids=lambda e: ",".join(f"{k}={v}" for k, v in e.items()) if isinstance(e, dict) else e)
def test_the_light_path_leaves_to_the_settings_models_what_they_refuse_warn_of_or_read_themselves(
        monkeypatch, environ, full):
    from lume_services.errors import EnvironmentNotConfiguredError, UnknownSettingWarning

    assert history_path(environ) is None
    if full == "warns":
        with pytest.warns(UnknownSettingWarning):
            _full_history_path(monkeypatch, environ)
    elif full == "refuses":
        with pytest.raises(EnvironmentNotConfiguredError):
            _full_history_path(monkeypatch, environ)


#: a console script as pip writes it for an entry point
SCRIPT = "import re, sys\nfrom {module} import main\nsys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\nsys.exit(main())\n"


def _both(args, environ, tmp_path):
    """(exit code, stdout, stderr) of ``lume-services`` with the console script and with the click command as its
    entry point (what it was before), each in a fresh process."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("LUME_")}
    env.update(environ)
    said = []
    for module in ("lume_services.cli.console", "lume_services.cli.main"):
        script = tmp_path / module / "lume-services"
        script.parent.mkdir(exist_ok=True)
        script.write_text(SCRIPT.format(module=module))
        done = subprocess.run([sys.executable, str(script), *args], env=env, capture_output=True, text=True,
                              timeout=120)
        said.append((done.returncode, done.stdout, done.stderr))
    return said


@pytest.mark.parametrize("environ, code, says", [
    ({"LUME_HOEM": "{home}"}, 0, "UnknownSettingWarning: environment variable LUME_HOEM is not a lume-services setting"),
    ({"LUME_BACKEND": "loca"}, 2, "error: "),
    ({"LUME_RUN_HISTORY__MAX_RESULT_BYTES": "-1"}, 2, "error: "),
], ids=["misspelled", "invalid backend", "invalid size"])
def test_the_console_script_gives_the_click_commands_warning_error_and_exit_code(
        lume_home, tmp_path, environ, code, says):
    write_history(lume_home)
    environ = {"LUME_HOME": str(lume_home), **{k: v.format(home=lume_home) for k, v in environ.items()}}
    console, click_command = _both(["runs", "list"], environ, tmp_path)
    assert console == click_command
    assert console[0] == code and says in console[2]


@pytest.mark.parametrize("args", [["runs", "list", "--help"], ["runs", "list", "--since", "yesterday"],
                                  ["runs", "list", "--limit", "0"], ["runs", "list", "extra"]])
def test_the_console_script_leaves_help_and_usage_errors_to_click(lume_home, tmp_path, args):
    write_history(lume_home)
    console, click_command = _both(args, {"LUME_HOME": str(lume_home)}, tmp_path)
    assert console == click_command
    assert parse_runs_list(args) is None


@pytest.mark.parametrize("args", [
    ["runs", "list", "--help"], ["--help"], ["runs", "show", "x"], ["runs", "list", "x"], ["runs", "list", "--"],
    ["runs", "list", "--limit", "10001"], ["runs", "list", "--limit", "+5"], ["runs", "list", "--state", "Sleeping"],
    ["runs", "list", "--flow", ""], ["runs", "list", "--flow", " "], ["runs", "list", "--flow", "a", "--flow", "b"],
    ["runs", "list", "--flow", "-v"], ["runs", "list", "--flow"], ["--flow", "a", "runs", "list"],
    ["runs", "list", "--json=1"], ["runs", "prune", "--older-than", "1"], ["flows", "list"], [],
])
def test_the_light_path_reads_no_other_command_line(args):
    assert parse_runs_list(args) is None


def test_the_light_path_leaves_a_history_with_a_running_run_to_the_backend_which_marks_it_crashed(lume_home, capsys):
    backend = write_history(lume_home)
    began = (  # a run begun by a process that then ends without finishing it
        "from datetime import datetime, timezone\n"
        "from lume_services.services.scheduling.backends.local.run_history import RunHistory\n"
        f"RunHistory({str(backend.history.path)!r}).begin("
        "'dead', 'tripler', None, None, None, {}, 'local', datetime.now(timezone.utc))\n"
    )
    subprocess.run([sys.executable, "-c", began], check=True, timeout=120)
    assert light_listing(backend.history.path) is None
    console_code, _, _ = light_says(capsys, "runs", "list")
    assert console_code is None
    listed = json.loads(click_says("runs", "list", "--json")[1])
    assert listed[0]["run_id"] == "dead" and listed[0]["state"] == "Crashed"
    assert light_listing(backend.history.path) is not None  # now nothing runs


def test_the_light_path_reads_no_missing_history_and_makes_none(lume_home):
    path = lume_home / "history" / "runs.sqlite"
    assert light_listing(path) is None
    assert not lume_home.exists()


def test_the_light_path_reads_no_history_another_user_could_have_written(lume_home):
    backend = write_history(lume_home)
    path = backend.history.path
    path.chmod(0o620)  # group-writable: the store kit's trust check refuses it
    assert light_listing(path) is None
    code, _, stderr = click_says("runs", "list")
    assert code != 0 and "error:" in stderr


def test_the_light_path_reads_no_sqlite_file_of_something_else(lume_home):
    import sqlite3

    path = lume_home / "history" / "runs.sqlite"
    path.parent.mkdir(parents=True, mode=0o700)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE runs (x)")
    path.chmod(0o600)
    assert light_listing(path) is None


def test_the_console_script_answers_runs_list_without_click_pydantic_dependency_injector_or_prefect(lume_home):
    write_history(lume_home)
    code = (
        "import sys\n"
        "from lume_services.cli.console import main\n"
        "assert main(['runs', 'list', '--json']) == 0\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "LUME_HOME": str(lume_home)},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "[]"
    assert len(json.loads(done.stdout)) == 20


def test_the_console_script_is_the_packages_entry_point():
    import tomllib

    pyproject = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["lume-services"] == "lume_services.cli.console:main"


@pytest.mark.parametrize("args", [["runs", "list"], ["runs", "list", "--json", "--state", "failed"]])
def test_the_console_script_prints_runs_list_as_the_click_command_did_as_the_entry_point(lume_home, tmp_path, args):
    write_history(lume_home)
    console, click_command = _both(args, {"LUME_HOME": str(lume_home)}, tmp_path)
    assert console == click_command
    assert console[0] == 0 and "run-0028" in console[1]
