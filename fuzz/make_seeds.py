#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (except frame_header's).

Run from anywhere: python3 fuzz/make_seeds.py. Each seed follows the input
layout documented on the matching function of tidings_core::fuzzing.
"""
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

UPGRADE = (b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           b"Origin: http://example.com\r\nSec-WebSocket-Protocol: superchat, chat\r\n"
           b"Sec-WebSocket-Version: 13\r\n\r\n")
ACCEPT = b"IxtOseKCd3ARAZpODJ8h3tuvG4E="  # for tidings_core::fuzzing::FUZZ_CLIENT_KEY


def write(target, name, data):
    os.makedirs(os.path.join(ROOT, target), exist_ok=True)
    with open(os.path.join(ROOT, target, "seed-" + name), "wb") as f:
        f.write(data)


def short(b):
    assert len(b) < 256
    return bytes([len(b)]) + b


# --- http_request_head: chunk sizes, then the head ---
write("http_request_head", "upgrade", b"\x00" + UPGRADE + b"\x81\x80\x00\x00\x00\x00")
write("http_request_head", "upgrade_chunked", b"\x02\x00\x06" + UPGRADE)
write("http_request_head", "post", b"\x00" + UPGRADE.replace(b"GET", b"POST", 1))
write("http_request_head", "http10", b"\x01\x03" + UPGRADE.replace(b"HTTP/1.1", b"HTTP/1.0", 1))
write("http_request_head", "old_version", b"\x00" + UPGRADE.replace(b"Version: 13", b"Version: 8"))
write("http_request_head", "many_headers", b"\x00GET / HTTP/1.1\r\n" + b"X: y\r\n" * 20 + b"\r\n")
write("http_request_head", "leading_crlf", b"\x01\x00\r\n\r\nGET / HTTP/1.1\nHost: a\n\n")

# --- http_response_head: chunk sizes, then the head ---
OK = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      b"Sec-WebSocket-Accept: " + ACCEPT + b"\r\n")
write("http_response_head", "accepted", b"\x00" + OK + b"\r\n")
write("http_response_head", "accepted_subprotocol", b"\x01\x04" + OK + b"Sec-WebSocket-Protocol: chat\r\n\r\n\x81\x02hi")
write("http_response_head", "bad_subprotocol", b"\x00" + OK + b"Sec-WebSocket-Protocol: other\r\n\r\n")
write("http_response_head", "extension", b"\x00" + OK + b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n")
write("http_response_head", "bad_accept", b"\x00" + OK.replace(ACCEPT, b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") + b"\r\n")
write("http_response_head", "not_found", b"\x02\x00\x00HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")


# --- ws_connection: config, role, operations ---
def config(frame=200, message=300, outgoing=None, auto_pong=True, ping=None, pong=None, idle=None, close=5,
           deflate=None):
    # deflate: (params byte, level, threshold); see deflate_params
    flags = (outgoing is not None) | ((not auto_pong) << 1) | ((ping is not None) << 2) \
        | ((pong is not None) << 3) | ((idle is not None) << 4) | ((deflate is not None) << 5)
    out = bytes([flags, frame]) + struct.pack(">H", message)
    for v in (outgoing, ping, pong, idle):
        if v is not None:
            out += bytes([v])
    out += bytes([close])
    return out + (bytes(deflate) if deflate is not None else b"")


def deflate_params(server_reset=False, client_reset=False, server_bits=15, client_bits=15):
    return int(server_reset) | (int(client_reset) << 1) | ((server_bits - 8) << 2) | ((client_bits - 8) << 5)


def frame(first, payload, masked=True, wrong_mask=False, form=0):
    # op 1: first byte, flags, payload, mask key (when masked)
    flags = int(wrong_mask) | (form << 1)
    key = b"\x01\x02\x03\x04" if masked != wrong_mask else b""
    return b"\x01" + bytes([first, flags]) + short(payload) + key


def server_frame(first, payload, **kw):  # a frame a client receives
    return frame(first, payload, masked=False, **kw)


def generated(first, payload=b"", filler=None):
    # op 1 with flag bit 4: a message sent through the peer's own connection
    # (compressed as negotiated); text if first's opcode is 1
    if filler is not None:
        return b"\x01" + bytes([first, 16 | 8]) + struct.pack(">H", filler)
    return b"\x01" + bytes([first, 16]) + short(payload)


def shared(s):
    return b"\x0a" + short(s)


def raw(b):
    return b"\x00" + short(b)


def text(s):
    return b"\x02" + short(s)


def close(code, reason=b""):
    return b"\x06" + struct.pack(">H", code) + short(reason)


EOF_OP, TRANSMIT = b"\x07", b"\x09"


def advance(step):
    return b"\x08" + bytes([step])


SERVER, CLIENT = b"\x00", b"\x01"

write("ws_connection", "server_echo_close", config(ping=5, pong=20, idle=30) + SERVER
      + frame(0x81, b"hello") + text(b"hi") + frame(0x89, b"abc") + advance(0) + TRANSMIT
      + frame(0x88, b"\x03\xe8bye") + TRANSMIT + EOF_OP)
write("ws_connection", "client_fragments_local_close", config(outgoing=3) + CLIENT
      + server_frame(0x01, b"hel") + server_frame(0x89, b"") + server_frame(0x80, b"lo")
      + text(b"fragmented reply") + close(1000, b"bye") + server_frame(0x88, b"\x03\xe8") + EOF_OP)
write("ws_connection", "huge_length", config() + SERVER
      + raw(b"\x82\xff" + struct.pack(">Q", 1 << 40) + b"\x00\x00\x00\x00"))
write("ws_connection", "timers", config(ping=1, pong=3, idle=10, close=2) + CLIENT
      + advance(0) + advance(0) + server_frame(0x8a, b"") + advance(1) + advance(0) + advance(0) + advance(0))
write("ws_connection", "invalid_utf8_split", config(frame=20, message=40) + SERVER
      + frame(0x01, b"caf\xc3") + frame(0x00, b"\x28") + frame(0x80, b"!") + TRANSMIT)
write("ws_connection", "too_many_fragments", config(frame=10, message=25) + SERVER
      + frame(0x01, b"0123456789") + frame(0x00, b"0123456789") + frame(0x00, b"0123456789"))
write("ws_connection", "protocol_errors", config() + CLIENT
      + server_frame(0x81, b"x", wrong_mask=True) + text(b"after"))
write("ws_connection", "ping_flood", config() + SERVER + frame(0x89, b"p" * 100) * 20 + TRANSMIT
      + b"\x04" + short(b"q" * 126) + b"\x05" + short(b"pong"))
CHAT = b'{"type":"message","user":"ada","content":"hello, room"}'
write("ws_connection", "deflate_server_takeover", config(frame=255, message=1000, outgoing=100, deflate=(deflate_params(), 1, 16))
      + SERVER + generated(0x81, CHAT) + generated(0x81, CHAT + CHAT) + generated(0x82, filler=900)
      + text(CHAT) + text(b"short") + shared(CHAT * 2) + TRANSMIT + text(CHAT) + b"\x03\x00" + short(CHAT * 3)
      + TRANSMIT + frame(0x88, b"\x03\xe8") + TRANSMIT)
write("ws_connection", "deflate_server_shared", config(outgoing=9, deflate=(deflate_params(server_reset=True, server_bits=10), 6, 0))
      + SERVER + shared(CHAT) + text(CHAT) + shared(b"") + shared(CHAT * 3) + generated(0x81, CHAT) + TRANSMIT
      + text(CHAT * 2) + shared(CHAT) + TRANSMIT)
write("ws_connection", "deflate_client_no_takeover", config(outgoing=7, deflate=(deflate_params(True, True, 9, 9), 6, 0))
      + CLIENT + generated(0x81, CHAT) + text(CHAT * 2) + shared(CHAT) + generated(0x82, filler=250) + TRANSMIT
      + close(1000, b"bye") + generated(0x81, CHAT) + TRANSMIT + EOF_OP)
write("ws_connection", "deflate_bad_data", config(deflate=(deflate_params(), 1, 64)) + SERVER
      + frame(0xc1, b"\xff\xfe\xfd not deflate") + TRANSMIT)
write("ws_connection", "deflate_rsv1_misplaced", config(deflate=(deflate_params(), 1, 64)) + CLIENT
      + server_frame(0x41, b"\x00") + server_frame(0xc0, b"\x00") + server_frame(0xc9, b"p") + TRANSMIT)
write("ws_connection", "deflate_too_large", config(message=100, outgoing=100, deflate=(deflate_params(), 9, 0)) + SERVER
      + generated(0x82, filler=4000) + TRANSMIT)
write("ws_connection", "long_lengths", config(frame=255, message=1000) + CLIENT
      + server_frame(0x82, b"a" * 10, form=1) + server_frame(0x82, b"b" * 10, form=2)
      + b"\x03\x01\x00\x80" + close(999) + close(1001, b"r" * 124))


# --- ws_roundtrip: flags, frame size, chunk sizes, messages ---
def rt_text(s):
    return b"\x00" + short(s)


def rt_bin(b):
    return b"\x01" + short(b)


def rt_ping(b):
    return b"\x03" + short(b)


write("ws_roundtrip", "client_sends", b"\x01" + b"\x00" + rt_text("héllo €".encode()) + rt_bin(b"\x00\xff") + rt_ping(b"p"))
write("ws_roundtrip", "server_sends_fragmented", b"\x02\x02" + b"\x02\x00\x06" + rt_text("😀 fragments".encode() * 3) + rt_text(b""))
write("ws_roundtrip", "big", b"\x03\xff\x01\xff" + b"\x02\x80\x10" + rt_bin(b"x" * 200))

# --- sse_decoder: limits byte, chunk sizes, stream ---
write("sse_decoder", "whatwg", b"\x00\x00" + "\ufeffid: 1\r\ndata:  a\rdata\n\n: c\nevent: t\ndata: b\n\nretry: 5\ndata: lost".encode())
write("sse_decoder", "chunked_crlf", b"\x00\x03\x00\x01\x04" + b"data: x\r\n\r\ndata: y\r\rid\x00: 3\nid: a\x00b\n\nretry: 18446744073709551616\n\n")
write("sse_decoder", "tight", b"\x11\x08\x00" + b"data: 0123456789\n\ndata: a\ndata: b\n\n")
write("sse_decoder", "invalid_utf8", b"\x00\x01\x00" + b"\xef\xbbdata: \xc3\n\xe2\x82\n\n")


# --- sse_roundtrip: chunk sizes, hint, events ---
def sse_event(comment=None, retry=None, id=None, event=None, data=None, keep_alive=False):
    flags = (comment is not None) | ((retry is not None) << 1) | ((id is not None) << 2) \
        | ((event is not None) << 3) | ((data is not None) << 4) | (keep_alive << 5)
    out = bytes([flags])
    if comment is not None:
        out += short(comment)
    if retry is not None:
        out += struct.pack(">Q", retry)
    for v in (id, event, data):
        if v is not None:
            out += short(v)
    return out


write("sse_roundtrip", "events", b"\x00\x01" + struct.pack(">Q", 3000)
      + sse_event(data=b"one\ntwo\r\nthree\rfour", event=b"tick", id=b"7")
      + sse_event(comment=b"c\nc", keep_alive=True) + sse_event(id=b"only id")
      + sse_event(data=b"", event=b""))
write("sse_roundtrip", "invalid_names", b"\x02\x00\x02\x00"
      + sse_event(id=b"a\x00b\r", event=b"x\ny", data=b"\r\n\r\n:", retry=1))

# --- deflate_negotiation: client config (4 bytes), server config (4 bytes), header ---
write("deflate_negotiation", "browser", b"\x00\x07\x07\x06" + b"\x00\x07\x07\x06"
      + b"permessage-deflate; client_max_window_bits")
write("deflate_negotiation", "offers", b"\x03\x02\x01\x09" + b"\x01\x00\x05\x01"
      + b"x-foo, permessage-deflate; server_max_window_bits=\"8\"; client_max_window_bits,"
      + b" permessage-deflate; server_no_context_takeover; client_no_context_takeover")
write("deflate_negotiation", "bad", b"\x00\x00\x00\x00\x02\x07\x07\x06"
      + b"permessage-deflate; server_max_window_bits=16; foo=\"a\\\"b\", permessage-deflate; x")


# --- HTTP/3 and WebTransport (tidings_core::fuzzing::http3) ---
def varint(v):
    if v < 0x40:
        return bytes([v])
    if v < 0x4000:
        return struct.pack(">H", v | 0x4000)
    if v < 0x40000000:
        return struct.pack(">I", v | 0x80000000)
    return struct.pack(">Q", v | 0xC000000000000000)


def h3_frame(ty, payload):
    return varint(ty) + varint(len(payload)) + payload


def settings(pairs):
    return b"".join(varint(i) + varint(v) for i, v in pairs)


CHROMIUM_SETTINGS = settings([(0x01, 100), (0x07, 100), (0x33, 1), (0xffd277, 1), (0x2b603742, 1), (0x21 + 0x1f * 7, 5)])


def qpack_connect(protocol=b"webtransport"):
    def lit_name(name, value):
        assert len(name) >= 7 and len(value) < 127
        return bytes([0x27, len(name) - 7]) + name + bytes([len(value)]) + value
    return (b"\x00\x00" + bytes([0xc0 | 15, 0xc0 | 23])
            + b"\x50" + bytes([14]) + b"localhost:4433"
            + b"\x51" + bytes([5]) + b"/echo"
            + lit_name(b":protocol", protocol)
            + lit_name(b"sec-webtransport-http3-draft02", b"1")
            + b"\x5f" + bytes([90 - 15, 21]) + b"http://localhost:8000")


def capsule(ty, value):
    return varint(ty) + varint(len(value)) + value


CLOSE = capsule(0x2843, struct.pack(">I", 7) + b"done")
DRAIN = capsule(0x78ae, b"")

# h3_frames: chunk sizes, then a stream
write("h3_frames", "control", b"\x02\x01\x03" + h3_frame(0x04, CHROMIUM_SETTINGS) + h3_frame(0x40, b"\xaa\xbb") + h3_frame(0x07, b"\x00"))
write("h3_frames", "request", b"\x00" + h3_frame(0x01, qpack_connect()) + h3_frame(0x00, b"\x40\x21\x00" + CLOSE))
write("h3_frames", "wt_bidi", b"\x01\x01" + b"\x40\x41\x00payload")
write("h3_frames", "settings_errors", b"\x00" + h3_frame(0x04, settings([(0x33, 1), (0x33, 1)])) + h3_frame(0x04, b"\x02\x00") + h3_frame(0x04, b"\x40"))
write("h3_frames", "truncated", b"\x00" + b"\x01\x40\x80\x00")

# qpack_field_section: limit byte, mode byte, [chunk sizes], bytes
write("qpack_field_section", "connect", b"\x40\x00" + qpack_connect())
write("qpack_field_section", "rfc9204_b1", b"\x10\x00" + bytes.fromhex("0000510b2f696e6465782e68746d6c"))
write("qpack_field_section", "dynamic_refs", b"\x10\x00" + b"\x02\x80\x80\x10")
write("qpack_field_section", "too_large", b"\x01\x00" + b"\x00\x00\xd9\xd9\xd9")
write("qpack_field_section", "huffman_c4", b"\x00\x01" + bytes.fromhex("f1e3c2e5f23a6ba0ab90f4ff"))
write("qpack_field_section", "encoder_stream", b"\x00\x02\x01\x01" + b"\x20\x3f\x01")
write("qpack_field_section", "decoder_stream", b"\x00\x04\x01\x01" + b"\x44\x7f\x05\x80")

# wt_capsules: datagram limit, chunk sizes, data
# The GREASE capsule type 0x21 first, as Chrome sends one.
write("wt_capsules", "chrome", b"\x40\x01\x02" + capsule(0x21, b"\x00") + DRAIN + capsule(0x00, b"dg") + CLOSE)
write("wt_capsules", "bad_close", b"\x10\x00" + capsule(0x2843, b"\x00\x01"))
write("wt_capsules", "big_datagram", b"\x04\x01\x01" + capsule(0x00, b"x" * 10) + capsule(0x1234567, b"u" * 20) + CLOSE)


# wt_connection: flags, then operations
def op_data(stream_index, data, fin=False):
    assert len(data) < 256
    return b"\x00" + bytes([stream_index, fin]) + bytes([len(data)]) + data


def op_datagram(data):
    return b"\x01" + bytes([len(data)]) + data


S0, S4, S8, S2, S6, S10, S14, L1, L5, L3, L7 = range(11)
CONTROL = b"\x00" + h3_frame(0x04, CHROMIUM_SETTINGS)
REQUEST = h3_frame(0x01, qpack_connect())
write("wt_connection", "chromium", b"\x00" + op_data(S2, CONTROL) + op_data(S6, b"\x02\x20") + op_data(S10, b"\x03")
      + op_data(S0, REQUEST) + b"\x03\x00"  # accept session 0
      + op_data(S4, b"\x40\x41\x00hello") + op_data(S14, b"\x40\x54\x00uni", True) + op_datagram(b"\x00ping")
      + b"\x07\x00" + bytes([L1]) + b"\x07\x00" + bytes([L3]) + b"\x08\x00\x04pong"
      + op_data(S0, h3_frame(0x00, DRAIN + CLOSE)) + op_data(S0, b"", True))
write("wt_connection", "early_streams", b"\x04" + op_data(S4, b"\x40\x41\x00early") + op_datagram(b"\x00dg")
      + op_data(S2, CONTROL) + op_data(S0, REQUEST) + b"\x03\x00" + b"\x09" + bytes([S4]))
write("wt_connection", "prologue_then_close", b"\x01" + b"\x03\x00" + b"\x05\x00\x00\x2a\x03bye" + op_data(S0, b"", True))
write("wt_connection", "reject", b"\x01" + op_data(S8, b"\x40\x41\x00") + b"\x04\x00\x67" + op_data(S0, h3_frame(0x00, CLOSE), True))
write("wt_connection", "hostile", b"\x00" + op_data(S2, b"\x00" + h3_frame(0x04, b"\x33\x01\x33\x01")))
write("wt_connection", "second_session", b"\x09" + b"\x03\x00" + op_data(S8, REQUEST) + b"\x03\x02" + op_data(S4, b"\x40\x41\x08"))

# The client role (flags bit 5) after its prologue (CONNECT on 0, the
# server's SETTINGS, a 200): server streams, a datagram, DRAIN and CLOSE.
write("wt_connection", "client", b"\x21" + op_data(L1, b"\x40\x41\x00server bidi") + op_data(L7, b"\x40\x54\x00uni", True)
      + op_datagram(b"\x00dg") + b"\x07\x00" + bytes([S4]) + b"\x08\x00\x02hi"
      + op_data(S0, h3_frame(0x00, DRAIN + CLOSE), True))
# A client whose CONNECT is answered 404 (static index 27).
write("wt_connection", "client_rejected", b"\x20" + b"\x03\x00" + op_data(L3, CONTROL)
      + op_data(S0, h3_frame(0x01, b"\x00\x00\xdb")))
