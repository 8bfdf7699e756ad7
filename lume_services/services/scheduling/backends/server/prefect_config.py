"""Where the Prefect 1 Server and its parts are: ``PrefectConfig``, shaped like Prefect's own config.

The sections and their fields mirror Prefect's ``config.toml`` (``server.host``,
``server.host_port``, ``server.ui.*``, ``server.telemetry.enabled``, ``home_dir``,
``debug``, ``backend``), as LUME-services' settings always did, so that the
``LUME_PREFECT__SERVER__HOST`` / ``LUME_PREFECT__SERVER__HOST_PORT`` / ...
variables of its deployments configure this package unchanged. The knobs this
package adds sit where they belong in that shape: how the server is reached in
``server`` (``graphql_path``, ``check_timeout``, ``recheck_interval``), where a
local agent keeps flows in ``agent`` (``storage_dir``), and how runs are waited
for at the top (``poll_interval``, ``run_timeout``).

The names of the flat layout of earlier versions (``server_host``,
``server_port``, ``graphql_path``, ``agent_host``, ``agent_port``, ``ui_host``,
``ui_port``, ``check_timeout``, ``recheck_interval``, ``storage_dir``) are still
accepted, as keywords and as ``LUME_PREFECT__SERVER_HOST``-style variables,
with a ``DeprecationWarning``.

The classes are re-exported from ``lume_services.services.scheduling.backends.server.backend``
(their home in LUME-services), ``...backends`` and ``lume_services.services.scheduling``.
"""

import warnings
from pathlib import Path
from typing import Literal, Optional

from pydantic import BaseModel, Field, SecretStr, root_validator, validator

from lume_services.services.scheduling.backends.server.connection import check_reachable

#: flat name of earlier versions -> (section, field) of the nested shape
FLAT_NAMES = {
    "server_host": ("server", "host"),
    "server_port": ("server", "host_port"),
    "graphql_path": ("server", "graphql_path"),
    "check_timeout": ("server", "check_timeout"),
    "recheck_interval": ("server", "recheck_interval"),
    "agent_host": ("agent", "host"),
    "agent_port": ("agent", "host_port"),
    "storage_dir": ("agent", "storage_dir"),
    "ui_host": ("ui", "host"),
    "ui_port": ("ui", "host_port"),
}


def _url_with_scheme(value: str) -> str:
    """A host is a URL with its scheme: ``localhost`` alone would be read as a path and never answer."""
    if not str(value).startswith(("http://", "https://")):
        raise ValueError(f"{value!r} needs its scheme: write 'http://{value}' (or https://)")
    return value


class PrefectServerConfig(BaseModel):
    """The Prefect Server's Apollo (GraphQL) endpoint: Prefect's ``server`` section.

    Attributes:
        tag: the Prefect Server image tag deployments run (``prefecthq/server:<tag>``).
        host: URL of the host of the Apollo endpoint.
        host_port: its port.
        host_ip: the address the server binds on its host.
        graphql_path: path of the GraphQL endpoint.
        check_timeout: seconds the reachability check waits for the server.
        recheck_interval: seconds a successful reachability check is trusted;
            the next request to the server after that checks again (``0``:
            before every request), so a server that went away is reported in
            seconds rather than after Prefect's minute of retries.
    """

    tag: str = "core-1.4.1"
    host: str = "http://localhost"
    host_port: int = Field(4200, ge=1, le=65535)
    host_ip: str = "127.0.0.1"
    graphql_path: str = "/graphql"
    check_timeout: float = Field(3.0, gt=0)
    recheck_interval: float = Field(30.0, ge=0)

    _host_has_scheme = validator("host", allow_reuse=True)(_url_with_scheme)


