"""Options and parsing the commands share."""

from typing import Any, Dict, Tuple

import click


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


def json_option(command):
    """``--json``: print exactly one JSON document on stdout (an error too is one)."""

    def remember(ctx, param, value):
        if value:
            ctx.find_root().meta["lume.json"] = True
        return value

    return click.option(
        "--json", "as_json", is_flag=True, callback=remember, expose_value=True,
        help="Print one JSON document on stdout; progress and logs stay on stderr.",
    )(command)


def verbosity(ctx: click.Context) -> int:
    """-1 (``-q``), 0, or 1 and up (``-v`` given that many times)."""
    return ctx.find_root().meta.get("lume.verbosity", 0)
