#!/usr/bin/env bash
# Three chat nodes (separate processes of the `chat` example with
# `--redis`) on one redis-server, checked by tests/cluster/check.js with
# Node's `ws` client: cross-node chat exactly once and in order, and a node
# drained by SIGTERM (1001 for its WebSocket clients, its SSE streams end,
# exit status 0) while the others chat on; then a node SIGKILLed: its room
# members leave the other nodes' view within the presence TTL.
#
#     bash tests/cluster/run.sh
#
# Needs redis-server (.ci/install-redis), Node and npm (`ws` 8.x is
# installed into .interop/ when missing, as the interop stage does).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../interop/lib.sh
source "$HERE/../interop/lib.sh"
cd "$ROOT"

INTEROP_DIR="$ROOT/.interop"
WORK="${CARGO_TARGET_DIR:-$ROOT/target}/cluster"
PORTS=(18181 18182 18183)
trap stop_all EXIT
mkdir -p "$WORK"

command -v redis-server >/dev/null || die "redis-server not found (bash .ci/install-redis)"
command -v node >/dev/null || die "node not found"
if [[ ! -f $INTEROP_DIR/node_modules/ws/package.json ]]; then
    command -v npm >/dev/null || die "npm not found: needed for the ws client"
    log "installing node ws 8.x into $INTEROP_DIR/node_modules"
    mkdir -p "$INTEROP_DIR"
    npm install --prefix "$INTEROP_DIR" --no-audit --no-fund --silent 'ws@8'
fi

run_logged() {
    echo "+ $*"
    "$@"
}
run_logged cargo build -p tidings-tokio --example chat
chat="$WORK/chat"
cp "${CARGO_TARGET_DIR:-target}/debug/examples/chat" "$chat"

redis_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
for port in "${PORTS[@]}"; do require_port_free "$port"; done
start_bg "$WORK/redis.log" redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no
wait_for_port "$BG_PID" "$redis_port" "$WORK/redis.log"

pids=()
for i in 0 1 2; do
    node_name=$(printf '%s' abc | cut -c$((i + 1)))
    start_bg "$WORK/node-$node_name.log" "$chat" "127.0.0.1:${PORTS[$i]}" \
        --redis "redis://127.0.0.1:$redis_port" --node "$node_name"
    wait_for_line "$BG_PID" "$WORK/node-$node_name.log" "listening on"
    pids+=("$BG_PID")
done

status=0
NODE_PATH="$INTEROP_DIR/node_modules" timeout 120 \
    node "$HERE/check.js" "${PORTS[@]}" "${pids[2]}" "${pids[1]}" || status=$?

# The drained node must have exited by itself, with status 0.
drained=0
for _ in $(seq 100); do
    kill -0 "${pids[2]}" 2>/dev/null || { drained=1; break; }
    sleep 0.1
done
if ((drained)); then
    wait "${pids[2]}" && node_status=0 || node_status=$?
    if ((node_status == 0)); then
        log "ok   the drained node exited with status 0"
    else
        log "FAIL the drained node exited with status $node_status"
        status=1
    fi
else
    log "FAIL the drained node was still running 10 s after SIGTERM"
    status=1
fi
((status == 0)) || die "chat cluster checks failed (logs in $WORK)"
log "chat cluster: all checks passed"
