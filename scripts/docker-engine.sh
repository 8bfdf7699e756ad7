#!/usr/bin/env bash
# Start, stop and inspect a local Docker engine for lume-services, and build the
# local Python base image its Docker tests build from.
#
#   scripts/docker-engine.sh start       engine answering? done. Else install docker.io
#                                        (as root, from Debian) and start dockerd
#   scripts/docker-engine.sh base-image  build the local base image unless it exists
#   scripts/docker-engine.sh status      what is running and what exists
#   scripts/docker-engine.sh stop        stop the dockerd this script started (only that)
#
# Why a local base image: no image registry (Docker Hub) is reachable on the
# machines CI runs on, so the Python base image is made from Debian packages
# with mmdebstrap. It carries the machine's local CA certificates, because HTTPS
# from inside containers goes through an intercepting proxy whose CA differs
# from machine to machine: build it on each machine, never cache it elsewhere.
#
# Environment:
#   LUME_DOCKER_BASE_IMAGE   name of the base image (default lume-services-base:bookworm)
#   LUME_DOCKER_STATE_DIR    where the dockerd log and pidfile go
#                            (default /var/tmp/lume-docker-engine)
#   LUME_DOCKER_MTU          MTU of the docker bridge (default 1400, eth0's MTU here)
#   LUME_DOCKER_WAIT         seconds to wait for the engine to answer (default 60)
set -euo pipefail

BASE_IMAGE="${LUME_DOCKER_BASE_IMAGE:-lume-services-base:bookworm}"
STATE_DIR="${LUME_DOCKER_STATE_DIR:-/var/tmp/lume-docker-engine}"
MTU="${LUME_DOCKER_MTU:-1400}"
WAIT="${LUME_DOCKER_WAIT:-60}"
PIDFILE="$STATE_DIR/dockerd.pid"
LOGFILE="$STATE_DIR/dockerd.log"
SUITE=bookworm
LOCAL_CA_DIR=/usr/local/share/ca-certificates
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt

say() { printf 'docker-engine: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

engine_answers() { docker info >/dev/null 2>&1; }

need_root() {
    [ "$(id -u)" = 0 ] || die "$1 needs root (run as root, or start a Docker engine yourself)"
}

apt_install() {
    # $@: Debian packages to install
    need_root "installing $*"
    say "installing $* from Debian (apt-get update first)"
    export DEBIAN_FRONTEND=noninteractive
    # wait for another apt or dpkg (an unattended upgrade) instead of failing at once
    local lock=(-o DPkg::Lock::Timeout=300)
    dpkg --configure -a >/dev/null 2>&1 || true  # finish an install a killed run left half done
    apt-get "${lock[@]}" update -qq >/dev/null || die "apt-get update failed; is a Debian mirror reachable?"
    apt-get "${lock[@]}" install -y -qq --no-install-recommends "$@" >/dev/null ||
        die "apt-get install $* failed"
}

started_pid() {
    # the pid of the dockerd this script started, if it still runs
    [ -s "$PIDFILE" ] || return 1
    local pid
    pid="$(cat "$PIDFILE")"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    # the pid must still be a dockerd (pids are reused)
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] || return 1
    echo "$pid"
}

cmd_start() {
    local t0=$SECONDS
    if engine_answers; then
        say "engine already answers ($(docker info --format '{{.ServerVersion}}' 2>/dev/null)); nothing to do"
        return 0
    fi
    if ! command -v dockerd >/dev/null 2>&1; then
        apt_install docker.io
    fi
    if pid="$(started_pid)"; then
        say "dockerd $pid (started earlier by this script) does not answer yet; waiting"
    else
        need_root "starting dockerd"
        mkdir -p "$STATE_DIR"
        # a dockerd killed without cleaning up leaves its pid files; dockerd refuses
        # to start when such a pid has been reused by any live process
        if ! pgrep -x dockerd >/dev/null 2>&1; then
            rm -f "$PIDFILE" /var/run/docker.pid
            pgrep -x containerd >/dev/null 2>&1 || rm -f /var/run/docker/containerd/containerd.pid
        fi
        say "starting dockerd --mtu $MTU (log: $LOGFILE)"
        # setsid: dockerd outlives this script and the shell that ran it
        setsid dockerd --mtu "$MTU" --pidfile "$PIDFILE" >>"$LOGFILE" 2>&1 </dev/null &
    fi
    local deadline=$((SECONDS + WAIT))
    until engine_answers; do
        if [ $SECONDS -ge $deadline ]; then
            say "the engine did not answer within ${WAIT}s; last lines of $LOGFILE:"
            tail -n 20 "$LOGFILE" >&2 || true
            exit 1
        fi
        sleep 0.5
    done
    say "engine answers ($(docker info --format '{{.ServerVersion}}' 2>/dev/null)) after $((SECONDS - t0))s"
}

