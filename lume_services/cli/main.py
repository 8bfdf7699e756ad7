"""The ``lume-services`` command line.

Each group lives in its own module (``cli/flows.py``, ``cli/flow_of_flows.py``)
and is added to :data:`main` at the end of this one; a new group is one more
``main.add_command``. What every command shares is here: the verbosity and
``--debug`` options, and the one place errors become an ``error: ...`` line
and an exit code (see ``cli/_output.py``, and docs/cli.md for the codes).
"""

import logging
import os
import sys

import click

from lume_services.cli._options import json_option, parse_parameters, verbosity
from lume_services.cli._output import FAILED, OK, USAGE, Failed, InputError, emit, note, print_error

# Prefect logs every task run at INFO; the CLI reports runs itself (-v shows Prefect's lines).
os.environ.setdefault("PREFECT__LOGGING__LEVEL", "WARNING")

_LEVELS = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}


def _error_exit_code(exc: BaseException) -> int:
    """2 for input that is wrong (nothing ran), 1 for work that failed."""
    import pydantic
    import yaml

    from lume_services import errors

    input_errors = (
        errors.EnvironmentNotConfiguredError,
        errors.ExecutorNotAvailableError,
        errors.UnsupportedRunConfigError,
        errors.FlowNotFoundError,
        errors.TaskNotInFlowError,
        errors.ParameterNotInFlowError,
        errors.MissingParameterError,
        errors.ParentFlowNotInFlowsError,
        errors.UnknownMapTypeError,
        errors.MissingDBAttributeError,
        errors.InvalidFlowOfFlowsError,
        errors.DuplicateFlowNameError,
        errors.FlowCycleError,
        errors.MissingExtraError,
        errors.GraphvizNotFoundError,
        errors.ModelNotFoundError,
        errors.DeploymentNotFoundError,
        errors.ProjectNotFoundError,
        errors.DeploymentNotRegisteredError,
        errors.ModelDBConflictError,
        errors.FlowAlreadyDeployedError,
        errors.ModelNotSpecifiedError,
        errors.IncompleteDeploymentError,
        errors.UnknownColumnError,
        InputError,
        yaml.YAMLError,
        pydantic.ValidationError,
        ImportError,
        SyntaxError,
    )
    return USAGE if isinstance(exc, input_errors) else FAILED


