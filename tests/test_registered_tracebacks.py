"""Tracebacks of registered flows name the real file and line of the task's code.

cloudpickle stores an ``@task`` function by value (wherever it is defined) and, alone, names its
code ``<dynamic-code>``; the registry keeps the file's name (``services/scheduling/flow_pickle.py``),
and the run history keeps where a failed task raised (``runs show`` prints it).
"""

import json
import pickle
import subprocess
import sys
import textwrap
import traceback

import pytest
from click.testing import CliRunner

from lume_services.cli.main import main
from lume_services.services.scheduling.flow_pickle import dumps

FLOW_MODULE = textwrap.dedent(
    """\
    from prefect import Flow, Parameter, task


    @task
    def fail(x):
        y = x + 1
        raise ValueError(f"bad {y}")


    with Flow("raiser") as raiser:
        fail(Parameter("x"))
    """
)
RAISING_LINE = 7  # `raise ValueError(...)` in FLOW_MODULE


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def failed_run_of_a_registered_flow(tmp_path, monkeypatch):
    """The id of a failed run of ``raiser``, registered with ``flows register -p`` from a module file."""
    source = tmp_path / "raising_flows.py"
    source.write_text(FLOW_MODULE)
    monkeypatch.chdir(tmp_path)
    assert invoke("flows", "register", "-p", source, "--project", "demo").exit_code == 0
    ran = invoke("flows", "run", "raiser", "--project", "demo", "--param", "x=1", "--json")
    assert ran.exit_code == 1
    return source, json.loads(ran.stdout)["run_id"]


def test_code_pickled_by_value_keeps_the_name_of_its_file_and_its_lines(tmp_path):
    source = tmp_path / "not_importable.py"
    source.write_text("def outer(x):\n    def inner():\n        raise ValueError(x)\n    return inner\n")
    namespace = {"__name__": "not_importable"}  # no such module: cloudpickle stores the code by value
    exec(compile(source.read_text(), str(source), "exec"), namespace)

    loaded = pickle.loads(dumps(namespace["outer"]))

    assert loaded.__code__.co_filename == str(source)
    with pytest.raises(ValueError) as raised:
        loaded(1)()  # the nested function's code was pickled inside outer's
    last = traceback.extract_tb(raised.value.__traceback__)[-1]
    assert (last.filename, last.lineno, last.name, last.line) == (str(source), 3, "inner", "raise ValueError(x)")


