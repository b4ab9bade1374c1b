#!/usr/bin/env bash
# Runs the Autobahn TestSuite against tidings and judges the reports.
#
#     bash tests/autobahn/run.sh [install|servers|client|all]   (default: all)
#
#   install  installs the suite into .autobahn/ (Python 2.7, recipe from
#            CONFORMANCE.md) unless `wstest -a` already works there.
#   servers  builds the `echo` example of tidings-tokio, -async-std and -smol
#            (release), starts each on its own port (9001, 9002, 9003), runs
#            `wstest -m fuzzingclient` against all three at once, stops them.
#            Reports: reports/servers/.
#   client   starts `wstest -m fuzzingserver` on 127.0.0.1:9001 and runs the
#            `autobahn_client` example of each crate in CLIENT_CRATES against
#            it. Reports: reports/clients/.
#   all      servers, then client, then one verdict over both.
#   parallel everything `all` does, at once: one wstest fuzzingclient per
#            server (ports 9001...) and the fuzzingserver for the clients on
#            the next port, all running together; reports in
#            reports/servers/<crate>/ and reports/clients/. The full suite
#            (12.* and 13.* with their large compressed messages) takes about
#            15 minutes per peer in the Python 2 wstest; this mode runs the
#            peers side by side instead of one after another.
#
# The verdict comes from tests/autobahn/verdict.py (wstest itself always exits
# 0); this script exits non-zero when the verdict fails.
#
# Environment (all optional):
#   AUTOBAHN_CASES     comma-separated case patterns (default "*"), e.g. "1.*,2.*"
#   AUTOBAHN_DIR       where the suite is installed (default .autobahn)
#   CLIENT_CRATES      crates whose autobahn_client runs (default "tidings-tokio")
#   SERVER_CRATES      crates whose echo is tested (default all three)
#   WSTEST_TIMEOUT     seconds one wstest run may take (default 900)
#   CLIENT_TIMEOUT     seconds one client example run may take (default 900)
#   SERVER_START_TIMEOUT seconds to wait for a server to come up (default 60)
#   ECHO_CMD           stand-in echo server instead of the examples, to test
#                      this script itself; {addr} becomes 127.0.0.1:PORT
#   CLIENT_CMD         stand-in client instead of the examples, to test this
#                      script itself; {url} and {agent} are replaced
#   AUTOBAHN_ALLOW_UNIMPLEMENTED_DEFLATE=1  lets UNIMPLEMENTED pass for 12.*
#                      and 13.* (a peer or build without permessage-deflate);
#                      unset, the verdict is fully strict
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../interop/lib.sh
source "$HERE/../interop/lib.sh"
cd "$ROOT"

AUTOBAHN_DIR=${AUTOBAHN_DIR:-$ROOT/.autobahn}
WSTEST="$AUTOBAHN_DIR/venv27/bin/wstest"
AUTOBAHN_CASES=${AUTOBAHN_CASES:-*}
WSTEST_TIMEOUT=${WSTEST_TIMEOUT:-900}
CLIENT_TIMEOUT=${CLIENT_TIMEOUT:-900}
CLIENT_CRATES=${CLIENT_CRATES:-tidings-tokio}
SERVER_CRATES=${SERVER_CRATES:-${RUNTIME_CRATES[*]}}
FUZZINGSERVER_PORT=9001
SERVERS_INDEX="$ROOT/reports/servers/index.json"
CLIENTS_INDEX="$ROOT/reports/clients/index.json"
WORK="$ROOT/target/autobahn"   # logs, specs and the copied echo binaries

trap stop_all EXIT
mkdir -p "$WORK"

# ---- install ----------------------------------------------------------------

install_autobahn() {
    if "$WSTEST" -a >/dev/null 2>&1; then
        log "Autobahn TestSuite already installed in $AUTOBAHN_DIR (wstest -a works); reusing it"
        return 0
    fi
    local py27
    py27="$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")/versions/2.7.18/bin/python2.7"
    py27=${PYTHON27:-$py27}
    if [[ ! -x $py27 ]]; then
        die "Python 2.7 interpreter not found at $py27 (set PYTHON27 to one).
