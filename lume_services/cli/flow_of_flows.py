"""``lume-services flow-of-flows``: run a flow of flows, draw its DAG."""

import time
from pathlib import Path

import click

from lume_services.cli._options import json_option, parse_parameters, verbosity
from lume_services.cli._output import Failed, emit, mark_failed, note, one_line


@click.group("flow-of-flows")
def flow_of_flows():
    """Compose, run and draw flows of flows."""


def run_and_report(ctx: click.Context, fof, parameters: dict, as_json: bool, extra: dict = None) -> None:
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
        results = fof.run_and_return(parameters, progress=progress)
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


@flow_of_flows.command("run")
@click.argument("yaml_path", metavar="FILE", type=click.Path(exists=True, dir_okay=False))
@click.option("-p", "--param", "params", multiple=True, metavar="CHILD-PARAMETER=VALUE",
              help="A parameter's value, as JSON or text (repeatable).")
@json_option
@click.pass_context
def run(ctx, yaml_path, params, as_json):
    """Compose the flow of flows in FILE (YAML) and run it.

    Each child's start, finish, state and time go to stderr; the results by
    child go to stdout as JSON. Exit code 1 when a child failed.
    """
    from lume_services.flows.flow_of_flows import FlowOfFlows

    fof = FlowOfFlows.from_yaml(Path(yaml_path))
    run_and_report(ctx, fof, parse_parameters(params), as_json)


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
