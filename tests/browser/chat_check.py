"""The chat example's page in headless Chromium, driven over the DevTools
protocol (CDP), with a WebSocket member beside it: the page joins over
WebTransport, the two chat both ways, the page leaves; then the server
refuses a chat message and a /publish body over its 16 KiB limit.

    chat_check.py CHAT_ADDR DEVTOOLS_PORT

Prints PASS/FAIL lines; exits 1 unless every check passed. Every wait is
bounded. Needs the `websockets` package (the CDP connection and the
member).
"""

import asyncio
import json
import sys
import time
import urllib.request

import websockets

STEP = 15.0
checks = 0
failures = 0


def check(name, ok, detail=""):
    global checks, failures
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)
    checks += 1
    failures += 0 if ok else 1


async def devtools_page(port):
    deadline = time.monotonic() + STEP
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=2) as answer:
                targets = json.load(answer)
            return next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"]
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def main(addr, devtools):
    async with websockets.connect(await devtools_page(devtools), max_size=None) as cdp:
        ids = iter(range(1, 1_000_000))

        async def js(expression):
            call = next(ids)
            await cdp.send(json.dumps({"id": call, "method": "Runtime.evaluate", "params": {
                "expression": expression, "awaitPromise": True, "returnByValue": True}}))
            while True:
                answer = json.loads(await asyncio.wait_for(cdp.recv(), STEP))
                if answer.get("id") == call:
                    return answer["result"]["result"].get("value")

        async def until(what, expression, timeout=STEP):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                value = await js(expression)
                if value:
                    return value
                await asyncio.sleep(0.1)
            return None

        log = '[...document.querySelectorAll("#log li")].map(li => li.textContent).join(" | ")'
        # The target may still show about:blank at first: wait for the chat.
        loaded = await until("the page", 'document.readyState === "complete"'
                             ' && document.getElementById("join-button") !== null', timeout=30)
        check("page.loads", bool(loaded))
        async with websockets.connect(f"ws://{addr}/ws/chat/lobby?user=member") as member:
            async def heard(text):
                deadline = time.monotonic() + STEP
                while (left := deadline - time.monotonic()) > 0:
                    try:
                        message = json.loads(await asyncio.wait_for(member.recv(), left))
                    except asyncio.TimeoutError:
                        break
                    print(f"  member got {message}", flush=True)
                    if message.get("content") == text:
                        return message
                return None

            await js('document.getElementById("name").value = "page";'
                     'document.getElementById("room").value = "lobby";'
                     'document.getElementById("join-button").click(); true')
            status = await until("joined", 'document.getElementById("status").textContent.includes("in room")'
                                 ' && document.getElementById("status").textContent')
            check("page.joins-over-webtransport", bool(status) and "(WebTransport)" in status, repr(status))
            joined = await heard("page joined the room")
            check("member.hears-the-join", joined is not None)

            await js('document.getElementById("text").value = "hello from the page";'
                     'document.getElementById("send-button").click(); true')
            said = await heard("hello from the page")
            check("member.hears-the-page", said is not None and said.get("user") == "page", repr(said))

            await member.send(json.dumps({"content": "hello from a WebSocket"}))
            shown = await until("the answer", f'({log}).includes("member:hello from a WebSocket")')
            check("page.hears-the-member", bool(shown), await js(log))

            await js('document.getElementById("leave").click(); true')
            left = await heard("page left the room")
            check("member.hears-the-leave", left is not None)
            said_so = await until("the leave", f'({log}).includes("you left lobby")')
            check("page.says-it-left", bool(said_so), await js(log))

    # The example refuses chat messages over 16 KiB (app::MAX_MESSAGE), which
    # bounds its feed's replay buffer: close 1009 on WebSocket, 413 on POST.
    async with websockets.connect(f"ws://{addr}/ws/chat/lobby?user=big") as big:
        await big.send(json.dumps({"content": "x" * 17000}))
        code = None
        try:
            while True:
                await asyncio.wait_for(big.recv(), STEP)
        except websockets.ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
        except asyncio.TimeoutError:
            pass
        check("server.refuses-a-too-big-message", code == 1009, f"close code {code}")
    body = json.dumps({"content": "x" * 17000}).encode()
    request = urllib.request.Request(f"http://{addr}/publish/lobby?user=big", data=body,
                                     headers={"content-type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            status = answer.status
    except urllib.error.HTTPError as error:
        status = error.code
    check("server.refuses-a-too-big-publish", status == 413, f"status {status}")

    with urllib.request.urlopen(f"http://{addr}/stats", timeout=5) as answer:
        stats = json.load(answer)
    check("server.counted-the-session", stats.get("webtransport", {}).get("total") == 1,
          json.dumps(stats.get("webtransport")))
    print(f"chat page: {checks - failures} passed, {failures} failed", flush=True)


asyncio.run(asyncio.wait_for(main(sys.argv[1], int(sys.argv[2])), 90))
sys.exit(1 if failures else 0)
