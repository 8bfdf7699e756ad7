"""One colour per run state, for every picture: Mermaid, DOT, ``runs show --format mermaid``, the run report.

States are grouped into kinds (succeeded, failed, did not run, running,
crashed, waiting); each kind has one fill, stroke and text colour. Pictures
ask :func:`state_kind` for a state's kind and use :data:`STATE_STYLES`, so
the same state looks the same wherever it is drawn.
"""

from typing import Dict, Optional

#: colours of each kind of state: fill, stroke, text; ``dashed``: drawn with a dashed outline
STATE_STYLES: Dict[str, Dict[str, str]] = {
    "success": {"fill": "#c8e6c9", "stroke": "#2e7d32", "text": "#1b5e20", "dashed": ""},
    "failed": {"fill": "#ffcdd2", "stroke": "#c62828", "text": "#b71c1c", "dashed": ""},
    "notrun": {"fill": "#eeeeee", "stroke": "#9e9e9e", "text": "#616161", "dashed": "4 3"},
    "running": {"fill": "#bbdefb", "stroke": "#1565c0", "text": "#0d47a1", "dashed": ""},
    "crashed": {"fill": "#ffe0b2", "stroke": "#ef6c00", "text": "#e65100", "dashed": ""},
    "waiting": {"fill": "#ffffff", "stroke": "#616161", "text": "#212121", "dashed": ""},
    "cached": {"fill": "#e1f5fe", "stroke": "#0277bd", "text": "#01579b", "dashed": "6 3"},
}

#: what each kind means, for legends
KIND_MEANING = {
    "success": "succeeded",
    "failed": "failed",
    "notrun": "did not run (a parent failed, skipped, cancelled)",
    "running": "running or scheduled",
    "crashed": "crashed (its process ended before the run finished)",
    "waiting": "no state yet",
    "cached": "reused from an earlier run (cached or resumed)",
}


def state_kind(state: Optional[str]) -> str:
    """The kind of a state: ``success``, ``cached``, ``failed``, ``notrun``, ``running``, ``crashed`` or ``waiting`` (``None``)."""
    if not state:
        return "waiting"
    if state == "Cached":  # a child reused from an earlier run
        return "cached"
    if state in ("Success", "Mapped"):
        return "success"
    if state in ("Failed", "TimedOut"):
        return "failed"
    if state in ("Running", "Submitted", "Scheduled", "Pending", "Cancelling", "Retrying"):
        return "running"
    if state == "Crashed":
        return "crashed"
    return "notrun"  # TriggerFailed (a parent failed), Skipped, Cancelled


def mermaid_class_defs(kinds) -> list:
    """``classDef`` lines of Mermaid for these kinds."""
    lines = []
    for kind in sorted(set(kinds)):
        style = STATE_STYLES[kind]
        dashed = f",stroke-dasharray: {style['dashed']}" if style["dashed"] else ""
        lines.append(f"    classDef {kind} fill:{style['fill']},stroke:{style['stroke']},color:{style['text']}{dashed}")
    return lines
