"""WebTransport scenarios with aioquic, for tests/tests/webtransport_router.rs,
webtransport_limits.rs and webtransport_hostile.rs.

Usage: wt_scenarios.py PORT CA_PEM SCENARIO

Connects to 127.0.0.1:PORT (server name localhost, trusting CA_PEM) and
runs SCENARIO:

- router: routing, middleware and the hub (see webtransport_router.rs).
- limits: max_connections, max_streams, buffer_size with a slow reader,
  dropped datagrams (see webtransport_limits.rs).
- hostile: raw HTTP/3 bytes breaking the rules, each on a connection of its
  own, then a good client (see webtransport_hostile.rs).
- chat: bob in the chat example's room lobby over WebTransport, with a
  WebSocket member ann (see webtransport_chat.rs).

Prints one line per step; exits 1 with a message on the first failure.
Every wait is bounded.
"""

import asyncio
import json
import sys
import time

import pylsqpack
from aioquic.asyncio import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import (
    DataReceived,
    DatagramReceived,
    HeadersReceived,
    WebTransportStreamDataReceived,
)
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import (
    ConnectionTerminated,
    StopSendingReceived,
    StreamDataReceived,
    StreamReset,
)

STEP_TIMEOUT = 5.0
TOKEN = b"Bearer secret"
CLOSE_CAPSULE = 0x2843


def fail(message):
    print(f"FAIL: {message}", flush=True)
    sys.exit(1)


def say(line):
    print(line, flush=True)


def varint(value):
    if value < 0x40:
        return bytes([value])
    if value < 0x4000:
        return (0x4000 | value).to_bytes(2, "big")
    if value < 0x40000000:
        return (0x80000000 | value).to_bytes(4, "big")
    return (0xC000000000000000 | value).to_bytes(8, "big")


def read_varint(data):
    length = 1 << (data[0] >> 6)
    value = data[0] & 0x3F
    for byte in data[1:length]:
        value = (value << 8) | byte
    return value, data[length:]


def frame(kind, payload):
    return varint(kind) + varint(len(payload)) + payload


def settings(pairs):
    return frame(0x04, b"".join(varint(k) + varint(v) for k, v in pairs))


# The client's SETTINGS: WebTransport and datagrams on (draft-02 and later).
GOOD_SETTINGS = [(0x33, 1), (0xFFD277, 1), (0x2B603742, 1), (0xC671706A, 1)]


class Client(QuicConnectionProtocol):
    """Keeps what arrived in fields the scenarios poll (see `until`)."""

    use_h3 = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.http = H3Connection(self._quic, enable_webtransport=True) if self.use_h3 else None
        self.raw_bidi = set()
        self.raw = {}  # stream id -> bytes (raw streams)
        self.raw_ended = set()
        self.status = {}  # stream id -> :status
        self.uni = {}  # incoming WebTransport uni stream -> bytes
        self.messages = []  # complete incoming uni streams
        self.datagrams = []
        self.session_data = {}  # CONNECT stream -> bytes after the response
        self.session_ended = set()
        self.resets = {}  # stream id -> code
        self.stops = {}  # stream id -> code
        self.closed = None  # (error code, reason)

    def quic_event_received(self, event):
        if isinstance(event, ConnectionTerminated):
            self.closed = (event.error_code, event.reason_phrase)
        elif isinstance(event, StreamReset):
            self.resets[event.stream_id] = event.error_code
        elif isinstance(event, StopSendingReceived):
            self.stops[event.stream_id] = event.error_code
        if isinstance(event, StreamDataReceived) and (
            self.http is None or event.stream_id in self.raw_bidi
        ):
            self.raw[event.stream_id] = self.raw.get(event.stream_id, b"") + event.data
            if event.end_stream:
                self.raw_ended.add(event.stream_id)
            return
        if self.http is None:
            return
        for h3 in self.http.handle_event(event):
            if isinstance(h3, HeadersReceived):
                self.status[h3.stream_id] = dict(h3.headers).get(b":status", b"").decode()
                if h3.stream_ended:
                    self.session_ended.add(h3.stream_id)
            elif isinstance(h3, DataReceived):
                self.session_data[h3.stream_id] = self.session_data.get(h3.stream_id, b"") + h3.data
                if h3.stream_ended:
                    self.session_ended.add(h3.stream_id)
            elif isinstance(h3, WebTransportStreamDataReceived):
                data = self.uni.get(h3.stream_id, b"") + h3.data
                self.uni[h3.stream_id] = data
                if h3.stream_ended:
                    self.messages.append(data)
            elif isinstance(h3, DatagramReceived):
                self.datagrams.append(h3.data)

    async def until(self, done, what, timeout=STEP_TIMEOUT):
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                fail(f"timed out waiting for {what}")
            await asyncio.sleep(0.01)


