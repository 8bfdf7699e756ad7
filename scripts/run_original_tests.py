"""Run LUME-services' own test files, byte for byte, against this package (no network).

    python scripts/run_original_tests.py MIRROR [--commit 57027da --commit 8adfccc]
        [--workdir DIR] [--site DIR] [-- PYTEST ARGS]

MIRROR is a git clone of slaclab/lume-services (the fetched mirror). For each
commit its ``lume_services/tests``, ``conftest.py`` and ``pytest.ini`` are
exported with ``git archive`` into a scratch folder outside this project
(nothing of them is kept here) and run with this package first on the path.

Only what starts Docker services is replaced, by local stand-ins:

- ``lume_services/tests/fixtures/docker.py`` (``docker-compose up`` and the
  image build): ``docker_services`` starts this project's Prefect Server
  protocol double (``tests/prefect_server_double``) with a tenant and routes
  the MongoDB host and port of ``pytest.ini`` to mongomock for the session;
  ``prefect_job_docker`` builds nothing, and the tests that run flows in
  containers of the original's image or build on it (those asking for
  ``docker_run_config``, and four of 57027da named in the stand-in) are
  skipped, saying so;
- ``server_host`` / ``server_host_port`` of ``pytest.ini`` are given on the
  command line (``-o``) as the double's address;
- ``pytest.ini``'s MySQL settings are pointed at a running MariaDB
  (``--mysql-url``, by default ``LUME_TEST_MARIADB_URL``, which
  ``scripts/mariadb.sh start`` prints) in place of the original's MySQL container;
- when ``lume_services.services.models`` is not importable here (the model
  database is another part of this project), the root ``conftest.py`` line
  importing ``MySQLModelDBConfig`` falls back to a dict and
  ``fixtures/services/models.py`` is emptied, so the rest can run.

Everything else (the test files, the other fixtures, ``pytest.ini``) is the
original's. Their test package is importable as ``lume_services.tests``
through an extra entry on ``lume_services.__path__``. ``--site`` is a folder
with pytest 8 and pyfakefs (``pip install --target DIR 'pytest<9' pyfakefs``):
pytest 9 refuses the marks the original's fixtures carry. Prints pass counts
per commit; pytest's own summary is in ``DIR/<commit>.log``.
"""

import argparse
import io
import os
import re
import socket
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

STAND_IN_DOCKER_FIXTURES = '''"""Stand-in for the original's fixtures/docker.py (written by scripts/run_original_tests.py)."""
import os

import mongomock
import pytest
from prefect_server_double import ProtocolDouble


@pytest.fixture(scope="session")
def docker_compose_project_name():
    return "pytest{}".format(os.getpid())


@pytest.fixture(scope="session", autouse=True)
def docker_services(lume_services_settings, docker_compose_project_name, mongodb_host, mongodb_port):
    port = int(os.environ["LUME_COMPAT_DOUBLE_PORT"])
    with ProtocolDouble(port=port) as double, mongomock.patch(servers=((mongodb_host, int(mongodb_port)),)):
        double.store.create_tenant({"input": {"name": "default", "slug": "default"}})
        yield double


@pytest.fixture(scope="session", autouse=True)
def prefect_job_docker(rootdir, prefect_docker_tag, dockerfile):
    yield None


def _requests(item, wanted):
    """Whether the test asks for ``wanted`` through its own arguments (not through autouse fixtures)."""
    info = item._fixtureinfo
    seen, todo = set(), list(info.argnames)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            for fixturedef in info.name2fixturedefs.get(name, ()):
                todo.extend(fixturedef.argnames)
    return wanted in seen


# 57027da's tests that run flows in containers of the original's image through their class's
# run_config, and the one that builds a flow-of-flows image on it
_BUILDS_ON_THE_ORIGINALS_IMAGE = (
    "scheduling/test_backends.py::TestDockerBackend::test_run_flow_and_return",
    "scheduling/test_backends.py::TestDockerBackend::test_empty_result_error",
    "scheduling/test_backends.py::TestDockerBackend::test_failure_check",
    "scheduling/test_flows.py::TestFlowOfFlows::test_flow_of_flows_id",
)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _requests(item, "docker_run_config") or item.nodeid.endswith(_BUILDS_ON_THE_ORIGINALS_IMAGE):
            item.add_marker(pytest.mark.skip(
                reason="stand-in: runs flows in containers of the original's image, which its Dockerfile "
                "builds from the network"))
'''

