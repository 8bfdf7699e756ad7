"""The ``lume-services`` console script: ``runs list`` on a light path, every other command line through click.

``lume-services runs list`` is what a person types most often and waits for;
through the click command it starts pydantic (the settings models),
dependency-injector (the container) and click before a 0.1 ms query. Here it
reads the one setting it needs (where the run history is) and the history
itself with :mod:`sqlite3`, and prints with the same functions as the click
command (:func:`~lume_services.cli._output.dump`,
:func:`~lume_services.cli._output.runs_table`), importing none of those
libraries (tests/test_cli_console.py checks it).

The light path answers only what it can answer exactly as the click command
would; for anything else it steps aside and the whole command line goes to
:data:`lume_services.cli.main.main`, which then gives the output, the error
line and the exit code of docs/cli.md. It steps aside when:

- the line is not ``runs list`` with ``--flow``, ``--project``, ``--state``,
  ``--since``, ``--limit`` (each at most once, with a value the command
  accepts) and the global ``-v``, ``-q``, ``--debug``, ``--json``: ``--help``,
  a usage error, an invalid filter all take the click path;
- any ``LUME_*`` variable other than those it reads (``LUME_HOME``,
  ``LUME_BACKEND``, ``LUME_RUN_HISTORY__PATH``, ``LUME_RUN_HISTORY__ENABLED``,
  ``LUME_RUN_HISTORY__MAX_RESULT_BYTES``) and ``LUME_DEBUG`` is set, so a
  misspelled variable is warned about and any other setting is validated as
  the settings models do; or one of those has a value the settings would
  refuse, or that this reader does not read exactly as they do (a backend
  other than ``local``, an empty path, a number or switch it is not sure of);
- the run history cannot be read without changing it or without an error
  (see :func:`~lume_services.services.scheduling.backends.local.run_listing.light_listing`).

The settings are read with the names and precedence of
:class:`~lume_services.settings.LUMEServicesSettings` (``LUME_`` prefix, any
case, ``__`` for a section's field; no file is read: the settings have no
``.env`` or secrets file), and the history's path as the local backend finds
it (``LUME_RUN_HISTORY__PATH``, else ``<LUME_HOME>/history/runs.sqlite``, ``~``
expanded). A hand-written reader of a few variables, rather than the settings
models, is the point of this module: the models are what costs the time.
"""

import os
import re
import sys
from pathlib import Path
from typing import Dict, List, Mapping, Optional

__all__ = ["history_path", "main", "parse_runs_list"]

#: the ``LUME_*`` variables the light path reads (every other one sends the line to click)
LIGHT_VARIABLES = frozenset({
    "LUME_HOME", "LUME_BACKEND", "LUME_RUN_HISTORY__PATH", "LUME_RUN_HISTORY__ENABLED",
    "LUME_RUN_HISTORY__MAX_RESULT_BYTES", "LUME_DEBUG",
})

#: pydantic 1's spellings of a boolean in a variable (``LUME_RUN_HISTORY__ENABLED``), any case
_BOOLEANS = frozenset({"0", "off", "f", "false", "n", "no", "1", "on", "t", "true", "y", "yes"})

#: the root group's flags, which may stand anywhere on the line and do not change what ``runs list`` prints
_GLOBAL_FLAGS = frozenset({"-q", "--quiet", "-v", "--verbose", "--debug", "--json"})

#: ``runs list``'s options that take a value, by spelling -> its name
_VALUE_OPTIONS = {"--flow": "flow", "--project": "project", "--state": "state", "--since": "since",
                  "--limit": "limit"}


