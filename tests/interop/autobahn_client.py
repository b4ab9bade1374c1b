#!/usr/bin/env python3
"""An Autobahn fuzzingserver client on Python `websockets`: a stand-in for
tidings' `autobahn_client` example, used only to test tests/autobahn/run.sh
itself (CLIENT_CMD), never as a result about tidings.

    python autobahn_client.py [URL] [AGENT]   (default ws://127.0.0.1:9001 websockets-standin)

Same contract as the example: fetch /getCaseCount, echo every message of
/runCase?case=N&agent=AGENT for N = 1..count until close, then call
/updateReports?agent=AGENT.
"""

import asyncio
import sys
from urllib.parse import quote

from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException


async def main(url, agent):
    async with connect(f"{url}/getCaseCount") as ws:
        count = int(await ws.recv())
    print(f"{count} cases", flush=True)
    for n in range(1, count + 1):
        try:
            async with connect(f"{url}/runCase?case={n}&agent={quote(agent)}",
                               max_size=None, compression=None, ping_interval=None) as ws:
                async for message in ws:
                    await ws.send(message)
        except (WebSocketException, OSError):
            pass  # the fuzzingserver records what went wrong
    async with connect(f"{url}/updateReports?agent={quote(agent)}") as ws:
        await ws.wait_closed()
    print("reports updated", flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(args[0] if args else "ws://127.0.0.1:9001",
                     args[1] if len(args) > 1 else "websockets-standin"))
