"""WebTransport client with aioquic, for tests/tests/webtransport.rs.

Usage: aioquic_client.py PORT CA_PEM [echo|server-close]

Connects to 127.0.0.1:PORT (server name localhost, trusting CA_PEM).

- echo (default): opens a session on /echo and checks against the tidings
  echo handler: a bidirectional stream echoed on itself, a unidirectional
  stream echoed on a new unidirectional stream, a datagram echoed; then
  closes the session with code 4242 and reason "bye from aioquic".
- server-close: opens a session on /close, whose handler closes it, and
  prints the code and reason of the server's CLOSE_WEBTRANSPORT_SESSION
  capsule once the CONNECT stream has ended.

Prints one line per step that passed; exits 1 with a message on the first
failure. Every wait is bounded (5 s).
"""

import asyncio
import sys

from aioquic.asyncio import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import (
    DatagramReceived,
    HeadersReceived,
    WebTransportStreamDataReceived,
)
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import StreamDataReceived

STEP_TIMEOUT = 5.0


class Client(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.http = H3Connection(self._quic, enable_webtransport=True)
        self.events = asyncio.Queue()
        # Client-opened bidirectional WebTransport streams: aioquic's H3
        # layer does not surface their data, so it is read raw here.
        self.raw_bidi = set()

    def quic_event_received(self, event):
        if isinstance(event, StreamDataReceived) and event.stream_id in self.raw_bidi:
            self.events.put_nowait(("bidi", event.stream_id, event.data, event.end_stream))
            return
        for h3_event in self.http.handle_event(event):
            self.events.put_nowait(("h3", h3_event))

    async def next_event(self, what):
        try:
            return await asyncio.wait_for(self.events.get(), STEP_TIMEOUT)
        except asyncio.TimeoutError:
            fail(f"timed out waiting for {what}")


def fail(message):
    print(f"FAIL: {message}", flush=True)
    sys.exit(1)


def varint(value):
    if value < 0x40:
        return bytes([value])
    if value < 0x4000:
        return (0x4000 | value).to_bytes(2, "big")
    return (0x80000000 | value).to_bytes(4, "big")


def read_varint(data):
    length = 1 << (data[0] >> 6)
    value = data[0] & 0x3F
    for byte in data[1:length]:
        value = (value << 8) | byte
    return value, data[length:]


async def open_session(client, port, path):
    quic, http = client._quic, client.http
    session = quic.get_next_available_stream_id()
    http.send_headers(
        stream_id=session,
        headers=[
            (b":method", b"CONNECT"),
            (b":protocol", b"webtransport"),
            (b":scheme", b"https"),
            (b":authority", f"localhost:{port}".encode()),
            (b":path", path),
            (b"sec-webtransport-http3-draft02", b"1"),
            (b"origin", b"https://localhost"),
        ],
    )
    client.transmit()
    while True:
        event = await client.next_event("the CONNECT response")
        if event[0] == "h3" and isinstance(event[1], HeadersReceived):
            status = dict(event[1].headers).get(b":status")
            if status != b"200":
                fail(f"CONNECT answered {status!r}")
            break
    print("session established", flush=True)
    return session


async def server_close(client, port):
    session = await open_session(client, port, b"/close")
    data, ended = b"", False
    while not ended:
        event = await client.next_event("the server's close")
        if event[0] == "h3" and getattr(event[1], "stream_id", None) == session:
            data += getattr(event[1], "data", b"")
            ended = getattr(event[1], "stream_ended", False)
    kind, rest = read_varint(data)
    length, rest = read_varint(rest)
    if kind != 0x2843 or length != len(rest):
        fail(f"not one CLOSE_WEBTRANSPORT_SESSION capsule: {data!r}")
    code, reason = int.from_bytes(rest[:4], "big"), rest[4:].decode()
    print(f"server closed: {code} {reason}", flush=True)


async def run(port, ca, mode):
    config = QuicConfiguration(
        is_client=True, alpn_protocols=H3_ALPN, max_datagram_frame_size=65536
    )
    config.server_name = "localhost"
    config.load_verify_locations(ca)
    async with connect("127.0.0.1", port, configuration=config, create_protocol=Client) as client:
        if mode == "server-close":
            await server_close(client, port)
        else:
            await echo(client, port)


async def echo(client, port):
    quic, http = client._quic, client.http
    session = await open_session(client, port, b"/echo")

    bidi = http.create_webtransport_stream(session, is_unidirectional=False)
    client.raw_bidi.add(bidi)
    quic.send_stream_data(bidi, b"hello bidi", end_stream=True)
    client.transmit()
    echoed, ended = b"", False
    while not ended:
        event = await client.next_event("the bidi echo")
        if event[0] == "bidi" and event[1] == bidi:
            echoed += event[2]
            ended = event[3]
    if echoed != b"hello bidi":
        fail(f"bidi echo {echoed!r}")
    print("bidi echo ok", flush=True)

    uni = http.create_webtransport_stream(session, is_unidirectional=True)
    quic.send_stream_data(uni, b"hello uni", end_stream=True)
    client.transmit()
    echoed, ended, stream = b"", False, None
    while not ended:
        event = await client.next_event("the uni echo")
        if event[0] == "h3" and isinstance(event[1], WebTransportStreamDataReceived):
            if event[1].session_id != session or event[1].stream_id == uni:
                fail(f"unexpected stream event {event[1]!r}")
            stream = event[1].stream_id
            echoed += event[1].data
            ended = event[1].stream_ended
    if echoed != b"hello uni" or stream % 4 != 3:
        fail(f"uni echo {echoed!r} on stream {stream}")
    print("uni echo ok", flush=True)

    http.send_datagram(session, b"hello datagram")
    client.transmit()
    while True:
        event = await client.next_event("the datagram echo")
        if event[0] == "h3" and isinstance(event[1], DatagramReceived):
            if event[1].data != b"hello datagram" or event[1].stream_id != session:
                fail(f"datagram echo {event[1]!r}")
            break
    print("datagram echo ok", flush=True)

    reason = b"bye from aioquic"
    payload = (4242).to_bytes(4, "big") + reason
    capsule = varint(0x2843) + varint(len(payload)) + payload
    http.send_data(stream_id=session, data=capsule, end_stream=True)
    client.transmit()
    # The server answers with the end of the CONNECT stream.
    while True:
        event = await client.next_event("the server's end of the session")
        if event[0] == "h3" and getattr(event[1], "stream_ended", False) and getattr(event[1], "stream_id", None) == session:
            break
    print("session closed", flush=True)


if __name__ == "__main__":
    mode = sys.argv[3] if len(sys.argv) > 3 else "echo"
    asyncio.run(asyncio.wait_for(run(int(sys.argv[1]), sys.argv[2], mode), 30))
