#!/usr/bin/env bash
# The chat example's own page in headless Chromium (Debian's package): the
# page joins a room over WebTransport (the chat serves it on the UDP port of
# its TCP port's number, with a fresh certificate the page accepts by its
# hash), chats both ways with a WebSocket member, and leaves; the server
# counts the session. The page is driven over the DevTools protocol by
# tests/browser/chat_check.py.
#
#     bash tests/browser/chat.sh
#
# Needs Python's `websockets` (taken from .interop/venv when the interop
# stage made it, else installed from PyPI into a venv of its own) and
# Chromium (installed with apt-get when missing, as tests/browser/run.sh).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../interop/lib.sh
source "$HERE/../interop/lib.sh"
cd "$ROOT"

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
browser_setup tidings-chat-browser

PY="$ROOT/.interop/venv/bin/python"
if ! [[ -x $PY ]] || ! "$PY" -c 'import websockets' 2>/dev/null; then
    log "installing python websockets into $WORK/venv"
    python3 -m venv "$WORK/venv"
    "$WORK/venv/bin/pip" install --quiet 'websockets>=13,<18'
    PY="$WORK/venv/bin/python"
fi

log "building the chat example"
cargo build -p tidings-tokio --example chat
CHAT_BIN="$TARGET/debug/examples/chat"

server_log="$WORK/chat.log"
"$CHAT_BIN" 127.0.0.1:0 >"$server_log" 2>&1 &
SERVER_PID=$!
wait_for_line "$SERVER_PID" "$server_log" "webtransport on "
addr=$(sed -n 's/^listening on //p' "$server_log" | head -n1)
[[ $addr == 127.0.0.1:* ]] || die "unexpected chat address '$addr'"
log "chat pid $SERVER_PID on $addr ($(grep '^webtransport on ' "$server_log"))"

devtools=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir "$WORK/profile"
# QUIC on (WebTransport runs over it).
"$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --disable-default-apps --disable-extensions \
    --remote-debugging-address=127.0.0.1 --remote-debugging-port="$devtools" \
    --user-data-dir="$WORK/profile" "http://$addr/" >"$WORK/chromium.log" 2>&1 &
CHROMIUM_PID=$!
log "chromium pid $CHROMIUM_PID, DevTools on 127.0.0.1:$devtools"

status=0
timeout 120 "$PY" "$HERE/chat_check.py" "$addr" "$devtools" || status=$?
if ((status != 0)); then
    echo "---- chat server log ----"
    tail -n 20 "$server_log" || true
    die "the chat page checks failed"
fi
log "chat page test PASSED"
