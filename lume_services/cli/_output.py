"""What the command line prints: data on stdout (text or one JSON document), everything else on stderr.

Exit codes (documented in docs/cli.md):

- ``0``: it worked;
- ``1``: a run or a registration failed (the command tried);
- ``2``: the command was used wrongly or its input is invalid (nothing was run);
- ``130``: interrupted (Ctrl-C); with ``--json`` its document says ``"state": "Interrupted"``.

While a command runs, ``sys.stdout`` is stderr (see ``cli/main.py``): what user
code, Prefect or a library prints goes there, and only :func:`emit` and
:func:`out` write to the real stdout, so ``--json`` prints exactly one document.

Importing this module imports neither click nor anything heavy (click is
imported by the functions that use it): the console script's light path for
``runs list`` (:mod:`lume_services.cli.console`) prints with the same
:func:`dump`, :func:`safe` and :func:`runs_table` as the click command.
"""

import datetime
import json
import math
import os
import sys
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Sequence

if TYPE_CHECKING:
    import click

OK, FAILED, USAGE, INTERRUPTED = 0, 1, 2, 130


class InputError(Exception):
    """The command's input is wrong (exit 2): a file, a module, an object that is not a flow."""


class Failed(Exception):
    """The command did its work and some of it failed (exit 1); the details are printed already."""


def mark_failed(ctx: "click.Context") -> None:
    """Record that the command failed, before printing it: a closed stdout then still exits 1."""
    ctx.find_root().meta["lume.failed"] = True


def to_jsonable(value: Any) -> Any:
    """A value as JSON can hold it: models as their fields, paths as strings, exceptions as their message.

    Anything else JSON does not know becomes ``{"type": ..., "repr": ...}``, so
    a document is always valid JSON and says what it could not encode.
    """
    return _jsonable(value, frozenset())


#: nesting a document keeps; deeper parts are shown as ``{"type", "repr"}`` (a value that
#: refers to itself, or a runaway, would otherwise recurse until Python's limit)
MAX_DOCUMENT_DEPTH = 100


def _jsonable(value: Any, path: frozenset) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (dict, list, tuple, set, frozenset)):
        if id(value) in path:
            return {"type": type(value).__name__, "repr": "<refers to itself>"}
        if len(path) >= MAX_DOCUMENT_DEPTH:
            return {"type": type(value).__name__, "repr": f"<nested more than {MAX_DOCUMENT_DEPTH} levels>"}
        path = path | {id(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v, path) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [_jsonable(v, path) for v in items]
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, BaseException):
        return {"error": type(value).__name__, "message": str(value)}
    jsonable_dict = getattr(value, "jsonable_dict", None)  # lume_services files
    if callable(jsonable_dict):
        return to_jsonable(jsonable_dict())
    if hasattr(value, "__fields__") and hasattr(value, "json"):  # pydantic models
        try:
            return json.loads(value.json())
        except Exception:
            return to_jsonable(value.dict())
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    tolist = getattr(value, "tolist", None)  # numpy arrays and scalars
    if callable(tolist):
        return to_jsonable(tolist())
    return {"type": f"{type(value).__module__}.{type(value).__qualname__}", "repr": repr(value)}


def dump(value: Any) -> str:
    """``value`` as indented JSON (see :func:`to_jsonable`)."""
    return json.dumps(to_jsonable(value), indent=2, sort_keys=True)


def data_stream():
    """The stream data goes to: the real stdout, kept aside while the command runs."""
    import click

    ctx = click.get_current_context(silent=True)
    stream = ctx.find_root().meta.get("lume.stdout") if ctx is not None else None
    return stream if stream is not None else sys.stdout


def out(line: str = "") -> None:
    """One line of a command's text output, on the real stdout."""
    import click

    click.echo(line, file=data_stream())


_CONTROL = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)]}
_CONTROL.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})


def safe(text: Any) -> str:
    """``text`` with its control characters escaped (``\\x1b``, ``\\n``): a name cannot move the cursor or break a line."""
    return str(text).translate(_CONTROL)


def table(headers: Sequence[str], rows: List[List[Any]]) -> str:
    """Rows under their headers, each column as wide as its widest cell (control characters escaped)."""
    rows = [[safe(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


def took(seconds: Optional[float]) -> str:
    """A duration as the ``runs`` commands show it: milliseconds under a second, else seconds; ``-`` unknown."""
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def runs_table(documents: List[dict]) -> str:
    """What ``runs list`` prints for run documents (``RunRecord.to_dict()``, newest first)."""
    return table(
        ["RUN ID", "FLOW", "PROJECT", "STATE", "STARTED (UTC)", "DURATION"],
        [[r["run_id"], r["flow_name"], r["project_name"] or "-", r["state"],
          (r["start"] or "-")[:19].replace("T", " "), took(r["duration"])] for r in documents],
    )


def emit(data: Any, as_json: bool, text: Optional[Callable[[Any], None]] = None) -> None:
    """Print a command's data on stdout: one JSON document, or ``text(data)``'s lines (its rendering)."""
    if as_json or text is None:
        out(dump(data))
    else:
        text(data)


def note(message: str) -> None:
    """A line for the person watching (stderr), never for a program reading stdout."""
    import click

    try:
        click.echo(message, err=True)
    except (BrokenPipeError, ValueError):  # stderr closed: the run goes on
        pass


def debug_enabled(ctx: Optional["click.Context"] = None) -> bool:
    """Whether tracebacks are shown: ``--debug`` or ``LUME_DEBUG=1``."""
    root = ctx.find_root() if ctx is not None else None
    if root is not None and root.meta.get("lume.debug"):
        return True
    return os.environ.get("LUME_DEBUG", "").lower() in ("1", "true", "yes")


def one_line(message: Any) -> str:
    """A message on one line: its lines joined with ``"; "``, secrets masked (:mod:`lume_services.masking`)."""
    from lume_services.masking import mask_message

    return mask_message("; ".join(line.strip() for line in str(message).strip().splitlines() if line.strip()))


def print_error(message: Any, ctx: Optional["click.Context"]) -> None:
    """``error: <message>`` on one line of stderr, after the traceback when debugging."""
    if debug_enabled(ctx) and sys.exc_info()[0] is not None:
        import traceback

        traceback.print_exc(file=sys.stderr)
    note(f"error: {one_line(message)}")
