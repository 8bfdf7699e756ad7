"""A recorded run as one self-contained HTML page: ``lume-services runs report RUN_ID -o run.html``.

The page needs no network (no script, no font, no CDN): its CSS is inline
and its pictures are inline SVG drawn here from the run record, so it opens
offline, as a CI artifact, and inside Jupyter (``RunRecord._repr_html_``).
It shows the DAG of a flow of flows' children (a plain flow: its tasks),
coloured by state with the colours every picture uses
(``state_colours.STATE_STYLES``); a timeline of children and tasks; the
parameters; each child's mapped values; the tasks' results (references as the
references they are) and the errors.

It takes a ``run_records.RunRecord`` (not imported: ``RunRecord._repr_html_``
imports this module). The SVG is written here rather than by Graphviz so that a report needs no
system program; the layout is simple (a layer per depth in the DAG).
"""

import html
import json
from typing import Any, Dict, List, Optional, Tuple

from lume_services.services.scheduling.state_colours import KIND_MEANING, STATE_STYLES, state_kind

_NODE_W, _NODE_H, _GAP_X, _GAP_Y, _MARGIN = 190, 48, 30, 50, 20
_TIMELINE_LABEL, _TIMELINE_W, _ROW_H = 230, 640, 22

_CSS = """
.lume-run-report { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #212121; max-width: 1100px; }
.lume-run-report h1 { font-size: 1.4em; margin: 0.2em 0; }
.lume-run-report h2 { font-size: 1.1em; margin: 1.2em 0 0.4em; border-bottom: 1px solid #ddd; }
.lume-run-report table { border-collapse: collapse; font-size: 0.9em; }
.lume-run-report td, .lume-run-report th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
.lume-run-report pre { margin: 0; white-space: pre-wrap; word-break: break-all; max-width: 640px; font-size: 0.95em; }
.lume-run-report .state { padding: 1px 6px; border-radius: 4px; border: 1px solid; }
.lume-run-report .meta { color: #555; }
.lume-run-report .legend span { margin-right: 12px; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _badge(state: Optional[str]) -> str:
    style = STATE_STYLES[state_kind(state)]
    return (f'<span class="state" style="background:{style["fill"]};border-color:{style["stroke"]};'
            f'color:{style["text"]}">{_e(state or "-")}</span>')


def _took(seconds: Optional[float]) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _json(value: Any) -> str:
    return _e(json.dumps(value, indent=1, sort_keys=True, default=repr))


# --- the DAG ----------------------------------------------------------------------


def _nodes_and_edges(record: Any) -> Tuple[List[Tuple[str, Optional[str]]], List[Tuple[str, str]]]:
    if record.children:
        names = {c.name for c in record.children}
        nodes = [(c.name, c.state) for c in record.children]
        edges = [(p, c.name) for c in record.children for p in c.parents if p in names]
        return nodes, edges
    return [(t.name, t.state) for t in record.tasks], []  # a plain flow: its tasks (the record has no edges)


def dag_svg(record: Any) -> str:
    """The run's DAG as inline SVG: a box per child (a plain flow: per task), filled by its state."""
    nodes, edges = _nodes_and_edges(record)
    return graph_svg(nodes, edges, f"DAG of run {record.run_id}", layered=bool(record.children))


