"""``lume-services flow-of-flows``: run, resume, plan, register and draw flows of flows."""

import time
from pathlib import Path
from typing import Optional

import click

from lume_services.cli._options import json_option, parse_parameters, run_options, run_parameters, verbosity
from lume_services.cli._output import Failed, emit, mark_failed, note, one_line, out, safe
from lume_services.cli._progress import ProgressDisplay, last_durations
from lume_services.cli._render import render_run


@click.group("flow-of-flows")
def flow_of_flows():
    """Compose, register, run and draw flows of flows."""


def run_and_report(ctx: click.Context, fof, parameters: dict, as_json: bool, task_name: Optional[str] = None,
                   run_name: Optional[str] = None, extra: Optional[dict] = None, use_cache: bool = True,
                   resume: Optional[str] = None) -> None:
    """Run a flow of flows with live progress on stderr, and print its document (JSON or its text rendering).

    ``use_cache=False`` runs every child; ``resume`` (a run id) runs only the
    children that failed or never ran in that run.

    Raises:
        Failed: a child failed (the error is printed; exit 1).
    """
    from lume_services.cli.flows import run_config_for
    from lume_services.config import context
    from lume_services.errors import FlowFailedError

    show = verbosity(ctx) >= 0
    order = fof.execution_order()
    if show:
        note(f"flow of flows {safe(fof.name)!r}: {len(order)} flows, in order {', '.join(safe(c) for c in order)}")
    display = ProgressDisplay(order, last_durations(fof.name, fof.project_name), enabled=show)
    document = {"command": "flow-of-flows run", **(extra or {}), "name": fof.name, "project": fof.project_name,
                "order": order, "run_name": run_name, "task": task_name}
    svc = context.scheduling_service()
    start = time.monotonic()
    try:
        with display:
            if resume is not None:
                value = fof.resume(resume, parameters, run_config_for(run_name), scheduling_service=svc,
                                   progress=display)
            else:
                value = fof.run_and_return(parameters, run_config_for(run_name), task_name=task_name,
                                           scheduling_service=svc, progress=display, use_cache=use_cache)
    except FlowFailedError as exc:
        mark_failed(ctx)
        document.update(state="Failed", elapsed=time.monotonic() - start, run_id=_run_id(fof, svc),
                        children=_children(fof, display), error=one_line(exc), failed_tasks=exc.failed_tasks)
        emit(document, as_json, render_run)
        note(f"error: {one_line(exc)}")
        raise Failed() from exc
    document.update(state="Success", elapsed=time.monotonic() - start, run_id=_run_id(fof, svc),
                    children=_children(fof, display))
    document["result" if task_name else "results"] = value
    emit(document, as_json, render_run)


def _run_id(fof, svc) -> Optional[str]:
    """The id of the run just made: the composed run's, not the newest run of a flow of that name
    (on a server a child's flow runs are newer, and a child in another project may share the name)."""
    from lume_services.cli.flows import latest_run_id

    return fof.last_run_id or latest_run_id(svc, fof.name, fof.project_name)


def _children(fof, display) -> dict:
    elapsed = display.elapsed
    return {c: {"state": fof.child_states.get(c), "elapsed": elapsed.get(c)} for c in fof.execution_order()}


@flow_of_flows.command("run")
@click.argument("yaml_path", metavar="FILE", type=click.Path(exists=True, dir_okay=False))
@run_options
@click.option("--no-cache", is_flag=True, help="Run every child, even those declared with cache: true.")
@json_option
@click.pass_context
def run(ctx, yaml_path, params, param_file, old_params, task_name, run_name, no_cache, as_json):
    """Compose the flow of flows in FILE (YAML) and run it.

    Parameters are named "<child>-<parameter>". Progress (each child's state
    and time) goes to stderr; the run's document (state, run id, children,
    results) to stdout. Exit code 1 when a child failed. Children declared
    with ``cache: true`` whose version, parameters and inputs are those of a
    successful earlier run are reused, not run (state Cached).
    """
    from lume_services.flows.flow_of_flows import FlowOfFlows

    fof = FlowOfFlows.from_yaml(Path(yaml_path))
    run_and_report(ctx, fof, run_parameters(params, old_params, param_file), as_json, task_name, run_name,
                   use_cache=not no_cache)


@flow_of_flows.command("resume")
@click.argument("run_id")
@click.option("--param", "params", multiple=True, metavar="CHILD-PARAMETER=VALUE",
              help="Change a parameter's value from the run's (repeatable).")
@json_option
@click.pass_context
def resume(ctx, run_id, params, as_json):
    """Run only the children that failed or never ran in run RUN_ID.

    The children that succeeded there give back their recorded results; the
    flow of flows is rebuilt from the declaration recorded with the run, with
    the children's current versions. Refused, naming the child, when a child
    that succeeded was registered anew since.
    """
    from lume_services.flows._reuse import recorded_declaration
    from lume_services.flows.flow_of_flows import FlowOfFlows

    service = _service()
    fof = FlowOfFlows.from_yaml(recorded_declaration(service, run_id), scheduling_service=service)
    run_and_report(ctx, fof, parse_parameters(params), as_json, extra={"resumed": run_id}, resume=run_id)


