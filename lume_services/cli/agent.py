"""``lume-services agent``: run a Prefect LocalAgent that picks runs up quickly (see docs/server.md)."""

import click


@click.command("agent")
@click.option("-l", "--label", "labels", multiple=True, default=("lume-services",), show_default=True,
              help="An agent label (repeat for more); runs go to an agent that has all their labels.")
@click.option("--poll-interval", default=0.25, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Seconds between queries for runs (Prefect's agent backs off from 0.25 s to 10 s).")
@click.option("--heartbeat", "heartbeat_mode", type=click.Choice(["thread", "process", "off"]), default="thread",
              show_default=True, help="How runs send heartbeats (Prefect's default: a process per run).")
@click.option("--cancellation-check", default=2.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Seconds between a run's checks for a cancellation (Prefect's default: 15).")
@click.option("--agent-address", default=None, help="Serve /api/health and /api/poke here (http://host:port).")
@click.option("--max-polls", default=None, type=click.IntRange(min=1), help="Stop after this many queries.")
@click.option("--show-flow-logs", is_flag=True, help="Show the runs' output.")
@click.option("--warm-start/--no-warm-start", default=None,
              help="Fork each run's process from one that has imported Prefect and lume-services "
                   "[default: LUME_PREFECT__AGENT__WARM_START, true].")
def agent(labels, poll_interval, heartbeat_mode, cancellation_check, agent_address, max_polls, show_flow_logs,
          warm_start):
    """Run a Prefect LocalAgent for the server backend, with a short poll.

    The agent is Prefect's LocalAgent pointed at the configured server
    (LUME_PREFECT__SERVER__*), polling every --poll-interval seconds instead
    of backing off, its runs sending heartbeats from a thread. A run whose
    process is killed before it finished is marked Failed at once, naming the
    signal, with the child runs that process ran. Runs inherit
    this process's environment: give it the secrets runs need
    (LUME_RESULTS_DB__MONGODB__PASSWORD, ...), which never travel with runs.
    Each run's process is forked from a process that has imported Prefect
    and lume-services already (a warm start; a new process whenever that one
    is not there), unless --no-warm-start or LUME_PREFECT__AGENT__WARM_START=false.
    Runs until stopped (Ctrl-C).
    """
    from lume_services.config import LUMEServicesSettings
    from lume_services.services.scheduling.backends.server.fast_agent import make_fast_local_agent

    settings = LUMEServicesSettings().prefect
    settings.apply()
    make_fast_local_agent(
        labels, poll_interval=poll_interval, heartbeat_mode=heartbeat_mode,
        cancellation_check=cancellation_check, max_polls=max_polls, agent_address=agent_address,
        show_flow_logs=show_flow_logs, warm_start=settings.agent.warm_start if warm_start is None else warm_start,
    ).start()
