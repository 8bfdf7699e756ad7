"""The text rendering of a run's document (``flows run``, ``flow-of-flows run``, ``example``).

A command builds one document; ``--json`` prints it, and without ``--json``
these lines say the same thing for a person: the state, the run id, each
child's state and time, and the results shortened to a line each (``--json``
or ``--task`` give a value whole).
"""

import json
from typing import Any, Dict

from lume_services.cli._output import out, safe, to_jsonable

_WIDTH = 100


def _short(value: Any, width: int = _WIDTH) -> str:
    text = json.dumps(to_jsonable(value), sort_keys=True)
    return safe(text if len(text) <= width else text[: width - 3] + "...")


def _took(seconds: Any) -> str:
    return "-" if seconds is None else f"{seconds:.2f} s"


def render_run(doc: Dict[str, Any]) -> None:
    """Print a run document's lines on stdout."""
    kind = "flow of flows" if "children" in doc else "flow"
    head = f"{kind} {safe(doc['name'])!r}"
    if doc.get("project"):
        head += f" (project {safe(doc['project'])!r})"
    out(f"{head}: {doc['state']} in {_took(doc.get('elapsed'))}")
    if doc.get("run_id"):
        out(f"run: {doc['run_id']}" + (f" ({safe(doc['run_name'])})" if doc.get("run_name") else ""))
    if doc.get("registered"):
        out("registered: " + ", ".join(f"{safe(k)} {v}" for k, v in doc["registered"].items()))
    children = doc.get("children") or {}
    if children:
        width = max(len(safe(c)) for c in children)
        out("flows:")
        for child, info in children.items():
            out(f"  {safe(child).ljust(width)}  {str(info.get('state') or '-').ljust(13)}  {_took(info.get('elapsed'))}")
    if doc.get("error"):
        out(f"failed: {safe(doc['error'])}")
        for task, why in (doc.get("failed_tasks") or {}).items():
            out(f"  {safe(task)}: {_short(why)}")
    if "result" in doc:
        out(f"result of {safe(doc['task'])}: {safe(json.dumps(to_jsonable(doc['result']), sort_keys=True))}")
    elif "results" in doc:
        out("results:")
        results = doc["results"]
        nested = children and all(isinstance(v, dict) for v in results.values())
        for name, value in results.items():
            if nested:
                for task, result in value.items():
                    out(f"  {safe(name)}/{safe(task)}: {_short(result)}")
            else:
                out(f"  {safe(name)}: {_short(value)}")
