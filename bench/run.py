"""Runs the benchmarks of bench/ and prints the tables (see README.md, "Benchmarks").

    python3 bench/run.py BIN_DIR     (bench/run builds BIN_DIR first)

Every server runs pinned to core 0 with one tokio worker (TOKIO_WORKER_THREADS=1),
the load generator pinned to core 1. Rounds are interleaved: each round runs
every echo scenario against every server in turn (a fresh process each time),
in an order rotated by one per round. Medians over the rounds are printed, with
ratios against the best of the other libraries: each round's ratio against the
best competitor of the same round and scenario, median over the rounds (the
machine's slow spells then cancel out). Raw results go to BIN_DIR/results.json.

Environment: BENCH_QUICK=1 (1 round, 1 s windows, 2,000 connections for memory
and broadcast), BENCH_ROUNDS, BENCH_SECS, BENCH_SERVERS (comma-separated names),
BENCH_PARTS (comma-separated: echo, memory, broadcast, fanout), BENCH_SCENARIOS (comma-separated
echo scenarios, e.g. "b,c"), BENCH_EXTRA (more echo binaries, see below), BENCH_RT=1 (run the
servers and the load generator under SCHED_FIFO, `chrt -f 10`, needs root: on a
machine busy with other work, wake-ups otherwise wait behind it and every figure
measures the scheduler), BENCH_NICE (a niceness for both, a milder alternative).

BENCH_SYSCALLS=1: the echo and fan-out parts also count each server's system calls over
the window (`loadgen --syscalls 1`: `perf stat` on the system-call tracepoints, switched
on and off at the window's edges), printed as calls/msg and calls/del, with reads, writes
and epoll waits apart in the log. Off by default: the tracepoints add work to every system
call of the server, so the CPU and latency figures are taken without them (in four burst
runs each way on 2026-12-06 the difference was within the runs' spread).

BENCH_AXUM=1: the echo and memory parts for two servers only, both axum 0.8
apps on tokio: "axum-tidings" (tidings-axum's WsUpgrade extractor, a tidings
Connection) and "axum" (axum's own WebSocketUpgrade, tokio-tungstenite), the
ratios against the latter.

BENCH_TLS=1: the same echo and memory parts over TLS (wss://). Every server is
started with `--tls-cert CERT.pem --tls-key KEY.pem` (one ECDSA P-256 leaf for
all, from make_certs) and the load generator speaks TLS 1.3 with one cipher
suite (TLS13_AES_128_GCM_SHA256, rustls' *ring* provider on both sides); the
servers are tidings (tokio, async-std, smol) and tokio-tungstenite over
tokio-rustls, the one competitor; scenarios a-d by default.

BENCH_PARTS=fanout (not in the default parts: it takes several minutes): the chat
contract's broadcast, tidings' `chat` example against `chat_axum` (an idiomatic
axum 0.8 chat over tokio::sync::broadcast), `loadgen fanout` for each scenario of
FANOUTS, BENCH_FANOUT_ROUNDS rounds (default 1) interleaved: every copy counted
once per client (missing and duplicates reported), latency p50/p99 from stamps in
the messages, server CPU per delivered message (over the publishing phase only)
and its ratio against axum, and the setup time (connecting every client and
delivering the join notices; BENCH_FANOUT_SETUP_SECS bounds it, by default 900 s
for 10,000 members in one room, 300 s otherwise). BENCH_FANOUT_SCENARIOS selects
scenarios (comma-separated: ws, sse, burst).

BENCH_WT=1: WebTransport over HTTP/3 instead (`bench/run` then builds only the
WebTransport binaries). tidings' echo (the framework's `echo` handler on
`/echo`, as the wt_echo examples serve it) on tokio, async-std and smol, against
the same echo on wtransport (tokio), the one competitor; both on quinn 0.11.
The load generator is wtransport's client for every server (`loadgen wt-echo`,
`wt-memory`), one QUIC connection per session, on core 1. Scenarios: s1k and
s64k, 10 sessions each sending one 1 KiB or 64 KiB message at a time on a bidi
stream and waiting for the whole echo; dg, 10 sessions each sending one 512-byte
datagram at a time (a lost one is given up after 100 ms and counted in
`lost`). Memory: server RSS delta over 1,000 idle sessions (200 with
BENCH_QUICK), then after one 16-byte bidi stream echo on each.
"""

