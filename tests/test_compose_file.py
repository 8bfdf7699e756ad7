"""The packaged compose file (lume_services/docker/files/docker-compose.yml) gives the Prefect 1 Server what Prefect 1.4.1's own server start does.

A real Prefect Server cannot be brought up here (no Hasura image), so the file
is checked against the one Prefect itself brings up with ``prefect server
start``: the compose file inside the installed prefect package, with the
values ``prefect/cli/server.py`` fills in for its variables. Services, images,
commands and environment must match, and health checks probe the same
endpoints; where our file differs on purpose (a named volume, a check an image
can run) the test says so. What each image ships is a table of facts read from
the images' build files (IMAGE_TOOLS), since the images cannot be pulled here.
"""

import re
from pathlib import Path

import pytest
import yaml

from lume_services.docker.files import DOCKER_COMPOSE, MODEL_DB_INIT

COMPOSE_FILE = Path(DOCKER_COMPOSE)
REPO = Path(__file__).resolve().parents[1]
SERVER_SERVICES = ["postgres", "hasura", "graphql", "towel", "apollo", "ui"]


def _resolve(value, env):
    """Compose's interpolation: ``${VAR}``, ``${VAR:-default}`` (an empty value takes the default too), ``$$``."""
    if not isinstance(value, str):
        return value

    def sub(match):
        name, default = match.group(1), match.group(3)
        found = env.get(name)
        if match.group(2) == ":-":
            return found if found else (default or "")
        return found if found is not None else (default or "")

    text = re.sub(r"\$\{([A-Za-z0-9_]+)(:?-)?([^}]*)?\}", sub, value.replace("$$", "\0"))
    return text.replace("\0", "$").strip('"')


@pytest.fixture(scope="module")
def prefects():
    """Prefect 1.4.1's compose file with the variables its ``prefect server start`` sets."""
    import prefect
    from prefect.cli.server import setup_compose_env

    path = Path(prefect.__file__).parent / "cli" / "docker-compose.yml"
    env = setup_compose_env(
        version=None, ui_version=None, no_upgrade=False, postgres_port=5432, hasura_port=3000,
        graphql_port=4201, ui_port=8080, server_port=4200, volume_path="/pg",
    )
    env = {k: v for k, v in env.items() if not k.startswith("HASURA_GRAPHQL_ADMIN")}
    services = yaml.safe_load(path.read_text())["services"]
    return {name: _service(svc, env) for name, svc in services.items()}


@pytest.fixture(scope="module")
def ours():
    """Our compose file with no variables set (its defaults)."""
    services = yaml.safe_load((COMPOSE_FILE).read_text())["services"]
    return {name: _service(svc, {}) for name, svc in services.items()}


def _service(svc, env):
    environment = svc.get("environment") or {}
    return {
        "image": _resolve(svc.get("image"), env),
        "command": _resolve(svc["command"] if isinstance(svc.get("command"), str)
                            else " ".join(svc.get("command") or []), env),
        "environment": {k: str(_resolve(v, env)) for k, v in environment.items()},
        "healthcheck": svc.get("healthcheck"),
    }


def test_the_server_has_prefects_services(prefects, ours):
    assert sorted(prefects) == sorted(SERVER_SERVICES)
    assert set(SERVER_SERVICES) <= set(ours)


@pytest.mark.parametrize("service", SERVER_SERVICES)
def test_each_server_service_runs_prefects_image_for_1_4_1(prefects, ours, service):
    assert prefects[service]["image"] == ours[service]["image"]
    assert "core-1.4.1" in ours[service]["image"] or service in ("postgres", "hasura")


@pytest.mark.parametrize("service", SERVER_SERVICES)
def test_each_server_service_runs_prefects_command(prefects, ours, service):
    def normal(command):
        return " ".join(command.replace("$PREFECT_SERVER_DB_CMD", "${PREFECT_SERVER_DB_CMD}").split())

    theirs = normal(prefects[service]["command"])
    mine = normal(ours[service]["command"])
    if service == "graphql":  # Prefect puts the upgrade command in the text, we in its variable
        upgrade = prefects["graphql"]["environment"]["PREFECT_SERVER_DB_CMD"]
        assert upgrade == ours["graphql"]["environment"]["PREFECT_SERVER_DB_CMD"]
        mine = mine.replace("${PREFECT_SERVER_DB_CMD}", upgrade)
    assert mine == theirs


# variables Prefect's file sets that ours sets otherwise, on purpose
DIFFERENT_ON_PURPOSE = {
    # no telemetry from a lume-services stack
    ("apollo", "PREFECT_SERVER__TELEMETRY__ENABLED"),
    # the browser reaches apollo on the published port, which may be changed
    ("ui", "PREFECT_SERVER__APOLLO_URL"),
}


