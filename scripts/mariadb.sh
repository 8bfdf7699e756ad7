#!/usr/bin/env bash
# Start and stop a throwaway MariaDB server for the model-database tests.
#
#   scripts/mariadb.sh start   install mariadb-server (as root, from Debian) when missing,
#                              make a fresh data dir, start mariadbd on a private socket and
#                              127.0.0.1:$LUME_TEST_MARIADB_PORT, create a database and a user,
#                              and print the connection as shell exports (eval them)
#   scripts/mariadb.sh stop    stop the server this script started and remove its data dir
#
# The tests read the connection from LUME_TEST_MARIADB_URL
# (mysql+pymysql://user:password@127.0.0.1:port/database); with
# LUME_TEST_REQUIRE_MARIADB=1 (set by scripts/test.sh when the start worked) a test
# that cannot connect fails instead of skipping.
#
# Environment:
#   LUME_TEST_MARIADB_DIR    where the data dir, socket, pid and log go
#                            (default /var/tmp/lume-test-mariadb)
#   LUME_TEST_MARIADB_PORT   the TCP port on 127.0.0.1 (default 33061)
#   LUME_TEST_MARIADB_WAIT   seconds to wait for the server to answer (default 30)
set -euo pipefail

DIR="${LUME_TEST_MARIADB_DIR:-/var/tmp/lume-test-mariadb}"
PORT="${LUME_TEST_MARIADB_PORT:-33061}"
WAIT="${LUME_TEST_MARIADB_WAIT:-30}"
DATADIR="$DIR/data"
SOCKET="$DIR/mariadb.sock"
PIDFILE="$DIR/mariadbd.pid"
LOGFILE="$DIR/mariadbd.log"
DATABASE=lume_model_db
USER_NAME=lume
PASSWORD="lume-test-$$-$RANDOM"

say() { printf 'mariadb: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

started_pid() {
    # the pid of the mariadbd this script started, if it still runs
    [ -s "$PIDFILE" ] || return 1
    local pid
    pid="$(cat "$PIDFILE")"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = mariadbd ] || return 1
    echo "$pid"
}

install_server() {
    [ "$(id -u)" = 0 ] || die "installing mariadb-server needs root (or install it yourself)"
    export DEBIAN_FRONTEND=noninteractive
    local lock=(-o DPkg::Lock::Timeout=300)
    say "installing mariadb-server from Debian"
    if ! apt-get "${lock[@]}" install -y -qq --no-install-recommends mariadb-server >/dev/null 2>&1; then
        # the package lists may be missing or stale
        apt-get "${lock[@]}" update -qq >/dev/null || die "apt-get update failed; is a Debian mirror reachable?"
        apt-get "${lock[@]}" install -y -qq --no-install-recommends mariadb-server >/dev/null ||
            die "apt-get install mariadb-server failed"
    fi
}

client() {
    # $@: SQL statements, run as root over the private socket
    mariadb --protocol=socket --socket="$SOCKET" -uroot -e "$*"
}

cmd_start() {
    local t0=$SECONDS
    if pid="$(started_pid)"; then
        cmd_stop
    fi
    command -v mariadbd >/dev/null 2>&1 || install_server
    command -v mariadbd >/dev/null 2>&1 || die "mariadbd is not on PATH after installing mariadb-server"
    rm -rf "$DIR"
    mkdir -p "$DATADIR"
    local as_user=()
    [ "$(id -u)" = 0 ] && as_user=(--user=root)
    mariadb-install-db --no-defaults "${as_user[@]}" --datadir="$DATADIR" --auth-root-authentication-method=normal \
        --skip-test-db >"$DIR/install-db.log" 2>&1 || { tail -n 20 "$DIR/install-db.log" >&2; die "mariadb-install-db failed"; }
    # setsid: the server outlives the shell that started it; `stop` ends it
    setsid mariadbd --no-defaults "${as_user[@]}" --datadir="$DATADIR" --socket="$SOCKET" --port="$PORT" \
        --bind-address=127.0.0.1 --pid-file="$PIDFILE" --log-error="$LOGFILE" \
        --skip-name-resolve >/dev/null 2>&1 </dev/null &
    local deadline=$((SECONDS + WAIT))
    until client "SELECT 1" >/dev/null 2>&1; do
        if [ $SECONDS -ge $deadline ]; then
            say "the server did not answer within ${WAIT}s; last lines of $LOGFILE:"
            tail -n 20 "$LOGFILE" >&2 || true
            exit 1
        fi
        sleep 0.2
    done
    client "CREATE DATABASE $DATABASE; CREATE USER '$USER_NAME'@'127.0.0.1' IDENTIFIED BY '$PASSWORD';
            GRANT ALL PRIVILEGES ON *.* TO '$USER_NAME'@'127.0.0.1'; FLUSH PRIVILEGES;"
    say "mariadbd $(cat "$PIDFILE") answers on 127.0.0.1:$PORT after $((SECONDS - t0))s (data: $DATADIR)"
    echo "export LUME_TEST_MARIADB_URL='mysql+pymysql://$USER_NAME:$PASSWORD@127.0.0.1:$PORT/$DATABASE'"
}

cmd_stop() {
    local pid
    if ! pid="$(started_pid)"; then
        say "no mariadbd started by this script is running; nothing to stop"
        rm -rf "$DIR"
        return 0
    fi
    say "stopping mariadbd $pid"
    kill -TERM "$pid"
    local deadline=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null; do
        [ $SECONDS -ge $deadline ] && die "mariadbd $pid did not stop within 30s (see $LOGFILE)"
        sleep 0.1
    done
    rm -rf "$DIR"
    say "stopped"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    *)
        echo "usage: $0 start|stop" >&2
        exit 2
        ;;
esac
