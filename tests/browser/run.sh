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
# 5. Stops Chromium by PID and exits with the server's status.
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

# ---- 2. the test server --------------------------------------------------------
log "building the browser_check example of tidings-tokio"
cargo build -p tidings-tokio --example browser_check
SERVER_BIN="$ROOT/target/debug/examples/browser_check"
[[ -x $SERVER_BIN ]] || die "built, but $SERVER_BIN is missing"

SERVER_LOG="$WORK/server.log"
"$SERVER_BIN" 127.0.0.1:0 --timeout "$REPORT_TIMEOUT" >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!
waited=0
while ! grep -q '^listening on ' "$SERVER_LOG"; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        cat "$SERVER_LOG" >&2
        die "the test server exited before listening"
    fi
    if ((waited >= SERVER_START_TIMEOUT * 10)); then
        cat "$SERVER_LOG" >&2
        die "the test server did not listen within ${SERVER_START_TIMEOUT}s"
    fi
    sleep 0.1
    waited=$((waited + 1))
done
ADDR=$(sed -n 's/^listening on //p' "$SERVER_LOG" | head -n1)
[[ $ADDR == 127.0.0.1:* ]] || die "unexpected server address '$ADDR'"
log "test server pid $SERVER_PID on $ADDR"

# ---- 3. headless Chromium -----------------------------------------------------
PROFILE="$WORK/profile"
mkdir "$PROFILE"
CHROMIUM_LOG="$WORK/chromium.log"
# --no-sandbox: this CI runs as root. The background-networking flags keep
# Chromium from reaching out to Google's hosts (the network is closed here).
# --enable-logging=stderr puts the page's console lines in chromium.log.
"$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --disable-default-apps --disable-extensions --enable-logging=stderr --v=0 \
    --user-data-dir="$PROFILE" "http://$ADDR/" >"$CHROMIUM_LOG" 2>&1 &
CHROMIUM_PID=$!
log "chromium pid $CHROMIUM_PID on http://$ADDR/ (profile $PROFILE)"

# ---- 4. the verdict ------------------------------------------------------------
# The server stops itself after REPORT_TIMEOUT; the bound here only guards
# against it hanging beyond that. If Chromium dies first (a crash, missing
# libraries), the server gets CHROMIUM_GRACE seconds to finish, then the run
# fails at once with Chromium's log instead of waiting for the timeout.
# The server's output goes to its log and is followed live.
CHROMIUM_GRACE=5
tail -n +1 -f "$SERVER_LOG" --pid="$SERVER_PID" &
TAIL_PID=$!
deadline=$((SECONDS + REPORT_TIMEOUT + 30))
chromium_gone_at=""
while kill -0 "$SERVER_PID" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
        die "the test server did not exit within $((REPORT_TIMEOUT + 30))s"
    fi
    if [[ -z $chromium_gone_at ]] && ! kill -0 "$CHROMIUM_PID" 2>/dev/null; then
        chromium_gone_at=$SECONDS
        log "chromium (pid $CHROMIUM_PID) exited while the test was running"
    fi
    if [[ -n $chromium_gone_at ]] && ((SECONDS - chromium_gone_at >= CHROMIUM_GRACE)); then
        echo "---- chromium log (last 40 lines of $CHROMIUM_LOG) ----"
        tail -n 40 "$CHROMIUM_LOG" || true
        die "chromium exited before the page finished its checks"
    fi
    sleep 0.2
done
status=0
wait "$SERVER_PID" || status=$?
SERVER_PID=""
wait "$TAIL_PID" 2>/dev/null || true

if ! kill -0 "$CHROMIUM_PID" 2>/dev/null; then
    log "note: chromium had already exited before the verdict"
fi
stop_pid "$CHROMIUM_PID"
CHROMIUM_PID=""

echo
if ((status == 0)); then
    log "browser test PASSED"
else
    echo "---- chromium log (last 40 lines of $CHROMIUM_LOG) ----"
    tail -n 40 "$CHROMIUM_LOG" || true
    echo "!! browser test FAILED (server exit $status)"
fi
exit "$status"
