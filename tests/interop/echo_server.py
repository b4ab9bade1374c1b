#!/usr/bin/env python3
"""A WebSocket echo server on Python `websockets` (17.x), an independent peer.

    python echo_server.py [PORT | HOST:PORT] [--tls CA_OUT.pem]
                                                  (default 127.0.0.1:9001)

Echoes every text and binary message unchanged on every path, answers pings
(websockets does that), and prints `listening on HOST:PORT` once bound, the
same contract as tidings' `echo` examples. Uses: the peer that tidings'
WebSocket client is tested against, and a stand-in server to test the
Autobahn and interop scripts themselves (ECHO_CMD). No permessage-deflate and
no size limit, like a plain echo should be. Stops on SIGTERM or SIGINT.

With `--tls CA_OUT.pem` it serves `wss://` instead: `trustme` (PyPI) makes a
fresh CA and a certificate for 127.0.0.1 and localhost, the CA certificate
is written to CA_OUT.pem for the client to trust, and the server offers
ALPN http/1.1.
"""

import asyncio
import signal
import ssl
import sys

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed


async def echo(ws):
    try:
        async for message in ws:
            await ws.send(message)
    except ConnectionClosed:
        pass


def parse_addr(arg):
    if ":" in arg:
        host, port = arg.rsplit(":", 1)
        return host, int(port)
    return "127.0.0.1", int(arg)


def tls_context(ca_out):
    import trustme  # only needed for --tls

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(ca_out)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)
    context.set_alpn_protocols(["http/1.1"])
    return context


async def main(argv):
    context = None
    if "--tls" in argv:
        i = argv.index("--tls")
        context = tls_context(argv[i + 1])
        argv = argv[:i] + argv[i + 2:]
    host, port = parse_addr(argv[0] if argv else "127.0.0.1:9001")
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.cancel)
    async with serve(
        echo, host, port, compression=None, max_size=None, ping_interval=None, ssl=context
    ):
        scheme = "wss" if context else "ws"
        print(f"listening on {host}:{port} ({scheme})", flush=True)
        try:
            await stop
        except asyncio.CancelledError:
            pass


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
