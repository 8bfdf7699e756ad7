"""Start the services stack with docker compose, wait until each service is ready, stop it.

LUME-services' ``run_docker_services`` context manager and its helpers, with
these differences, each for a reason:

- the compose command is found, not assumed: Docker's compose plugin
  (``docker compose``) or the separate ``docker-compose`` command, whichever
  runs; with neither, :class:`~lume_services.errors.ComposeNotAvailableError`
  says what was tried (LUME-services ran ``docker-compose`` through a shell);
- commands are argument lists run without a shell, and a failing one raises
  :class:`~lume_services.errors.ComposeCommandError` with its output;
- the readiness checks speak each service's own protocol with a timeout,
  needing no client library: MariaDB/MySQL must send its handshake packet,
  MongoDB must answer ``ping`` (through pymongo when it is installed; the
  ``mongodb`` extra), the Prefect Server's GraphQL endpoint must answer
  ``query { hello }``; each check returns why a service is not ready, and
  services that are not ready in time are named in
  :class:`~lume_services.errors.ServicesNotReadyError` after the stack is stopped;
- the compose variables (ports, passwords) are set from the LUME_* settings,
  so the services listen where lume-services will look for them.

The checks are hand-written for MySQL and kept small on purpose: a server's
greeting is the whole protocol needed to know it accepts connections, and
pymysql is not a dependency of lume-services.
"""

import contextlib
import logging
import os
import re
import shlex
import socket
import struct
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from lume_services.docker.files import DOCKER_COMPOSE
from lume_services.errors import ComposeCommandError, ComposeNotAvailableError, ServicesNotReadyError

logger = logging.getLogger(__name__)

_BASE_SETUP_COMMAND = ["up", "-d"]
_UI_SETUP_COMMAND = ["--profile", "ui", "up", "-d"]
_CLEANUP_COMMANDS = [["down", "--volumes", "--remove-orphans"]]
_PERSIST_CLEANUP_COMMANDS = [["stop"]]

#: Seconds each readiness check may take.
CHECK_TIMEOUT = 5.0

# the compose file's published ports when no setting changes them
DEFAULT_PORTS = {"mysql": 3306, "mongodb": 27017, "prefect": 4200}


# --- the compose command ---------------------------------------------------------------


def _runs(command: List[str]) -> Optional[str]:
    """None when ``command`` runs and exits 0, else why not."""
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        return "not found on PATH"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run ({exc})"
    if proc.returncode != 0:
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
        return f"exit {proc.returncode}" + (f" ({last[0]})" if last else "")
    return None


def compose_command() -> List[str]:
    """The docker compose command of this machine: ``["docker", "compose"]`` or ``["docker-compose"]``.

    Raises:
        ComposeNotAvailableError: neither runs; names what each answered.
    """
    tried: Dict[str, str] = {}
    for command in (["docker", "compose"], ["docker-compose"]):
        why = _runs(command + ["version"])
        if why is None:
            return command
        tried[" ".join(command)] = why
    raise ComposeNotAvailableError(tried)


def execute(command: Union[str, Sequence[str]], success_codes: Sequence[int] = (0,),
            env: Optional[Dict[str, str]] = None) -> bytes:
    """Run a command (a list, or a string split as a shell would, but run without one); return its output.

    Raises:
        ComposeCommandError: it exited with a code not in ``success_codes``.
    """
    args = shlex.split(command) if isinstance(command, str) else list(command)
    try:
        proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              env={**os.environ, **(env or {})})
    except FileNotFoundError as exc:
        raise ComposeCommandError(args, 127, str(exc)) from exc
    if proc.returncode not in success_codes:
        raise ComposeCommandError(args, proc.returncode, proc.stdout.decode("utf-8", "replace"))
    return proc.stdout


def str_to_list(arg: Union[str, Sequence[str]]) -> List[str]:
    """A single compose file as a list of one (LUME-services' helper)."""
    return list(arg) if isinstance(arg, (list, tuple)) else [arg]


