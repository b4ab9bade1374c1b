#!/usr/bin/env bash
# The real-browser test: headless Chromium (Debian's package) loads the check
# page of tidings-tokio's `browser_check` example, runs the checks with the
# browser's own WebSocket and EventSource, and reports every result back to
# that server.
#
#     bash tests/browser/run.sh
#
# 1. Installs Debian's chromium with apt-get if /usr/bin/chromium is missing
#    (needs root; fails loudly otherwise).
# 2. Builds the `browser_check` example (debug, like `cargo test`) and starts
#    it on 127.0.0.1 with a free port; it prints `listening on ADDR`.
# 3. Starts headless Chromium on http://ADDR/ with a fresh, empty profile
#    directory.
# 4. Waits for the server to exit (it decides the verdict: exit 0 only when
#    the page reported `done`, every required check was reported and none
#    failed; exit 1 on a failure or when the browser never reports within
#    REPORT_TIMEOUT seconds), bounded by `timeout` in case it hangs.
# 5. Stops Chromium by PID.
# 6. Steps 2-5 again over TLS: openssl (Debian's package, installed if
#    missing) makes a self-signed certificate for 127.0.0.1, the server is
#    started with `--tls-cert/--tls-key`, and Chromium loads
#    https://ADDR/ trusting exactly that certificate's key
#    (`--ignore-certificate-errors-spki-list` with the base64 SHA-256 of its
#    SubjectPublicKeyInfo; every other certificate error stays an error):
#    the page's sockets are wss:// and its EventSources https://, and it must
#    also report that it is a secure context (`page.https`).
# Exits 0 only when both runs passed.
#
# What is checked: runtime-tokio/examples/browser_check/page.html (the page)
# and main.rs (the routes, REQUIRED_PAGE_CHECKS and REQUIRED_SERVER_CHECKS).
#
# Environment (optional):
#   REPORT_TIMEOUT   seconds the server waits for the page to finish (default 60)
#   CHROMIUM         the browser binary (default /usr/bin/chromium)
#   KEEP_LOGS=1      keep the work directory (logs, profile) after a pass
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# log, die and stop_pid are shared with the interop and Autobahn runners.
# shellcheck source=SCRIPTDIR/../interop/lib.sh
source "$HERE/../interop/lib.sh"
cd "$ROOT"

REPORT_TIMEOUT=${REPORT_TIMEOUT:-60}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tidings-browser.XXXXXX")
SERVER_PID=""
CHROMIUM_PID=""

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    local rc=$?
    stop_pid "$CHROMIUM_PID"
    stop_pid "$SERVER_PID"
    if ((rc != 0)) || [[ -n ${KEEP_LOGS:-} ]]; then
        log "logs kept in $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

# ---- 1. the browser ------------------------------------------------------------
if [[ ! -x $CHROMIUM ]]; then
    if [[ $CHROMIUM != /usr/bin/chromium ]]; then
        die "CHROMIUM=$CHROMIUM is not an executable"
    fi
    if [[ $(id -u) -ne 0 ]]; then
        die "/usr/bin/chromium is missing and installing it needs root: run 'apt-get update && apt-get install -y chromium' as root, then rerun"
    fi
    log "installing Debian's chromium (apt-get; a few minutes the first time)"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
    [[ -x $CHROMIUM ]] || die "apt-get install chromium did not provide $CHROMIUM"
fi
log "browser: $("$CHROMIUM" --version 2>/dev/null || echo "unknown version ($CHROMIUM --version failed)")"

# ---- 2-5. one run: the test server, headless Chromium, the verdict -------------
log "building the browser_check example of tidings-tokio"
cargo build -p tidings-tokio --example browser_check
SERVER_BIN="$ROOT/target/debug/examples/browser_check"
[[ -x $SERVER_BIN ]] || die "built, but $SERVER_BIN is missing"

# run_check NAME SCHEME [SERVER_ARG...] -- [CHROMIUM_ARG...]: one run of the
# page served over SCHEME (http or https); sets RUN_STATUS to the server's
# exit status.
run_check() {
    local name=$1 scheme=$2 server_args=() chromium_args=()
    shift 2
    while (($#)) && [[ $1 != -- ]]; do server_args+=("$1"); shift; done
    (($#)) && shift
    chromium_args=("$@")
    echo
    log "==== browser check over $name"
    local server_log="$WORK/server-$name.log"
    "$SERVER_BIN" 127.0.0.1:0 --timeout "$REPORT_TIMEOUT" "${server_args[@]}" >"$server_log" 2>&1 &
    SERVER_PID=$!
    local waited=0
    while ! grep -q '^listening on ' "$server_log"; do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            cat "$server_log" >&2
            die "the test server exited before listening"
        fi
        if ((waited >= SERVER_START_TIMEOUT * 10)); then
            cat "$server_log" >&2
            die "the test server did not listen within ${SERVER_START_TIMEOUT}s"
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
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
    "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --disable-default-apps --disable-extensions --enable-logging=stderr --v=0 \
        "${chromium_args[@]}" \
        --user-data-dir="$profile" "$scheme://$addr/" >"$chromium_log" 2>&1 &
    CHROMIUM_PID=$!
    log "chromium pid $CHROMIUM_PID on $scheme://$addr/ (profile $profile)"

    # The server stops itself after REPORT_TIMEOUT; the bound here only
    # guards against it hanging beyond that. If Chromium dies first (a
    # crash, missing libraries), the server gets CHROMIUM_GRACE seconds to
    # finish, then the run fails at once with Chromium's log instead of
    # waiting for the timeout. The server's output is followed live.
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
        echo "!! browser check over $name FAILED (server exit $RUN_STATUS)"
    fi
}

status=0
run_check http http
plain_status=$RUN_STATUS

# ---- 6. the same over TLS ---------------------------------------------------------
if ! command -v openssl >/dev/null; then
    [[ $(id -u) -eq 0 ]] || die "openssl is missing and installing it needs root: apt-get install -y openssl"
    log "installing Debian's openssl (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y openssl
fi
CERTS="$WORK/certs"
mkdir "$CERTS"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -keyout "$CERTS/key.pem" -out "$CERTS/cert.pem" -subj "/CN=tidings browser check" \
    -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" 2>"$CERTS/openssl.log" ||
    { cat "$CERTS/openssl.log" >&2; die "openssl could not make the test certificate"; }
SPKI=$(openssl x509 -in "$CERTS/cert.pem" -noout -pubkey | openssl pkey -pubin -outform der |
    openssl dgst -sha256 -binary | base64)
log "test certificate for 127.0.0.1, SPKI sha256 $SPKI"
run_check https https --tls-cert "$CERTS/cert.pem" --tls-key "$CERTS/key.pem" -- \
    --ignore-certificate-errors-spki-list="$SPKI"
tls_status=$RUN_STATUS

echo
if ((plain_status == 0 && tls_status == 0)); then
    log "browser test PASSED (http and https)"
else
    log "browser test FAILED: http exit $plain_status, https exit $tls_status"
    status=1
fi
exit "$status"
