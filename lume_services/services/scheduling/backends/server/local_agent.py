"""The ``server`` backend: flows on a Prefect 1 Server, run by a Prefect ``LocalAgent`` on this machine."""

from pathlib import Path
from typing import Dict, Optional, Union

from pydantic import SecretStr

from lume_services.services.scheduling.backends.local.backend import LocalRunConfig
from lume_services.services.scheduling.backends.server.backend import ServerBackend
from lume_services.storage import private_dir


class LocalAgentBackend(ServerBackend):
    """Runs flows registered on a Prefect 1 Server with a Prefect ``LocalAgent`` on this machine.

    Flows are kept in Prefect ``Local`` storage under ``storage_dir/flows``
    and task results in ``LocalResult`` files under ``storage_dir/results``,
    private (0700 folders, 0600 files) whatever the umask and checked before
    they are unpickled (:mod:`.private_store`):
    both this process and the agent's flow runs (subprocesses on the same
    machine) read and write there, so ``run_and_return`` returns any
    picklable value. Runs use ``LocalRun`` run configs; a ``LocalRunConfig``
    gives their environment and working directory.

    The agent is a process of its own, started with its own environment (and
    maybe its own home): ``env`` is set in every run's environment, on top of
    the agent's, so that runs use this process's results database and
    filesystems (``config.run_environment`` builds it from the settings).

    Args:
        storage_dir: the shared directory; ``None`` means ``~/.lume_services/server``.
        env: environment variables set in every run (a ``LocalRunConfig``'s own win).
        **kwargs: as for :class:`ServerBackend`.
    """

    run_config_type = LocalRunConfig

    def __init__(self, storage_dir: Union[str, Path, None] = None,
                 env: Optional[Dict[str, Union[str, SecretStr]]] = None, **kwargs):
        super().__init__(**kwargs)
        self.storage_dir = Path(storage_dir or "~/.lume_services/server").expanduser()
        self.env = dict(env or {})

    def build_run_config(self, run_config: Optional[LocalRunConfig] = None, labels=None, image=None):
        """A Prefect ``LocalRun`` from a ``LocalRunConfig`` (env, working dir, labels), with this backend's env."""
        run_config = run_config or LocalRunConfig()
        update = self._run_config_update(run_config, labels, self.env)
        if update:
            run_config = run_config.copy(update=update)
        return run_config.build()

    def build_storage(self, flow, image: Optional[str] = None, project_name: Optional[str] = None):
        """Prefect ``Local`` storage under ``storage_dir/flows`` (no hostname label added).

        lume-services' ``Local`` (:mod:`.private_store`): flow files 0600 in 0700
        folders, checked (owner, mode) by the agent's flow run before it unpickles one.
        """
        from lume_services.services.scheduling.backends.server.private_store import Local  # lazy: prefect

        private_dir(self.storage_dir, "flow_storage")
        return Local(directory=str(self.storage_dir / "flows"), add_default_labels=False)

    def build_result(self, flow):
        """``LocalResult`` files under ``storage_dir/results``: 0600 in 0700 folders, checked before they are read."""
        from lume_services.services.scheduling.backends.server.private_store import LocalResult  # lazy: prefect

        private_dir(self.storage_dir, "task_results")
        return LocalResult(dir=str(self.storage_dir / "results"))

    def build_flow_of_flows_storage(self, image, image_name, image_tag=None, local=None, project_name=None):
        """The same ``Local`` storage as for single flows: the agent here loads it."""
        return self.build_storage(None)

    def storage_places(self):
        """Flows and results are kept under ``storage_dir``."""
        return {"storage_dir": self.storage_dir}