@dataclass(frozen=True)
class DockerComposeExecutor:
    """Runs compose subcommands on a project's compose files.

    Args:
        compose_files: the compose file(s).
        compose_project_name: the project name (``-p``).
        command: the compose command; found with :func:`compose_command` when not given.
        env: variables the compose files read (ports, passwords).
    """

    compose_files: Union[str, List[str]]
    compose_project_name: str
    command: Optional[List[str]] = None
    env: Dict[str, str] = field(default_factory=dict)

    def command_for(self, subcommand: Union[str, Sequence[str]]) -> List[str]:
        """The full command line of a subcommand (e.g. ``"up -d"`` or ``["up", "-d"]``)."""
        args = list(self.command) if self.command else compose_command()
        for compose_file in str_to_list(self.compose_files):
            args += ["-f", str(compose_file)]
        args += ["-p", self.compose_project_name]
        return args + (shlex.split(subcommand) if isinstance(subcommand, str) else list(subcommand))

    def execute(self, subcommand: Union[str, Sequence[str]]) -> bytes:
        """Run a subcommand; return its output.

        Raises:
            ComposeCommandError: it failed.
            ComposeNotAvailableError: no compose command runs here.
        """
        return execute(self.command_for(subcommand), env=self.env)


def get_setup_command(ui: bool = False) -> List[str]:
    """The compose subcommand that starts the stack (with the Prefect UI when ``ui``)."""
    return list(_UI_SETUP_COMMAND if ui else _BASE_SETUP_COMMAND)


def get_cleanup_commands(persist: bool = False) -> List[List[str]]:
    """The compose subcommands that stop the stack: removing its volumes, or keeping them when ``persist``."""
    return [list(c) for c in (_PERSIST_CLEANUP_COMMANDS if persist else _CLEANUP_COMMANDS)]


def get_docker_ip() -> str:
    """The address published ports are reached at: ``DOCKER_HOST``'s host for ``tcp://``, else 127.0.0.1.

    Raises:
        ValueError: ``DOCKER_HOST`` is neither empty, ``unix://...`` nor ``tcp://host:port``.
    """
    docker_host = os.environ.get("DOCKER_HOST", "").strip()
    if not docker_host or docker_host.startswith("unix://"):
        return "127.0.0.1"
    match = re.match(r"^tcp://(.+?):\d+$", docker_host)
    if not match:
        raise ValueError(f"DOCKER_HOST {docker_host!r} is neither unix://PATH nor tcp://HOST:PORT")
    return match.group(1)


# --- readiness -------------------------------------------------------------------------


def mysql_status(host: str, port: int, timeout: float = CHECK_TIMEOUT) -> Optional[str]:
    """None when a MySQL/MariaDB server at host:port greets a new connection; else why not.

    A server ready for clients sends its handshake (protocol version 10) first;
    one still starting, or refusing this host, sends an error packet or nothing.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            header = _recv_exactly(sock, 4)
            length = int.from_bytes(header[:3], "little")
            payload = _recv_exactly(sock, min(length, 1024))
    except OSError as exc:
        return f"no MySQL server at {host}:{port} ({exc.strerror or exc})"
    if payload[:1] == b"\xff":
        return f"the server at {host}:{port} refuses connections: {payload[9:].decode('utf-8', 'replace')}"
    if payload[:1] != b"\x0a":
        return f"the server at {host}:{port} does not speak the MySQL protocol (first byte {payload[:1]!r})"
    return None


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionResetError(f"connection closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def mongodb_status(host: str, port: int, timeout: float = CHECK_TIMEOUT) -> Optional[str]:
    """None when a MongoDB server at host:port answers ``ping``; else why not."""
    try:
        import pymongo
    except ImportError:
        return _mongodb_status_by_hand(host, port, timeout)
    ms = int(timeout * 1000)
    client = pymongo.MongoClient(host=host, port=port, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms,
                                 socketTimeoutMS=ms, directConnection=True)
    try:
        client.admin.command("ping")
    except Exception as exc:  # pymongo's errors: unreachable, refused, not a MongoDB
        return f"no MongoDB answer at {host}:{port} ({str(exc).split(', Timeout')[0]})"
    finally:
        client.close()
    return None


def _mongodb_status_by_hand(host: str, port: int, timeout: float) -> Optional[str]:
    """``ping`` as one OP_MSG (without pymongo): a reply with ``ok`` 1 means ready."""
    # {"ping": 1, "$db": "admin"} in BSON, by hand
    doc = (b"\x10ping\x00" + struct.pack("<i", 1) + b"\x02$db\x00" + struct.pack("<i", 6) + b"admin\x00")
    bson = struct.pack("<i", len(doc) + 5) + doc + b"\x00"
    message = struct.pack("<I", 0) + b"\x00" + bson
    header = struct.pack("<iiii", 16 + len(message), 1, 0, 2013)
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(header + message)
            reply_header = _recv_exactly(sock, 16)
            length = struct.unpack("<i", reply_header[:4])[0]
            reply = _recv_exactly(sock, length - 16)
    except OSError as exc:
        return f"no MongoDB answer at {host}:{port} ({exc.strerror or exc})"
    if b"ok\x00" not in reply:
        return f"the server at {host}:{port} did not answer ping as MongoDB does"
    return None


def prefect_status(api_url: str, timeout: float = CHECK_TIMEOUT) -> Optional[str]:
    """None when the Prefect Server's GraphQL endpoint answers ``query { hello }``; else why not."""
    from lume_services.errors import ServerUnreachableError
    from lume_services.services.scheduling.backends.server.connection import check_reachable

    try:
        check_reachable(api_url, timeout)
    except ServerUnreachableError as exc:
        return str(exc)
    return None