class PrefectUIConfig(BaseModel):
    """The Prefect UI: Prefect's ``server.ui`` section.

    Attributes:
        host: URL of the UI's host.
        host_port: its port.
        host_ip: the address the UI binds on its host.
        apollo_url: the GraphQL URL the UI talks to; not given, a
            ``PrefectConfig`` sets it to its server's (``PrefectConfig.api_url``)
            when it is made.
    """

    host: str = "http://localhost"
    host_port: int = Field(8080, ge=1, le=65535)
    host_ip: str = "127.0.0.1"
    apollo_url: Optional[str] = None

    _host_has_scheme = validator("host", allow_reuse=True)(_url_with_scheme)


class PrefectTelemetryConfig(BaseModel):
    """Prefect Server's telemetry: Prefect's ``server.telemetry`` section.

    Attributes:
        enabled: whether the server sends telemetry.
    """

    enabled: bool = True


class PrefectAgentConfig(BaseModel):
    """The agent that runs flows for a server backend.

    Attributes:
        host: host the agent's health server binds.
        host_port: port of the agent's health server.
        storage_dir: where the ``server`` backend keeps registered flows and task
            results for a ``LocalAgent`` on this machine; ``None`` means
            ``<LUME_HOME>/server``.
        warm_start: ``lume-services agent`` forks each run's process from a
            process that has imported Prefect and lume-services already
            (a new process whenever that one is not there); ``False``: a new
            process per run, as Prefect's agent starts them.
    """

    host: str = "http://localhost"
    host_port: int = Field(5000, ge=1, le=65535)
    storage_dir: Optional[str] = None
    warm_start: bool = True