@flow_of_flows.command("plan")
@click.argument("yaml_path", metavar="FILE", type=click.Path(exists=True, dir_okay=False))
@click.option("--param", "params", multiple=True, metavar="CHILD-PARAMETER=VALUE",
              help="A parameter's value, as JSON or text (repeatable).")
@click.option("--no-cache", is_flag=True, help="Plan a run with caching off.")
@json_option
def plan(yaml_path, params, no_cache, as_json):
    """Say, per child in execution order, whether a run would run it or reuse it; nothing runs.

    A reused child names the run its results come from; every child shows its
    last recorded duration.
    """
    from lume_services.flows.flow_of_flows import FlowOfFlows

    fof = FlowOfFlows.from_yaml(Path(yaml_path))
    steps = fof.plan(parse_parameters(params), use_cache=not no_cache)
    document = {"command": "flow-of-flows plan", "name": fof.name, "children": [step.to_dict() for step in steps]}

    def text(doc):
        width = max(len(c["child"]) for c in doc["children"])
        for c in doc["children"]:
            took = f"{c['last_duration']:.2f} s" if c.get("last_duration") is not None else "never ran"
            what = f"reuse from run {c['reused_from']}" if c["action"] == "reuse" else f"run ({c['reason']})"
            out(f"{safe(c['child']):<{width}}  {what}; last took {took}")

    emit(document, as_json, text)


@flow_of_flows.command("register")
@click.argument("yaml_path", metavar="FILE", type=click.Path(exists=True, dir_okay=False))
@json_option
@click.pass_context
def register(ctx, yaml_path, as_json):
    """Compose the flow of flows in FILE (YAML) and register it, for CI.

    Its children must be registered already (`lume-services flows register`).
    Says of each child which registered version is composed, and of the
    flow of flows whether it is new, a new version or unchanged; registering
    an unchanged composition again changes nothing.
    """
    from lume_services.flows.flow_of_flows import FlowOfFlows

    fof = FlowOfFlows.from_yaml(Path(yaml_path))
    svc = _service()
    project = fof.project_name
    before = {row["name"]: row for row in svc.list_flows(project)}
    versions = {}
    for child in fof.composing_flows.values():
        rows = {row["name"]: row for row in svc.list_flows(child.project_name)}
        versions[child.name] = rows.get(child.name, {})
    flow_id = fof.compose_and_register(scheduling_service=svc)
    after = {row["name"]: row for row in svc.list_flows(project)}
    previous = before.get(fof.name)
    status = "new" if previous is None else "unchanged" if previous["flow_id"] == flow_id else "new version"
    document = {
        "command": "flow-of-flows register", "name": fof.name, "project": project, "flow_id": flow_id,
        "version": after.get(fof.name, {}).get("version"), "status": status,
        "children": [
            {"name": c.name, "project": c.project_name, "flow_id": c.flow_id,
             "version": versions[c.name].get("version") if versions[c.name].get("flow_id") == c.flow_id else None}
            for c in (fof.composing_flows[name] for name in fof.execution_order())
        ],
    }

    def text(doc):
        for c in doc["children"]:
            out(f"  {safe(c['name'])}  version {c['version'] if c['version'] is not None else '?'}  "
                f"composed  id {c['flow_id']}")
        out(f"{safe(doc['name'])}  version {doc['version']}  {doc['status']}  id {doc['flow_id']}"
            f"  (project {safe(doc['project'])!r}, {len(doc['children'])} flows)")

    emit(document, as_json, text)


def _service():
    from lume_services.config import context

    return context.scheduling_service()


@flow_of_flows.command("graph")
@click.argument("yaml_path", metavar="FILE", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot", "svg", "png"]), default="mermaid",
              show_default=True, help="svg and png need the 'viz' extra and Graphviz's dot program.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write to this file instead of stdout (png always needs one).")
def graph(yaml_path, fmt, output):
    """Draw the DAG of the flow of flows in FILE: children, and edges labelled with mapped parameters."""
    from lume_services.cli._output import InputError, data_stream
    from lume_services.flows._picture import render
    from lume_services.flows.flow_of_flows import FlowOfFlows

    fof = FlowOfFlows.from_yaml(Path(yaml_path))
    if fmt == "mermaid":
        data = fof.to_mermaid().encode()
    elif fmt == "dot":
        data = fof.to_dot().encode()
    else:
        if fmt == "png" and output is None:
            raise InputError("--format png writes binary data: give -o FILE.png")
        data = render(fof.to_dot(), fmt)
    if output is None:
        click.echo(data.decode(), nl=False, file=data_stream())
    else:
        Path(output).write_bytes(data)
