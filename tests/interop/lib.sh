# shellcheck shell=bash
# Shared helpers for tests/autobahn/run.sh and tests/interop/run.sh.
# Source it; do not run it. Needs bash and `set -euo pipefail` in the caller.
#
# Every process started through start_bg is remembered by PID and stopped by
# stop_all (the callers install `trap stop_all EXIT`), so a failing or
# interrupted run leaves nothing listening.

# Repo root: two levels up from this file.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# Longest wait for a server to print "listening on" or open its port.
SERVER_START_TIMEOUT=${SERVER_START_TIMEOUT:-60}

# The three runtime crates, in test order, and the port each echo server gets.
RUNTIME_CRATES=(tidings-tokio tidings-async-std tidings-smol)
# shellcheck disable=SC2034 # used by the scripts that source this file
declare -A RUNTIME_DIR=(
    [tidings-tokio]=runtime-tokio
    [tidings-async-std]=runtime-async-std
    [tidings-smol]=runtime-smol
)

STARTED_PIDS=()

log() { echo "[$(date +%H:%M:%S)] $*"; }

die() {
    echo
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
    echo "!!  ERROR: $*" >&2
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
    exit 1
}

loud() {
    echo
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
    echo "!!  $*"
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
}

# port_open PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# require_port_free PORT: a stale server on our port would answer in place of
# the one under test and fake a verdict, so refuse to start.
require_port_free() {
    if port_open "$1"; then
        die "port $1 on 127.0.0.1 is already in use (a stale server?); stop it first"
    fi
}

# start_bg LOGFILE CMD...: starts CMD in the background with stdout and stderr
# in LOGFILE; sets BG_PID. CMD must be an executable (not a shell function) so
# that BG_PID is the PID of the process itself.
start_bg() {
    local logfile=$1
    shift
    "$@" >"$logfile" 2>&1 &
    BG_PID=$!
    STARTED_PIDS+=("$BG_PID")
    log "started pid $BG_PID: $* (log: $logfile)"
}

# wait_for_line PID LOGFILE TEXT: waits until LOGFILE contains TEXT, failing if
# PID exits first or SERVER_START_TIMEOUT passes.
wait_for_line() {
    local pid=$1 logfile=$2 text=$3 waited=0
    while ! grep -qF -- "$text" "$logfile" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "---- $logfile ----" >&2
            cat "$logfile" >&2 || true
            die "pid $pid exited before printing '$text'"
        fi
        if ((waited >= SERVER_START_TIMEOUT * 10)); then
            echo "---- $logfile ----" >&2
            cat "$logfile" >&2 || true
            die "pid $pid did not print '$text' within ${SERVER_START_TIMEOUT}s"
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
}

# wait_for_port PID PORT LOGFILE: waits until 127.0.0.1:PORT accepts, failing
# if PID exits first or SERVER_START_TIMEOUT passes.
wait_for_port() {
    local pid=$1 port=$2 logfile=$3 waited=0
    while ! port_open "$port"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "---- $logfile ----" >&2
            cat "$logfile" >&2 || true
            die "pid $pid exited before opening port $port"
        fi
        if ((waited >= SERVER_START_TIMEOUT * 10)); then
            echo "---- $logfile ----" >&2
            cat "$logfile" >&2 || true
            die "pid $pid did not open port $port within ${SERVER_START_TIMEOUT}s"
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
}

# stop_pid PID: SIGTERM, up to 5 s grace, then SIGKILL. Only ever our own PIDs.
stop_pid() {
    local pid=$1 _
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid ignored SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    log "stopped pid $pid"
}

# stop_all: stops every process start_bg started (install with trap ... EXIT).
stop_all() {
    local pid
    for pid in "${STARTED_PIDS[@]}"; do
        stop_pid "$pid"
    done
    STARTED_PIDS=()
}

# echo_example CRATE: the name of CRATE's echo example (`echo` on tokio,
# `echo_async_std` and `echo_smol` on the others: one name in three crates
# would make cargo warn of an output filename collision).
echo_example() {
    case $1 in
    tidings-tokio) echo echo ;;
    tidings-async-std) echo echo_async_std ;;
    tidings-smol) echo echo_smol ;;
    *) die "no echo example known for crate $1" ;;
    esac
}

# build_echo_binaries DIR: builds the echo example of every runtime crate in
# release and copies each to DIR/echo-<crate>.
build_echo_binaries() {
    local dir=$1 crate pkgs=()
    mkdir -p "$dir"
    for crate in "${RUNTIME_CRATES[@]}"; do pkgs+=(-p "$crate"); done
    (cd "$ROOT" && cargo build --release "${pkgs[@]}" --examples)
    for crate in "${RUNTIME_CRATES[@]}"; do
        cp -f "$ROOT/target/release/examples/$(echo_example "$crate")" "$dir/echo-$crate"
    done
}

# echo_command CRATE ADDR BINDIR: prints the command (one word a line) that
# serves the echo for CRATE on ADDR. With ECHO_CMD set (a stand-in server for
# testing the scripts themselves, e.g.
#   ECHO_CMD='.interop/venv/bin/python tests/interop/echo_server.py {addr}'),
# that command is used instead, with {addr} replaced.
echo_command() {
    local crate=$1 addr=$2 bindir=$3
    if [[ -n ${ECHO_CMD:-} ]]; then
        # Word splitting of ECHO_CMD is intended: it is a plain command line.
        # shellcheck disable=SC2086
        printf '%s\n' ${ECHO_CMD//\{addr\}/$addr}
    else
        printf '%s\n' "$bindir/echo-$crate" "$addr"
    fi
}

# start_echo CRATE PORT BINDIR LOGDIR [ARG...]: starts the echo server for
# CRATE on 127.0.0.1:PORT, with the extra ARGs (e.g. --tls-cert C --tls-key K),
# and waits for its "listening on" line; sets BG_PID.
start_echo() {
    local crate=$1 port=$2 bindir=$3 logdir=$4 cmd logfile
    shift 4
    require_port_free "$port"
    mapfile -t cmd < <(echo_command "$crate" "127.0.0.1:$port" "$bindir")
    logfile="$logdir/echo-$crate-$port.log"
    start_bg "$logfile" "${cmd[@]}" "$@"
    wait_for_line "$BG_PID" "$logfile" "listening on"
    log "$crate echo server is up on 127.0.0.1:$port (pid $BG_PID)"
}