class PrefectConfig(BaseModel):
    """Where the Prefect 1 Server and its parts are (server, docker, kubernetes backends).

    :meth:`apply` points Prefect (``prefect.config``) at the server in this
    process and saves the backend (``server``) as Prefect's CLI does, so a
    script, notebook or test points Prefect's client, its tasks
    (``create_flow_run`` ...) and an agent started from the same process at
    the server. Set ``write_user_config`` to also write the endpoints to
    Prefect's user configuration (``config.toml``), for Prefect's own CLI.

    Attributes:
        server: the server's endpoint and how it is reached.
        ui: the Prefect UI.
        telemetry: the server's telemetry.
        agent: the agent.
        home_dir: Prefect's home directory; ``None`` keeps Prefect's (``~/.prefect``,
            or ``PREFECT__HOME_DIR``).
        debug: Prefect's debug mode.
        backend: Prefect's backend kind; lume-services runs on ``server``.
        api_key: API key sent to the server, where it needs one (never logged).
        write_user_config: write the endpoints to Prefect's user configuration
            (``<home_dir>/config.toml``) as well (off by default).
        poll_interval: seconds between looks at a run's state while waiting for
            it, when the run has no ``FlowRunConfig.poll_interval``.
        run_timeout: seconds to wait for a run before cancelling it; ``None``
            waits without limit.
        children_in_process: run a composed flow of flows' children in its
            flow-run process where they would run where it runs (the same
            labels and run config, no other image), each still its own flow
            run on the server; ``False``: an agent starts every child.
        logging_level: the level of Prefect's log lines (``DEBUG``, ``INFO``,
            ``WARNING``, ``ERROR``, ``CRITICAL``, any case) on every backend,
            applied when the backend is built; unset keeps Prefect's (INFO).
    """

    server: PrefectServerConfig = PrefectServerConfig()
    ui: PrefectUIConfig = PrefectUIConfig()
    telemetry: PrefectTelemetryConfig = PrefectTelemetryConfig()
    agent: PrefectAgentConfig = PrefectAgentConfig()
    home_dir: Optional[str] = None
    debug: bool = False
    backend: Literal["server", "cloud"] = "server"
    api_key: Optional[SecretStr] = None
    write_user_config: bool = False
    poll_interval: float = Field(1.0, gt=0)
    run_timeout: Optional[float] = Field(3600.0, gt=0)
    children_in_process: bool = True
    logging_level: Optional[Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]] = None

    @validator("logging_level", pre=True)
    def level_in_any_case(cls, v):
        """``warning`` is ``WARNING``: levels are read in any case."""
        return v.strip().upper() if isinstance(v, str) else v

    @root_validator(pre=True)
    def accept_flat_names(cls, values):
        """Move the flat names of earlier versions into their sections, warning that they are deprecated."""
        flat = [name for name in FLAT_NAMES if name in values]
        if not flat:
            return values
        values = dict(values)
        for name in flat:
            section, field = FLAT_NAMES[name]
            given = values.get(section) or {}
            if isinstance(given, BaseModel):
                given = given.dict(exclude_unset=True)
            values[section] = {**given, field: values.pop(name)}
        warnings.warn(
            "PrefectConfig's flat names are deprecated; use "
            + ", ".join(f"{FLAT_NAMES[n][0]}.{FLAT_NAMES[n][1]} (not {n})" for n in flat)
            + ", e.g. LUME_PREFECT__SERVER__HOST_PORT",
            DeprecationWarning,
            stacklevel=2,
        )
        return values

    @root_validator(skip_on_failure=True)
    def ui_talks_to_this_server(cls, values):
        """Set ``ui.apollo_url``, when not given, to this server's GraphQL URL (read back as LUME-services' was)."""
        ui, server = values.get("ui"), values.get("server")
        if ui is not None and server is not None and ui.apollo_url is None:
            values["ui"] = ui.copy(
                update={"apollo_url": f"{server.host.rstrip('/')}:{server.host_port}{server.graphql_path}"}
            )
        return values

    @property
    def api_url(self) -> str:
        """The server's GraphQL URL, e.g. ``http://localhost:4200/graphql``."""
        server = self.server
        return f"{server.host.rstrip('/')}:{server.host_port}{server.graphql_path}"

    @property
    def agent_address(self) -> str:
        """The address of the agent's health server, e.g. ``http://localhost:5000``."""
        return f"{self.agent.host.rstrip('/')}:{self.agent.host_port}"

    @property
    def ui_url(self) -> str:
        """The Prefect UI's URL, e.g. ``http://localhost:8080``."""
        return f"{self.ui.host.rstrip('/')}:{self.ui.host_port}"

    @property
    def apollo_url(self) -> str:
        """The GraphQL URL the UI talks to: ``ui.apollo_url``, or the server's."""
        return self.ui.apollo_url or self.api_url

    def apply(self):
        """Point Prefect at this server in this process and save the backend.

        Sets, on ``prefect.config`` (and the context's config), the backend,
        debug mode, Prefect's home when given, every field of ``server``,
        ``ui`` and ``telemetry`` in Prefect's sections of the same names, the
        server endpoint (which Prefect's client reads as ``cloud.api``) and the
        API key; then saves the backend to ``<home_dir>/backend.toml`` as
        ``prefect backend server`` does. Writes the endpoints to Prefect's
        ``config.toml`` only when ``write_user_config`` is set.

        Returns:
            ``prefect.config``, as applied (``with prefect.context(config=settings.apply()):``).
        """
        import prefect  # lazy: only server backends need Prefect's config
        from prefect.utilities.backend import load_backend, save_backend

        self.apply_in_process()
        if load_backend().get("backend") != self.backend:  # written only when it changes
            save_backend(self.backend)
        if self.write_user_config:
            self.write_prefect_user_config()
        return prefect.config

    def apply_logging(self) -> None:
        """Set Prefect's log level (``logging_level``) in this process and for the runs it starts.

        Sets the ``prefect`` logger (every Prefect logger, a task's too, hangs
        below it), ``prefect.config.logging.level``, and
        ``PREFECT__LOGGING__LEVEL`` for processes started from this one (an
        agent's flow runs, dask workers). Does nothing when ``logging_level`` is ``None``.
        """
        if self.logging_level is None:
            return
        import logging
        import os

        import prefect

        os.environ["PREFECT__LOGGING__LEVEL"] = self.logging_level
        for cfg in {id(c): c for c in (prefect.config, prefect.context.config)}.values():
            cfg.logging.level = self.logging_level
        logging.getLogger("prefect").setLevel(self.logging_level)

    def apply_in_process(self) -> None:
        """Set Prefect's in-process configuration as :meth:`apply` does, writing no file."""
        import prefect

        server = self.server.dict()
        for cfg in {id(c): c for c in (prefect.config, prefect.context.config)}.values():
            cfg.backend = self.backend
            cfg.debug = self.debug
            if self.home_dir:
                cfg.home_dir = str(Path(self.home_dir).expanduser())
            for key, value in server.items():
                setattr(cfg.server, key, value)
            cfg.server.port = self.server.host_port
            cfg.server.endpoint = self.api_url
            for key, value in self.ui.dict().items():
                setattr(cfg.server.ui, key, value)
            cfg.server.ui.port = self.ui.host_port
            cfg.server.ui.endpoint = self.ui_url
            cfg.server.ui.apollo_url = self.apollo_url
            for key, value in self.telemetry.dict().items():
                setattr(cfg.server.telemetry, key, value)
            cfg.cloud.api = self.api_url
            cfg.cloud.graphql = self.api_url
            cfg.cloud.api_key = self.api_key.get_secret_value() if self.api_key else None

    def write_prefect_user_config(self) -> Path:
        """Write the backend and endpoints to Prefect's user configuration.

        Returns:
            The directory written (Prefect's home, ``~/.prefect`` by default).
        """
        import toml

        home = Path(self.home_dir or "~/.prefect").expanduser()
        home.mkdir(parents=True, exist_ok=True)
        (home / "backend.toml").write_text(toml.dumps({"backend": self.backend}))
        config_path = home / "config.toml"
        user = toml.loads(config_path.read_text()) if config_path.exists() else {}
        server = user.setdefault("server", {})
        server.update(host=self.server.host, port=self.server.host_port, endpoint=self.api_url)
        server.setdefault("ui", {}).update(endpoint=self.ui_url, apollo_url=self.apollo_url)
        config_path.write_text(toml.dumps(user))
        return home

    def check_reachable(self) -> None:
        """Check, within ``server.check_timeout`` seconds, that the GraphQL endpoint answers.

        Prefect's client retries a refused connection for about a minute; this
        check fails fast instead.

        Raises:
            ServerUnreachableError: no answer, naming the URL.
        """
        check_reachable(self.api_url, self.server.check_timeout)

    # --- the flat names of earlier versions, read-only ------------------------

    def _flat(self, name: str):
        section, field = FLAT_NAMES[name]
        warnings.warn(
            f"PrefectConfig.{name} is deprecated; use PrefectConfig.{section}.{field}",
            DeprecationWarning,
            stacklevel=3,
        )
        return getattr(getattr(self, section), field)

    server_host = property(lambda self: self._flat("server_host"), doc="Deprecated: ``server.host``.")
    server_port = property(lambda self: self._flat("server_port"), doc="Deprecated: ``server.host_port``.")
    graphql_path = property(lambda self: self._flat("graphql_path"), doc="Deprecated: ``server.graphql_path``.")
    check_timeout = property(lambda self: self._flat("check_timeout"), doc="Deprecated: ``server.check_timeout``.")
    recheck_interval = property(
        lambda self: self._flat("recheck_interval"), doc="Deprecated: ``server.recheck_interval``."
    )
    agent_host = property(lambda self: self._flat("agent_host"), doc="Deprecated: ``agent.host``.")
    agent_port = property(lambda self: self._flat("agent_port"), doc="Deprecated: ``agent.host_port``.")
    storage_dir = property(lambda self: self._flat("storage_dir"), doc="Deprecated: ``agent.storage_dir``.")
    ui_host = property(lambda self: self._flat("ui_host"), doc="Deprecated: ``ui.host``.")
    ui_port = property(lambda self: self._flat("ui_port"), doc="Deprecated: ``ui.host_port``.")