def service_addresses(settings: Any) -> Dict[str, Union[Tuple[str, int], str]]:
    """Where each service is reached: (host, port) of MySQL and MongoDB, the Prefect Server's API URL.

    Taken from the settings where they name the service, else the compose file's defaults on
    :func:`get_docker_ip`.
    """
    ip = get_docker_ip()
    model_db = getattr(settings, "model_db", None)
    results_db = getattr(settings, "results_db", None)
    mongodb = getattr(results_db, "mongodb", None)
    return {
        "mysql": (getattr(model_db, "host", None) or ip, int(getattr(model_db, "port", None) or DEFAULT_PORTS["mysql"])),
        "mongodb": (_bare_host(getattr(mongodb, "host", None)) or ip,
                    int(getattr(mongodb, "port", None) or DEFAULT_PORTS["mongodb"])),
        "prefect": settings.prefect.api_url,
    }


def _bare_host(host: Optional[str]) -> Optional[str]:
    if not host:
        return None
    return re.sub(r"^mongodb(\+srv)?://", "", host).rsplit("@", 1)[-1].split(":")[0].split("/")[0] or None


def service_status(settings: Any, timeout: float = CHECK_TIMEOUT) -> Dict[str, Optional[str]]:
    """Each service's readiness: None when ready, else why not."""
    addresses = service_addresses(settings)
    return {
        "mysql": mysql_status(*addresses["mysql"], timeout=timeout),  # type: ignore[misc]
        "mongodb": mongodb_status(*addresses["mongodb"], timeout=timeout),  # type: ignore[misc]
        "prefect": prefect_status(addresses["prefect"], timeout=timeout),  # type: ignore[arg-type]
    }


def check_mysql_ready(lume_services_settings: Any) -> bool:
    """Whether the model database (MySQL/MariaDB) greets a connection (LUME-services' check)."""
    why = mysql_status(*service_addresses(lume_services_settings)["mysql"])  # type: ignore[misc]
    if why:
        logger.info("mysql not ready: %s", why)
    return why is None


def check_mongodb_ready(lume_services_settings: Any) -> bool:
    """Whether the results database (MongoDB) answers ``ping`` (LUME-services' check)."""
    why = mongodb_status(*service_addresses(lume_services_settings)["mongodb"])  # type: ignore[misc]
    if why:
        logger.info("mongodb not ready: %s", why)
    return why is None


def check_prefect_ready(lume_services_settings: Any) -> bool:
    """Whether the Prefect Server answers ``query { hello }`` (LUME-services' check)."""
    why = prefect_status(lume_services_settings.prefect.api_url)
    if why:
        logger.info("prefect not ready: %s", why)
    return why is None


_HEALTHCHECKS: Dict[str, Callable[[Any], bool]] = {
    "mysql": check_mysql_ready,
    "mongodb": check_mongodb_ready,
    "prefect": check_prefect_ready,
}


@dataclass(frozen=True)
class Services:
    """The running stack: its published ports and the wait until it is ready.

    Args:
        docker_compose: the executor of the stack's compose project.
    """

    docker_compose: DockerComposeExecutor
    _ports: Dict[Tuple[str, int], int] = field(default_factory=dict, compare=False)

    def port_for(self, service: str, container_port: int) -> int:
        """The host port a service's container port is published on (``docker compose port``)."""
        if (service, container_port) not in self._ports:
            output = self.docker_compose.execute(["port", service, str(container_port)])
            endpoint = output.decode("utf-8").strip().splitlines()[-1:] or [""]
            if ":" not in endpoint[0]:
                raise ComposeCommandError(self.docker_compose.command_for(["port", service, str(container_port)]),
                                          0, output.decode("utf-8", "replace"))
            self._ports[(service, container_port)] = int(endpoint[0].rsplit(":", 1)[1])
        return self._ports[(service, container_port)]

    def wait_until_responsive(
        self,
        lume_services_settings: Any,
        timeout: float,
        pause: float,
        clock: Callable[[], float] = time.monotonic,
        services: Sequence[str] = ("mysql", "mongodb", "prefect"),
    ) -> None:
        """Check the services every ``pause`` seconds until all are ready.

        Raises:
            ServicesNotReadyError: some were not ready within ``timeout`` seconds; names each and why.
        """
        wait_until_ready(lume_services_settings, timeout, pause, clock, services)