cmd_stop() {
    local pid
    if ! pid="$(started_pid)"; then
        rm -f "$PIDFILE"
        say "no dockerd started by this script is running; nothing to stop"
        return 0
    fi
    say "stopping dockerd $pid"
    kill -TERM "$pid"
    local deadline=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null; do
        if [ $SECONDS -ge $deadline ]; then
            die "dockerd $pid did not stop within 30s (see $LOGFILE)"
        fi
        sleep 0.2
    done
    rm -f "$PIDFILE"
    say "stopped"
}

cmd_status() {
    local pid
    if engine_answers; then
        say "engine answers: $(docker info --format 'Docker {{.ServerVersion}}, storage {{.Driver}}, cgroup {{.CgroupDriver}}' 2>/dev/null)"
    else
        say "no engine answers"
    fi
    if pid="$(started_pid)"; then
        say "dockerd $pid was started by this script (log: $LOGFILE)"
    fi
    if engine_answers; then
        if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
            say "base image $BASE_IMAGE exists"
        else
            say "base image $BASE_IMAGE does not exist (scripts/docker-engine.sh base-image)"
        fi
    fi
}

debian_mirror() {
    # the Debian mirror apt uses (not debian-security), from deb822 or one-line sources
    local f uri
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        uri="$(awk '/^URIs:/ {for (i = 2; i <= NF; i++) print $i}' "$f" |
            grep -v -- '-security' | grep -m1 -E '/debian/?$' || true)"
        [ -n "$uri" ] && { echo "$uri"; return; }
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        uri="$(awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; break}}' "$f" |
            grep -v -- '-security' | grep -m1 -E '/debian/?$' || true)"
        [ -n "$uri" ] && { echo "$uri"; return; }
    done
    echo "http://deb.debian.org/debian"
}

cmd_base_image() {
    local t0=$SECONDS
    engine_answers || die "no Docker engine answers; run: scripts/docker-engine.sh start"
    if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
        say "base image $BASE_IMAGE exists; nothing to do"
        return 0
    fi
    need_root "building the base image with mmdebstrap"
    command -v mmdebstrap >/dev/null 2>&1 || apt_install mmdebstrap
    local hooks=/usr/share/mmdebstrap/hooks/merged-usr
    [ -d "$hooks" ] || die "mmdebstrap's merged-usr hook directory $hooks is missing"
    local mirror
    mirror="$(debian_mirror)"
    say "building $BASE_IMAGE: Debian $SUITE minbase + python3 from $mirror"
    local -a customize=()
    if compgen -G "$LOCAL_CA_DIR/*.crt" >/dev/null; then
        say "adding the local CA certificates of this machine: $(cd "$LOCAL_CA_DIR" && echo *.crt)"
        customize+=(
            --customize-hook="mkdir -p \"\$1$LOCAL_CA_DIR\""
            --customize-hook="cp $LOCAL_CA_DIR/*.crt \"\$1$LOCAL_CA_DIR/\""
            --customize-hook="chroot \"\$1\" update-ca-certificates"
        )
    fi
    mkdir -p "$STATE_DIR"
    local log="$STATE_DIR/base-image.log"
    if ! mmdebstrap --variant=minbase --quiet \
        --hook-dir="$hooks" \
        --include=ca-certificates,python3,python3-venv,python3-pip \
        "${customize[@]}" \
        --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
        "$SUITE" - "$mirror" 2>"$log" |
        docker import \
            --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
            --change "ENV LANG=C.UTF-8" \
            --change "ENV PIP_CERT=$CA_BUNDLE" \
            --change "ENV SSL_CERT_FILE=$CA_BUNDLE" \
            --change "ENV REQUESTS_CA_BUNDLE=$CA_BUNDLE" \
            --change 'CMD ["python3"]' \
            - "$BASE_IMAGE" >/dev/null 2>>"$log"; then
        say "building $BASE_IMAGE failed; last lines of $log:"
        tail -n 30 "$log" >&2
        exit 1
    fi
    say "built $BASE_IMAGE ($(docker image inspect --format '{{.Size}}' "$BASE_IMAGE" | awk '{printf "%.0f MB", $1 / 1e6}')) in $((SECONDS - t0))s"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    base-image) cmd_base_image ;;
    *)
        echo "usage: $0 start|stop|status|base-image" >&2
        exit 2
        ;;
esac