import json
import os
import socket
import statistics
import subprocess
import sys
import time

BIN = sys.argv[1]
QUICK = os.environ.get("BENCH_QUICK") == "1"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "1" if QUICK else "3"))
SECS = float(os.environ.get("BENCH_SECS", "1" if QUICK else "2"))
WARMUP = 0.3 if QUICK else 0.5
MANY = 2_000 if QUICK else 10_000
BROADCAST_ROUNDS = 3 if QUICK else 5
TLS = os.environ.get("BENCH_TLS") == "1"
# BENCH_SYSCALLS=1: loadgen counts the servers' system calls (echo, fanout).
SYSCALL_ARGS = ["--syscalls", "1"] if os.environ.get("BENCH_SYSCALLS") == "1" else []
WT = os.environ.get("BENCH_WT") == "1"
if WT:
    MANY = 200 if QUICK else 1_000
PARTS = os.environ.get("BENCH_PARTS", "echo,memory" if TLS or WT else "echo,memory,broadcast").split(",")
SERVER_CORE, LOAD_CORE = "0", "1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
NICE = os.environ.get("BENCH_NICE")
RT = os.environ.get("BENCH_RT") == "1"


def pinned(core, *cmd):
    """`cmd` pinned to `core`, under SCHED_FIFO (BENCH_RT) or niceness BENCH_NICE if set."""
    priority = ["chrt", "-f", "10"] if RT else ["nice", "-n", NICE] if NICE else []
    return [*priority, "taskset", "-c", core, *cmd]

# BENCH_AXUM=1: WebSocket echo inside an axum 0.8 app, tidings' extractor
# (tidings-axum's WsUpgrade, "axum-tidings") against axum's own
# WebSocketUpgrade ("axum"): same app, same runtime; echo and memory parts.
AXUM = os.environ.get("BENCH_AXUM") == "1"
if AXUM:
    COMPETITORS = ["axum"]
    TIDINGS = ["axum-tidings"]
    PARTS = [p for p in PARTS if p != "broadcast"]
elif WT:
    COMPETITORS = ["wtransport"]
    TIDINGS = ["tidings-tokio", "tidings-async-std", "tidings-smol"]
elif TLS:
    COMPETITORS = ["tokio-tungstenite"]
    TIDINGS = ["tidings-tokio", "tidings-async-std", "tidings-smol"]
else:
    COMPETITORS = ["tokio-tungstenite", "fastwebsockets", "tokio-websockets"]
    TIDINGS = ["tidings-tokio", "tidings-async-std", "tidings-smol"]
# Not a competitor: the least work any WebSocket echo server can do (one
# read, unmask, one write; no validation), i.e. what the kernel and tokio
# cost per message. A server's CPU cannot go much below it. (No TLS.)
FLOOR = [] if TLS or WT or AXUM else ["floor"]
ECHO_BINARIES = {
    "floor": "echo_floor",
    "tokio-tungstenite": "echo_tungstenite",
    "fastwebsockets": "echo_fastwebsockets",
    "tokio-websockets": "echo_tokio_websockets",
    "tidings-tokio": "echo-tidings-tokio",
    "tidings-async-std": "echo-tidings-async-std",
    "tidings-smol": "echo-tidings-smol",
    "axum": "echo_axum",
    "axum-tidings": "echo_axum_tidings",
}
if WT:
    ECHO_BINARIES = {
        "wtransport": "wt_wtransport",
        "tidings-tokio": "wt_tidings_tokio",
        "tidings-async-std": "wt_tidings_async_std",
        "tidings-smol": "wt_tidings_smol",
    }