!!  The Autobahn TestSuite is Python 2 only; the Autobahn tests can NOT run.
!!  On this machine image it comes with pyenv as 2.7.18 (see CONFORMANCE.md)."
    fi
    log "installing the Autobahn TestSuite into $AUTOBAHN_DIR (about 1 minute)"
    local t0=$SECONDS
    # A half-made 2.7 env from an interrupted run is thrown away, not patched.
    rm -rf "$AUTOBAHN_DIR/venv27"
    mkdir -p "$AUTOBAHN_DIR"
    if [[ ! -x $AUTOBAHN_DIR/venv3/bin/virtualenv ]]; then
        rm -rf "$AUTOBAHN_DIR/venv3"
        python3 -m venv "$AUTOBAHN_DIR/venv3"
        # virtualenv 20.22 dropped creating Python 2.7 environments.
        "$AUTOBAHN_DIR/venv3/bin/pip" install --quiet 'virtualenv<20.22'
    fi
    "$AUTOBAHN_DIR/venv3/bin/virtualenv" --quiet -p "$py27" "$AUTOBAHN_DIR/venv27"
    # Never upgrade pip inside the 2.7 env. This builds wsaccel with gcc.
    "$AUTOBAHN_DIR/venv27/bin/pip" install --quiet --no-python-version-warning \
        autobahntestsuite==25.10.1 ||
        "$AUTOBAHN_DIR/venv27/bin/pip" install autobahntestsuite==25.10.1
    if ! "$WSTEST" -a; then
        die "Autobahn TestSuite installed but '$WSTEST -a' fails"
    fi
    log "Autobahn TestSuite installed in $((SECONDS - t0))s"
}

# cases_json: AUTOBAHN_CASES as a JSON list.
cases_json() {
    python3 -c 'import json,sys; print(json.dumps([c.strip() for c in sys.argv[1].split(",") if c.strip()]))' \
        "$AUTOBAHN_CASES"
}

# ---- servers ----------------------------------------------------------------

run_servers() {
    install_autobahn
    local bindir="$WORK/bin" crate port=$FUZZINGSERVER_PORT servers="" agents=""
    if [[ -z ${ECHO_CMD:-} ]]; then
        log "building the echo examples (release)"
        build_echo_binaries "$bindir"
    else
        loud "ECHO_CMD is set: testing the stand-in '$ECHO_CMD', NOT tidings"
    fi
    rm -rf "$ROOT/reports/servers"
    for crate in $SERVER_CRATES; do
        start_echo "$crate" "$port" "$bindir" "$WORK"
        servers+="${servers:+,}{\"agent\": \"$crate\", \"url\": \"ws://127.0.0.1:$port\"}"
        agents+="${agents:+,}$crate"
        port=$((port + 1))
    done
    cat >"$WORK/fuzzingclient.json" <<EOF
{"outdir": "$ROOT/reports/servers",
 "servers": [$servers],
 "cases": $(cases_json), "exclude-cases": [], "exclude-agent-cases": {}}
EOF
    log "running wstest -m fuzzingclient (cases: $AUTOBAHN_CASES; at most ${WSTEST_TIMEOUT}s)"
    cat "$WORK/fuzzingclient.json"
    local t0=$SECONDS
    (cd "$WORK" && timeout "$WSTEST_TIMEOUT" "$WSTEST" -m fuzzingclient -s "$WORK/fuzzingclient.json" \
        >"$WORK/fuzzingclient.log" 2>&1) ||
        { tail -n 30 "$WORK/fuzzingclient.log" >&2; die "wstest fuzzingclient failed or timed out (log: $WORK/fuzzingclient.log)"; }
    log "fuzzingclient finished in $((SECONDS - t0))s; reports in reports/servers/"
    stop_all
    VERDICT_ARGS+=("$SERVERS_INDEX" --expect "$agents")
}

# ---- client -----------------------------------------------------------------

# start_fuzzingserver PORT: starts wstest's fuzzingserver (the clients' peer,
# reports in reports/clients/) on 127.0.0.1:PORT and waits until it accepts.
# Bounded like everything else; stopped by PID through stop_all in any case.
start_fuzzingserver() {
    local port=$1
    cat >"$WORK/fuzzingserver.json" <<EOF
{"url": "ws://127.0.0.1:$port", "outdir": "$ROOT/reports/clients",
 "cases": $(cases_json), "exclude-cases": [], "exclude-agent-cases": {}}
EOF
    require_port_free "$port"
    start_bg "$WORK/fuzzingserver.log" \
        timeout "$WSTEST_TIMEOUT" "$WSTEST" -m fuzzingserver -u 0 -s "$WORK/fuzzingserver.json"
    wait_for_port "$BG_PID" "$port" "$WORK/fuzzingserver.log"
    log "fuzzingserver is up on 127.0.0.1:$port (pid $BG_PID)"
}

