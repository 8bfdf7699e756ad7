"""A Prefect ``LocalAgent`` that picks runs up quickly: ``lume-services agent``.

Prefect's own ``LocalAgent`` (``prefect agent local start``) polls the server
on a back-off: 0.25 s after a pickup, then 0.5, 1, 2, 4, 8 and 10 s while it
finds nothing, so a run created a while after the last one waits up to 10 s
to start; each run then sends heartbeats from a separate *process* and checks
for a cancellation every 15 s (Prefect's ``config.toml``). For a chain of
flow runs (a flow of flows: the composed run, then each child as its parent
finishes) the waits add up.

:class:`FastLocalAgent` is Prefect's ``LocalAgent`` with one difference of its
own, a constant poll: its class attribute ``_loop_intervals`` (the back-off
table Prefect's ``Agent`` reads, defined on Prefect's class as a class
attribute so that subclasses may set theirs) holds one interval. Its runs get
``PREFECT__CLOUD__HEARTBEAT_MODE=thread`` (heartbeats from a thread of the
flow run, no second Python process per run) and a shorter cancellation check,
through the agent's ``env_vars`` (the same as ``prefect agent local start
--env``). With ``warm_start`` (the default of ``lume-services agent``) it
starts a run's process by forking a process that has imported Prefect and
lume-services already (:mod:`.warm_start`) instead of a new interpreter,
falling back to Prefect's own new process whenever that one is not there.
It also watches each flow-run process it starts: one that ends
while its run is still ``Submitted`` or ``Running`` (killed by a signal, out
of memory) has its run marked ``Failed`` at once, naming the signal or exit
code, with the child runs it ran in itself (:mod:`.ended_processes`); Prefect's
agent only logs a non-zero exit code, once a minute. Nothing in Prefect is
changed; everything else is Prefect's agent.

Kept here rather than in a library: no maintained package ships a Prefect 1
agent with these settings.
"""

import os
import threading
from typing import Dict, Iterable, Optional

#: seconds between the agent's queries for runs (Prefect's: 0.25 s backing off to 10 s)
DEFAULT_POLL_INTERVAL = 0.25
#: seconds between a run's checks for a cancellation (Prefect's default: 15)
DEFAULT_CANCELLATION_CHECK = 2.0


def fast_run_env(heartbeat_mode: str = "thread", cancellation_check: float = DEFAULT_CANCELLATION_CHECK) -> Dict[str, str]:
    """The Prefect settings the agent's runs get: heartbeats from a thread, a shorter cancellation check."""
    return {
        "PREFECT__CLOUD__HEARTBEAT_MODE": heartbeat_mode,
        "PREFECT__CLOUD__CHECK_CANCELLATION_INTERVAL": str(cancellation_check),
    }