# BENCH_EXTRA: more echo servers, "name=binary" pairs (comma-separated) of
# binaries in BIN_DIR, e.g. an earlier build to compare against; name them
# in BENCH_SERVERS too.
ECHO_BINARIES.update(pair.split("=", 1) for pair in os.environ.get("BENCH_EXTRA", "").split(",") if pair)
SERVERS = [s for s in os.environ.get("BENCH_SERVERS", ",".join(FLOOR + COMPETITORS + TIDINGS)).split(",") if s]

# name: (connections, payload bytes, messages in flight per connection)
SCENARIOS = {
    "a": (1, 16, 1),
    "b": (100, 16, 1),
    "c": (10, 64 << 10, 1),
    "d": (1000, 512, 1),
    "e": (100, 16, 16),
}
# BENCH_WT: name: (sessions, payload bytes, "stream" or "datagram")
WT_SCENARIOS = {
    "s1k": (10, 1 << 10, "stream"),
    "s64k": (10, 64 << 10, "stream"),
    "dg": (10, 512, "datagram"),
}
if WT:
    SCENARIOS = WT_SCENARIOS
SCENARIOS = {k: v for k, v in SCENARIOS.items()
             if k in os.environ.get("BENCH_SCENARIOS", "a,b,c,d" if TLS else ",".join(SCENARIOS)).split(",")}

# BENCH_TLS: the certificates every server and the load generator use.
CERTS = os.path.join(BIN, "tls")
SERVER_TLS_ARGS = ["--tls-cert", os.path.join(CERTS, "cert.pem"), "--tls-key", os.path.join(CERTS, "key.pem")] if TLS else []
LOADGEN_TLS_ARGS = ["--tls", os.path.join(CERTS, "ca.pem")] if TLS else []


def log(*words):
    print("--", *words, file=sys.stderr, flush=True)


