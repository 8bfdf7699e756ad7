"""The ``lume-services`` command line."""

import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, Tuple

import click

# Prefect logs every task run at INFO to stdout; the CLI prints its own summary.
os.environ.setdefault("PREFECT__LOGGING__LEVEL", "WARNING")


def _parse_parameters(pairs: Tuple[str, ...]) -> Dict[str, Any]:
    params: Dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="--param")
        try:
            params[name] = json.loads(raw)
        except json.JSONDecodeError:
            params[name] = raw  # a plain string
    return params


def _import_object(spec: str):
    module_name, sep, attr = spec.partition(":")
    if not sep:
        raise click.BadParameter(f"{spec!r} is not MODULE:ATTRIBUTE", param_hint="FLOW")
    sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    finally:
        sys.path.pop(0)
    try:
        return getattr(module, attr)
    except AttributeError:
        raise click.BadParameter(f"module {module_name!r} has no attribute {attr!r}", param_hint="FLOW")


def _show(value: Any) -> str:
    return json.dumps(value, indent=2, default=repr, sort_keys=True)


def _fail(exc: Exception) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(1)


@click.group()
@click.version_option(package_name="lume-services")
def main():
    """Register, run and compose Prefect 1 flows with lume-services.

    Services are configured from LUME_* environment variables (see
    `lume-services env`); with none set, the embedded local defaults are used.
    """


@main.command()
def env():
    """List the environment variables lume-services reads."""
    from lume_services.config import get_env_vars, shown_env_value

    for name in get_env_vars():
        value = os.environ.get(name)
        shown = shown_env_value(name, value) if value is not None else value
        click.echo(f"{name}={shown}" if value is not None else name)


@main.group()
def flows():
    """Register and list flows."""


@flows.command("register")
@click.argument("flow_spec", metavar="MODULE:FLOW")
@click.option("--name", help="Name to register under (default: the Prefect flow's name).")
@click.option("--project", "project_name", default=None, help="Project (created when missing).")
@click.option("--image", default=None, help="Image the flow runs in (container backends).")
@click.option("--label", "labels", multiple=True, help="Agent label (repeatable).")
def register_flow(flow_spec, name, project_name, image, labels):
    """Register the Prefect flow MODULE:FLOW and print its flow id."""
    from lume_services.errors import LUMEServicesError
    from lume_services.flows.flow import Flow

    prefect_flow = _import_object(flow_spec)
    kwargs = {"name": name or prefect_flow.name, "project_name": project_name, "prefect_flow": prefect_flow}
    if image:
        kwargs["image"] = image
    if labels:
        kwargs["labels"] = list(labels)
    try:
        click.echo(Flow(**kwargs).register())
    except LUMEServicesError as exc:
        _fail(exc)


@flows.command("list")
@click.option("--project", "project_name", default=None, help="Only this project.")
def list_flows(project_name):
    """List the registered flows (latest versions)."""
    for row in _service().list_flows(project_name):
        click.echo(f"{row['project_name']}/{row['name']}  version {row['version']}  id {row['flow_id']}")


@main.group("flow-of-flows")
def flow_of_flows():
    """Compose and run flows of flows."""


def _run_flow_of_flows(fof, parameters) -> None:
    from lume_services.flows.flow_of_flows import ChildProgress

    order = fof.execution_order()
    click.echo(f"flow of flows {fof.name!r}: {len(order)} flows, in order {', '.join(order)}")
    fof.ensure_composed()
    kwargs = {}
    if _service().composition == "inline":  # children run in this process: report each
        kwargs["task_runner_state_handlers"] = [
            ChildProgress(fof, lambda child, state: click.echo(f"  flow {child!r} finished: {state}"))
        ]
    results = fof.run_and_return(parameters, **kwargs)
    click.echo("results:")
    click.echo(_show(results))


def _service():
    from lume_services.config import context

    return context.scheduling_service()


@flow_of_flows.command("run")
@click.argument("yaml_path", type=click.Path(exists=True, dir_okay=False))
@click.option("-p", "--param", "params", multiple=True, help="CHILD-PARAMETER=VALUE (JSON or text).")
def run_flow_of_flows(yaml_path, params):
    """Compose the flow of flows in YAML_PATH and run it, printing each flow's state."""
    from lume_services.errors import LUMEServicesError
    from lume_services.flows.flow_of_flows import FlowOfFlows

    try:
        fof = FlowOfFlows.from_yaml(Path(yaml_path))
        _run_flow_of_flows(fof, _parse_parameters(params))
    except LUMEServicesError as exc:
        _fail(exc)


@main.command()
@click.option("--diamond", is_flag=True, help="Run the diamond-shaped example instead of the chain.")
@click.option("-p", "--param", "params", multiple=True, help="CHILD-PARAMETER=VALUE (JSON or text).")
def example(diamond, params):
    """Register the example flows (if needed) and run the example flow of flows.

    With no configuration it runs on the embedded local defaults under
    LUME_HOME (~/.lume_services). On a server backend the flows are registered
    and run there; container backends also need the flows' image (see
    docs/docker.md).
    """
    from lume_services.errors import LUMEServicesError
    from lume_services.examples import example_parameters, register_example_flows, yaml_path
    from lume_services.flows.flow_of_flows import FlowOfFlows

    try:
        for name, flow_id in register_example_flows().items():
            click.echo(f"registered flow {name!r}: {flow_id}")
        fof = FlowOfFlows.from_yaml(yaml_path("diamond" if diamond else "flow_of_flows"))
        parameters = {**example_parameters(fof), **_parse_parameters(params)}
        _run_flow_of_flows(fof, parameters)
    except LUMEServicesError as exc:
        _fail(exc)


if __name__ == "__main__":  # pragma: no cover
    main()