@pytest.mark.parametrize("service", SERVER_SERVICES)
def test_each_server_service_gets_prefects_environment(prefects, ours, service):
    theirs, mine = prefects[service]["environment"], ours[service]["environment"]

    missing = sorted(set(theirs) - set(mine))
    assert missing == []
    for name, value in theirs.items():
        if (service, name) not in DIFFERENT_ON_PURPOSE:
            assert mine[name] == value, name


def test_hasura_has_no_admin_secret_as_in_prefects_own_server(ours):
    """No Prefect component sends one: with a secret, graphql's metadata upgrade fails."""
    for name, svc in ours.items():
        assert not any(k.startswith("HASURA_GRAPHQL_ADMIN_SECRET") for k in svc["environment"]), name
    text = (COMPOSE_FILE).read_text()
    assert "HASURA_GRAPHQL_ADMIN_SECRET" not in text


@pytest.mark.parametrize(
    "service, probe",
    [
        ("postgres", ["pg_isready"]),
        ("hasura", ["/healthz"]),
        ("graphql", ["4201/health"]),
        ("apollo", ["4200/.well-known/apollo/server-health"]),
        ("ui", ["8080", "/"]),
    ],
)
def test_each_server_service_probes_what_prefects_health_check_probes(prefects, ours, service, probe):
    for part in probe:
        assert part in _check_text(prefects[service]["healthcheck"])
        assert part in _check_text(ours[service]["healthcheck"])


def _check_text(check):
    test = check["test"]
    return test if isinstance(test, str) else " ".join(test)


# What each image ships that a health check could run, from the images' own
# build files (read, since the images cannot be pulled here):
# - postgres:11 (Debian): pg_isready; no curl, no wget.
# - hasura/graphql-engine:v2.1.1: a slim Debian base with neither wget nor curl
#   (Hasura's issues say so), which is why Prefect's `wget` check never passes.
# - prefecthq/server (PrefectHQ/server Dockerfile, python:3.7-slim-buster):
#   `apt install -y gcc git curl tini`, git removed again; no wget.
# - prefecthq/apollo (services/apollo/Dockerfile, node:14-buster-slim):
#   `apt-get install curl tini`; no wget.
# - prefecthq/ui (PrefectHQ/ui Dockerfile, nginx:stable, Debian): curl or wget
#   not established, so counted as neither.
# - mongo:6 (Ubuntu): mongosh.
# - lume-services runtime image (docker/Dockerfile, python:3.11-slim): neither.
# bash, head and grep are Essential in Debian and Ubuntu, so every image has them.
IMAGE_TOOLS = {
    "postgres:11": {"pg_isready", "bash"},
    "hasura/graphql-engine:v2.1.1": {"bash"},
    "prefecthq/server:core-1.4.1": {"curl", "bash"},
    "prefecthq/apollo:core-1.4.1": {"curl", "bash"},
    "prefecthq/ui:core-1.4.1": {"bash"},
    "mongo:6": {"mongosh", "bash"},
    # the official MariaDB images ship their own check script (docker-library/mariadb, healthcheck.sh)
    "mariadb:10.11": {"healthcheck.sh", "bash"},
    "lume-services:latest": {"bash"},
}
PROBE_TOOLS = ("curl", "wget", "pg_isready", "mongosh", "healthcheck.sh", "bash")


def _tools_used(check):
    words = re.findall(r"[A-Za-z_][A-Za-z0-9_.-]*", _check_text(check))
    return {word for word in words if word in PROBE_TOOLS}


def test_prefects_hasura_check_needs_a_tool_its_image_lacks(prefects):
    """The fact behind the whole issue: Prefect's own Hasura check cannot pass."""
    assert _tools_used(prefects["hasura"]["healthcheck"]) == {"wget"}
    assert "wget" not in IMAGE_TOOLS[prefects["hasura"]["image"]]


def test_every_health_check_runs_a_tool_its_image_ships(ours):
    for name, svc in ours.items():
        if svc["healthcheck"]:
            tools = _tools_used(svc["healthcheck"])
            assert tools, name
            assert tools <= IMAGE_TOOLS[svc["image"]], (name, tools)