class RawClient(Client):
    use_h3 = False


def configuration(ca):
    config = QuicConfiguration(
        is_client=True, alpn_protocols=H3_ALPN, max_datagram_frame_size=65536
    )
    config.server_name = "localhost"
    config.load_verify_locations(ca)
    return config


async def request(client, port, path, extra=()):
    """Sends an extended CONNECT; returns its stream id and the status."""
    stream = client._quic.get_next_available_stream_id()
    client.http.send_headers(
        stream_id=stream,
        headers=[
            (b":method", b"CONNECT"),
            (b":protocol", b"webtransport"),
            (b":scheme", b"https"),
            (b":authority", f"localhost:{port}".encode()),
            (b":path", path),
            (b"sec-webtransport-http3-draft02", b"1"),
            (b"origin", b"https://localhost"),
            *extra,
        ],
    )
    client.transmit()
    await client.until(lambda: stream in client.status, f"the answer to {path!r}")
    return stream, client.status[stream]


def send_message(client, session, data):
    stream = client.http.create_webtransport_stream(session, is_unidirectional=True)
    client._quic.send_stream_data(stream, data, end_stream=True)
    client.transmit()


async def next_messages(client, count, what, timeout=STEP_TIMEOUT):
    await client.until(lambda: len(client.messages) >= count, what, timeout)
    taken = client.messages[:count]
    del client.messages[:count]
    return taken


async def server_close(client, session):
    await client.until(lambda: session in client.session_ended, "the server's close")
    data = client.session_data.get(session, b"")
    kind, rest = read_varint(data)
    length, rest = read_varint(rest)
    if kind != CLOSE_CAPSULE or length != len(rest):
        fail(f"not one CLOSE_WEBTRANSPORT_SESSION capsule: {data!r}")
    return int.from_bytes(rest[:4], "big"), rest[4:].decode()


# --- router ------------------------------------------------------------------


async def router(port, ca):
    async with connect("127.0.0.1", port, configuration=configuration(ca), create_protocol=Client) as c:
        auth = [(b"authorization", TOKEN)]
        _, status = await request(c, port, b"/rooms/blue?user=ann")
        say(f"no token: {status}")
        _, status = await request(c, port, b"/rooms/blue?user=ann", [(b"authorization", b"Bearer wrong")])
        say(f"wrong token: {status}")
        _, status = await request(c, port, b"/forbidden", auth)
        say(f"forbidden: {status}")
        _, status = await request(c, port, b"/nowhere", auth)
        say(f"no such route: {status}")
        _, status = await request(c, port, b"/ws", auth)
        say(f"websocket route: {status}")

        session, status = await request(c, port, b"/rooms/blue?user=ann", auth)
        if status != "200":
            fail(f"CONNECT answered {status}")
        say("session established")
        for message in sorted(await next_messages(c, 3, "the greeting, the broadcast and the direct send")):
            say(f"message: {message.decode()}")
        send_message(c, session, b"ping")
        (reply,) = await next_messages(c, 1, "the reply")
        say(f"message: {reply.decode()}")
        send_message(c, session, b"close me")
        code, reason = await server_close(c, session)
        say(f"closed by the hub: {code} {reason}")

        session, status = await request(c, port, b"/datagrams", auth)
        if status != "200":
            fail(f"CONNECT answered {status}")
        await c.until(lambda: c.datagrams, "the broadcast datagram")
        say(f"datagram: {c.datagrams[0].decode()}")
        send_message(c, session, b"done")
        code, reason = await server_close(c, session)
        say(f"closed: {code} {reason}")


# --- chat --------------------------------------------------------------------


async def chat(port, ca):
    async with connect("127.0.0.1", port, configuration=configuration(ca), create_protocol=Client) as c:
        session, status = await request(c, port, b"/wt/chat/lobby?user=bob")
        say(f"joined: {status}")
        if status != "200":
            fail(f"CONNECT answered {status}")
        send_message(c, session, b'{"content": "hello from webtransport"}')
        (message,) = await next_messages(c, 1, "ann's answer", timeout=20)
        data = json.loads(message)
        say(f"{data['type']} from {data['user']}: {data['content']}")
        send_message(c, session, b"not a chat message")
        code, reason = await server_close(c, session)
        say(f"closed: {code} {reason}")


