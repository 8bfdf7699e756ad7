"""``lume-services runs``: what ran, from the run history (local backend) or the server."""

import json
from pathlib import Path
from typing import Optional

import click

from lume_services.cli._options import json_option
from lume_services.cli._output import InputError, data_stream, emit, out, runs_table, safe, table, took


def _service():
    from lume_services.config import context

    return context.scheduling_service()


@click.group()
def runs():
    """What ran: the run history (local backend) or the server's runs.

    Every run of the local backend is recorded under LUME_HOME; on a server
    backend the server's flow runs are listed. A run id may be shortened to
    its beginning when no other run's id begins the same (`runs show 5b0c`).
    """


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


_took = took
_table = table


def _short(value, width: int = 40) -> str:
    text = json.dumps(value, default=repr, sort_keys=True)
    return text if len(text) <= width else text[: width - 3] + "..."


def _run_id(run_id: Optional[str], last: bool) -> str:
    """The run id asked for: RUN_ID (whole or its beginning), or with --last the newest run's."""
    if last == (run_id is not None):
        raise InputError("give a RUN_ID (or the beginning of one) or --last, not both and not neither")
    if run_id is not None:
        return run_id
    newest = _service().list_runs(limit=1)
    if not newest:
        raise InputError("--last: no run is recorded yet; run a flow first (`lume-services flows run ...`)")
    return newest[0].run_id


def _run_argument(command):
    command = click.option("--last", is_flag=True, help="The newest recorded run instead of RUN_ID.")(command)
    return click.argument("run_id", metavar="[RUN_ID]", required=False)(command)


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
    filtered = any((flow_name, project_name, state, since))

    def text(rows):
        if not rows:
            out("no runs recorded" + (" match" if filtered else ""))
            return
        out(runs_table(rows))

    emit([r.to_dict() for r in found], as_json, text)


@runs.command("show")
@_run_argument
@json_option
@click.option("--format", "fmt", type=click.Choice(["table", "json", "mermaid"]), default="table",
              show_default=True, help="mermaid: a flow of flows' children as a flowchart coloured by state.")
def show_run(run_id, last, as_json, fmt):
    """Show one run (RUN_ID, its beginning, or --last): its parameters and tasks, or a flow of flows' children."""
    from lume_services.services.scheduling.run_records import masked_record, mermaid

    run = masked_record(_service().get_run(_run_id(run_id, last)))
    if as_json or fmt == "json":
        emit(run.to_dict(), True)
        return
    if fmt == "mermaid":
        if not run.children:
            raise click.UsageError(
                f"run {run.run_id} is a run of flow {safe(run.flow_name)!r}, which is not a flow of flows; "
                "--format mermaid draws a flow of flows' children (use --format table or --json)"
            )
        click.echo(mermaid(run), nl=False, file=data_stream())
        return
    emit(run.to_dict(), False, lambda _: _show_text(run))


def _show_text(run) -> None:
    from lume_services.services.scheduling.run_records import items_summary

    where = f"  on {safe(run.host)} (pid {run.pid})" if run.host else ""
    version = f", version {run.flow_version}" if run.flow_version is not None else ""
    out(f"run {run.run_id} of flow {safe(run.flow_name)!r}"
        + (f" (project {safe(run.project_name)!r}{version})" if run.project_name else ""))
    out(f"state: {run.state}" + (f" ({safe(run.message)})" if run.message else ""))
    out(f"started {_when(run.start)} UTC, took {_took(run.duration)}{where}")
    if run.executor:
        out(f"executor: {safe(run.executor)}")
    out(f"parameters: {safe(json.dumps(run.parameters, default=repr, sort_keys=True))}")
    if run.children:
        out("flows:")
        out(_table(
            ["FLOW", "STATE", "STARTED (UTC)", "DURATION", "MAPPED VALUES"],
            [[c.name, c.state + (f" (from run {c.reused_from})" if c.reused_from else "")
              + (f" ({items_summary(c)})" if c.items else ""), _when(c.start),
              _took(c.duration), _short(c.mapped) if c.mapped else "-"]
             for c in run.children],
        ))
    out("tasks:")
    out(_table(
        ["TASK", "STATE", "DURATION", "RESULT"],
        [[t.name, t.state, _took(t.duration),
          _short(t.result) if t.result_recorded else f"({t.result_note})" if t.result_note else "-"]
         for t in run.tasks],
    ))
    failed = [t for t in run.tasks if t.state in ("Failed", "TimedOut") and t.message]
    if failed:
        out("errors:")
        for t in failed:  # each line of a message (a traceback has several) escaped on its own
            out(f"  {safe(t.name)}:")
            for line in t.message.splitlines():
                out(f"    {safe(line)}")