def free_port():
    # WebTransport servers bind UDP.
    with socket.socket(type=socket.SOCK_DGRAM if WT else socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One server process, pinned to SERVER_CORE, stopped on exit of the with-block."""

    def __init__(self, binary):
        self.addr = f"127.0.0.1:{free_port()}"
        env = dict(os.environ, TOKIO_WORKER_THREADS="1", ASYNC_STD_THREAD_COUNT="1", SMOL_THREADS="1")
        self.proc = subprocess.Popen(
            pinned(SERVER_CORE, os.path.join(BIN, binary), self.addr, *SERVER_TLS_ARGS),
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True,
        )
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            self.stop()
            raise RuntimeError(f"{binary} did not start: {line!r}")

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.stop()

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def loadgen(*args, timeout=300):
    cmd = pinned(LOAD_CORE, os.path.join(BIN, "loadgen"), *map(str, args), "--timeout", str(timeout))
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 30)
    if done.returncode != 0:
        raise RuntimeError(f"loadgen {' '.join(map(str, args))}: {done.stderr.strip()}")
    return json.loads(done.stdout)


def run_echo(results):
    # Scenario by scenario, every server in turn (a fresh process each), so
    # that the figures compared are measured within seconds of each other:
    # this machine has slow spells that last tens of seconds.
    for round_ in range(ROUNDS):
        order = SERVERS[round_ % len(SERVERS):] + SERVERS[:round_ % len(SERVERS)]
        for scenario, (conns, size, inflight) in SCENARIOS.items():
            for name in order:
                try:
                    with Server(ECHO_BINARIES[name]) as server:
                        # BENCH_WT: `inflight` is the kind, stream or datagram.
                        shape = (["wt-echo", "--sessions", conns, "--kind", inflight] if WT
                                 else ["echo", "--conns", conns, "--inflight", inflight])
                        r = loadgen(*shape, *SYSCALL_ARGS, "--addr", server.addr, "--size", size,
                                    "--warmup", WARMUP, "--secs", SECS,
                                    "--pid", server.proc.pid, *LOADGEN_TLS_ARGS, timeout=60)
                except Exception as error:  # one failure must not hide the other figures
                    log(f"round {round_ + 1} {name} ({scenario}) failed: {error}")
                    continue
                per_msg = lambda ticks: ticks / CLK_TCK / max(r["messages"], 1) * 1e6
                r["round"] = round_
                r["cpu_us_per_msg"] = per_msg(r["cpu_ticks"])
                r["user_us_per_msg"] = per_msg(r.get("user_ticks", 0))
                r["sys_us_per_msg"] = per_msg(r.get("system_ticks", 0))
                # The server's system calls per message (perf stat; None
                # without perf or the right to use it, and for BENCH_WT).
                r["calls_per_msg"] = (r["syscalls"] / max(r["messages"], 1)
                                      if "syscalls" in r else None)
                results.setdefault(name, {}).setdefault(scenario, []).append(r)
                log(f"round {round_ + 1} {name} ({scenario}): {r['rate']:.0f} msg/s, "
                    f"p50 {r['p50_us']:.0f} us, cpu {r['cpu_us_per_msg']:.2f} us/msg"
                    + (f", syscalls/msg {r['calls_per_msg']:.2f} (read "
                       f"{r['syscalls_read'] / max(r['messages'], 1):.2f}, write "
                       f"{r['syscalls_write'] / max(r['messages'], 1):.2f}, epoll "
                       f"{r['syscalls_wait'] / max(r['messages'], 1):.3f})"
                       if r["calls_per_msg"] is not None else "")
                    + (f", {r['lost']} lost" if r.get("lost") else ""))


def round_ratios(rows, name, key, best, versus=COMPETITORS):
    """`name`'s `key` over the best of `versus` in the same round, one
    ratio per round in which both were measured."""
    ratios = []
    for r in rows[name]:
        same_round = [c[key] for n in versus if n in rows
                      for c in rows[n] if c["round"] == r["round"]]
        if same_round and best(same_round):
            ratios.append(r[key] / best(same_round))
    return ratios


def median(runs, key):
    return statistics.median(r[key] for r in runs)


def median_counted(runs, key):
    """The median of `key` over the runs that have it (not None), or None."""
    counted = [r[key] for r in runs if r[key] is not None]
    return statistics.median(counted) if counted else None


def median_ratio(ratios):
    return f"{statistics.median(ratios):.2f}x" if ratios else "-"


def ratio(value, best):
    return f"{value / best:.2f}x" if best else "-"


def print_echo(results):
    if TLS:
        print("\nOVER TLS (BENCH_TLS=1): wss://, TLS 1.3, TLS13_AES_128_GCM_SHA256, ECDSA P-256 "
              "certificate, rustls with *ring* on every side.")
    if WT:
        print("\nWEBTRANSPORT (BENCH_WT=1): HTTP/3 over QUIC (quinn 0.11 on every side), the load "
              "generator\nis wtransport's client for every server, one QUIC connection per session; "
              "'lost' counts\ndatagrams given up after 100 ms (all rounds).")
    print(f"\nEcho: median of {ROUNDS} round(s), {SECS:g} s windows; server on core {SERVER_CORE} "
          f"(1 worker), load generator on core {LOAD_CORE}.")
    text = ("Ratios: rate / best competitor's rate in the same round (higher is better) and CPU /\n"
          "best competitor's CPU in the same round (lower is better), median over the rounds;\n"
          "'vs tokio': the async-std and smol servers' rate / tidings-tokio's, likewise.\n"
          "'best rounds': each server's fastest round (rate) and cheapest round (CPU) against\n"
          "the best competitor's: the kernel has slow modes (e.g. system time doubling for\n"
          "64 KiB messages in some runs of every server) that a median of few rounds does not\n"
          "always hide. CPU per message is split into user and system time; 'calls/msg' is the\n"
          "server's system calls per message (BENCH_SYSCALLS=1: perf stat; the log has reads,\n"
          "writes and epoll waits apart). 'floor' is a\n"
          "reference, not a competitor: one read, unmask, one write per message, no validation\n"
          "(bench/src/bin/echo_floor.rs), i.e. what the kernel and tokio cost.")
    # No floor server in the WebTransport runs.
    print(text.split(" 'floor' is")[0] if WT else text)
    for scenario, (conns, size, inflight) in SCENARIOS.items():
        rows = {n: results[n][scenario] for n in SERVERS if scenario in results.get(n, {})}
        if not rows:
            continue
        meds = {n: {k: median(runs, k) for k in ("rate", "p50_us", "p99_us", "cpu_us_per_msg",
                                                 "user_us_per_msg", "sys_us_per_msg")}
                for n, runs in rows.items()}
        for n, runs in rows.items():
            meds[n]["calls_per_msg"] = median_counted(runs, "calls_per_msg")
        ratios = {n: {"rate": round_ratios(rows, n, "rate", max),
                      "cpu": round_ratios(rows, n, "cpu_us_per_msg", min),
                      "tokio": round_ratios(rows, n, "rate", max, ["tidings-tokio"])} for n in rows}
        best_rate = {n: max(r["rate"] for r in runs) for n, runs in rows.items()}
        best_cpu = {n: min(r["cpu_us_per_msg"] for r in runs) for n, runs in rows.items()}
        top_rate = max((best_rate[n] for n in COMPETITORS if n in rows), default=0)
        top_cpu = min((best_cpu[n] for n in COMPETITORS if n in rows), default=0)
        if WT:
            lost = sum(r.get("lost", 0) for runs in rows.values() for r in runs)
            print(f"\n({scenario}) {conns} sessions x {size} B {inflight} messages, one at a time each"
                  + (f" ({lost} datagrams lost)" if inflight == "datagram" else ""))
        else:
            print(f"\n({scenario}) {conns} conn x {size} B, {inflight} in flight")
        print(f"  {'server':<18} {'msgs/s':>10} {'p50 us':>9} {'p99 us':>9} {'cpu us/msg':>11} "
              f"{'(user':>7} {'+ sys)':>7} {'calls/msg':>10} {'rate ratio':>11} {'cpu ratio':>10} {'vs tokio':>9} "
              f"{'best rounds: rate':>18} {'cpu':>6}")
        for name, m in meds.items():
            print(f"  {name:<18} {m['rate']:>10.0f} {m['p50_us']:>9.1f} {m['p99_us']:>9.1f} "
                  f"{m['cpu_us_per_msg']:>11.3f} {m['user_us_per_msg']:>7.2f} {m['sys_us_per_msg']:>7.2f} "
                  f"{'-' if m['calls_per_msg'] is None else format(m['calls_per_msg'], '.2f'):>10} "
                  f"{median_ratio(ratios[name]['rate']):>11} {median_ratio(ratios[name]['cpu']):>10} "
                  f"{median_ratio(ratios[name]['tokio']) if name in TIDINGS[1:] else '':>9} "
                  f"{ratio(best_rate[name], top_rate):>18} {ratio(best_cpu[name], top_cpu):>6}")


def run_memory(results):
    for name in [s for s in SERVERS if s not in FLOOR]:
        with Server(ECHO_BINARIES[name]) as server:
            try:
                shape = ["wt-memory", "--sessions", MANY] if WT else ["memory", "--conns", MANY]
                results[name] = loadgen(*shape, "--addr", server.addr,
                                        "--pid", server.proc.pid, *LOADGEN_TLS_ARGS, timeout=180)
            except Exception as error:
                log(f"memory {name} failed: {error}")
                continue
            log(f"memory {name}: {results[name]}")


def print_memory(results):
    unit = "session" if WT else "connection"
    print(f"\nMemory: server RSS delta / {MANY} {unit}s (bytes per {unit})")
    # Ratios against the best competitor (lower is better).
    best = {k: min((results[n][k] for n in COMPETITORS if n in results), default=0)
            for k in ("idle_per_conn", "echoed_per_conn")}
    print(f"  {'server':<18} {'idle':>10} {'after 1 echo':>13} {'idle ratio':>11} {'echo ratio':>11}")
    for name, r in results.items():
        print(f"  {name:<18} {r['idle_per_conn']:>10.0f} {r['echoed_per_conn']:>13.0f} "
              f"{ratio(r['idle_per_conn'], best['idle_per_conn']):>11} "
              f"{ratio(r['echoed_per_conn'], best['echoed_per_conn']):>11}")


BROADCASTS = [("tidings-tokio", "broadcast_tidings", "ws"),
              ("tidings-tokio", "broadcast_tidings", "sse"),
              ("axum", "broadcast_axum", "sse")]


def run_broadcast(results):
    for name, binary, kind in BROADCASTS:
        with Server(binary) as server:
            try:
                r = loadgen("broadcast", "--addr", server.addr, "--kind", kind, "--clients", MANY,
                            "--rounds", BROADCAST_ROUNDS, timeout=180)
            except Exception as error:
                log(f"broadcast {name} {kind} failed: {error}")
                continue
            results[f"{name} {kind}"] = r
            log(f"broadcast {name} {kind}: {r}")


def print_broadcast(results):
    print(f"\nBroadcast: one 128-byte message to {MANY} clients, until every client has it "
          f"(median of {BROADCAST_ROUNDS})")
    best = results.get("axum sse", {}).get("median_ms")
    for name, r in results.items():
        versus = f"  ({ratio(r['median_ms'], best)} axum sse)" if best else ""
        print(f"  {name:<22} {r['median_ms']:>9.2f} ms{versus}")


# name: (WebSocket members, /events listeners, messages per second, messages,
#        target ratio of CPU per delivery against axum (issue #20))
FANOUTS = {
    "ws": (MANY, 0, 20, 100 if QUICK else 200, 0.75),
    "sse": (0, MANY, 20, 100 if QUICK else 200, 0.75),
    "burst": (MANY // 10, MANY // 10, 500, 500 if QUICK else 1000, 0.5),
}
FANOUTS = {k: v for k, v in FANOUTS.items()
           if k in os.environ.get("BENCH_FANOUT_SCENARIOS", ",".join(FANOUTS)).split(",")}
FANOUT_SERVERS = {"tidings-tokio": "chat-tidings-tokio", "axum": "chat_axum"}
FANOUT_ROUNDS = int(os.environ.get("BENCH_FANOUT_ROUNDS", "1"))
# The joins of N members in one room send N(N-1)/2 notices before anything is
# measured (50 M for 10,000 members: several minutes for either server); a
# server that has not delivered them in this many seconds is reported as
# such. BENCH_FANOUT_SETUP_SECS sets it for every scenario; by default 900 s
# for "ws" (the joins of MANY members), 300 s for the others.
def fanout_setup_secs(scenario):
    default = "900" if scenario == "ws" else "300"
    return int(os.environ.get("BENCH_FANOUT_SETUP_SECS", default))


def run_fanout(results):
    for round_no in range(FANOUT_ROUNDS):
        for scenario, (ws, sse, rate, count, _) in FANOUTS.items():
            names = list(FANOUT_SERVERS)
            if round_no % 2:
                names.reverse()
            for name in names:
                setup_secs = fanout_setup_secs(scenario)
                with Server(FANOUT_SERVERS[name]) as server:
                    try:
                        r = loadgen("fanout", *SYSCALL_ARGS, "--addr", server.addr, "--ws", ws, "--sse", sse,
                                    "--rate", rate, "--count", count, "--pid", server.proc.pid,
                                    "--setup-secs", setup_secs, timeout=setup_secs + 120)
                    except Exception as error:
                        log(f"fanout {scenario} {name} failed: {error}")
                        continue
                if not r.get("setup_incomplete"):
                    r["cpu_us_per_delivery"] = r["cpu_ticks"] / CLK_TCK / max(r["delivered"], 1) * 1e6
                    r["user_us_per_delivery"] = r["user_ticks"] / CLK_TCK / max(r["delivered"], 1) * 1e6
                    # System calls per delivery (perf stat; None without it).
                    r["calls_per_delivery"] = (r["syscalls"] / max(r["delivered"], 1)
                                               if "syscalls" in r else None)
                results.setdefault(scenario, {}).setdefault(name, []).append(r)
                log(f"fanout {scenario} {name}: {r}")


def print_fanout(results):
    print(f"\nFan-out: the chat contract, one room / /events, server CPU per delivered message "
          f"(median of {FANOUT_ROUNDS}; ratio against axum, target from issue #20)")
    print(f"  {'scenario':<9} {'server':<14} {'delivered':>17} {'missing':>8} {'twice':>6} "
          f"{'p50 ms':>8} {'p99 ms':>8} {'cpu us/del':>11} {'user us':>8} {'calls/del':>10} "
          f"{'vs axum':>8} {'target':>7} {'setup s':>8}")
    print("  ('user us': the user-space part of the CPU; 'calls/del': the server's system calls\n"
          "  per delivery with BENCH_SYSCALLS=1, counted by perf stat; the log has them apart)")
    for scenario, servers in results.items():
        ws, sse, rate, count, target = FANOUTS[scenario]
        for name, runs in servers.items():
            for r in runs:
                if r.get("setup_incomplete"):
                    print(f"  {scenario:<9} {name:<14} joins not done in the setup budget: "
                          f"{r['connected']} clients connected after {r['setup_s']} s")
        servers = {n: [r for r in runs if not r.get("setup_incomplete")] for n, runs in servers.items()}
        servers = {n: runs for n, runs in servers.items() if runs}
        axum = servers.get("axum")
        axum_cpu = statistics.median(r["cpu_us_per_delivery"] for r in axum) if axum else None
        for name, runs in servers.items():
            cpu = statistics.median(r["cpu_us_per_delivery"] for r in runs)
            calls = median_counted(runs, "calls_per_delivery")
            calls = "-" if calls is None else f"{calls:.3f}"
            last = runs[-1]
            versus = f"{cpu / axum_cpu:.2f}x" if axum_cpu else "-"
            print(f"  {scenario:<9} {name:<14} {last['delivered']:>8}/{last['expected']:<8} "
                  f"{last['missing']:>8} {last['twice']:>6} "
                  f"{statistics.median(r['p50_ms'] for r in runs):>8.2f} "
                  f"{statistics.median(r['p99_ms'] for r in runs):>8.2f} {cpu:>11.3f} "
                  f"{statistics.median(r['user_us_per_delivery'] for r in runs):>8.3f} "
                  f"{calls:>10} {versus:>8} "
                  f"{'<=' + str(target) + 'x' if name != 'axum' else '':>7} "
                  f"{statistics.median(r['setup_s'] for r in runs):>8.1f}")
            for r in runs:
                if r["missing"]:
                    print(f"  {'':<9} {name}: {r['missing']} copies missing in a run, "
                          f"{r.get('missing_sse', '?')} of them listeners', who got "
                          f"{r.get('sse_resets', '?')} reset events")
        print(f"  {'':<9} ({ws} WebSocket members, {sse} listeners, {count} messages at {rate}/s)")


def main():
    started = time.monotonic()
    if TLS:
        subprocess.run([os.path.join(BIN, "make_certs"), CERTS], check=True)
    results = {"echo": {}, "memory": {}, "broadcast": {}, "fanout": {}}
    if "echo" in PARTS:
        run_echo(results["echo"])
    if "memory" in PARTS:
        run_memory(results["memory"])
    if "broadcast" in PARTS:
        run_broadcast(results["broadcast"])
    if "fanout" in PARTS:
        run_fanout(results["fanout"])
    with open(os.path.join(BIN, "results.json"), "w") as out:
        json.dump(results, out, indent=1)
    if results["echo"]:
        print_echo(results["echo"])
    if results["memory"]:
        print_memory(results["memory"])
    if results["broadcast"]:
        print_broadcast(results["broadcast"])
    if results["fanout"]:
        print_fanout(results["fanout"])
    print(f"\n(ran {time.monotonic() - started:.0f} s; raw results in {BIN}/results.json)")


if __name__ == "__main__":
    main()