PATH_PLUGIN = '''"""Makes the exported tests importable as lume_services.tests (written by scripts/run_original_tests.py)."""
import os

import lume_services

lume_services.__path__.append(os.environ["LUME_COMPAT_TESTS"])
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def export(mirror: Path, commit: str, dest: Path) -> None:
    data = subprocess.run(["git", "-C", str(mirror), "archive", commit, "lume_services/tests", "conftest.py",
                           "pytest.ini"], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        tf.extractall(dest, filter="data")


def model_db_available(env) -> bool:
    probe = subprocess.run([sys.executable, "-c", "import lume_services.services.models.db.mysql"], env=env,
                           capture_output=True)
    return probe.returncode == 0


def mysql_options(url: str) -> list:
    """``-o`` options pointing ``pytest.ini``'s MySQL settings at a running server (our MariaDB)."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url.replace("mysql+pymysql://", "mysql://", 1))
    values = {"mysql_host": parts.hostname, "mysql_port": parts.port or 3306,
              "mysql_user": unquote(parts.username or ""), "mysql_password": unquote(parts.password or "")}
    return [arg for name, value in values.items() for arg in ("-o", f"{name}={value}")]


def run(mirror: Path, commit: str, workdir: Path, site: str, pytest_args, repo: Path = REPO,
        mysql_url: str = "") -> dict:
    dest = workdir / commit
    dest.mkdir(parents=True, exist_ok=True)
    export(mirror, commit, dest)
    (dest / "lume_services" / "tests" / "fixtures" / "docker.py").write_text(STAND_IN_DOCKER_FIXTURES)
    (workdir / "lume_compat_path.py").write_text(PATH_PLUGIN)
    # lume-impact cannot be installed beside pydantic 1: a placeholder lets test_files.py import
    (workdir / "impact.py").write_text('"""Placeholder for lume-impact (not installable here)."""\n\n\nclass Impact:\n'
                                       '    def __init__(self, *args, **kwargs):\n'
                                       '        raise ImportError("lume-impact is not installed")\n')
    port = free_port()
    env = dict(os.environ)
    env.update(
        PYTHONPATH=os.pathsep.join(p for p in [site, str(repo), str(REPO / "tests"), str(workdir)] if p),
        LUME_COMPAT_TESTS=str(dest / "lume_services"),
        LUME_COMPAT_DOUBLE_PORT=str(port),
        LUME_HOME=str(dest / "lume_home"),
        PREFECT__HOME_DIR=str(dest / "prefect_home"),
        PREFECT__LOGGING__LEVEL="WARNING",
        HOME=str(dest / "home"),
    )
    (dest / "home").mkdir(exist_ok=True)
    if not model_db_available(env):
        conftest = dest / "conftest.py"
        text = conftest.read_text()
        text = re.sub(r"^from lume_services\.services\.models\.db(?:\.mysql)? import (\w+)\n",
                      lambda m: f"try:\n    {m.group(0).strip()}\nexcept ImportError:  # no model database here\n"
                                f"    {m.group(1)} = dict\n", text, flags=re.M)
        conftest.write_text(text)
        (dest / "lume_services" / "tests" / "fixtures" / "services" / "models.py").write_text("")
    log = workdir / f"{commit}.log"
    cmd = [sys.executable, "-m", "pytest", "-p", "lume_compat_path", "-p", "no:cacheprovider",
           "-o", "server_host=http://127.0.0.1", "-o", f"server_host_port={port}",
           "-o", "addopts=", f"--basetemp={dest / 'tmp'}", "-q", "-rfEs", "-W", "ignore",
           "--timeout", "120", "--continue-on-collection-errors",
           *(mysql_options(mysql_url) if mysql_url else []), *pytest_args]
    with open(log, "w") as out:
        subprocess.run(cmd, cwd=dest, env=env, stdout=out, stderr=subprocess.STDOUT)
    summary = log.read_text().strip().splitlines()[-1] if log.exists() else ""
    counts = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|skipped|xfailed|xpassed|errors?)", summary)}
    return {"commit": commit, "summary": summary, "counts": counts, "log": str(log)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mirror", type=Path, help="a git clone of slaclab/lume-services")
    parser.add_argument("--commit", action="append", help="commit(s) to run (default 57027da and 8adfccc)")
    parser.add_argument("--workdir", type=Path, help="scratch folder (default: a new temporary folder)")
    parser.add_argument("--site", default="", help="folder with pytest 8 and pyfakefs, put first on the path")
    parser.add_argument("--repo", type=Path, default=REPO,
                        help="the lume-services checkout to test (default: this one), e.g. an older one for a before/after")
    parser.add_argument("--mysql-url", default=os.environ.get("LUME_TEST_MARIADB_URL", ""),
                        help="mysql+pymysql://user:password@host:port/... of a running MariaDB/MySQL whose user may "
                             "create databases, in place of the original's MySQL container (default: "
                             "LUME_TEST_MARIADB_URL; scripts/mariadb.sh start gives one)")
    parser.add_argument("pytest_args", nargs="*", help="after --: arguments for pytest (e.g. -k, a test path)")
    args = parser.parse_args(argv)
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="lume-original-tests-"))).resolve()
    if REPO in workdir.parents or workdir == REPO:
        parser.error("the scratch folder must be outside this project")
    for commit in args.commit or ["57027da", "8adfccc"]:
        result = run(args.mirror, commit, workdir, args.site, args.pytest_args, args.repo.resolve(), args.mysql_url)
        print(f"{result['commit']}: {result['summary']}  (log: {result['log']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
