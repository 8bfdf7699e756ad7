"""``lume-services flows``: register, list and run flows (Prefect 1's options: ``-p/-m/-n/-l``, ``--param``)."""

import time

import click

from lume_services.cli._collect import collect
from lume_services.cli._options import json_option, run_options, run_parameters, verbosity
from lume_services.cli._output import Failed, InputError, emit, mark_failed, note, one_line, out, safe
from lume_services.cli._progress import ProgressDisplay, last_durations
from lume_services.cli._render import render_run


def service():
    """The configured scheduling service."""
    from lume_services.config import context

    return context.scheduling_service()


@click.group()
def flows():
    """Register, list and run flows."""


def _filter_by_name(found, names, rename):
    """The flows ``-n/--name`` selects, and the name to register a single flow under.

    Before Prefect 1's meaning (a filter) ``--name`` renamed the one flow
    found: a filter that selects nothing from exactly one flow is read that
    way, with a deprecation note.
    """
    if not names:
        return found, rename
    selected = [f for f in found if f.flow.name in names]
    missing = [n for n in names if n not in {f.flow.name for f in found}]
    if not selected and len(found) == 1 and len(names) == 1 and rename is None:
        note(f"note: --name {safe(names[0])!r} as a new name is deprecated (-n/--name selects flows by name, as in "
             f"Prefect 1); write --rename {safe(names[0])!r}")
        return found, names[0]
    if missing:
        raise InputError(
            f"-n/--name selects flows by name; no flow found is named {', '.join(repr(safe(n)) for n in missing)} "
            f"(found: {', '.join(repr(safe(f.flow.name)) for f in found)})"
        )
    return selected, rename


@flows.command("register")
@click.argument("flow_specs", metavar="[MODULE:FLOW]...", nargs=-1)
@click.option("-p", "--path", "paths", multiple=True, metavar="FILE_OR_DIR",
              help="Register every prefect.Flow in this Python file, or in the .py files under this folder (repeatable).")
@click.option("-m", "--module", "modules", multiple=True, metavar="MODULE",
              help="Register every prefect.Flow this importable module defines (repeatable).")
@click.option("-n", "--name", "names", multiple=True, metavar="NAME",
              help="Register only the flows of this name (repeatable), as Prefect 1's -n.")
@click.option("--project", "project_name", required=True, help="Project to register into (created when missing).")
@click.option("-l", "--label", "labels", multiple=True, help="Agent label of every flow registered (repeatable).")
@click.option("--image", default=None, help="Image the flows run in (container backends).")
@click.option("--rename", default=None, metavar="NAME", help="Register the one flow found under this name.")
@json_option
@click.pass_context
def register(ctx, flow_specs, paths, modules, names, project_name, labels, image, rename, as_json):
    """Register flows into a project, saying of each whether it is new, a new version or unchanged.

    Flows are named as MODULE:FLOW, or found in files or folders (-p) and
    modules (-m); -n keeps those of a name. Every flow is tried; the exit
    code is 1 when any failed. An unchanged flow keeps its id and version.
    """
    from lume_services.flows.flow import Flow

    found, rename = _filter_by_name(collect(flow_specs, modules, paths), names, rename)
    if rename and len(found) > 1:
        raise InputError(f"--rename names one flow; {len(found)} were found ({', '.join(safe(f.flow.name) for f in found)})")
    svc = service()
    before = {row["name"]: row for row in svc.list_flows(project_name)}
    outcomes = []
    for item in found:
        flow_name = rename or item.flow.name
        kwargs = {"name": flow_name, "project_name": project_name, "prefect_flow": item.flow}
        if image:
            kwargs["image"] = image
        if labels:
            kwargs["labels"] = list(labels)
        outcome = {"name": flow_name, "source": item.source}
        try:
            outcome["flow_id"] = Flow(**kwargs).register(scheduling_service=svc)
        except Exception as exc:  # try every flow, report each failure
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
                out(f"{safe(o['name'])}  failed: {safe(o['error'])}  ({safe(o['source'])})")
            else:
                out(f"{safe(o['name'])}  version {o['version']}  {o['status']}  id {o['flow_id']}")
        c = doc["summary"]
        out(
            f"{len(doc['flows'])} flow(s) in project {safe(project_name)!r}: {c['new']} new, "
            f"{c['new version']} new version, {c['unchanged']} unchanged, {c['failed']} failed"
        )

    emit(document, as_json, text)
    if counts["failed"]:
        for o in outcomes:
            if o["status"] == "failed":
                note(f"error: registering {safe(o['name'])!r} from {safe(o['source'])} failed: {safe(o['error'])}")
        raise Failed()


@flows.command("list")
@click.option("--project", "project_name", default=None, help="Only this project.")
@json_option
def list_flows(project_name, as_json):
    """List the registered flows (latest versions)."""
    rows = service().list_flows(project_name)

    def text(rows):
        for row in rows:
            out(f"{safe(row['project_name'])}/{safe(row['name'])}  version {row['version']}  id {row['flow_id']}")

    emit(rows, as_json, text)


def latest_run_id(svc, flow_name: str, project_name=None):
    """The id of the newest recorded run of a flow (the one just run), or ``None``."""
    try:
        found = svc.list_runs(flow_name=flow_name, project_name=project_name, limit=1)
    except Exception:  # a backend without a history still ran the flow
        return None
    return found[0].run_id if found else None


def run_config_for(run_name):
    """A ``FlowRunConfig`` naming the run, or ``None`` when no name was given."""
    if run_name is None:
        return None
    from lume_services.services.scheduling.run_options import FlowRunConfig

    return FlowRunConfig(run_name=run_name)


@flows.command("run")
@click.argument("flow_name", metavar="NAME")
@click.option("--project", "project_name", required=True, help="The project the flow is registered in.")
@run_options
@json_option
@click.pass_context
def run(ctx, flow_name, project_name, params, param_file, old_params, task_name, run_name, as_json):
    """Run the registered flow NAME and report its state, run id and results (all tasks, or --task's).

    Exit code 1 when the run failed; the error names each failed task.
    """
    from lume_services.errors import FlowFailedError
    from lume_services.flows.flow import Flow

    parameters = run_parameters(params, old_params, param_file)
    flow = Flow(name=flow_name, project_name=project_name)
    svc = service()
    flow.load_flow(scheduling_service=svc)
    document = {"command": "flows run", "name": flow_name, "project": project_name, "flow_id": flow.flow_id,
                "run_name": run_name, "task": task_name}
    display = ProgressDisplay([flow_name], last_durations(flow_name, project_name), enabled=verbosity(ctx) >= 0)
    start = time.monotonic()
    try:
        with display:
            display.event(flow_name, "started")
            try:
                value = flow.run_and_return(parameters, run_config_for(run_name), task_name=task_name,
                                            scheduling_service=svc)
            except FlowFailedError:
                display.event(flow_name, "finished", "Failed", time.monotonic() - start)
                raise
            display.event(flow_name, "finished", "Success", time.monotonic() - start)
    except FlowFailedError as exc:
        mark_failed(ctx)
        document.update(state="Failed", elapsed=time.monotonic() - start, run_id=latest_run_id(svc, flow_name, project_name),
                        error=one_line(exc), failed_tasks=exc.failed_tasks)
        emit(document, as_json, render_run)
        note(f"error: {one_line(exc)}")
        raise Failed() from exc
    document.update(state="Success", elapsed=time.monotonic() - start, run_id=latest_run_id(svc, flow_name, project_name))
    document["result" if task_name else "results"] = value
    emit(document, as_json, render_run)
