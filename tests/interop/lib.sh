# shellcheck shell=bash
# Shared helpers for tests/autobahn/run.sh, tests/interop/run.sh and the
# browser tests (tests/browser/).
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

# browser_setup NAME: what a real-browser test (tests/browser/) starts with:
# REPORT_TIMEOUT (default 60) and CHROMIUM (default /usr/bin/chromium) from
# the environment, Chromium installed (ensure_chromium), a fresh work
# directory WORK (/tmp/NAME.XXXXXX, kept after a failure or with
# KEEP_LOGS=1), and an EXIT trap that stops SERVER_PID and CHROMIUM_PID.
browser_setup() {
    REPORT_TIMEOUT=${REPORT_TIMEOUT:-60}
    CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    SERVER_PID=""
    CHROMIUM_PID=""
    trap browser_cleanup EXIT
    ensure_chromium "$CHROMIUM"
}

# shellcheck disable=SC2317 # called by browser_setup's EXIT trap
browser_cleanup() {
    local rc=$?
    stop_pid "$CHROMIUM_PID"
    stop_pid "$SERVER_PID"
    if ((rc != 0)) || [[ -n ${KEEP_LOGS:-} ]]; then
        log "logs kept in $WORK"
    else
        rm -rf "$WORK"
    fi
}

# ensure_chromium BINARY: installs Debian's chromium with apt-get when
# BINARY is the default /usr/bin/chromium and missing (needs root; fails
# loudly otherwise), and logs the browser's version. Shared by the browser
# tests (tests/browser/run.sh, tests/browser/webtransport.sh).
ensure_chromium() {
    local chromium=$1
    if [[ ! -x $chromium ]]; then
        if [[ $chromium != /usr/bin/chromium ]]; then
            die "CHROMIUM=$chromium is not an executable"
        fi
        if [[ $(id -u) -ne 0 ]]; then
            die "/usr/bin/chromium is missing and installing it needs root: run 'apt-get update && apt-get install -y chromium' as root, then rerun"
        fi
        log "installing Debian's chromium (apt-get; a few minutes the first time)"
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
        [[ -x $chromium ]] || die "apt-get install chromium did not provide $chromium"
    fi
    log "browser: $("$chromium" --version 2>/dev/null || echo "unknown version ($chromium --version failed)")"
}

# browser_verdict NAME SCHEME SERVER_LOG [CHROMIUM_ARG...]: the second half of
# one real-browser run (tests/browser/). The caller has started the test
# server on 127.0.0.1:0 (pid in SERVER_PID, output in SERVER_LOG); this waits
# for its `listening on ADDR`, starts headless Chromium ($CHROMIUM, with the
# CHROMIUM_ARGs) on SCHEME://ADDR/ with a fresh profile under $WORK, follows
# the server's output until it exits (it decides the verdict), and stops
# Chromium. Sets RUN_STATUS to the server's exit status and prints Chromium's
# log on a failure. Uses and clears the globals SERVER_PID and CHROMIUM_PID
# (the callers' EXIT traps stop what is left); needs REPORT_TIMEOUT.
browser_verdict() {
    local name=$1 scheme=$2 server_log=$3
    shift 3
    wait_for_line "$SERVER_PID" "$server_log" "listening on "
    local addr
    addr=$(sed -n 's/^listening on //p' "$server_log" | head -n1)
    [[ $addr == 127.0.0.1:* ]] || die "unexpected server address '$addr'"
    log "test server pid $SERVER_PID on $addr"

    # Headless Chromium. --no-sandbox: this CI runs as root. The
    # background-networking flags keep Chromium from reaching out to
    # Google's hosts (the network is closed here). --enable-logging=stderr
    # puts the page's console lines in the log.
    local profile="$WORK/profile-$name" chromium_log="$WORK/chromium-$name.log"
    mkdir "$profile"
    "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --disable-default-apps --disable-extensions --enable-logging=stderr --v=0 \
        "$@" --user-data-dir="$profile" "$scheme://$addr/" >"$chromium_log" 2>&1 &
    CHROMIUM_PID=$!
    log "chromium pid $CHROMIUM_PID on $scheme://$addr/ (profile $profile)"

    # The server stops itself after REPORT_TIMEOUT; the bound here only
    # guards against it hanging beyond that. If Chromium dies first (a
    # crash, missing libraries), the server gets `grace` seconds to finish,
    # then the run fails at once with Chromium's log instead of waiting for
    # the timeout. The server's output is followed live.
    local grace=5
    tail -n +1 -f "$server_log" --pid="$SERVER_PID" &
    local tail_pid=$!
    local deadline=$((SECONDS + REPORT_TIMEOUT + 30)) chromium_gone_at=""
    while kill -0 "$SERVER_PID" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            die "the test server did not exit within $((REPORT_TIMEOUT + 30))s"
        fi
        if [[ -z $chromium_gone_at ]] && ! kill -0 "$CHROMIUM_PID" 2>/dev/null; then
            chromium_gone_at=$SECONDS
            log "chromium (pid $CHROMIUM_PID) exited while the test was running"
        fi
        if [[ -n $chromium_gone_at ]] && ((SECONDS - chromium_gone_at >= grace)); then
            echo "---- chromium log (last 40 lines of $chromium_log) ----"
            tail -n 40 "$chromium_log" || true
            die "chromium exited before the page finished its checks"
        fi
        sleep 0.2
    done
    RUN_STATUS=0
    wait "$SERVER_PID" || RUN_STATUS=$?
    SERVER_PID=""
    wait "$tail_pid" 2>/dev/null || true

    if ! kill -0 "$CHROMIUM_PID" 2>/dev/null; then
        log "note: chromium had already exited before the verdict"
    fi
    stop_pid "$CHROMIUM_PID"
    CHROMIUM_PID=""
    if ((RUN_STATUS != 0)); then
        echo "---- chromium log (last 40 lines of $chromium_log) ----"
        tail -n 40 "$chromium_log" || true
        echo "!! browser check $name FAILED (server exit $RUN_STATUS)"
    fi
}