def wait_until_ready(
    settings: Any,
    timeout: float,
    pause: float,
    clock: Callable[[], float] = time.monotonic,
    services: Sequence[str] = ("mysql", "mongodb", "prefect"),
) -> None:
    """Check the services every ``pause`` seconds until all are ready (see :meth:`Services.wait_until_responsive`)."""
    start = clock()
    pending = list(services)
    reasons: Dict[str, str] = {}
    while True:
        statuses = service_status(settings, timeout=min(CHECK_TIMEOUT, max(timeout, 0.1)))
        reasons = {name: why for name in pending if (why := statuses[name]) is not None}
        pending = list(reasons)
        if not pending:
            return
        if clock() - start >= timeout:
            raise ServicesNotReadyError(reasons, timeout=timeout)
        time.sleep(pause)


def compose_environment(settings: Any) -> Dict[str, str]:
    """The compose file's variables from the LUME_* settings: where each service listens, its credentials."""
    env: Dict[str, str] = {
        "LUME_PREFECT__SERVER__HOST_PORT": str(settings.prefect.server.host_port),
        "LUME_PREFECT__UI__HOST_PORT": str(settings.prefect.ui.host_port),
        "PREFECT_SERVER_TAG": str(settings.prefect.server.tag),
    }
    mongodb = getattr(getattr(settings, "results_db", None), "mongodb", None)
    if mongodb is not None:
        env.update(
            LUME_RESULTS_DB__MONGODB__PORT=str(mongodb.port),
            LUME_RESULTS_DB__MONGODB__DATABASE=str(mongodb.database),
            MONGO_USER=str(mongodb.username),
            MONGO_PASSWORD=mongodb.password.get_secret_value(),
        )
    model_db = getattr(settings, "model_db", None)
    if model_db is not None:
        for name in ("port", "database"):
            if getattr(model_db, name, None) is not None:
                env[f"LUME_MODEL_DB__{name.upper()}"] = str(getattr(model_db, name))
        password = getattr(model_db, "password", None)
        if password is not None:
            env["LUME_MODEL_DB__PASSWORD"] = (
                password.get_secret_value() if hasattr(password, "get_secret_value") else str(password)
            )
    return env


def stop_services(docker_compose: DockerComposeExecutor, persist: bool = False) -> List[str]:
    """Run the cleanup commands, each even when an earlier one failed; return the failures."""
    failures = []
    for command in get_cleanup_commands(persist):
        try:
            docker_compose.execute(command)
        except (ComposeCommandError, ComposeNotAvailableError) as exc:
            logger.warning("cleanup %s failed: %s", command, exc)
            failures.append(str(exc))
    return failures


@contextlib.contextmanager
def run_docker_services(
    lume_services_settings: Any,
    timeout: float,
    pause: float,
    project_name: str = "lume-services",
    ui: bool = False,
    persist: bool = False,
    docker_compose: Optional[DockerComposeExecutor] = None,
) -> Iterator[Services]:
    """Start the stack, wait until every service is ready, yield it; stop it on leaving.

    Args:
        lume_services_settings: where lume-services looks for the services (ports, credentials).
        timeout: seconds the services have to become ready.
        pause: seconds between readiness checks.
        project_name: the compose project name.
        ui: start the Prefect UI too.
        persist: keep the volumes (``stop``) rather than remove them (``down --volumes``).
        docker_compose: the executor to use (by default the packaged compose file with the
            machine's compose command and variables from the settings).

    Raises:
        ComposeNotAvailableError: no compose command here (nothing was started).
        ComposeCommandError: starting failed (what started was stopped).
        ServicesNotReadyError: not ready in time (the stack was stopped).
    """
    if docker_compose is None:
        docker_compose = DockerComposeExecutor(DOCKER_COMPOSE, project_name, command=compose_command(),
                                               env=compose_environment(lume_services_settings))
    services = Services(docker_compose)
    try:
        docker_compose.execute(get_setup_command(ui))
        services.wait_until_responsive(lume_services_settings, timeout, pause)
        yield services
    finally:
        stop_services(docker_compose, persist)
        logger.info("services of %s stopped", project_name)
