#!/usr/bin/env python3
"""Checks a WebSocket echo server with the Python `websockets` (17.x) client.

    python check_python.py ws://127.0.0.1:9001/some/path
    python check_python.py wss://127.0.0.1:9443/some/path --ca CA.pem

Checks: text echo (ASCII, unicode, empty), binary echo (small, empty, at the
7/16/64-bit length boundaries, 1 MiB), a fragmented text and a fragmented
binary message, ping/pong with a payload, and a clean close with code 1000 and
a reason. Prints one PASS/FAIL line a check and "N passed, N failed"; exits 0
only when every check passed. For `wss://`, the server's certificate is
verified against CA.pem only (and its name against the URL's host): no check
is ever disabled.
"""

import asyncio
import os
import ssl
import sys

import websockets
from websockets.asyncio.client import connect

STEP_TIMEOUT = 10  # seconds for any one check

results = []


def report(name, ok, detail=""):
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} python-websockets {name}{': ' + detail if detail else ''}", flush=True)


def describe(x):
    if isinstance(x, (bytes, bytearray)):
        return f"{len(x)} bytes" if len(x) > 32 else f"bytes {bytes(x)!r}"
    if isinstance(x, str):
        return f"text of {len(x)} chars" if len(x) > 32 else f"text {x!r}"
    return repr(x)


async def echo_check(ws, name, sent, message=None):
    """Sends `message` (default `sent`) and expects `sent` back, same type."""
    try:
        await asyncio.wait_for(ws.send(sent if message is None else message), STEP_TIMEOUT)
        got = await asyncio.wait_for(ws.recv(), STEP_TIMEOUT)
    except Exception as e:  # noqa: BLE001 - any error is this check's failure
        report(name, False, f"{type(e).__name__}: {e}")
        return
    if type(got) is not type(sent):
        report(name, False, f"sent {describe(sent)}, got {describe(got)} (wrong type)")
    elif got != sent:
        report(name, False, f"sent {describe(sent)}, got {describe(got)}")
    else:
        report(name, True, describe(sent))


async def run(url, tls):
    async with connect(url, max_size=None, compression=None, open_timeout=STEP_TIMEOUT,
                       close_timeout=STEP_TIMEOUT, ping_interval=None, ssl=tls) as ws:
        detail = url
        if tls is not None:
            ssl_object = ws.transport.get_extra_info("ssl_object")
            detail += f" ({ssl_object.version()}, {ssl_object.cipher()[0]}, ALPN {ssl_object.selected_alpn_protocol()})"
        report("handshake", True, detail)
        await echo_check(ws, "text ascii", "Hello, tidings!")
        await echo_check(ws, "text unicode", "héllo wörld, 你好, ✓ 🦀")
        await echo_check(ws, "text empty", "")
        await echo_check(ws, "binary small", bytes(range(256)))
        await echo_check(ws, "binary empty", b"")
        for size in (125, 126, 65535, 65536):
            await echo_check(ws, f"binary {size} bytes", os.urandom(size))
        await echo_check(ws, "binary 1 MiB", os.urandom(1 << 20))
        await echo_check(ws, "text 1 MiB", "a€" * (1 << 18))  # 1 MiB of UTF-8
        # An iterable makes websockets send one message in several frames.
        await echo_check(ws, "text fragmented (3 frames)", "fragmented ✓", ["frag", "mented", " ✓"])
        await echo_check(ws, "binary fragmented (3 frames)", b"\x00\x01\x02\x03", [b"\x00", b"\x01\x02", b"\x03"])
        try:
            pong = await asyncio.wait_for(ws.ping(b"ping-payload"), STEP_TIMEOUT)
            latency = await asyncio.wait_for(pong, STEP_TIMEOUT)
            report("ping/pong", True, f"pong for our payload in {latency * 1000:.1f} ms")
        except Exception as e:  # noqa: BLE001
            report("ping/pong", False, f"{type(e).__name__}: {e}")
        # The connection still echoes after the control frame.
        await echo_check(ws, "text after ping", "still here")
        try:
            await asyncio.wait_for(ws.close(1000, "tidings interop done"), STEP_TIMEOUT)
        except Exception as e:  # noqa: BLE001
            report("close", False, f"{type(e).__name__}: {e}")
            return
        rcvd = ws.protocol.close_rcvd
        if rcvd is None:
            report("close", False, "no Close frame came back (unclean close)")
        elif rcvd.code != 1000:
            report("close", False, f"server answered close code {rcvd.code} (reason {rcvd.reason!r}), expected 1000")
        else:
            report("close", True, f"sent 1000 'tidings interop done', server answered 1000 {rcvd.reason!r}")


def main(argv):
    tls = None
    if len(argv) == 3 and argv[1] == "--ca":
        tls = ssl.create_default_context(cafile=argv[2])
        tls.set_alpn_protocols(["http/1.1"])
        argv = argv[:1]
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    print(f"python websockets {websockets.__version__} against {argv[0]}")
    try:
        asyncio.run(run(argv[0], tls))
    except Exception as e:  # noqa: BLE001
        report("connection", False, f"{type(e).__name__}: {e}")
    passed = sum(results)
    failed = len(results) - passed
    print(f"python-websockets: {passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
