"""Options and parsing the commands share.

Prefect 1's CLI habits are followed: ``--param NAME=VALUE`` (repeatable) and
``--param-file FILE`` give a run's parameters, ``--run-name`` names it,
``-n/--name`` filters which flows to register. The spellings this CLI had
before (``-p`` for a parameter of a run) still work and print a deprecation
note on stderr.
"""

from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import click

from lume_services.cli._output import InputError, note


def parse_parameters(pairs: Tuple[str, ...], hint: str = "--param") -> Dict[str, Any]:
    """``NAME=VALUE`` pairs as a dict; each value is JSON when it parses, else the text itself.

    Raises:
        click.BadParameter: a pair has no ``=`` (exit 2).
    """
    import json

    params: Dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint=hint)
        try:
            params[name] = json.loads(raw)
        except json.JSONDecodeError:
            params[name] = raw  # a plain string
    return params


def read_parameter_file(path: Optional[str]) -> Dict[str, Any]:
    """The parameters a JSON or YAML file holds (a mapping of name to value); ``{}`` for ``None``.

    Raises:
        InputError: the file does not parse, or does not hold a mapping with text keys (exit 2).
    """
    if path is None:
        return {}
    import yaml  # YAML is a superset of JSON: one parser reads both

    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"--param-file {path}: cannot read it as JSON or YAML: {type(exc).__name__}: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise InputError(
            f"--param-file {path} holds a {type(data).__name__}; expected a mapping of parameter "
            'names to values, for example {"x": 21} or the YAML line "x: 21"'
        )
    return data


def run_parameters(params: Tuple[str, ...], old_params: Tuple[str, ...], param_file: Optional[str]) -> Dict[str, Any]:
    """A run's parameters: the file's, then ``--param`` values (which win), then the deprecated ``-p`` ones."""
    if old_params:
        note("note: -p NAME=VALUE for a run's parameter is deprecated; write --param NAME=VALUE (as Prefect 1 does)")
    return {**read_parameter_file(param_file), **parse_parameters(old_params, "-p"), **parse_parameters(params)}


def run_options(command):
    """``--param``, ``--param-file``, ``--task``, ``--run-name`` and the deprecated ``-p``, for a run command."""
    for decorator in reversed([
        click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
                     help="A parameter's value, as JSON or text (repeatable); wins over --param-file."),
        click.option("--param-file", type=click.Path(exists=True, dir_okay=False), default=None,
                     help="A JSON or YAML file mapping parameter names to values."),
        click.option("-p", "old_params", multiple=True, hidden=True, metavar="NAME=VALUE",
                     help="Deprecated spelling of --param."),
        click.option("--task", "task_name", default=None, help="Report only this task's result."),
        click.option("--run-name", default=None, help="The run's name (shown by a Prefect Server's UI)."),
    ]):
        command = decorator(command)
    return command


def json_option(command):
    """``--json``: print exactly one JSON document on stdout (an error too is one).

    ``--json`` may stand anywhere on the line (``cli/main.py`` moves it to the
    front), so the value is read from the root context.
    """

    def remember(ctx, param, value):
        root = ctx.find_root()
        if value:
            root.meta["lume.json"] = True
        return bool(root.meta.get("lume.json"))

    return click.option(
        "--json", "as_json", is_flag=True, callback=remember, expose_value=True,
        help="Print one JSON document on stdout; progress and logs stay on stderr.",
    )(command)


def verbosity(ctx: click.Context) -> int:
    """-1 (``-q``), 0, or 1 and up (``-v`` given that many times)."""
    return ctx.find_root().meta.get("lume.verbosity", 0)
