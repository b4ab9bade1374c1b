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

# ---- 1. the browser ------------------------------------------------------------
browser_setup tidings-browser

# ---- 2-5. one run: the test server, headless Chromium, the verdict -------------
log "building the browser_check example of tidings-tokio"
cargo build -p tidings-tokio --example browser_check
SERVER_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/examples/browser_check"
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
    # QUIC off: the page uses no HTTP/3.
    browser_verdict "$name" "$scheme" "$server_log" --disable-quic "${chromium_args[@]}"
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