def make_fast_local_agent(
    labels: Iterable[str],
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    heartbeat_mode: str = "thread",
    cancellation_check: float = DEFAULT_CANCELLATION_CHECK,
    env: Optional[Dict[str, str]] = None,
    max_polls: Optional[int] = None,
    agent_address: Optional[str] = None,
    show_flow_logs: bool = False,
    warm_start: bool = False,
):
    """A Prefect ``LocalAgent`` that polls every ``poll_interval`` seconds, for ``labels``.

    Prefect must already point at the server (``PrefectConfig.apply()``).

    Args:
        labels: the agent's labels (a run goes to an agent that has all of its labels).
        poll_interval: seconds between queries for runs, whatever was found before.
        heartbeat_mode: the runs' ``PREFECT__CLOUD__HEARTBEAT_MODE`` (``thread``,
            ``process`` as Prefect's default, or ``off``).
        cancellation_check: seconds between the runs' checks for a cancellation.
        env: more variables for the runs (on top of the agent's own environment).
        max_polls: stop after this many queries (``None``: run until stopped).
        agent_address: where the agent serves ``/api/health`` and ``/api/poke``.
        show_flow_logs: show the runs' output in the agent's.
        warm_start: fork each run's process from a process that has imported
            Prefect and lume-services (:mod:`.warm_start`); a new process when that
            one is not ready or gone.

    Returns:
        The agent; ``agent.start()`` runs it in this thread until stopped.

    Raises:
        ValueError: ``poll_interval`` or ``cancellation_check`` is not positive.
    """
    from prefect.agent.local import LocalAgent
    from prefect.run_configs import LocalRun
    from prefect.serialization.storage import StorageSchema
    from prefect.storage import Docker

    from lume_services.services.scheduling.backends.server.warm_start import (
        READY_TIMEOUT,
        WarmStarter,
        WarmStartUnavailable,
    )

    if poll_interval <= 0 or cancellation_check <= 0:
        raise ValueError(
            f"poll_interval ({poll_interval}) and cancellation_check ({cancellation_check}) must be positive seconds"
        )

    class FastLocalAgent(LocalAgent):
        """Prefect's LocalAgent with a constant poll interval (see the module docstring)."""

        _loop_intervals = {0: float(poll_interval)}
        warm_starter = None

        def deploy_flow(self, flow_run) -> str:
            """Start the run's process as Prefect's agent does, and watch it until it ends."""
            info = self._start_process(flow_run)
            pid = int(info.rsplit(" ", 1)[-1])  # Prefect's "PID: <pid>"
            process = next((p for p in list(self.processes) if p.pid == pid), None)
            if process is not None:
                threading.Thread(target=self._watch, args=(process, flow_run.id), daemon=True,
                                 name=f"watch-{pid}").start()
            return info

        def _watch(self, process, flow_run_id: str) -> None:
            """Wait for a flow-run process to end; fail its run when it had not finished."""
            from lume_services.services.scheduling.backends.server.ended_processes import (
                describe_exit,
                ended_message,
                fail_unfinished_run,
                stop_heartbeat_processes,
            )

            returncode = process.wait()
            if returncode != 0:  # a heartbeat process would outlive it, keeping the run alive on the server
                stop_heartbeat_processes(flow_run_id)
            try:
                failed = fail_unfinished_run(self.client, flow_run_id, process.pid, returncode)
            except Exception:  # the server did not answer: its own services age the run
                self.logger.exception(f"Could not check flow run {flow_run_id} after its process "
                                      f"(PID {process.pid}) ended")
                return
            if failed:
                how = ended_message(process.pid, describe_exit(returncode))
                self.logger.error(f"Flow run {flow_run_id}: {how}; ended: {', '.join(failed)}")

        def _start_process(self, flow_run) -> str:
            """Start the run in a process forked from the zygote when it is ready; else as Prefect's agent does.

            Returns:
                Prefect's ``"PID: <pid>"``; the process is in ``self.processes``.
            """
            starter = self.warm_starter
            if starter is None:
                return super().deploy_flow(flow_run)
            if starter.exited():  # crashed or killed: this run as a new process, the next ones warm again
                self.logger.warning("The warm-start process has exited; starting flow run %s as a new process",
                                    flow_run.id)
                starter.restart()
                return super().deploy_flow(flow_run)
            if not starter.ready(wait=READY_TIMEOUT):  # still importing: a new process would import as long
                return super().deploy_flow(flow_run)
            # what Prefect's LocalAgent.deploy_flow checks and gives the new process
            storage = StorageSchema().load(flow_run.flow.storage)
            if isinstance(storage, Docker):
                return super().deploy_flow(flow_run)  # refused there, as Prefect refuses it
            run_config = self._get_run_config(flow_run, LocalRun)
            env = self.populate_env_vars(flow_run, run_config=run_config)
            working_dir = None if run_config is None else run_config.working_dir
            if working_dir and not os.path.exists(working_dir):
                return super().deploy_flow(flow_run)  # refused there, with Prefect's message
            try:
                process = starter.spawn(env, working_dir, show_output=self.show_flow_logs)
            except WarmStartUnavailable as exc:
                self.logger.warning("No warm start for flow run %s (%s); starting a new process", flow_run.id, exc)
                return super().deploy_flow(flow_run)
            self.processes.add(process)
            self.logger.debug("Submitted flow run %s to process PID %s (warm start)", flow_run.id, process.pid)
            return f"PID: {process.pid}"

        def on_shutdown(self) -> None:
            super().on_shutdown()
            if self.warm_starter is not None:
                self.warm_starter.stop()

    agent = FastLocalAgent(
        labels=list(labels),
        env_vars={**fast_run_env(heartbeat_mode, cancellation_check), **(env or {})},
        hostname_label=False,
        max_polls=max_polls,
        agent_address=agent_address,
        show_flow_logs=show_flow_logs,
    )
    if warm_start:
        # the zygote imports what a new run process would, with the import path its runs get
        python_path = [os.getcwd(), *filter(None, [os.environ.get("PYTHONPATH")]), *agent.import_paths]
        agent.warm_starter = WarmStarter({**os.environ, "PYTHONPATH": os.pathsep.join(python_path)}).start()
    return agent
