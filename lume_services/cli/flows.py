"""``lume-services flows``: register, list and run flows."""

import time

import click

from lume_services.cli._collect import collect
from lume_services.cli._options import json_option, parse_parameters, verbosity
from lume_services.cli._output import Failed, InputError, emit, mark_failed, note, one_line


def service():
    """The configured scheduling service."""
    from lume_services.config import context

    return context.scheduling_service()


@click.group()
def flows():
    """Register, list and run flows."""


@flows.command("register")
@click.argument("flow_specs", metavar="[MODULE:FLOW]...", nargs=-1)
@click.option("-m", "--module", "modules", multiple=True, metavar="MODULE",
              help="Register every prefect.Flow this importable module defines (repeatable).")
@click.option("-p", "--path", "paths", multiple=True, metavar="FILE_OR_DIR",
              help="Register every prefect.Flow in this Python file, or in the .py files under this folder (repeatable).")
@click.option("--project", "project_name", required=True, help="Project to register into (created when missing).")
@click.option("--name", help="Name to register under (one flow only; default: the Prefect flow's name).")
@click.option("--image", default=None, help="Image the flows run in (container backends).")
@click.option("--label", "labels", multiple=True, help="Agent label (repeatable).")
@json_option
@click.pass_context
def register(ctx, flow_specs, modules, paths, project_name, name, image, labels, as_json):
    """Register flows into a project, saying of each whether it is new, a new version or unchanged.

    Flows are named as MODULE:FLOW, or found in modules (-m) and files or
    folders (-p). Every flow is tried; the exit code is 1 when any failed.
    An unchanged flow keeps its id and version.
    """
    from lume_services.errors import LUMEServicesError
    from lume_services.flows.flow import Flow

    found = collect(flow_specs, modules, paths)
    if name and len(found) > 1:
        raise InputError(f"--name renames one flow; {len(found)} were found ({', '.join(f.flow.name for f in found)})")
    svc = service()
    before = {row["name"]: row for row in svc.list_flows(project_name)}
    outcomes = []
    for item in found:
        flow_name = name or item.flow.name
        kwargs = {"name": flow_name, "project_name": project_name, "prefect_flow": item.flow}
        if image:
            kwargs["image"] = image
        if labels:
            kwargs["labels"] = list(labels)
        outcome = {"name": flow_name, "source": item.source}
        try:
            outcome["flow_id"] = Flow(**kwargs).register(scheduling_service=svc)
        except (LUMEServicesError, Exception) as exc:  # try every flow, report each failure
            outcome.update(status="failed", error=one_line(f"{type(exc).__name__}: {exc}"))
        outcomes.append(outcome)
    after = {row["name"]: row for row in svc.list_flows(project_name)}
    for outcome in outcomes:
        if outcome.get("status") == "failed":
            continue
        previous = before.get(outcome["name"])
        outcome["status"] = (
            "new" if previous is None
            else "unchanged" if previous["flow_id"] == outcome["flow_id"]
            else "new version"
        )
        outcome["version"] = after.get(outcome["name"], {}).get("version")
    counts = {s: sum(o["status"] == s for o in outcomes) for s in ("new", "new version", "unchanged", "failed")}
    document = {"project": project_name, "flows": outcomes, "summary": counts}
    if counts["failed"]:
        mark_failed(ctx)

    def text(doc):
        for o in doc["flows"]:
            if o["status"] == "failed":
                click.echo(f"{o['name']}  failed: {o['error']}  ({o['source']})")
            else:
                click.echo(f"{o['name']}  version {o['version']}  {o['status']}  id {o['flow_id']}")
        c = doc["summary"]
        click.echo(
            f"{len(doc['flows'])} flow(s) in project {project_name!r}: {c['new']} new, "
            f"{c['new version']} new version, {c['unchanged']} unchanged, {c['failed']} failed"
        )

    emit(document, as_json, text)
    if counts["failed"]:
        for o in outcomes:
            if o["status"] == "failed":
                note(f"error: registering {o['name']!r} from {o['source']} failed: {o['error']}")
        raise Failed()


@flows.command("list")
@click.option("--project", "project_name", default=None, help="Only this project.")
@json_option
def list_flows(project_name, as_json):
    """List the registered flows (latest versions)."""
    rows = service().list_flows(project_name)

    def text(rows):
        for row in rows:
            click.echo(f"{row['project_name']}/{row['name']}  version {row['version']}  id {row['flow_id']}")

    emit(rows, as_json, text)


@flows.command("run")
@click.argument("flow_name", metavar="NAME")
@click.option("--project", "project_name", required=True, help="The project the flow is registered in.")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
              help="A parameter's value, as JSON or text (repeatable).")
@click.option("--task", "task_name", default=None, help="Print only this task's result.")
@json_option
@click.pass_context
def run(ctx, flow_name, project_name, params, task_name, as_json):
    """Run the registered flow NAME and print its results (all tasks, or --task's) as JSON.

    Exit code 1 when the run failed; the error names each failed task.
    """
    from lume_services.errors import FlowFailedError
    from lume_services.flows.flow import Flow

    parameters = parse_parameters(params)
    flow = Flow(name=flow_name, project_name=project_name)
    svc = service()
    flow.load_flow(scheduling_service=svc)
    quiet = verbosity(ctx) < 0
    if not quiet:
        note(f"flow {flow_name!r} started")
    start = time.monotonic()
    document = {"name": flow_name, "project": project_name, "flow_id": flow.flow_id}
    try:
        results = flow.run_and_return(parameters, task_name=task_name, scheduling_service=svc)
    except FlowFailedError as exc:
        mark_failed(ctx)
        elapsed = time.monotonic() - start
        if not quiet:
            note(f"flow {flow_name!r} finished: Failed in {elapsed:.2f} s")
        if as_json:
            emit({**document, "state": "Failed", "elapsed": elapsed, "error": one_line(exc),
                  "failed_tasks": exc.failed_tasks}, True)
        note(f"error: {one_line(exc)}")
        raise Failed() from exc
    elapsed = time.monotonic() - start
    if not quiet:
        note(f"flow {flow_name!r} finished: Success in {elapsed:.2f} s")
    if as_json:
        emit({**document, "state": "Success", "elapsed": elapsed, "results": results}, True)
    else:
        emit(results, False)
