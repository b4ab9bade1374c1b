"""HTTP/2 checks with independent peers against a tidings server on TLS.

    python check_h2.py HOST:PORT CA.pem WS_PATH SSE_PATH

(either path `-` to skip that check)

1. WebSocket over HTTP/2 (RFC 8441): Python `h2` checks that the server's
   SETTINGS enable the CONNECT protocol, opens an extended CONNECT
   (`:protocol websocket`) on WS_PATH, and `wsproto` frames messages over
   the stream: a text and a 100 KB binary message (more than a stream's
   default window, so flow control must turn) must come back unchanged,
   then a close handshake.
2. SSE over HTTP/2: on the same connection, three GETs of SSE_PATH open at
   once, each must answer 200 text/event-stream and deliver an event.

Exits 1 on the first failure. Bounded by socket timeouts (10 s).
"""

import socket
import ssl
import sys

import h2.config
import h2.connection
import h2.events
import h2.settings
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, TextMessage


def fail(message):
    print(f"FAIL: {message}")
    sys.exit(1)


class Client:
    def __init__(self, addr, ca):
        host, port = addr.rsplit(":", 1)
        context = ssl.create_default_context(cafile=ca)
        context.set_alpn_protocols(["h2"])
        raw = socket.create_connection((host, int(port)), timeout=10)
        self.sock = context.wrap_socket(raw, server_hostname=host)
        if self.sock.selected_alpn_protocol() != "h2":
            fail(f"ALPN chose {self.sock.selected_alpn_protocol()!r}, not h2")
        self.authority = addr
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        )
        self.conn.initiate_connection()
        self.flush()
        self.events = []
        self.connect_protocol = None

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def pump(self):
        data = self.sock.recv(65536)
        if not data:
            fail("server closed the connection")
        for event in self.conn.receive_data(data):
            if isinstance(event, h2.events.RemoteSettingsChanged):
                setting = event.changed_settings.get(
                    h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL
                )
                if setting is not None:
                    self.connect_protocol = setting.new_value
            if isinstance(event, h2.events.DataReceived):
                self.conn.acknowledge_received_data(
                    event.flow_controlled_length, event.stream_id
                )
            self.events.append(event)
        self.flush()

    def take(self, stream_id, kind):
        """Events of `kind` on `stream_id` received so far."""
        found = [e for e in self.events if isinstance(e, kind) and e.stream_id == stream_id]
        self.events = [e for e in self.events if e not in found]
        return found

    def wait_response(self, stream_id):
        while True:
            for event in self.take(stream_id, h2.events.StreamReset):
                fail(f"stream {stream_id} reset: {event.error_code}")
            responses = self.take(stream_id, h2.events.ResponseReceived)
            if responses:
                return dict(responses[0].headers)
            self.pump()

    def send_data(self, stream_id, data):
        """Sends all of `data`, waiting for window as needed."""
        while data:
            window = min(
                self.conn.local_flow_control_window(stream_id),
                self.conn.max_outbound_frame_size,
            )
            if window <= 0:
                self.pump()
                continue
            self.conn.send_data(stream_id, data[:window])
            data = data[window:]
            self.flush()


def websocket(client, path):
    while client.connect_protocol is None:
        client.pump()
    if client.connect_protocol != 1:
        fail("SETTINGS_ENABLE_CONNECT_PROTOCOL is not 1")
    stream_id = client.conn.get_next_available_stream_id()
    client.conn.send_headers(
        stream_id,
        [
            (":method", "CONNECT"),
            (":protocol", "websocket"),
            (":scheme", "https"),
            (":path", path),
            (":authority", client.authority),
            ("sec-websocket-version", "13"),
        ],
    )
    client.flush()
    headers = client.wait_response(stream_id)
    if headers.get(":status") != "200":
        fail(f"extended CONNECT answered {headers}")
    ws = Connection(ConnectionType.CLIENT)
    text = "hello over h2 é"
    binary = bytes(range(256)) * 400
    for message in (TextMessage(data=text), BytesMessage(data=binary)):
        client.send_data(stream_id, ws.send(message))
    received_text, received_binary = "", b""
    done_text = done_binary = False
    while not (done_text and done_binary):
        for event in client.take(stream_id, h2.events.DataReceived):
            ws.receive_data(event.data)
        for event in client.take(stream_id, h2.events.StreamEnded):
            fail("stream ended before the echoes")
        for event in ws.events():
            if isinstance(event, TextMessage):
                received_text += event.data
                done_text = event.message_finished
            elif isinstance(event, BytesMessage):
                received_binary += bytes(event.data)
                done_binary = event.message_finished
            elif isinstance(event, CloseConnection):
                fail(f"closed early: {event.code} {event.reason}")
        if not (done_text and done_binary):
            client.pump()
    if received_text != text or received_binary != binary:
        fail("echo differs")
    client.send_data(stream_id, ws.send(CloseConnection(code=1000, reason="bye")))
    closed = None
    while closed is None:
        for event in client.take(stream_id, h2.events.DataReceived):
            ws.receive_data(event.data)
        for event in ws.events():
            if isinstance(event, CloseConnection):
                closed = event
        if closed is None:
            client.pump()
    if closed.code != 1000:
        fail(f"close code {closed.code}")
    print(f"ok: WebSocket over HTTP/2 (stream {stream_id}) echoed text and {len(binary)} bytes, closed 1000")


def sse(client, path, count=3):
    streams = []
    for _ in range(count):
        stream_id = client.conn.get_next_available_stream_id()
        client.conn.send_headers(
            stream_id,
            [
                (":method", "GET"),
                (":scheme", "https"),
                (":path", path),
                (":authority", client.authority),
                ("accept", "text/event-stream"),
            ],
            end_stream=True,
        )
        streams.append(stream_id)
    client.flush()
    for stream_id in streams:
        headers = client.wait_response(stream_id)
        if headers.get(":status") != "200" or not headers.get(
            "content-type", ""
        ).startswith("text/event-stream"):
            fail(f"SSE answered {headers}")
    bodies = {stream_id: b"" for stream_id in streams}
    while not all(b"\n\n" in body for body in bodies.values()):
        for stream_id in streams:
            for event in client.take(stream_id, h2.events.DataReceived):
                bodies[stream_id] += event.data
        if not all(b"\n\n" in body for body in bodies.values()):
            client.pump()
    for stream_id in streams:
        client.conn.reset_stream(stream_id)
    client.flush()
    print(f"ok: {count} SSE streams on one HTTP/2 connection each delivered an event")


def main():
    addr, ca, ws_path, sse_path = sys.argv[1:5]
    client = Client(addr, ca)
    if ws_path != "-":
        websocket(client, ws_path)
    if sse_path != "-":
        sse(client, sse_path)


if __name__ == "__main__":
    main()
