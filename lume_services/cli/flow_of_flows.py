"""``lume-services flow-of-flows``: run a flow of flows, draw its DAG."""

import time
from pathlib import Path

import click

from lume_services.cli._options import json_option, parse_parameters, verbosity
from lume_services.cli._output import Failed, emit, mark_failed, note, one_line


@click.group("flow-of-flows")
def flow_of_flows():
    """Compose, run and draw flows of flows."""


def run_and_report(ctx: click.Context, fof, parameters: dict, as_json: bool, extra: dict = None,
                   use_cache: bool = True, resume: str = None) -> None:
    """Run a flow of flows: progress on stderr, the results by child as JSON on stdout.

    Raises:
        Failed: a child failed (the error is printed; exit 1).
    """
    from lume_services.errors import FlowFailedError

    show = verbosity(ctx) >= 0
    order = fof.execution_order()
    if show:
        note(f"flow of flows {fof.name!r}: {len(order)} flows, in order {', '.join(order)}")
    elapsed = {}

    def progress(event):
        if event.event == "finished":
            elapsed[event.child] = event.elapsed
        if show:
            note(f"  {event}")

    document = {**(extra or {}), "name": fof.name, "order": order}
    start = time.monotonic()
    try:
        if resume is not None:
            results = fof.resume(resume, parameters, progress=progress)
        else:
            results = fof.run_and_return(parameters, progress=progress, use_cache=use_cache)
    except FlowFailedError as exc:
        mark_failed(ctx)
        if as_json:
            emit({**document, "state": "Failed", "elapsed": time.monotonic() - start, "error": one_line(exc),
                  "failed_tasks": exc.failed_tasks, "children": _children(fof, elapsed)}, True)
        note(f"error: {one_line(exc)}")
        raise Failed() from exc
    if as_json:
        emit({**document, "state": "Success", "elapsed": time.monotonic() - start,
              "children": _children(fof, elapsed), "results": results}, True)
    else:
        emit(results, False)


def _children(fof, elapsed: dict) -> dict:
    return {c: {"state": fof.child_states.get(c), "elapsed": elapsed.get(c)} for c in fof.execution_order()}


def _run_id(fof) -> dict:
    return {"run_id": fof.last_run_id} if fof.last_run_id else {}


@flow_of_flows.command("run")
@click.argument("yaml_path", metavar="FILE", type=click.Path(exists=True, dir_okay=False))
@click.option("-p", "--param", "params", multiple=True, metavar="CHILD-PARAMETER=VALUE",
              help="A parameter's value, as JSON or text (repeatable).")
@click.option("--no-cache", is_flag=True, help="Run every child, even those declared with cache: true.")
@json_option
@click.pass_context
def run(ctx, yaml_path, params, no_cache, as_json):
    """Compose the flow of flows in FILE (YAML) and run it.

    Each child's start, finish, state and time go to stderr; the results by
    child go to stdout as JSON. Exit code 1 when a child failed. Children
    declared with ``cache: true`` whose version, parameters and inputs are
    those of a successful earlier run are reused, not run (state Cached).
    """
    from lume_services.flows.flow_of_flows import FlowOfFlows

    fof = FlowOfFlows.from_yaml(Path(yaml_path))
    run_and_report(ctx, fof, parse_parameters(params), as_json, use_cache=not no_cache)
    if not as_json and fof.last_run_id and verbosity(ctx) >= 0:
        note(f"run id: {fof.last_run_id}")


@flow_of_flows.command("resume")
@click.argument("run_id")
@click.option("-p", "--param", "params", multiple=True, metavar="CHILD-PARAMETER=VALUE",
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
    from lume_services.config import context
    from lume_services.flows._reuse import recorded_declaration
    from lume_services.flows.flow_of_flows import FlowOfFlows

    service = context.scheduling_service()
    fof = FlowOfFlows.from_yaml(recorded_declaration(service, run_id), scheduling_service=service)
    run_and_report(ctx, fof, parse_parameters(params), as_json, extra={"resumed": run_id}, resume=run_id)
    if not as_json and fof.last_run_id and verbosity(ctx) >= 0:
        note(f"run id: {fof.last_run_id}")


@flow_of_flows.command("plan")
@click.argument("yaml_path", metavar="FILE", type=click.Path(exists=True, dir_okay=False))
@click.option("-p", "--param", "params", multiple=True, metavar="CHILD-PARAMETER=VALUE",
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
    if as_json:
        emit({"name": fof.name, "children": [step.to_dict() for step in steps]}, True)
        return
    width = max(len(step.child) for step in steps)
    for step in steps:
        took = f"{step.last_duration:.2f} s" if step.last_duration is not None else "never ran"
        what = f"reuse from run {step.reused_from}" if step.action == "reuse" else f"run ({step.reason})"
        click.echo(f"{step.child:<{width}}  {what}; last took {took}")


@flow_of_flows.command("graph")
@click.argument("yaml_path", metavar="FILE", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot", "svg", "png"]), default="mermaid",
              show_default=True, help="svg and png need the 'viz' extra and Graphviz's dot program.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write to this file instead of stdout (png always needs one).")
def graph(yaml_path, fmt, output):
    """Draw the DAG of the flow of flows in FILE: children, and edges labelled with mapped parameters."""
    from lume_services.cli._output import InputError
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
        click.echo(data.decode(), nl=False)
    else:
        Path(output).write_bytes(data)