# --- limits ------------------------------------------------------------------


async def limits(port, ca):
    config = configuration(ca)
    # max_connections 2: a third is refused.
    async with connect("127.0.0.1", port, configuration=config, create_protocol=Client):
        async with connect("127.0.0.1", port, configuration=configuration(ca), create_protocol=Client):
            try:
                async with connect("127.0.0.1", port, configuration=configuration(ca), create_protocol=Client):
                    fail("a third connection was accepted")
            except ConnectionError as error:
                say(f"third connection refused: {error}")
    await asyncio.sleep(0.3)

    async with connect("127.0.0.1", port, configuration=configuration(ca), create_protocol=Client) as c:
        # max_streams 4 bidirectional streams: the CONNECT stream and three
        # data streams; a fourth data stream waits.
        session, status = await request(c, port, b"/echo")
        if status != "200":
            fail(f"CONNECT answered {status}")
        streams = []
        for n in range(4):
            stream = c.http.create_webtransport_stream(session, is_unidirectional=False)
            c.raw_bidi.add(stream)
            c._quic.send_stream_data(stream, f"s{n}".encode())
            streams.append(stream)
        c.transmit()
        await c.until(lambda: all(c.raw.get(s) for s in streams[:3]), "three echoes")
        await asyncio.sleep(0.5)
        if c.raw.get(streams[3]):
            fail("the fourth stream was echoed beyond max_streams")
        say("3 of 4 streams echoed, the fourth waits")
        c._quic.send_stream_data(streams[0], b"", end_stream=True)
        c.transmit()
        await c.until(lambda: c.raw.get(streams[3]) == b"s3", "the fourth stream's echo")
        say("fourth stream echoed once one ended")

    async with connect("127.0.0.1", port, configuration=configuration(ca), create_protocol=Client) as c:
        # A slow reader with a 64 KiB window: 10 MB sent on one stream.
        session, status = await request(c, port, b"/slow")
        if status != "200":
            fail(f"CONNECT answered {status}")
        send_message(c, session, bytes(10_000_000))
        (reply,) = await next_messages(c, 1, "the slow reader's count", 40)
        say(f"slow reader: {reply.decode()}")

    async with connect("127.0.0.1", port, configuration=configuration(ca), create_protocol=Client) as c:
        # Datagrams: 3 over the size limit, then 20 for a queue of 4 that
        # nobody reads.
        session, status = await request(c, port, b"/sink")
        if status != "200":
            fail(f"CONNECT answered {status}")
        for _ in range(3):
            c.http.send_datagram(session, bytes(500))
        c.transmit()
        await asyncio.sleep(0.2)
        for _ in range(20):
            c.http.send_datagram(session, bytes(50))
            c.transmit()
        await asyncio.sleep(0.3)
        send_message(c, session, b"done")
        code, reason = await server_close(c, session)
        say(f"datagrams sent, session closed: {code} {reason}")


# --- hostile -----------------------------------------------------------------


def control(extra=b"", pairs=GOOD_SETTINGS):
    return varint(0x00) + settings(pairs) + extra


def connect_fields(port, path=b"/echo", protocol=b"webtransport", drop=()):
    fields = [
        (b":method", b"CONNECT"),
        (b":protocol", protocol),
        (b":scheme", b"https"),
        (b":authority", f"localhost:{port}".encode()),
        (b":path", path),
    ]
    fields = [f for f in fields if f[0] not in drop]
    _, block = pylsqpack.Encoder().encode(0, fields)
    return frame(0x01, block)


async def raw_case(port, ca, send, wait):
    """Opens a raw connection, lets `send` write on it, and returns what
    `wait` finds."""
    async with connect("127.0.0.1", port, configuration=configuration(ca), create_protocol=RawClient) as c:
        await send(c)
        c.transmit()
        return await wait(c)


def uni(c, data, end=False):
    stream = c._quic.get_next_available_stream_id(is_unidirectional=True)
    c._quic.send_stream_data(stream, data, end_stream=end)
    return stream


def bidi(c, data, end=False):
    stream = c._quic.get_next_available_stream_id()
    c._quic.send_stream_data(stream, data, end_stream=end)
    return stream


