"""``lume-services runs``: what ran, from the run history (local backend) or the server."""

import json

import click

from lume_services.cli._options import json_option
from lume_services.cli._output import emit


def _service():
    from lume_services.config import context

    return context.scheduling_service()


@click.group()
def runs():
    """What ran: the run history (local backend) or the server's runs.

    Every run of the local backend is recorded under LUME_HOME; on a server
    backend the server's flow runs are listed.
    """


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


def _took(seconds) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _table(headers, rows) -> str:
    rows = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


def _short(value, width: int = 40) -> str:
    text = json.dumps(value, default=repr, sort_keys=True)
    return text if len(text) <= width else text[: width - 3] + "..."


@runs.command("list")
@click.option("--flow", "flow_name", default=None, help="Only runs of this flow.")
@click.option("--project", "project_name", default=None, help="Only runs of this project.")
@click.option("--state", default=None, help="Only runs in this state (Success, Failed, Running, Crashed, ...).")
@click.option("--since", default=None, help="Only runs started at or after this ISO 8601 date or time.")
@click.option("--limit", default=20, show_default=True, type=int, help="The most runs listed.")
@json_option
def list_runs(flow_name, project_name, state, since, limit, as_json):
    """List recorded runs, newest first."""
    found = _service().list_runs(flow_name, project_name, state, since=since, limit=limit)
    if as_json:
        emit([r.to_dict() for r in found], True)
        return
    if not found:
        click.echo("no runs recorded" + (" match" if any((flow_name, project_name, state, since)) else ""))
        return
    click.echo(_table(
        ["RUN ID", "FLOW", "PROJECT", "STATE", "STARTED (UTC)", "DURATION"],
        [[r.run_id, r.flow_name, r.project_name or "-", r.state, _when(r.start), _took(r.duration)] for r in found],
    ))


@runs.command("show")
@click.argument("run_id")
@json_option
@click.option("--format", "fmt", type=click.Choice(["table", "json", "mermaid"]), default="table",
              show_default=True, help="mermaid: a flow of flows' children as a flowchart coloured by state.")
def show_run(run_id, as_json, fmt):
    """Show one run: its parameters and its tasks, or a flow of flows' children."""
    from lume_services.services.scheduling.run_records import masked_record, mermaid

    run = masked_record(_service().get_run(run_id))
    if as_json or fmt == "json":
        emit(run.to_dict(), True)
        return
    if fmt == "mermaid":
        if not run.children:
            raise click.UsageError(
                f"run {run_id} is a run of flow {run.flow_name!r}, which is not a flow of flows; "
                "--format mermaid draws a flow of flows' children (use --format table or --json)"
            )
        click.echo(mermaid(run), nl=False)
        return
    where = f"  on {run.host} (pid {run.pid})" if run.host else ""
    version = f", version {run.flow_version}" if run.flow_version is not None else ""
    click.echo(f"run {run.run_id} of flow {run.flow_name!r}"
               + (f" (project {run.project_name!r}{version})" if run.project_name else ""))
    click.echo(f"state: {run.state}" + (f" ({run.message})" if run.message else ""))
    click.echo(f"started {_when(run.start)} UTC, took {_took(run.duration)}{where}")
    if run.executor:
        click.echo(f"executor: {run.executor}")
    click.echo(f"parameters: {json.dumps(run.parameters, default=repr, sort_keys=True)}")
    if run.children:
        click.echo("flows:")
        click.echo(_table(
            ["FLOW", "STATE", "STARTED (UTC)", "DURATION", "MAPPED VALUES"],
            [[c.name, c.state + (f" (from run {c.reused_from})" if c.reused_from else ""), _when(c.start),
              _took(c.duration), _short(c.mapped) if c.mapped else "-"]
             for c in run.children],
        ))
    click.echo("tasks:")
    click.echo(_table(
        ["TASK", "STATE", "DURATION", "RESULT"],
        [[t.name, t.state, _took(t.duration),
          _short(t.result) if t.result_recorded else f"({t.result_note})" if t.result_note else "-"]
         for t in run.tasks],
    ))


@runs.command("prune")
@click.option("--older-than", "days", required=True, type=click.FloatRange(min=0),
              help="Forget finished runs that started more than DAYS days ago.")
def prune_runs(days):
    """Forget finished runs older than DAYS days (local run history)."""
    count = _service().prune_runs(days)
    click.echo(f"forgot {count} run{'s' if count != 1 else ''} older than {days:g} days")


@runs.command("lineage")
@click.argument("ref")
@json_option
def lineage(ref, as_json):
    """Print the chain of runs and children that produced REF: a stored result's unique hash or a file's path.

    Each step names the run, the child (flow of flows), its registered
    version, its parameters and the values its inputs received; a reused
    child is followed to the run it came from.
    """
    from lume_services.flows.lineage import lineage as find_lineage

    chain = find_lineage(_service(), ref)
    if as_json:
        emit({"ref": ref, "chain": [link.to_dict() for link in chain]}, True)
        return
    for depth, link in enumerate(chain):
        who = f"child {link.child!r} of " if link.child else ""
        what = f" made {link.task!r}" if link.task else ""
        click.echo(f"{'  ' * depth}{who}run {link.run_id} of {link.flow_name!r}{what}"
                   + (f" (flow id {link.flow_id})" if link.flow_id else ""))
        if link.reused_from:
            click.echo(f"{'  ' * depth}  reused the results of run {link.reused_from}")
            continue
        click.echo(f"{'  ' * depth}  parameters: {json.dumps(link.parameters, default=repr, sort_keys=True)}")
        if link.inputs:
            click.echo(f"{'  ' * depth}  inputs: {_short(link.inputs, 200)}")


@runs.command("reproduce")
@click.argument("run_id")
@json_option
@click.pass_context
def reproduce(ctx, run_id, as_json):
    """Run RUN_ID again with the same flow versions and parameters and compare each result.

    Files are compared by content, stored results by their unique hash, other
    results by value. Exit code 0 only when every result matches; otherwise
    the first difference is printed and the exit code is 1.
    """
    from lume_services.cli._output import Failed, mark_failed, note
    from lume_services.flows.lineage import reproduce as run_again

    outcome = run_again(_service(), run_id)
    if not outcome.matches:
        mark_failed(ctx)
    if as_json:
        emit(outcome.to_dict(), True)
    elif outcome.matches:
        click.echo(f"run {run_id} reproduced by run {outcome.new_run_id}: {outcome.compared} results match")
    if not outcome.matches:
        task, recorded, now = outcome.differences[0]
        note(f"error: run {run_id} not reproduced (run {outcome.new_run_id}): {len(outcome.differences)} of "
             f"{outcome.compared} results differ; first: {task!r} was {_short(recorded, 80)},"
             f" now {_short(now, 80)}")
        raise Failed()
