"""``lume-services docker``: the compose command it finds, the commands it runs, the readiness checks.

No image is pulled: the compose command is a script on PATH that records its
arguments (a real process), the readiness checks run against real local
listeners (a MySQL greeting, the Prefect Server protocol double) and closed ports.
"""

import json
import os
import socket
import stat
import struct
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from fixtures.model_db import mariadb_config, mariadb_database, mariadb_databases, mariadb_url  # noqa: F401
from lume_services.cli.main import main
from lume_services.config import LUMEServicesSettings
from lume_services.docker import compose
from lume_services.docker.files import DOCKER_COMPOSE
from lume_services.errors import ComposeCommandError, ComposeNotAvailableError, ServicesNotReadyError


def _fake_command(folder: Path, name: str, log: Path, exit_code: int = 0, version_ok: bool = True) -> Path:
    """A compose command that appends its arguments to ``log`` as one JSON line."""
    folder.mkdir(exist_ok=True)
    script = folder / name
    script.write_text(
        "#!/bin/sh\n"
        f"if [ \"$1\" = version ] || [ \"$2\" = version ]; then exit {0 if version_ok else 1}; fi\n"
        f"python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' \"$@\" >> {log}\n"
        f"exit {exit_code}\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


@pytest.fixture
def fake_compose(tmp_path, monkeypatch):
    """``docker-compose`` on PATH (and a ``docker`` without the compose plugin); returns the log of calls."""
    log = tmp_path / "calls.jsonl"
    bin_dir = tmp_path / "bin"
    _fake_command(bin_dir, "docker", log, version_ok=False)
    _fake_command(bin_dir, "docker-compose", log)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin")

    def calls():
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    return calls


class _Listener:
    """A TCP server on 127.0.0.1 that sends ``greeting`` to each connection and closes it."""

    def __init__(self, greeting: bytes):
        self.greeting = greeting
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.sendall(self.greeting)

    def close(self):
        self.sock.close()


def _packet(payload: bytes, seq: int = 0) -> bytes:
    return len(payload).to_bytes(3, "little") + bytes([seq]) + payload


MARIADB_GREETING = _packet(b"\x0a" + b"10.11.6-MariaDB\x00" + struct.pack("<I", 7) + b"12345678\x00" + b"\x00" * 20)


@pytest.fixture
def mysql_listener():
    listener = _Listener(MARIADB_GREETING)
    yield listener
    listener.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the compose command ------------------------------------------------------------------


def test_the_separate_docker_compose_command_is_used_when_docker_has_no_compose_plugin(fake_compose):
    assert compose.compose_command() == ["docker-compose"]


def test_the_compose_plugin_is_preferred_when_docker_has_it(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    _fake_command(bin_dir, "docker", tmp_path / "log")
    monkeypatch.setenv("PATH", str(bin_dir))
    assert compose.compose_command() == ["docker", "compose"]


def test_no_compose_command_is_an_error_naming_what_was_tried(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ComposeNotAvailableError) as caught:
        compose.compose_command()
    assert set(caught.value.tried) == {"docker compose", "docker-compose"}
    assert "apt-get install docker-compose" in str(caught.value)


def test_commands_name_the_packaged_compose_file_and_the_project():
    executor = compose.DockerComposeExecutor(DOCKER_COMPOSE, "proj", command=["docker-compose"])
    assert executor.command_for("up -d") == ["docker-compose", "-f", DOCKER_COMPOSE, "-p", "proj", "up", "-d"]
    assert compose.get_setup_command(ui=True) == ["--profile", "ui", "up", "-d"]
    assert compose.get_cleanup_commands(persist=True) == [["stop"]]
    assert compose.get_cleanup_commands() == [["down", "--volumes", "--remove-orphans"]]


def test_a_failing_compose_command_raises_with_its_exit_code_and_output(tmp_path):
    script = _fake_command(tmp_path / "bin", "docker-compose", tmp_path / "log", exit_code=3)
    executor = compose.DockerComposeExecutor(DOCKER_COMPOSE, "proj", command=[str(script)])
    with pytest.raises(ComposeCommandError) as caught:
        executor.execute(["up", "-d"])
    assert caught.value.returncode == 3 and caught.value.command[-2:] == ["up", "-d"]


def test_the_compose_variables_come_from_the_settings():
    settings = LUMEServicesSettings(
        prefect={"server": {"host_port": 4300}},
        results_db={"type": "mongodb", "mongodb": {"host": "localhost", "port": 27100, "username": "u",
                                                    "password": "secret"}},
    )
    env = compose.compose_environment(settings)
    assert env["LUME_PREFECT__SERVER__HOST_PORT"] == "4300"
    assert (env["LUME_RESULTS_DB__MONGODB__PORT"], env["MONGO_USER"], env["MONGO_PASSWORD"]) == ("27100", "u", "secret")


def test_docker_host_over_tcp_names_where_published_ports_are(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.1.2.3:2375")
    assert compose.get_docker_ip() == "10.1.2.3"
    monkeypatch.setenv("DOCKER_HOST", "ssh://somewhere")
    with pytest.raises(ValueError, match="ssh://somewhere"):
        compose.get_docker_ip()


# --- readiness checks -------------------------------------------------------------------------


def test_a_mysql_server_is_ready_when_it_sends_its_handshake(mysql_listener):
    assert compose.mysql_status("127.0.0.1", mysql_listener.port, timeout=2) is None


def test_a_mysql_server_refusing_connections_is_not_ready_and_says_why():
    listener = _Listener(_packet(b"\xff" + struct.pack("<H", 1130) + b"#HY000" + b"Host 'x' is not allowed"))
    try:
        why = compose.mysql_status("127.0.0.1", listener.port, timeout=2)
    finally:
        listener.close()
    assert "refuses connections" in why and "is not allowed" in why


def test_a_closed_port_is_not_a_mysql_server():
    assert "no MySQL server" in compose.mysql_status("127.0.0.1", _closed_port(), timeout=1)


def test_a_server_that_says_nothing_is_not_ready_within_the_timeout():
    server = socket.create_server(("127.0.0.1", 0))  # accepts (backlog), never greets
    try:
        why = compose.mysql_status("127.0.0.1", server.getsockname()[1], timeout=0.3)
    finally:
        server.close()
    assert "timed out" in why


def test_another_protocol_is_not_a_mysql_server():
    listener = _Listener(_packet(b"HTTP/1.1 400"))
    try:
        assert "does not speak the MySQL protocol" in compose.mysql_status("127.0.0.1", listener.port, timeout=2)
    finally:
        listener.close()


def test_mongodb_is_not_ready_on_a_closed_port():
    assert "no MongoDB answer" in compose.mongodb_status("127.0.0.1", _closed_port(), timeout=0.5)


def test_the_prefect_server_is_ready_when_its_graphql_endpoint_answers_hello(prefect_protocol_double):
    double = prefect_protocol_double
    assert compose.prefect_status(f"http://127.0.0.1:{double.port}{double.path}", timeout=2) is None


def test_the_prefect_server_is_not_ready_on_a_closed_port():
    assert "connection refused" in compose.prefect_status(f"http://127.0.0.1:{_closed_port()}/graphql", timeout=1)


def _settings(prefect_port, mysql_port, mongodb_port=None):
    return LUMEServicesSettings(
        prefect={"server": {"host": "http://127.0.0.1", "host_port": prefect_port}},
        model_db={"host": "127.0.0.1", "port": mysql_port, "user": "root", "password": "root",
                  "database": "model_db"},
        results_db={"type": "mongodb", "mongodb": {"host": "127.0.0.1", "port": mongodb_port or _closed_port(),
                                                    "username": "u", "password": "p"}},
    )


def test_waiting_returns_once_the_services_are_ready(prefect_protocol_double, mysql_listener):
    settings = _settings(prefect_protocol_double.port, mysql_listener.port)
    compose.wait_until_ready(settings, timeout=5, pause=0.05, services=["mysql", "prefect"])


def test_waiting_names_each_service_not_ready_in_time(prefect_protocol_double, mysql_listener):
    settings = _settings(prefect_protocol_double.port, mysql_listener.port)
    with pytest.raises(ServicesNotReadyError) as caught:
        compose.wait_until_ready(settings, timeout=0.2, pause=0.05)
    assert list(caught.value.failed) == ["mongodb"]


def test_the_originals_checks_answer_true_or_false(prefect_protocol_double, mysql_listener):
    settings = _settings(prefect_protocol_double.port, mysql_listener.port)
    assert compose.check_mysql_ready(settings) and compose.check_prefect_ready(settings)
    assert not compose.check_mongodb_ready(settings)


# --- start and stop ------------------------------------------------------------------------------


def test_services_not_ready_are_stopped_and_named(fake_compose, prefect_protocol_double, mysql_listener):
    settings = _settings(prefect_protocol_double.port, mysql_listener.port)
    with pytest.raises(ServicesNotReadyError, match="mongodb"):
        with compose.run_docker_services(settings, timeout=0.2, pause=0.05, project_name="p1"):
            pytest.fail("the services were not ready")
    calls = fake_compose()
    assert [c[4:] for c in calls] == [["up", "-d"], ["down", "--volumes", "--remove-orphans"]]
    assert calls[0][:4] == ["-f", DOCKER_COMPOSE, "-p", "p1"]


def test_persisted_services_are_stopped_not_removed(fake_compose, prefect_protocol_double, mysql_listener):
    settings = _settings(prefect_protocol_double.port, mysql_listener.port)
    with pytest.raises(ServicesNotReadyError):
        with compose.run_docker_services(settings, timeout=0.1, pause=0.05, persist=True):
            pass
    assert fake_compose()[-1][4:] == ["stop"]


def test_the_cli_without_any_compose_command_prints_one_error_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    result = CliRunner().invoke(main, ["docker", "start-services"])
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no docker compose command" in errors[0]


def test_the_cli_stops_a_detached_stack_by_project_name(fake_compose):
    result = CliRunner().invoke(main, ["docker", "stop-services", "--project-name", "mine", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"project_name": "mine", "running": False}
    assert fake_compose() == [["-f", DOCKER_COMPOSE, "-p", "mine", "down", "--volumes", "--remove-orphans"]]


def test_the_cli_start_with_a_service_not_ready_stops_what_it_started(fake_compose, monkeypatch, mysql_listener,
                                                                       prefect_protocol_double):
    monkeypatch.setenv("LUME_PREFECT__SERVER__HOST", "http://127.0.0.1")
    monkeypatch.setenv("LUME_PREFECT__SERVER__HOST_PORT", str(prefect_protocol_double.port))
    monkeypatch.setenv("LUME_MODEL_DB__HOST", "127.0.0.1")
    monkeypatch.setenv("LUME_MODEL_DB__PORT", str(mysql_listener.port))
    result = CliRunner().invoke(main, ["docker", "start-services", "--detach", "--timeout", "0.2", "--pause", "0.05"])
    assert result.exit_code == 1
    assert "mongodb" in result.stderr and "mysql:" not in result.stderr
    assert [c[4:] for c in fake_compose()] == [["--profile", "ui", "up", "-d"], ["down", "--volumes", "--remove-orphans"]]


def test_the_cli_status_reports_each_service_and_fails_when_one_is_not_ready(monkeypatch, mysql_listener,
                                                                             prefect_protocol_double):
    monkeypatch.setenv("LUME_PREFECT__SERVER__HOST", "http://127.0.0.1")
    monkeypatch.setenv("LUME_PREFECT__SERVER__HOST_PORT", str(prefect_protocol_double.port))
    monkeypatch.setenv("LUME_MODEL_DB__HOST", "127.0.0.1")
    monkeypatch.setenv("LUME_MODEL_DB__PORT", str(mysql_listener.port))
    monkeypatch.setenv("LUME_RESULTS_DB__TYPE", "mongodb")
    monkeypatch.setenv("LUME_RESULTS_DB__MONGODB__HOST", "127.0.0.1")
    monkeypatch.setenv("LUME_RESULTS_DB__MONGODB__PORT", str(_closed_port()))
    monkeypatch.setenv("LUME_RESULTS_DB__MONGODB__USERNAME", "u")
    monkeypatch.setenv("LUME_RESULTS_DB__MONGODB__PASSWORD", "p")
    result = CliRunner().invoke(main, ["docker", "status", "--timeout", "0.5", "--json"])
    assert result.exit_code == 1
    status = json.loads(result.stdout)
    assert status["mysql"]["ready"] and status["prefect"]["ready"] and not status["mongodb"]["ready"]


def test_the_originals_cli_modules_give_the_same_command():
    from lume_services.cli.cli import main as original_main
    from lume_services.cli.docker_compose import docker, start_services

    assert original_main is main and main.commands["docker"] is docker
    assert docker.commands["start-services"] is start_services


# --- against a real MariaDB (tests/fixtures/model_db.py starts one where it can) ---------------


def test_a_real_mariadb_is_ready_by_its_handshake(mariadb_url):
    from sqlalchemy.engine import make_url

    url = make_url(mariadb_url)
    assert compose.mysql_status(url.host, url.port, timeout=5) is None


def test_the_packaged_init_sql_makes_a_model_database_this_package_opens(mariadb_url, mariadb_database):
    import pymysql
    from sqlalchemy.engine import make_url

    from lume_services.docker.files import MODEL_DB_INIT
    from lume_services.services.models.db import ModelDB
    from lume_services.services.models.service import ModelDBService

    url = make_url(mariadb_url)
    connection = pymysql.connect(host=url.host, port=url.port, user=url.username, password=url.password,
                                 database=mariadb_database)
    try:
        with connection.cursor() as cursor:
            for statement in Path(MODEL_DB_INIT).read_text().split(";"):
                if statement.strip():
                    cursor.execute(statement)
        connection.commit()
    finally:
        connection.close()
    db = ModelDB(mariadb_config(mariadb_url, mariadb_database))
    try:
        service = ModelDBService(db)
        model_id = service.store_model(author="a", laboratory="slac", facility="lcls", beampath="cu_hxr",
                                       description="from the packaged SQL")
        assert service.get_model(model_id=model_id).description == "from the packaged SQL"
    finally:
        db.dispose()