async def connection_error(c):
    await c.until(lambda: c.closed is not None, "the connection's close")
    return f"connection closed 0x{c.closed[0]:x}"


def status_of(data):
    kind, rest = read_varint(data)
    length, rest = read_varint(rest)
    if kind != 0x01:
        fail(f"not a HEADERS frame: {data!r}")
    decoder = pylsqpack.Decoder(4096, 16)
    _, headers = decoder.feed_header(0, rest[:length])
    return dict(headers).get(b":status", b"").decode()


async def hostile(port, ca):
    async def case(name, send, wait=connection_error):
        say(f"{name}: {await raw_case(port, ca, send, wait)}")

    async def truncated(c):
        uni(c, control())
        bidi(c, connect_fields(port)[:6], end=True)

    await case("truncated frame", truncated)

    async def duplicate_settings(c):
        uni(c, control(settings(GOOD_SETTINGS)))

    await case("duplicate SETTINGS", duplicate_settings)

    async def duplicate_setting(c):
        uni(c, control(pairs=GOOD_SETTINGS + [(0x33, 1)]))

    await case("duplicate setting id", duplicate_setting)

    async def second_control(c):
        uni(c, control())
        uni(c, control())

    await case("second control stream", second_control)

    async def control_closed(c):
        uni(c, control(), end=True)

    await case("control stream closed", control_closed)

    async def data_on_control(c):
        uni(c, control(frame(0x00, b"data")))

    await case("DATA on the control stream", data_on_control)

    async def http2_frame(c):
        uni(c, control(frame(0x06, bytes(8))))

    await case("HTTP/2 PING frame type", http2_frame)

    async def answer(c, stream=0):
        await c.until(lambda: stream in c.raw or stream in c.resets or c.closed, f"an answer on stream {stream}")
        if c.closed is not None:
            return f"connection closed 0x{c.closed[0]:x}"
        if stream in c.resets and stream not in c.raw:
            return f"stream reset 0x{c.resets[stream]:x}"
        return f"status {status_of(c.raw[stream])}"

    async def oversized(c):
        uni(c, control())
        bidi(c, frame(0x01, bytes(20_000)))

    await case("oversized headers", oversized, answer)

    async def missing_authority(c):
        uni(c, control())
        bidi(c, connect_fields(port, drop=(b":authority",)))

    await case("CONNECT without :authority", missing_authority, answer)

    async def wrong_protocol(c):
        uni(c, control())
        bidi(c, connect_fields(port, protocol=b"websocket"))

    await case("CONNECT with :protocol websocket", wrong_protocol, answer)

    async def second_connect(c):
        uni(c, control())
        bidi(c, connect_fields(port))
        await c.until(lambda: 0 in c.raw, "the first CONNECT's answer")
        bidi(c, connect_fields(port))

    async def second_answer(c):
        first = status_of(c.raw[0])
        return f"first {first}, second {await answer(c, 4)}"

    await case("second CONNECT on one connection", second_connect, second_answer)

    async def early_stream(c):
        uni(c, control())
        # A stream for session 0 before its CONNECT, which then fails (404).
        c.early = uni(c, varint(0x54) + varint(0) + b"early")
        c.transmit()
        await asyncio.sleep(0.3)
        bidi(c, connect_fields(port, path=b"/nowhere"))

    async def early_answer(c):
        await c.until(lambda: c.early in c.stops or c.closed, "the early stream's end")
        status = status_of(c.raw[0]) if 0 in c.raw else "none"
        return f"CONNECT {status}, early stream stopped 0x{c.stops.get(c.early, 0):x}"

    await case("stream for an unknown session", early_stream, early_answer)

    # The server still serves a good client.
    async with connect("127.0.0.1", port, configuration=configuration(ca), create_protocol=Client) as c:
        session, status = await request(c, port, b"/echo")
        if status != "200":
            fail(f"CONNECT answered {status}")
        c.http.send_datagram(session, b"still there?")
        c.transmit()
        await c.until(lambda: c.datagrams, "the datagram echo")
        say(f"good client after them: {c.datagrams[0].decode()}")


if __name__ == "__main__":
    scenario = {"router": router, "limits": limits, "hostile": hostile, "chat": chat}[sys.argv[3]]
    asyncio.run(asyncio.wait_for(scenario(int(sys.argv[1]), sys.argv[2]), 120))