def _error_message(exc: BaseException) -> str:
    import pydantic
    import yaml

    if isinstance(exc, pydantic.ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        return f"invalid {exc.model.__name__}: {problems}"
    if isinstance(exc, yaml.YAMLError):
        return f"invalid YAML: {exc}"
    from lume_services.errors import LUMEServicesError

    if isinstance(exc, (LUMEServicesError, InputError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc} (--debug shows the traceback)"


class _Main(click.Group):
    """The root group: turns what a command raises into one error line and its exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # wrong options or arguments: one line, like every error
            where = exc.ctx.command_path if exc.ctx is not None else ctx.command_path
            print_error(f"{exc.format_message()} (see '{where} --help')", ctx)
            if ctx.meta.get("lume.json"):
                emit({"error": {"type": "UsageError", "message": exc.format_message()}, "exit_code": USAGE}, True)
            ctx.exit(USAGE)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Failed:
            ctx.exit(FAILED)
        except BrokenPipeError:
            # stdout closed (`| head`): what was asked is done; say nothing more
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(FAILED if ctx.meta.get("lume.failed") else OK)
        except Exception as exc:  # LUMEServicesError, YAML, pydantic, import errors, the unexpected
            code = _error_exit_code(exc)
            message = _error_message(exc)
            print_error(message, ctx)
            if ctx.meta.get("lume.json"):
                emit({"error": {"type": type(exc).__name__, "message": message}, "exit_code": code}, True)
            ctx.exit(code)


def _set_prefect_logging(level: int) -> None:
    """Prefect's log level, and its lines on stderr (Prefect writes them to stdout), secrets masked."""
    from lume_services.masking import mask_logs

    mask_logs("lume_services")
    if "prefect" not in sys.modules:
        os.environ["PREFECT__LOGGING__LEVEL"] = logging.getLevelName(level)
        return
    prefect_logger = logging.getLogger("prefect")
    prefect_logger.setLevel(level)
    mask_logs("prefect")
    for handler in prefect_logger.handlers:
        if type(handler) is logging.StreamHandler:
            handler.setStream(sys.stderr)


@click.group(cls=_Main)
@click.version_option(package_name="lume-services")
@click.option("-v", "--verbose", count=True, help="More output on stderr: -v shows Prefect's task log lines.")
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr (no progress).")
@click.option("--debug", is_flag=True, envvar="LUME_DEBUG", help="Show the traceback of an error (also LUME_DEBUG=1).")
@click.pass_context
def main(ctx, verbose, quiet, debug):
    """Register, run and compose Prefect 1 flows with lume-services.

    Services are configured from LUME_* environment variables (see
    `lume-services env`); with none set, the embedded local defaults are used.

    Data goes to stdout (with --json: exactly one JSON document); progress,
    logs and errors go to stderr. Exit codes: 0 ok, 1 a run or registration
    failed, 2 wrong usage or invalid input.
    """
    level = -1 if quiet else min(verbose, 1)
    ctx.meta["lume.verbosity"] = level
    ctx.meta["lume.debug"] = debug
    if "prefect" in sys.modules:  # in-process callers (tests, notebooks): restore afterwards
        prefect_logger = logging.getLogger("prefect")
        saved = prefect_logger.level, [(h, h.stream) for h in prefect_logger.handlers if type(h) is logging.StreamHandler]

        def restore():
            prefect_logger.setLevel(saved[0])
            for handler, stream in saved[1]:
                handler.setStream(stream)

        ctx.call_on_close(restore)
    _set_prefect_logging(_LEVELS[level] if verbose < 2 else logging.DEBUG)


@main.command()
@json_option
def env(as_json):
    """List the environment variables lume-services reads (secrets shown as "(set)")."""
    from lume_services.config import env_var_names, shown_env_value

    shown = {}
    for name in env_var_names():
        value = os.environ.get(name)
        shown[name] = shown_env_value(name, value) if value is not None else value

    def text(values):
        for name, value in values.items():
            click.echo(f"{name}={value}" if value is not None else name)

    emit(shown, as_json, text)


@main.command()
@click.option("--diamond", is_flag=True, help="Run the diamond-shaped example instead of the chain.")
@click.option("-p", "--param", "params", multiple=True, help="CHILD-PARAMETER=VALUE (JSON or text).")
@json_option
@click.pass_context
def example(ctx, diamond, params, as_json):
    """Register the example flows (if needed) and run the example flow of flows.

    With no configuration it runs on the embedded local defaults under
    LUME_HOME (~/.lume_services). On a server backend the flows are registered
    and run there; container backends also need the flows' image (see
    docs/docker.md). Prints the results by child as JSON.
    """
    from lume_services.cli.flow_of_flows import run_and_report
    from lume_services.examples import example_parameters, register_example_flows, yaml_path
    from lume_services.flows.flow_of_flows import FlowOfFlows

    registered = register_example_flows()
    if verbosity(ctx) >= 0:
        for name, flow_id in registered.items():
            note(f"registered flow {name!r}: {flow_id}")
    fof = FlowOfFlows.from_yaml(yaml_path("diamond" if diamond else "flow_of_flows"))
    parameters = {**example_parameters(fof), **parse_parameters(params)}
    run_and_report(ctx, fof, parameters, as_json, extra={"registered": registered})


def _add_groups() -> None:
    from lume_services.cli.agent import agent
    from lume_services.cli.docker_compose import docker
    from lume_services.cli.flow_of_flows import flow_of_flows
    from lume_services.cli.flows import flows
    from lume_services.cli.models import deployments, models
    from lume_services.cli.runs import runs

    main.add_command(flows)
    main.add_command(flow_of_flows)
    main.add_command(runs)
    main.add_command(docker)
    main.add_command(models)
    main.add_command(deployments)
    main.add_command(agent)


_add_groups()

if __name__ == "__main__":  # pragma: no cover
    main()