def history_path(environ: Mapping[str, str]) -> Optional[Path]:
    """Where the local backend's run history is, as the settings read ``environ``; ``None``: ask the settings.

    ``None`` when any ``LUME_*`` variable is set that this reader does not
    read, when one is set twice in different cases, when the backend is not
    ``local``, or when a value is one the settings would refuse or that this
    reader is not sure to read as they do.
    """
    values: Dict[str, str] = {}
    for name, value in environ.items():
        upper = name.upper()
        if not upper.startswith("LUME_"):
            continue
        if upper not in LIGHT_VARIABLES or upper in values:
            return None
        values[upper] = value
    if values.get("LUME_BACKEND", "local") != "local":
        return None
    enabled = values.get("LUME_RUN_HISTORY__ENABLED")
    if enabled is not None and enabled.lower() not in _BOOLEANS:
        return None
    size = values.get("LUME_RUN_HISTORY__MAX_RESULT_BYTES")
    if size is not None and not re.fullmatch(r"[0-9]+", size):
        return None
    home, path = values.get("LUME_HOME"), values.get("LUME_RUN_HISTORY__PATH")
    if "" in (home, path):
        return None
    if path is not None:
        return Path(path).expanduser()
    return Path(home if home is not None else "~/.lume_services").expanduser() / "history" / "runs.sqlite"


def parse_runs_list(args: List[str]) -> Optional[dict]:
    """``runs list``'s filter and ``--json`` from a command line; ``None`` when the line is anything else.

    Also ``None`` for a line the click command would refuse or read
    differently (an unknown option, an option given twice, a value that
    begins with ``-``, an empty name, an unknown state, a time that is no ISO
    8601 time, a limit out of range): the click path then answers it.
    """
    from lume_services.services.scheduling.run_filters import MAX_LIMIT, parse_time, state_named

    words: List[str] = []
    given: Dict[str, str] = {}
    as_json = False
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in _GLOBAL_FLAGS or re.fullmatch(r"-v+", arg):
            as_json = as_json or arg == "--json"
        elif arg.startswith("-"):
            if len(words) != 2:
                return None
            spelling, equals, value = arg.partition("=")
            name = _VALUE_OPTIONS.get(spelling)
            if name is None or name in given:
                return None
            if not equals:
                if i + 1 >= len(args):
                    return None
                i += 1
                value = args[i]
            if value.startswith("-"):
                return None
            given[name] = value
        else:
            words.append(arg)
            if len(words) > 2:
                return None
        i += 1
    if words != ["runs", "list"]:
        return None
    query: dict = {"flow_name": given.get("flow"), "project_name": given.get("project"), "state": None,
                   "since": None, "limit": 20, "as_json": as_json,
                   "filtered": any(name in given for name in ("flow", "project", "state", "since"))}
    for name in ("flow_name", "project_name"):
        if query[name] is not None and not query[name].strip():
            return None
    if "state" in given:
        query["state"] = state_named(given["state"])
        if query["state"] is None:
            return None
    if "since" in given:
        query["since"] = parse_time(given["since"])
        if query["since"] is None:
            return None
    if "limit" in given:
        if not re.fullmatch(r"[0-9]+", given["limit"]) or not 1 <= int(given["limit"]) <= MAX_LIMIT:
            return None
        query["limit"] = int(given["limit"])
    return query


def light_runs_list(args: List[str], environ: Mapping[str, str]) -> Optional[int]:
    """Answer ``runs list`` without click, pydantic or dependency-injector; ``None`` when the click path must."""
    query = parse_runs_list(args)
    if query is None:
        return None
    path = history_path(environ)
    if path is None:
        return None
    from lume_services.services.scheduling.backends.local.run_listing import light_listing

    documents = light_listing(path, query["flow_name"], query["project_name"], query["state"], query["since"],
                              query["limit"])
    if documents is None:
        return None
    from lume_services.cli._output import dump, runs_table

    if query["as_json"]:
        text = dump(documents)
    elif documents:
        text = runs_table(documents)
    else:
        text = "no runs recorded" + (" match" if query["filtered"] else "")
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except UnicodeEncodeError:  # nothing written: the click path reports it as it does
        return None
    except BrokenPipeError:  # `| head`: what was asked is done; say nothing more (as the click path)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 0


def main(args: Optional[List[str]] = None):
    """The console script: ``runs list`` on the light path when it can answer, else the click command line.

    Args:
        args: the command line after the program's name; ``None``: ``sys.argv[1:]``.

    Returns:
        The exit code (the click path exits itself, as click does).
    """
    code = light_runs_list(list(sys.argv[1:] if args is None else args), os.environ)
    if code is not None:
        return code
    from lume_services.cli.main import main as click_main

    return click_main(args)  # None: click reads sys.argv, as the script did before


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
