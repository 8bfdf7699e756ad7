"""``lume-services docker``: start, check and stop the services stack (LUME-services' ``docker`` group).

``start-services`` starts the packaged compose file's services, waits until
MariaDB, MongoDB and the Prefect Server are ready, and keeps them until Ctrl+C
(or, with ``--detach``, leaves them running for ``stop-services``);
``status`` checks the services without starting anything.
"""

import time

import click

from lume_services.cli._options import json_option
from lume_services.cli._output import emit, note


@click.group()
def docker():
    """Start, check and stop the LUME-services stack with docker compose.

    The stack is the packaged compose file (lume_services.docker.files): a
    Prefect 1 Server with a Docker agent, MongoDB for results and MariaDB for
    the model database, on the ports the LUME_* settings name.
    """


def wait() -> None:
    """One beat of the foreground wait of ``start-services`` (Ctrl+C ends it)."""
    time.sleep(2)


def _settings():
    from lume_services.config import LUMEServicesSettings

    return LUMEServicesSettings()


@docker.command(help="Start the services, wait until they are ready, stop them on Ctrl+C.")
@click.option("--project_name", "--project-name", "project_name", default="lume-services", show_default=True,
              help="Name of the docker compose project.")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds the services have to become ready.")
@click.option("--pause", default=1.0, show_default=True, help="Seconds between readiness checks.")
@click.option("--persist", is_flag=True, default=False, help="Keep the services' data volumes when stopping.")
@click.option("--ui/--no-ui", default=True, show_default=True, help="Start the Prefect UI too.")
@click.option("--detach", is_flag=True, help="Leave the services running (stop them with stop-services).")
@json_option
def start_services(project_name, timeout, pause, persist, ui, detach, as_json):
    """Start the services (LUME-services' ``start-services``)."""
    from lume_services.docker import compose
    from lume_services.docker.files import DOCKER_COMPOSE

    settings = _settings()
    executor = compose.DockerComposeExecutor(DOCKER_COMPOSE, project_name, command=compose.compose_command(),
                                             env=compose.compose_environment(settings))
    addresses = {k: v if isinstance(v, str) else f"{v[0]}:{v[1]}"
                 for k, v in compose.service_addresses(settings).items()}
    if detach:
        try:
            executor.execute(compose.get_setup_command(ui))
            compose.wait_until_ready(settings, timeout, pause)
        except BaseException:
            compose.stop_services(executor, persist)
            raise
        emit({"project_name": project_name, "services": addresses, "running": True}, as_json,
             lambda d: click.echo(f"All services started and passing health checks ({project_name}); "
                                  f"stop them with: lume-services docker stop-services --project-name {project_name}"))
        return
    try:
        with compose.run_docker_services(settings, timeout, pause, project_name=project_name, ui=ui,
                                         persist=persist, docker_compose=executor):
            note("All services started and passing health checks; Ctrl+C stops them.")
            while True:
                wait()
    except KeyboardInterrupt:
        pass
    emit({"project_name": project_name, "services": addresses, "running": False}, as_json,
         lambda d: click.echo("Shutting down LUME-services: services stopped."))


@docker.command("stop-services", help="Stop services started with start-services --detach.")
@click.option("--project_name", "--project-name", "project_name", default="lume-services", show_default=True,
              help="Name of the docker compose project.")
@click.option("--persist", is_flag=True, default=False, help="Keep the services' data volumes.")
@json_option
def stop_services(project_name, persist, as_json):
    """Stop the services of a compose project."""
    from lume_services.docker import compose
    from lume_services.docker.files import DOCKER_COMPOSE
    executor = compose.DockerComposeExecutor(DOCKER_COMPOSE, project_name, command=compose.compose_command(),
                                             env=compose.compose_environment(_settings()))
    for command in compose.get_cleanup_commands(persist):
        executor.execute(command)  # a failure is the command's error line
    emit({"project_name": project_name, "running": False}, as_json,
         lambda d: click.echo(f"services of {project_name} stopped"))


@docker.command(help="Check whether each service is ready (starts nothing).")
@click.option("--timeout", default=5.0, show_default=True, help="Seconds each check may take.")
@json_option
@click.pass_context
def status(ctx, timeout, as_json):
    """Check MariaDB, MongoDB and the Prefect Server where the settings say they are."""
    from lume_services.cli._output import Failed, mark_failed
    from lume_services.docker import compose

    statuses = compose.service_status(_settings(), timeout=timeout)
    result = {name: {"ready": why is None, "reason": why} for name, why in statuses.items()}

    def text(values):
        for name, value in values.items():
            click.echo(f"{name}: ready" if value["ready"] else f"{name}: not ready ({value['reason']})")

    failed = any(why is not None for why in statuses.values())
    if failed:
        mark_failed(ctx)
    emit(result, as_json, text)
    if failed:
        raise Failed()


start_services.name = "start-services"

#: 57027da's name of ``start-services`` (its command was ``start-docker-services``); the same command.
start_docker_services = start_services
docker.add_command(start_services, "start-docker-services")