@runs.command("report")
@_run_argument
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), required=True,
              help="The HTML file to write (one self-contained page: no network needed).")
@json_option
def report(run_id, last, output, as_json):
    """Write a run's report as one HTML page: its DAG coloured by state, a timeline, parameters, results, errors."""
    from lume_services.services.scheduling.run_records import masked_record
    from lume_services.services.scheduling.run_report import report_html

    run = masked_record(_service().get_run(_run_id(run_id, last)))  # secrets masked, as runs show does
    Path(output).write_text(report_html(run), encoding="utf-8")
    document = {"command": "runs report", "run_id": run.run_id, "flow_name": run.flow_name, "state": run.state,
                "output": str(Path(output).resolve())}
    emit(document, as_json, lambda d: out(f"report of run {d['run_id']} ({safe(d['flow_name'])}, {d['state']}) "
                                          f"written to {safe(d['output'])}"))


@runs.command("prune")
@click.option("--older-than", "days", required=True, type=click.FloatRange(min=0),
              help="Forget finished runs that started more than DAYS days ago.")
@json_option
def prune_runs(days, as_json):
    """Forget finished runs older than DAYS days (local run history)."""
    count = _service().prune_runs(days)
    emit({"command": "runs prune", "forgotten": count, "older_than_days": days}, as_json,
         lambda d: out(f"forgot {count} run{'s' if count != 1 else ''} older than {days:g} days"))


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
    document = {"command": "runs lineage", "ref": ref, "chain": [link.to_dict() for link in chain]}

    def text(doc):
        for depth, link in enumerate(chain):
            who = f"child {safe(link.child)!r} of " if link.child else ""
            what = f" made {safe(link.task)!r}" if link.task else ""
            out(f"{'  ' * depth}{who}run {link.run_id} of {safe(link.flow_name)!r}{what}"
                + (f" (flow id {link.flow_id})" if link.flow_id else ""))
            if link.reused_from:
                out(f"{'  ' * depth}  reused the results of run {link.reused_from}")
                continue
            out(f"{'  ' * depth}  parameters: {safe(json.dumps(link.parameters, default=repr, sort_keys=True))}")
            if link.inputs:
                out(f"{'  ' * depth}  inputs: {safe(_short(link.inputs, 200))}")

    emit(document, as_json, text)


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
    document = {"command": "runs reproduce", **outcome.to_dict()}

    def text(doc):
        if outcome.matches:
            out(f"run {run_id} reproduced by run {outcome.new_run_id}: {outcome.compared} results match")
        else:
            out(f"run {run_id} not reproduced by run {outcome.new_run_id}: "
                f"{len(outcome.differences)} of {outcome.compared} results differ")

    if not outcome.matches:
        mark_failed(ctx)
    emit(document, as_json, text)
    if not outcome.matches:
        task, recorded, now = outcome.differences[0]
        note(f"error: run {run_id} not reproduced (run {outcome.new_run_id}): {len(outcome.differences)} of "
             f"{outcome.compared} results differ; first: {task!r} was {_short(recorded, 80)},"
             f" now {_short(now, 80)}")
        raise Failed()