def test_no_service_waits_on_a_check_its_dependency_cannot_pass(ours):
    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    for name, svc in services.items():
        for needed, condition in (svc.get("depends_on") or {}).items():
            if condition["condition"] == "service_healthy":
                check = ours[needed]["healthcheck"]
                assert check, (name, needed)
                # a bash /dev/tcp probe is a best effort; gates are on a real client
                assert _tools_used(check) - {"bash"}, (name, needed)
                assert _tools_used(check) <= IMAGE_TOOLS[ours[needed]["image"]], (name, needed)


def test_nothing_waits_on_hasuras_health(ours):
    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    for name, svc in services.items():
        assert (svc.get("depends_on") or {}).get("hasura", {}).get("condition") != "service_healthy", name


def test_services_wait_for_the_health_of_what_they_need(ours):
    services = yaml.safe_load((COMPOSE_FILE).read_text())["services"]
    needs = {"hasura": "postgres", "towel": "graphql", "apollo": "graphql", "tenant": "apollo"}
    for service, needed in needs.items():
        assert services[service]["depends_on"][needed]["condition"] == "service_healthy", service
    assert services["graphql"]["depends_on"]["hasura"]["condition"] == "service_started"


def _published(ports, env):
    return [_resolve(port, env) for port in ports]


def test_every_published_port_is_bound_to_loopback_by_default():
    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    published = {name: _published(svc["ports"], {}) for name, svc in services.items() if svc.get("ports")}
    assert sorted(published) == ["apollo", "mongodb", "mysql", "ui"]
    for name, ports in published.items():
        for port in ports:
            assert port.startswith("127.0.0.1:"), (name, port)


@pytest.mark.parametrize("service, variable", [("apollo", "APOLLO_HOST_IP"), ("ui", "UI_HOST_IP"),
                                               ("mongodb", "MONGODB_HOST_IP"), ("mysql", "MYSQL_HOST_IP")])
def test_a_documented_variable_opens_each_published_port(service, variable):
    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    ports = _published(services[service]["ports"], {variable: "0.0.0.0"})
    assert all(port.startswith("0.0.0.0:") for port in ports)
    assert variable in COMPOSE_FILE.read_text().split("name: lume-services")[0]
    assert variable in (REPO / "docs" / "server.md").read_text()


def test_prefect_binds_apollo_and_the_ui_to_loopback_too():
    import prefect

    path = Path(prefect.__file__).parent / "cli" / "docker-compose.yml"
    services = yaml.safe_load(path.read_text())["services"]
    for name in ("apollo", "ui"):
        assert all(_resolve(port, {}).startswith("127.0.0.1:") for port in services[name]["ports"])


def test_the_header_and_the_docs_name_the_same_mongodb_host():
    text = COMPOSE_FILE.read_text()
    header = text.split("name: lume-services")[0]
    hosts = set(re.findall(r"LUME_RESULTS_DB__MONGODB__HOST=(\S+)", header))
    assert hosts == {"mongodb"}
    docs = (REPO / "docs" / "server.md").read_text()
    assert "LUME_RESULTS_DB__MONGODB__HOST=mongodb" in docs
    assert "LUME_RESULTS_DB__MONGODB__HOST=localhost" not in docs + header
    assert "127.0.0.1 mongodb" in header and "127.0.0.1 mongodb" in docs


def test_the_agent_and_mongodb_are_on_the_network_runs_use(ours):
    services = yaml.safe_load(COMPOSE_FILE.read_text())
    assert services["networks"]["default"]["name"] == "lume-services"
    assert "--network lume-services" in services["services"]["agent"]["command"]
    assert "mongodb" in services["services"]


def test_the_agent_gives_its_runs_the_stacks_results_database(ours):
    agent = yaml.safe_load((COMPOSE_FILE).read_text())["services"]["agent"]
    command = agent["command"]
    assert "--label lume-services" in command
    assert "LUME_RESULTS_DB__TYPE=mongodb" in command
    assert "LUME_RESULTS_DB__MONGODB__HOST=mongodb" in command


def test_the_model_database_service_runs_the_packaged_init_sql_on_first_start():
    mysql = yaml.safe_load(COMPOSE_FILE.read_text())["services"]["mysql"]
    mounts = [volume.split(":") for volume in mysql["volumes"]]
    init = [m for m in mounts if m[1].startswith("/docker-entrypoint-initdb.d/")]
    assert init and (COMPOSE_FILE.parent / init[0][0]).resolve() == Path(MODEL_DB_INIT)
    assert "CREATE TABLE IF NOT EXISTS deployment" in Path(MODEL_DB_INIT).read_text()


def test_the_compose_file_and_its_sql_are_package_data():
    import tomllib

    root = Path(__file__).resolve().parent.parent
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert {"**/*.yml", "**/*.sql"} <= set(patterns["lume_services"])