run_client() {
    install_autobahn
    local crate agents="" cmd
    rm -rf "$ROOT/reports/clients"
    if [[ -z ${CLIENT_CMD:-} ]]; then
        for crate in $CLIENT_CRATES; do
            [[ -f $ROOT/${RUNTIME_DIR[$crate]}/examples/autobahn_client.rs ]] ||
                die "$crate has no examples/autobahn_client.rs"
            log "building $crate's autobahn_client example (release)"
            cargo build --release -p "$crate" --example autobahn_client
        done
    else
        loud "CLIENT_CMD is set: testing the stand-in '$CLIENT_CMD', NOT tidings"
    fi
    start_fuzzingserver "$FUZZINGSERVER_PORT"
    local url="ws://127.0.0.1:$FUZZINGSERVER_PORT"
    for crate in $CLIENT_CRATES; do
        log "running $crate's autobahn_client against the fuzzingserver (at most ${CLIENT_TIMEOUT}s)"
        local t0=$SECONDS
        if [[ -n ${CLIENT_CMD:-} ]]; then
            local c=${CLIENT_CMD//\{url\}/$url}
            # Word splitting is intended: CLIENT_CMD is a plain command line.
            # shellcheck disable=SC2206
            cmd=(${c//\{agent\}/$crate})
        else
            cmd=(cargo run --release -p "$crate" --example autobahn_client -- "$url" "$crate")
        fi
        timeout "$CLIENT_TIMEOUT" "${cmd[@]}" >"$WORK/client-$crate.log" 2>&1 ||
            { tail -n 30 "$WORK/client-$crate.log" >&2; die "$crate's autobahn_client failed or timed out (log: $WORK/client-$crate.log)"; }
        log "$crate's client finished in $((SECONDS - t0))s"
        agents+="${agents:+,}$crate"
    done
    stop_all
    [[ -f $CLIENTS_INDEX ]] || die "no $CLIENTS_INDEX: did the client call /updateReports?agent=...?"
    VERDICT_ARGS+=("$CLIENTS_INDEX" --expect "$agents")
}

# ---- parallel ---------------------------------------------------------------

# wait_all NAME=PID...: waits for every PID and dies naming those that failed
# (timeout's exit status 124 included).
wait_all() {
    local entry failed=""
    for entry in "$@"; do
        wait "${entry#*=}" || failed+="${failed:+, }${entry%%=*}"
    done
    [[ -z $failed ]] || die "failed or timed out: $failed (logs in $WORK)"
}

run_parallel() {
    install_autobahn
    local bindir="$WORK/bin" crate port=$FUZZINGSERVER_PORT peers=() agents=""
    log "building the echo examples and the autobahn_client examples (release)"
    build_echo_binaries "$bindir"
    for crate in $CLIENT_CRATES; do
        cargo build --release -p "$crate" --example autobahn_client
        cp -f "$ROOT/target/release/examples/autobahn_client" "$bindir/autobahn_client-$crate"
    done
    rm -rf "$ROOT/reports/servers" "$ROOT/reports/clients"
    for crate in $SERVER_CRATES; do
        start_echo "$crate" "$port" "$bindir" "$WORK"
        cat >"$WORK/fuzzingclient-$crate.json" <<EOF
{"outdir": "$ROOT/reports/servers/$crate",
 "servers": [{"agent": "$crate", "url": "ws://127.0.0.1:$port"}],
 "cases": $(cases_json), "exclude-cases": [], "exclude-agent-cases": {}}
EOF
        start_bg "$WORK/fuzzingclient-$crate.log" env -C "$WORK" \
            timeout "$WSTEST_TIMEOUT" "$WSTEST" -m fuzzingclient -s "$WORK/fuzzingclient-$crate.json"
        peers+=("wstest-for-$crate=$BG_PID")
        VERDICT_ARGS+=("$ROOT/reports/servers/$crate/index.json" --expect "$crate")
        port=$((port + 1))
    done
    # The fuzzingserver for the clients, on the port after the servers'.
    start_fuzzingserver "$port"
    for crate in $CLIENT_CRATES; do
        start_bg "$WORK/client-$crate.log" \
            timeout "$CLIENT_TIMEOUT" "$bindir/autobahn_client-$crate" "ws://127.0.0.1:$port" "$crate"
        peers+=("client-$crate=$BG_PID")
        agents+="${agents:+,}$crate"
    done
    log "running ${#peers[@]} peers at once (cases: $AUTOBAHN_CASES; each at most ${WSTEST_TIMEOUT}s)"
    local t0=$SECONDS
    wait_all "${peers[@]}"
    log "all peers finished in $((SECONDS - t0))s"
    stop_all
    [[ -f $CLIENTS_INDEX ]] || die "no $CLIENTS_INDEX: did the client call /updateReports?agent=...?"
    VERDICT_ARGS+=("$CLIENTS_INDEX" --expect "$agents")
}

# ---- main -------------------------------------------------------------------

VERDICT_ARGS=()
case "${1:-all}" in
    install) install_autobahn; exit 0 ;;
    parallel) run_parallel ;;
    servers) run_servers ;;
    client) run_client ;;
    all) run_servers; run_client ;;
    *) echo "usage: $0 [install|servers|client|all|parallel]" >&2; exit 2 ;;
esac
echo
log "verdict (tests/autobahn/verdict.py ${VERDICT_ARGS[*]})"
if [[ -n ${ECHO_CMD:-}${CLIENT_CMD:-} ]]; then
    loud "STAND-IN RUN (ECHO_CMD/CLIENT_CMD set): the agents below are NOT tidings"
fi
python3 "$HERE/verdict.py" "${VERDICT_ARGS[@]}"