def graph_svg(nodes: List[Tuple[str, Optional[str]]], edges: List[Tuple[str, str]], title: str,
              layered: bool = True) -> str:
    """A DAG as inline SVG: ``nodes`` (name, state) in execution order, ``edges`` (parent, child).

    A node is filled by its state's colour (no state: white); ``layered``
    puts each node a row below its lowest parent, else nodes go in rows of four.
    """
    parents: Dict[str, List[str]] = {name: [] for name, _ in nodes}
    for parent, child in edges:
        parents[child].append(parent)
    depth: Dict[str, int] = {}
    for name, _ in nodes:  # children are recorded in execution order: parents come first
        depth[name] = 1 + max((depth.get(p, 0) for p in parents[name]), default=-1)
    layers: Dict[int, List[str]] = {}
    for name, _ in nodes:
        layers.setdefault(depth[name], []).append(name)
    if not layered:  # tasks of a plain flow: rows of four
        layers = {i // 4: [n for n, _ in nodes][i:i + 4] for i in range(0, len(nodes), 4)}
    widest = max((len(v) for v in layers.values()), default=1)
    width = _MARGIN * 2 + widest * _NODE_W + (widest - 1) * _GAP_X
    height = _MARGIN * 2 + len(layers) * _NODE_H + max(len(layers) - 1, 0) * _GAP_Y
    where: Dict[str, Tuple[float, float]] = {}
    for row, names in sorted(layers.items()):
        row_w = len(names) * _NODE_W + (len(names) - 1) * _GAP_X
        x0 = (width - row_w) / 2
        for i, name in enumerate(names):
            where[name] = (x0 + i * (_NODE_W + _GAP_X), _MARGIN + row * (_NODE_H + _GAP_Y))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="dag" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="{_e(title)}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#616161"/></marker></defs>',
    ]
    for parent, child in edges:
        (px, py), (cx, cy) = where[parent], where[child]
        parts.append(f'<line x1="{px + _NODE_W / 2:.0f}" y1="{py + _NODE_H:.0f}" x2="{cx + _NODE_W / 2:.0f}" '
                     f'y2="{cy:.0f}" stroke="#616161" stroke-width="1.5" marker-end="url(#arrow)"/>')
    for name, state in nodes:
        x, y = where[name]
        style = STATE_STYLES[state_kind(state)]
        dash = f' stroke-dasharray="{style["dashed"]}"' if style["dashed"] else ""
        label = name if len(name) <= 26 else name[:25] + "…"
        parts.append(
            f'<g class="node" data-name="{_e(name)}" data-state="{_e(state or "")}"><title>{_e(name)}: {_e(state)}</title>'
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{_NODE_W}" height="{_NODE_H}" rx="8" fill="{style["fill"]}" '
            f'stroke="{style["stroke"]}" stroke-width="2"{dash}/>'
            f'<text x="{x + _NODE_W / 2:.0f}" y="{y + 20:.0f}" text-anchor="middle" font-size="13" '
            f'fill="{style["text"]}" font-weight="bold">{_e(label)}</text>'
            f'<text x="{x + _NODE_W / 2:.0f}" y="{y + 38:.0f}" text-anchor="middle" font-size="11" '
            f'fill="{style["text"]}">{_e(state or "-")}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


# --- the timeline -------------------------------------------------------------------


def timeline_svg(record: Any) -> str:
    """When each child and task started and ended, as bars on one time axis (inline SVG)."""
    rows = [(f"{c.name}", c.state, c.start, c.end, True) for c in record.children]
    rows += [(t.name, t.state, t.start, t.end, False) for t in record.tasks]
    times = [t for _, _, s, e, _ in rows for t in (s, e) if t is not None]
    if record.start is not None:
        times.append(record.start)
    t0 = min(times) if times else None
    span = max(((max(times) - t0).total_seconds() if times else 0.0), 1e-3)
    height = 30 + len(rows) * _ROW_H
    width = _TIMELINE_LABEL + _TIMELINE_W + 20
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="timeline">',
             f'<text x="{_TIMELINE_LABEL}" y="14" font-size="11" fill="#555">0 s</text>',
             f'<text x="{_TIMELINE_LABEL + _TIMELINE_W}" y="14" font-size="11" fill="#555" '
             f'text-anchor="end">{_e(_took(span))}</text>']
    for i, (name, state, start, end, is_child) in enumerate(rows):
        y = 22 + i * _ROW_H
        style = STATE_STYLES[state_kind(state)]
        label = name if len(name) <= 32 else name[:31] + "…"
        parts.append(f'<text x="4" y="{y + 14}" font-size="12" font-weight="{"bold" if is_child else "normal"}">'
                     f'{_e(label)}</text>')
        if start is None or t0 is None:
            parts.append(f'<text x="{_TIMELINE_LABEL}" y="{y + 14}" font-size="11" fill="#777">'
                         f'{_e(state)} (not timed)</text>')
            continue
        x = _TIMELINE_LABEL + (start - t0).total_seconds() / span * _TIMELINE_W
        w = max(((end or start) - start).total_seconds() / span * _TIMELINE_W, 3)
        parts.append(f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{_ROW_H - 6}" fill="{style["fill"]}" '
                     f'stroke="{style["stroke"]}"><title>{_e(name)}: {_e(state)}, '
                     f'{_e(_took(((end or start) - start).total_seconds()))}</title></rect>')
    parts.append("</svg>")
    return "".join(parts)


