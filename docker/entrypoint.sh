#!/bin/sh
# Entrypoint of the lume-services runtime image (docker/Dockerfile).
#
# 1. Points Prefect at the configured backend: the LUME_PREFECT__* settings of
#    lume-services become Prefect's own PREFECT__* settings. A PREFECT__* variable
#    that is already set wins (a Prefect agent sets PREFECT__CLOUD__API and
#    PREFECT__BACKEND for the flow runs it starts).
# 2. Installs EXTRA_PIP_PACKAGES (space-separated pip requirements: the packages
#    that hold your flows' code), then runs the command.
set -e

prefect_default() {
    # prefect_default NAME VALUE: export NAME=VALUE unless NAME is set already
    eval "_current=\${$1:-}"
    if [ -z "$_current" ]; then
        export "$1=$2"
    fi
}

if env | grep -q '^LUME_PREFECT__'; then
    # the same mapping as PrefectConfig.apply() (services/scheduling/backends/server/prefect_config.py);
    # the flat names of earlier versions (LUME_PREFECT__SERVER_HOST, ...) still count
    _host="${LUME_PREFECT__SERVER__HOST:-${LUME_PREFECT__SERVER_HOST:-http://localhost}}"
    _port="${LUME_PREFECT__SERVER__HOST_PORT:-${LUME_PREFECT__SERVER_PORT:-4200}}"
    _path="${LUME_PREFECT__SERVER__GRAPHQL_PATH:-${LUME_PREFECT__GRAPHQL_PATH:-/graphql}}"
    _api="${_host%/}:${_port}${_path}"
    _ui_host="${LUME_PREFECT__UI__HOST:-${LUME_PREFECT__UI_HOST:-http://localhost}}"
    _ui="${_ui_host%/}:${LUME_PREFECT__UI__HOST_PORT:-${LUME_PREFECT__UI_PORT:-8080}}"
    prefect_default PREFECT__BACKEND "${LUME_PREFECT__BACKEND:-server}"
    prefect_default PREFECT__SERVER__HOST "$_host"
    prefect_default PREFECT__SERVER__PORT "$_port"
    prefect_default PREFECT__SERVER__ENDPOINT "$_api"
    prefect_default PREFECT__SERVER__UI__ENDPOINT "$_ui"
    prefect_default PREFECT__SERVER__UI__APOLLO_URL "$_api"
    prefect_default PREFECT__CLOUD__API "$_api"
    prefect_default PREFECT__CLOUD__GRAPHQL "$PREFECT__CLOUD__API"
    if [ -n "${LUME_PREFECT__API_KEY:-}" ]; then
        prefect_default PREFECT__CLOUD__API_KEY "$LUME_PREFECT__API_KEY"
    fi
    if [ -n "${LUME_PREFECT__HOME_DIR:-}" ]; then
        prefect_default PREFECT__HOME_DIR "$LUME_PREFECT__HOME_DIR"
    fi
fi

if [ -n "${EXTRA_PIP_PACKAGES:-}" ]; then
    echo "lume-services entrypoint: pip install $EXTRA_PIP_PACKAGES" >&2
    # word splitting is wanted: one argument per requirement
    # shellcheck disable=SC2086
    pip install --quiet $EXTRA_PIP_PACKAGES
fi

exec "$@"
