#!/usr/bin/env bash
# The WebTransport real-browser test: headless Chromium (Debian's package)
# loads a page from http://127.0.0.1 (a secure context) and runs
# WebTransport checks with the browser's own `WebTransport` and
# `serverCertificateHashes` (no flags, no trusted CA) against the wt_echo
# example of each runtime (wt_echo, wt_echo_async_std, wt_echo_smol) and
# against WebTransport routes that open streams and close sessions from the
# server side on the same runtime.
#
#     bash tests/browser/webtransport.sh
#
# 1. Installs Debian's chromium with apt-get if /usr/bin/chromium is missing
#    (as tests/browser/run.sh does; needs root).
# 2. Builds the three wt_echo examples and tidings-tests' wt_check binary
#    (debug, like `cargo test`).
# 3. For each runtime: starts wt_check (tests/browser/webtransport/main.rs)
#    with --runtime and --echo-bin; it starts the echo example itself,
#    serves the page (page.html beside it) and prints `listening on ADDR`.
#    Headless Chromium loads http://ADDR/; the page reports every result
#    back, and wt_check exits 0 only when every required check passed.
# 4. Prints the PASS/FAIL lines and a count over the three runtimes; exits 0
#    only when all three passed.
#
# What is checked: ready; bidi echo; uni echo both ways (the server's answer
# on a new uni stream read from incomingUnidirectionalStreams); datagram
# echo; 1 MiB over a bidi stream echoed intact (SHA-256); server-opened
# bidi (the page answers, the server checks) and uni streams; close code
# and reason from the page seen by the echo (its `session closed:` line)
# and by wt_check's /push route; a server close seen by the page
# (`closed` resolves with {closeCode, reason}).
#
# Environment (optional):
#   REPORT_TIMEOUT   seconds each wt_check waits for the page (default 60)
#   CHROMIUM         the browser binary (default /usr/bin/chromium)
#   KEEP_LOGS=1      keep the work directory (logs, profiles) after a pass
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../interop/lib.sh
source "$HERE/../interop/lib.sh"
cd "$ROOT"

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
browser_setup tidings-wt-browser

log "building the wt_echo examples and the wt_check server"
cargo build -p tidings-tests --bin wt_check \
    -p tidings-tokio --example wt_echo \
    -p tidings-async-std --example wt_echo_async_std \
    -p tidings-smol --example wt_echo_smol \
    --features tidings-tokio/webtransport,tidings-async-std/webtransport,tidings-smol/webtransport
CHECK_BIN="$TARGET/debug/wt_check"
[[ -x $CHECK_BIN ]] || die "built, but $CHECK_BIN is missing"

declare -A ECHO_BIN=(
    [tokio]="$TARGET/debug/examples/wt_echo"
    [async-std]="$TARGET/debug/examples/wt_echo_async_std"
    [smol]="$TARGET/debug/examples/wt_echo_smol"
)

# run_check RUNTIME: one run of the page against RUNTIME; sets RUN_STATUS.
run_check() {
    local runtime=$1
    echo
    log "==== WebTransport browser check on $runtime"
    local server_log="$WORK/server-$runtime.log"
    "$CHECK_BIN" --runtime "$runtime" --echo-bin "${ECHO_BIN[$runtime]}" \
        --timeout "$REPORT_TIMEOUT" >"$server_log" 2>&1 &
    SERVER_PID=$!
    # QUIC on (WebTransport runs over it): no --disable-quic here.
    browser_verdict "$runtime" http "$server_log"
    local fails
    fails=$(grep -c '^FAIL ' "$server_log" || true)
    # A run that failed without a FAIL line (a crash) still counts once.
    ((RUN_STATUS == 0 || fails > 0)) || fails=1
    PASSED=$((PASSED + $(grep -c '^PASS ' "$server_log" || true)))
    FAILED=$((FAILED + fails))
}

PASSED=0
FAILED=0
failed_runtimes=()
for runtime in tokio async-std smol; do
    run_check "$runtime"
    ((RUN_STATUS == 0)) || failed_runtimes+=("$runtime")
done

echo
if ((${#failed_runtimes[@]} == 0 && FAILED == 0)); then
    log "WebTransport browser test PASSED (tokio, async-std, smol)"
    echo "webtransport-browser: $PASSED passed, $FAILED failed"
    exit 0
fi
log "WebTransport browser test FAILED on: ${failed_runtimes[*]:-(none by exit status)}"
echo "webtransport-browser: $PASSED passed, $FAILED failed"
exit 1