# --- the page ----------------------------------------------------------------------------


def report_html(record: Any, fragment: bool = False) -> str:
    """The run report: a whole HTML page, or (``fragment=True``) a ``<div>`` for Jupyter.

    Args:
        record: a run read with ``SchedulingService.get_run`` (with its tasks and children).
        fragment: a ``<div>`` with its own ``<style>`` instead of a page.
    """
    when = record.start.strftime("%Y-%m-%d %H:%M:%S %Z") if record.start is not None else "-"
    body = [
        '<div class="lume-run-report">',
        f"<style>{_CSS}</style>",
        f"<h1>run of {_e(record.flow_name)} {_badge(record.state)}</h1>",
        f'<p class="meta">run <code>{_e(record.run_id)}</code>'
        + (f" · project {_e(record.project_name)}" if record.project_name else "")
        + (f" · version {_e(record.flow_version)}" if record.flow_version is not None else "")
        + f" · started {_e(when)} · took {_e(_took(record.duration))}"
        + (f" · on {_e(record.host)}" if record.host else "")
        + (f" · executor {_e(record.executor)}" if record.executor else "") + "</p>",
    ]
    if record.message:
        body.append(f"<p>{_e(record.message)}</p>")
    kinds = sorted({state_kind(s) for _, s in _nodes_and_edges(record)[0]})
    body.append("<h2>" + ("Flows" if record.children else "Tasks") + "</h2>")
    body.append(dag_svg(record))
    body.append('<p class="legend">' + "".join(
        f'<span>{_badge_kind(k)} {_e(KIND_MEANING[k])}</span>' for k in kinds) + "</p>")
    body.append("<h2>Timeline</h2>")
    body.append(timeline_svg(record))
    body.append("<h2>Parameters</h2>")
    body.append(_table(["parameter", "value"], [[_e(k), f"<pre>{_json(v)}</pre>"]
                                               for k, v in sorted(record.parameters.items())]))
    if record.children:
        body.append("<h2>Mapped values</h2>")
        rows = [[_e(c.name), _e(p), f"<pre>{_json(v)}</pre>"] for c in record.children for p, v in sorted(c.mapped.items())]
        body.append(_table(["flow", "parameter", "value received"], rows))
    body.append("<h2>Results</h2>")
    body.append(_table(["task", "state", "duration", "result"], [
        [_e(t.name), _badge(t.state), _e(_took(t.duration)),
         f"<pre>{_json(t.result)}</pre>" if t.result_recorded else _e(f"({t.result_note})" if t.result_note else "-")]
        for t in record.tasks
    ]))
    errors = [t for t in record.tasks if state_kind(t.state) in ("failed", "crashed")]
    body.append("<h2>Errors</h2>")
    if errors:
        body.append(_table(["task", "state", "message"], [[_e(t.name), _badge(t.state), f"<pre>{_e(t.message or '')}</pre>"]
                                                          for t in errors]))
    else:
        body.append("<p>none</p>")
    body.append("</div>")
    div = "\n".join(body)
    if fragment:
        return div
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>run {_e(record.run_id)} of {_e(record.flow_name)}</title></head>\n<body>\n{div}\n</body></html>\n")


def _badge_kind(kind: str) -> str:
    style = STATE_STYLES[kind]
    return (f'<span class="state" style="background:{style["fill"]};border-color:{style["stroke"]};'
            f'color:{style["text"]}">&nbsp;&nbsp;</span>')


def _table(headers: List[str], rows: List[List[str]]) -> str:
    if not rows:
        return "<p>none</p>"
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
