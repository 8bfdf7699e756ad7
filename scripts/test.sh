#!/usr/bin/env bash
# Run the whole test suite on a fresh machine: everything the tests need is set up here.
#
#   bash scripts/test.sh [pytest arguments]
#
# 1. a virtual environment ($VENV, default .venv) with the package and its test and docs extras, and
#    a Jupyter kernel of that venv (the docs notebook runs under it);
# 2. a Docker engine and the local Python base image (scripts/docker-engine.sh),
#    so the Docker tests run; where no engine can be had they skip with the reason;
# 3. a throwaway MariaDB server for the model-database tests (scripts/mariadb.sh), stopped at the
#    end; where none can be started the MariaDB tests skip with the reason (LUME_SKIP_MARIADB=1 skips it);
# 4. Chromium from Debian's packages, so the pictures and the run report are checked in a real headless
#    browser (tests/test_run_report.py, tests/test_docs_site.py); where it cannot be installed those tests
#    skip with the reason;
# 5. the docs site's mermaid.js: the pinned release from the npm registry (`npm pack`, Debian's nodejs and
#    npm installed when missing), checked against the registry's integrity and cached under
#    ~/.cache/lume-services/npm (scripts/mermaid_asset.py); once cached, nothing is fetched again;
# 6. pytest (warnings are errors; see pyproject.toml).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"   # another interpreter, another venv: PYTHON=python3.12 VENV=.venv312
if [ ! -x "$VENV/bin/python" ]; then
    echo "== creating $VENV with $($PYTHON --version)"
    "$PYTHON" -m venv "$VENV"
fi
echo "== installing lume-services with its test and docs extras"
# pip's notes about the local package mirrors are noise here; pip's own status decides
pip_log="$(mktemp)"
# pendulum 2 (Prefect 1) builds from source; on Python 3.12 its build script needs setuptools'
# distutils in the venv itself, so the build tools go in first and the build is not isolated
if ! { "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check setuptools wheel 'poetry-core<2' &&
       "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-build-isolation -e '.[test,docs]'; } >"$pip_log" 2>&1; then
    grep -v "^WARNING: Location .* is ignored" "$pip_log" >&2 || true
    echo "== installing lume-services failed" >&2
    exit 1
fi
grep -v "^WARNING: Location .* is ignored" "$pip_log" || true
rm -f "$pip_log"
"$VENV/bin/python" -c "import lume_services, prefect; print('== lume-services', lume_services.__version__, 'on prefect', prefect.__version__)"
# the kernel "python3" of this venv (inside it: nothing is written to the user's Jupyter)
"$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (lume-services)" >/dev/null

if [ "${LUME_SKIP_DOCKER:-0}" != "1" ]; then
    echo "== docker engine and local base image"
    if bash scripts/docker-engine.sh start && bash scripts/docker-engine.sh base-image; then
        # an engine is here: a Docker test that cannot use it fails instead of skipping
        export LUME_TEST_REQUIRE_DOCKER=1
    else
        echo "== no docker engine could be started: the docker tests will skip, saying why"
    fi
fi

if [ "${LUME_SKIP_MARIADB:-0}" != "1" ]; then
    echo "== mariadb server for the model-database tests"
    if mariadb_env="$(bash scripts/mariadb.sh start)"; then
        eval "$mariadb_env"  # LUME_TEST_MARIADB_URL
        # a server is here: a MariaDB test that cannot use it fails instead of skipping
        export LUME_TEST_REQUIRE_MARIADB=1
        trap 'bash scripts/mariadb.sh stop' EXIT
    else
        echo "== no MariaDB server could be started: the MariaDB tests will skip, saying why"
    fi
fi

if [ "${LUME_SKIP_CHROMIUM:-0}" != "1" ]; then
    echo "== chromium (a headless browser for the pictures and the run report)"
    if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
        export LUME_TEST_REQUIRE_CHROMIUM=1   # installed: a test that cannot use it fails instead of skipping
    elif [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1 &&
         { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null 2>&1; then
        export LUME_TEST_REQUIRE_CHROMIUM=1
    else
        echo "== chromium could not be installed (needs root and apt-get): the browser tests will skip, saying why"
    fi
fi

echo "== mermaid for the docs site (npm registry, cached)"
if ! command -v npm >/dev/null 2>&1 && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; } >/dev/null 2>&1 ||
        echo "== nodejs and npm could not be installed"
fi
# offline with a filled cache this only checks the cached tarball; without it the site build says what is missing
"$VENV/bin/python" scripts/mermaid_asset.py || echo "== mermaid could not be fetched: the docs site tests will fail, saying why"

echo "== pytest"
# not exec: the trap above stops the MariaDB server after pytest
set +e
"$VENV/bin/python" -m pytest "$@"
exit $?