def test_a_pickled_flow_loads_with_cloudpickle_where_lume_services_cannot_be_imported(tmp_path):
    # what a flow image whose base has Prefect but not lume-services, or a remote dask worker, has
    source = tmp_path / "raising_flows.py"
    source.write_text(FLOW_MODULE)
    from lume_services.cli._collect import import_file

    pickled = tmp_path / "raiser.pickle"
    pickled.write_bytes(dumps(import_file(source).raiser))
    load = (
        "import sys; sys.modules['lume_services'] = None  # `import lume_services` raises\n"
        "import cloudpickle\n"
        f"flow = cloudpickle.loads(open({str(pickled)!r}, 'rb').read())\n"
        "print(flow.get_tasks(name='fail')[0].run.__code__.co_filename)\n"
    )
    loaded = subprocess.run([sys.executable, "-c", load], capture_output=True, text=True, cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == str(source)


def test_the_flow_file_a_flow_image_holds_keeps_its_tasks_file_names(tmp_path):
    # the build context as a flow image is built from (no engine needed), loaded as the
    # flow runner in the image's container loads it: Prefect's Docker storage, get_flow
    from prefect.storage import Docker as PrefectDocker

    from lume_services.cli._collect import import_file
    from lume_services.services.scheduling.backends.images.flow_images import Docker

    source = tmp_path / "raising_flows.py"
    source.write_text(FLOW_MODULE)
    storage = Docker(base_image="lume-services:latest", local_image=True)
    storage.add_flow(import_file(source).raiser)
    context = tmp_path / "context"
    context.mkdir()
    storage.create_dockerfile_object(directory=str(context))
    assert f"COPY raiser.flow {storage.flows['raiser']}" in (context / "Dockerfile").read_text()
    in_the_container = PrefectDocker(base_image="lume-services:latest")
    in_the_container.flows = {"raiser": str(context / "raiser.flow")}  # the file at its place in the image

    flow = in_the_container.get_flow("raiser")
    state = flow.run(x=1)

    error = state.result[flow.get_tasks(name="fail")[0]].result
    last = traceback.extract_tb(error.__traceback__)[-1]
    assert (last.filename, last.lineno, last.line) == (str(source), RAISING_LINE, 'raise ValueError(f"bad {y}")')


def test_the_recorded_error_of_a_registered_flows_task_names_its_file_and_line(failed_run_of_a_registered_flow):
    source, run_id = failed_run_of_a_registered_flow
    shown = json.loads(invoke("runs", "show", run_id, "--json").stdout)
    message = next(t["message"] for t in shown["tasks"] if t["name"] == "fail")
    assert "<dynamic-code>" not in message
    assert f'File "{source}", line {RAISING_LINE}, in fail\n    raise ValueError(f"bad {{y}}")' in message


def test_runs_show_prints_each_failed_task_with_where_it_raised(failed_run_of_a_registered_flow):
    source, run_id = failed_run_of_a_registered_flow
    shown = invoke("runs", "show", run_id).stdout
    errors = shown.split("\nerrors:\n", 1)[1].splitlines()
    assert errors[0] == "  fail:"
    assert errors[1] == "    Error during execution of task: ValueError('bad 2')"
    assert f'      File "{source}", line {RAISING_LINE}, in fail' in errors
    assert '        raise ValueError(f"bad {y}")' in errors


@pytest.mark.slow
def test_in_the_notebook_that_defined_it_a_loaded_flows_traceback_shows_the_cells_line(tmp_path):
    nbclient = pytest.importorskip("nbclient", reason="the test extra is not installed (scripts/test.sh installs it)")
    import nbformat

    define = FLOW_MODULE + textwrap.dedent(
        """
        from lume_services.flows.flow import Flow

        Flow(name="raiser", project_name="nb", prefect_flow=raiser).register()
        print("cell file:", fail.run.__code__.co_filename)
        """
    )
    load_and_run = textwrap.dedent(
        """\
        registered = Flow(name="raiser", project_name="nb")  # no Prefect flow given: loaded from the registry
        try:
            registered.run_and_return({"x": 1}, task_name="fail")
        except Exception:
            pass
        print(next(t.message for t in registered.last_run().tasks if t.name == "fail"))
        print("loaded code file:", registered.prefect_flow.get_tasks(name="fail")[0].run.__code__.co_filename)
        """
    )
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(define), nbformat.v4.new_code_cell(load_and_run)])
    nbclient.NotebookClient(notebook, timeout=180, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()

    def printed(cell):
        return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")

    cell_file = printed(notebook.cells[0]).split("cell file: ", 1)[1].strip()
    shown = printed(notebook.cells[1])
    assert f"loaded code file: {cell_file}" in shown
    assert f'File "{cell_file}", line {RAISING_LINE}, in fail\n    raise ValueError(f"bad {{y}}")' in shown


@pytest.mark.slow
def test_on_a_server_the_agents_log_of_a_failed_task_names_its_file_and_line(
    server_backend, prefect_protocol_double, tmp_path
):
    from datetime import timedelta

    from lume_services.cli._collect import import_file
    from lume_services.errors import FlowFailedError
    from lume_services.flows.flow import Flow, FlowRunConfig

    source = tmp_path / "raising_flows.py"
    source.write_text(FLOW_MODULE)
    flow = Flow(name="raiser", project_name="demo", prefect_flow=import_file(source).raiser)
    flow.register()
    with pytest.raises(FlowFailedError) as failed:
        flow.run_and_return({"x": 1}, FlowRunConfig(poll_interval=timedelta(seconds=0.2)), "fail")

    logged = "\n".join(entry["message"] for entry in prefect_protocol_double.store.logs
                       if entry["flow_run_id"] == failed.value.flow_run_id)
    assert "<dynamic-code>" not in logged
    assert f'File "{source}", line {RAISING_LINE}, in fail\n    raise ValueError(f"bad {{y}}")' in logged
