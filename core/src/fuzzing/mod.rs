//! Property checks shared by the cargo-fuzz targets in `fuzz/` (and, for the
//! SSE reference model, by the unit tests). Not part of the API: it may change
//! in any release.
//!
//! Each `pub fn` here takes the fuzzer's bytes, decodes from them whatever it
//! needs (chunk sizes, configuration, an operation list) with [`Input`](crate::fuzzing::Input), and
//! panics when a property does not hold, which is how a fuzz target reports
//! a finding. Inputs that decode to nothing useful are simply accepted.
//! Panicking on bad data is the purpose of this module, so the rule against
//! `unwrap` and indexing on network data does not apply to it.
//!
//! The core reads no clock, so the WebSocket checks take the start of their
//! virtual clock from the caller.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{HeaderMap, Request, Response};

use crate::close::CloseCode;
use crate::deflate::{self, DeflateConfig, DeflateParams, SharedCompressor};
use crate::frame::{MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN, apply_mask};
use crate::handshake::{ClientHandshake, ServerHandshake, accept_key};
use crate::head::{
    HeadError, HeadLimits, HeadReader, encode_request_head, encode_response_head, parse_request,
    parse_response,
};
use crate::sse;
use crate::ws::{
    CloseCause, Config, Connection, Event, Message, Outgoing, Role, SendError, SharedFrame, State,
};

mod http3;

pub use http3::{h3_frames, qpack_field_section, wt_capsules, wt_connection};

// ---- input decoding -------------------------------------------------------

/// A cursor over the fuzzer's bytes; reads past the end give zeros and empty
/// slices, so every input decodes to something.
#[derive(Clone, Debug)]
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// A cursor at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The next byte, or 0 at the end.
    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&byte, rest)) => {
                self.data = rest;
                byte
            }
            None => 0,
        }
    }

    /// The next two bytes, big-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }

    /// The next `n` bytes, or fewer at the end.
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    /// A length byte, then that many bytes.
    pub fn short_bytes(&mut self) -> &'a [u8] {
        let n = usize::from(self.byte());
        self.bytes(n)
    }

    /// A length byte, then that many bytes read as (lossy) UTF-8.
    pub fn short_text(&mut self) -> String {
        String::from_utf8_lossy(self.short_bytes()).into_owned()
    }

    /// Everything not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        self.bytes(self.data.len())
    }

    /// A count byte (0 to 4), then that many chunk sizes of 1 to 256 bytes,
    /// for [`split`]. No sizes means one chunk.
    pub fn chunk_sizes(&mut self) -> Vec<usize> {
        let count = self.byte() % 5;
        (0..count).map(|_| usize::from(self.byte()) + 1).collect()
    }
}

/// Cuts `data` into pieces of the given sizes, cycled; one piece (possibly
/// empty) when `sizes` is empty.
pub fn split<'a>(data: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    if sizes.is_empty() {
        return vec![data];
    }
    let mut pieces = Vec::new();
    let mut rest = data;
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (piece, tail) = rest.split_at(size.clamp(1, rest.len()));
        pieces.push(piece);
        rest = tail;
    }
    pieces
}

// ---- HTTP heads and handshakes -------------------------------------------

/// Limits small enough for the fuzzer to reach both of them.
fn fuzz_head_limits() -> HeadLimits {
    HeadLimits {
        max_head_bytes: 1024,
        max_headers: 16,
    }
}

/// What a parsed head says, in a comparable form.
#[derive(Debug, PartialEq, Eq)]
struct HeadSummary {
    start_line: String,
    headers: HeaderMap,
}

fn request_summary(req: &Request<()>, with_version: bool) -> HeadSummary {
    let target = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let version = if with_version {
        format!("{:?}", req.version())
    } else {
        String::new()
    };
    HeadSummary {
        start_line: format!("{} {target} {version}", req.method()),
        headers: req.headers().clone(),
    }
}

fn response_summary(resp: &Response<()>, with_version: bool) -> HeadSummary {
    let version = if with_version {
        format!("{:?}", resp.version())
    } else {
        String::new()
    };
    HeadSummary {
        start_line: format!("{version} {}", resp.status()),
        headers: resp.headers().clone(),
    }
}

/// Feeds `buf` to `read` cut by `sizes`, growing one buffer as a server
/// does, until a verdict; returns it, and how many bytes had been fed.
fn read_chunked<T>(
    buf: &[u8],
    sizes: &[usize],
    mut read: impl FnMut(&[u8]) -> Result<Option<(T, usize)>, HeadError>,
) -> (Result<Option<(T, usize)>, HeadError>, usize) {
    let mut fed = 0;
    let mut verdict = read(&buf[..0]);
    for piece in split(buf, sizes) {
        fed += piece.len();
        verdict = read(&buf[..fed]);
        if !matches!(verdict, Ok(None)) {
            break;
        }
    }
    (verdict, fed)
}

/// Layout: [`Input::chunk_sizes`], then the head bytes.
///
/// Checks, with limits of 1024 bytes and 16 headers:
/// - [`HeadReader::read_request`] fed the bytes in chunks gives the same
///   verdict (head, length or error) as one-shot [`parse_request`] on the
///   whole buffer, and a head parsed from its own bytes alone is the same;
/// - an error's status is 400 or 431, a head's length is within the buffer;
/// - re-encoding a parsed request and parsing that gives the same method,
///   target and headers;
/// - [`ServerHandshake::accept`] (with and without subprotocols) never
///   panics; an accepted handshake's response carries the right
///   `Sec-WebSocket-Accept` and an offered subprotocol; a rejection encodes to
///   a response that parses back with its status, `Content-Length` and body.
pub fn http_request_head(data: &[u8]) {
    let mut input = Input::new(data);
    let sizes = input.chunk_sizes();
    let buf = input.rest();
    let limits = fuzz_head_limits();

    let mut reader = HeadReader::new(limits.clone());
    let (chunked, fed) = read_chunked(buf, &sizes, |b| reader.read_request(b));
    let whole = parse_request(buf, &limits);
    let summarize = |r: &Result<Option<(Request<()>, usize)>, HeadError>| {
        r.as_ref()
            .map(|head| {
                head.as_ref()
                    .map(|(req, n)| (request_summary(req, true), *n))
            })
            .map_err(Clone::clone)
    };
    assert_eq!(
        summarize(&chunked),
        summarize(&whole),
        "chunking changed the verdict"
    );

    match whole {
        Ok(Some((req, n))) => {
            assert!(n <= fed && fed <= buf.len());
            let own = parse_request(&buf[..n], &limits);
            assert_eq!(summarize(&own), summarize(&Ok(Some((req.clone(), n)))));

            let mut encoded = Vec::new();
            encode_request_head(&req, &mut encoded);
            let (again, m) = parse_request(&encoded, &HeadLimits::default())
                .expect("a re-encoded request parses")
                .expect("a re-encoded request is complete");
            assert_eq!(m, encoded.len());
            assert_eq!(request_summary(&again, false), request_summary(&req, false));

            check_accept(&req, &ServerHandshake::default());
            check_accept(
                &req,
                &ServerHandshake::default().with_subprotocols(["chat", "superchat"]),
            );
        }
        Ok(None) => assert!(buf.len() <= limits.max_head_bytes),
        Err(error) => {
            let status = error.status().as_u16();
            assert!(status == 400 || status == 431, "status {status}");
        }
    }
}

fn check_accept(req: &Request<()>, server: &ServerHandshake) {
    match server.accept(req) {
        Ok(accepted) => {
            let key = req.headers()["sec-websocket-key"].as_bytes();
            let resp = &accepted.response;
            assert_eq!(resp.status(), 101);
            assert_eq!(
                resp.headers()["sec-websocket-accept"].as_bytes(),
                accept_key(key).as_bytes()
            );
            if let Some(chosen) = &accepted.subprotocol {
                assert!(server.subprotocols.contains(chosen));
                let offered = req
                    .headers()
                    .get_all("sec-websocket-protocol")
                    .iter()
                    .flat_map(|v| v.as_bytes().split(|&b| b == b','))
                    .any(|p| p.trim_ascii() == chosen.as_bytes());
                assert!(offered, "chose {chosen}, which was not offered");
            }
            let mut out = Vec::new();
            accepted.encode(&mut out);
            let (parsed, n) = parse_response(&out, &HeadLimits::default())
                .expect("the 101 response parses")
                .expect("the 101 response is complete");
            assert_eq!(n, out.len());
            assert_eq!(
                response_summary(&parsed, false),
                response_summary(resp, false)
            );
        }
        Err(rejection) => {
            let mut out = Vec::new();
            rejection.encode(&mut out);
            let (parsed, n) = parse_response(&out, &HeadLimits::default())
                .expect("a rejection parses")
                .expect("a rejection is complete");
            assert_eq!(parsed.status(), rejection.status());
            assert_ne!(parsed.status(), 101);
            let body = &out[n..];
            assert_eq!(body, rejection.reason().as_bytes());
            assert_eq!(
                parsed.headers()["content-length"].as_bytes(),
                body.len().to_string().as_bytes()
            );
        }
    }
}

/// The nonce of the client handshake in [`http_response_head`]; its accept
/// value is `IxtOseKCd3ARAZpODJ8h3tuvG4E=` (used by the seed corpus).
pub const FUZZ_CLIENT_KEY: [u8; 16] = *b"tidings fuzz key";

/// Layout: [`Input::chunk_sizes`], then the head bytes.
///
/// Checks, with limits of 1024 bytes and 16 headers: the same chunking,
/// own-bytes and re-encoding properties as [`http_request_head`], for
/// [`HeadReader::read_response`]; [`ClientHandshake::verify`] (offering
/// `chat` and `superchat`, key [`FUZZ_CLIENT_KEY`]) never panics, accepts only
/// a 101 with the right accept value, and agrees to at most an offered
/// subprotocol.
pub fn http_response_head(data: &[u8]) {
    let mut input = Input::new(data);
    let sizes = input.chunk_sizes();
    let buf = input.rest();
    let limits = fuzz_head_limits();

    let mut reader = HeadReader::new(limits.clone());
    let (chunked, fed) = read_chunked(buf, &sizes, |b| reader.read_response(b));
    let whole = parse_response(buf, &limits);
    let summarize = |r: &Result<Option<(Response<()>, usize)>, HeadError>| {
        r.as_ref()
            .map(|head| {
                head.as_ref()
                    .map(|(resp, n)| (response_summary(resp, true), *n))
            })
            .map_err(Clone::clone)
    };
    assert_eq!(
        summarize(&chunked),
        summarize(&whole),
        "chunking changed the verdict"
    );

    match whole {
        Ok(Some((resp, n))) => {
            assert!(n <= fed && fed <= buf.len());
            let own = parse_response(&buf[..n], &limits);
            assert_eq!(summarize(&own), summarize(&Ok(Some((resp.clone(), n)))));

            let mut encoded = Vec::new();
            encode_response_head(&resp, &mut encoded);
            let (again, m) = parse_response(&encoded, &HeadLimits::default())
                .expect("a re-encoded response parses")
                .expect("a re-encoded response is complete");
            assert_eq!(m, encoded.len());
            assert_eq!(
                response_summary(&again, false),
                response_summary(&resp, false)
            );

            let client = ClientHandshake::new("ws://example.com/chat", FUZZ_CLIENT_KEY)
                .and_then(|c| c.with_subprotocols(["chat", "superchat"]))
                .expect("a valid client configuration");
            if let Ok(negotiated) = client.verify(&resp) {
                assert_eq!(resp.status(), 101);
                let expected = accept_key(STANDARD.encode(FUZZ_CLIENT_KEY).as_bytes());
                assert_eq!(
                    resp.headers()["sec-websocket-accept"].as_bytes(),
                    expected.as_bytes()
                );
                if let Some(chosen) = negotiated.subprotocol {
                    assert!(client.subprotocols().contains(&chosen));
                }
            }
        }
        Ok(None) => assert!(buf.len() <= limits.max_head_bytes),
        Err(error) => {
            let status = error.status().as_u16();
            assert!(status == 400 || status == 431, "status {status}");
        }
    }
}

// ---- the WebSocket connection ----------------------------------------------

/// The largest control frame the connection writes: header and payload.
const MAX_CONTROL_FRAME: usize = MAX_HEADER_LEN + MAX_CONTROL_PAYLOAD;

/// Mirrors the connection's cap on automatic pongs awaiting `poll_transmit`.
const MAX_PENDING_PONGS: usize = 16;

/// Deterministic bytes, so a two-byte length gives a large payload.
fn filler(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Ten milliseconds per step of `b`, plus one, so no timer is ever zero.
fn millis(b: u8) -> Duration {
    Duration::from_millis(u64::from(b) * 10 + 1)
}

/// A configuration with small limits, read from the input: a flags byte
/// (bit 0 outgoing frame size, bit 1 no auto-pong, bits 2-4 ping period,
/// pong wait, idle timeout, bit 5 permessage-deflate), the frame size
/// (0-255), the message size (0-1023), then one byte for each duration and
/// the close timeout, then for deflate a parameters byte (bit 0
/// `server_no_context_takeover`, bit 1 `client_no_context_takeover`, bits
/// 2-4 and 5-7 the server's and the client's window bits minus 8), a level
/// byte (mod 10) and a threshold byte. Returns the configuration and the
/// negotiated deflate parameters, as both ends agreed on them.
fn ws_config(input: &mut Input<'_>) -> (Config, Option<DeflateParams>) {
    let flags = input.byte();
    let max_frame_size = usize::from(input.byte());
    let max_message_size = usize::from(input.u16()) % 1024;
    let outgoing = (flags & 1 != 0).then(|| usize::from(input.byte()));
    let ping_period = (flags & 4 != 0).then(|| millis(input.byte()));
    let pong_wait = (flags & 8 != 0).then(|| millis(input.byte()));
    let idle_timeout = (flags & 16 != 0).then(|| millis(input.byte()));
    let config = Config::default()
        .max_frame_size(max_frame_size)
        .max_message_size(max_message_size)
        .max_outgoing_frame_size(outgoing)
        .auto_pong(flags & 2 == 0)
        .ping_period(ping_period)
        .pong_wait(pong_wait)
        .idle_timeout(idle_timeout)
        .close_timeout(millis(input.byte()));
    if flags & 32 == 0 {
        return (config, None);
    }
    let bits = input.byte();
    let params = DeflateParams {
        server_no_context_takeover: bits & 1 != 0,
        client_no_context_takeover: bits & 2 != 0,
        server_max_window_bits: 8 + (bits >> 2) % 8,
        client_max_window_bits: 8 + (bits >> 5),
    };
    let deflate = DeflateConfig::default()
        .level(u32::from(input.byte() % 10))
        .threshold(usize::from(input.byte()));
    (config.deflate(Some(deflate)), Some(params))
}

/// A connection of the other role than `role` with `config`'s deflate
/// settings and outgoing frame size, but default limits: the peer that
/// generates well-formed (compressed) messages, or reads what the
/// connection under test sends.
fn peer_of(
    role: &Role,
    config: &Config,
    params: Option<DeflateParams>,
    now: Instant,
) -> Connection {
    let peer_role = if role.is_client() {
        Role::Server
    } else {
        Role::Client { mask_seed: [7; 32] }
    };
    let peer_config = Config::default()
        .max_outgoing_frame_size(config.max_outgoing_frame_size)
        .deflate(config.deflate.clone());
    Connection::new(peer_role, peer_config, now).with_deflate(params)
}

/// A frame from the peer, well-formed or not, read from the input: the first
/// byte as is (FIN, RSV, opcode), a flags byte (bit 0 masks wrongly for
/// `local_is_client`, bits 1-2 pick the 7-bit, 16-bit or 64-bit length
/// form, bit 3 a large filler payload of a two-byte length), the payload, the
/// mask key.
///
/// With flag bit 4 and a `peer`, the payload is instead sent as a message
/// (text, lossy, if the first byte's opcode is 1, else binary) through the
/// peer's own connection, which compresses it (with its context) and
/// splits it as negotiated; its frames are returned.
fn peer_frame(
    input: &mut Input<'_>,
    local_is_client: bool,
    peer: Option<&mut Connection>,
) -> Vec<u8> {
    let first = input.byte();
    let flags = input.byte();
    let payload = if flags & 8 != 0 {
        // Up to 8 KiB: every length form is reachable (the flags pick the
        // form, non-minimal forms included) without megabytes per input.
        filler(usize::from(input.u16()) % 8192, first)
    } else {
        input.short_bytes().to_vec()
    };
    if let Some(peer) = peer.filter(|_| flags & 16 != 0) {
        let sent = if first & 0x0f == 1 {
            peer.send(Outgoing::Text(&String::from_utf8_lossy(&payload)))
        } else {
            peer.send(Outgoing::Binary(&payload))
        };
        assert_eq!(sent, Ok(()), "the generating peer only sends");
        let mut frames = Vec::new();
        let _ = peer.poll_transmit(&mut frames);
        return frames;
    }
    let masked = !local_is_client ^ (flags & 1 != 0);
    let mask_bit = if masked { 0x80 } else { 0 };
    let len = payload.len();
    let mut frame = vec![first];
    match (flags >> 1) & 3 {
        0 | 3 if len < 126 => frame.push(mask_bit | len as u8),
        0 | 1 | 3 if len <= 0xffff => {
            frame.push(mask_bit | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            frame.push(mask_bit | 127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    if masked {
        let key = [input.byte(), input.byte(), input.byte(), input.byte()];
        frame.extend_from_slice(&key);
        let start = frame.len();
        frame.extend_from_slice(&payload);
        apply_mask(&mut frame[start..], key, 0);
    } else {
        frame.extend_from_slice(&payload);
    }
    frame
}

/// What the driver of [`ws_connection`] knows and checks after every step.
struct Watch {
    max_frame_size: usize,
    max_message_size: usize,
    /// An event `Closed` was polled.
    closed: bool,
    /// Output the local calls since the last `poll_transmit` may have queued.
    allowance: usize,
}

impl Watch {
    /// Polls every event and checks the bounds.
    fn drain(&mut self, conn: &mut Connection) {
        while let Some(event) = conn.poll_event() {
            assert!(!self.closed, "event after Closed: {event:?}");
            match &event {
                Event::Message(message) => assert!(message.len() <= self.max_message_size),
                Event::Ping(payload) | Event::Pong(payload) => {
                    assert!(payload.len() <= MAX_CONTROL_PAYLOAD);
                }
                Event::Closed(_) => self.closed = true,
            }
        }
        assert_eq!(
            conn.state() == State::Closed,
            self.closed,
            "state {:?}, Closed polled: {}",
            conn.state(),
            self.closed
        );
        // A partial frame (payload or header) plus a partial message.
        let max_input = self.max_frame_size.max(MAX_HEADER_LEN - 1) + self.max_message_size;
        assert!(
            conn.pending_input() <= max_input,
            "pending input {} over {max_input}",
            conn.pending_input()
        );
        // Besides what local calls queued: the pongs (capped) and one close frame.
        let max_output = self.allowance + (MAX_PENDING_PONGS + 1) * MAX_CONTROL_FRAME;
        assert!(
            conn.pending_transmit() <= max_output,
            "pending output {} over {max_output}",
            conn.pending_transmit()
        );
    }

    /// Accounts for a data message sent locally (`send` returned `result`).
    fn sent_data(
        &mut self,
        conn: &Connection,
        was_open: bool,
        result: Result<(), SendError>,
        len: usize,
    ) {
        if was_open {
            assert_eq!(result, Ok(()));
            // Compressing can grow a message: zlib's conservative
            // `deflateBound` (small windows make it code incompressible
            // bytes with fixed Huffman codes, up to 9 bits each) plus the
            // sync flush's empty block.
            let len = if conn.deflate_params().is_some() {
                len + len.div_ceil(8) + len.div_ceil(64) + 5 + 16
            } else {
                len
            };
            let frames = conn
                .config()
                .max_outgoing_frame_size
                .filter(|&s| s > 0)
                .map_or(1, |s| len / s + 1);
            self.allowance += len + frames * MAX_HEADER_LEN;
        } else {
            assert_eq!(result, Err(SendError::Closed));
        }
    }

    /// Accounts for a ping or pong sent locally.
    fn sent_control(&mut self, was_open: bool, result: Result<(), SendError>, len: usize) {
        match (was_open, len <= MAX_CONTROL_PAYLOAD) {
            (false, _) => assert_eq!(result, Err(SendError::Closed)),
            (true, true) => {
                assert_eq!(result, Ok(()));
                self.allowance += MAX_HEADER_LEN + len;
            }
            (true, false) => assert_eq!(result, Err(SendError::ControlPayloadTooLong(len))),
        }
    }
}

/// Feeds `chunks` at one instant, draining events after each, then EOF if
/// `eof`; returns every event and the output, transmitted once at the end.
fn observe_ws(
    role: &Role,
    config: &Config,
    params: Option<DeflateParams>,
    chunks: &[&[u8]],
    eof: bool,
    now: Instant,
) -> (Vec<Event>, Vec<u8>) {
    let mut conn = Connection::new(role.clone(), config.clone(), now).with_deflate(params);
    let mut events = Vec::new();
    for chunk in chunks {
        conn.handle_input(now, chunk);
        events.extend(std::iter::from_fn(|| conn.poll_event()));
    }
    if eof {
        conn.handle_eof(now);
        events.extend(std::iter::from_fn(|| conn.poll_event()));
    }
    let mut out = Vec::new();
    let _ = conn.poll_transmit(&mut out);
    (events, out)
}

/// Layout: the configuration (see `ws_config`: frames up to 255 bytes,
/// messages up to 1023, permessage-deflate with any parameters or off), a
/// role byte (odd: client, masking with the byte as seed), then operations,
/// each a tag byte (mod 11) and its arguments:
/// 0 raw peer bytes (length byte, bytes), 1 a peer frame (see `peer_frame`:
/// raw, or a message through a peer connection that compresses it as
/// negotiated), 2 send text, 3 send binary (a flag byte; odd: a filler of a
/// two-byte length), 4 send ping, 5 send pong (length byte, payload), 6
/// close (code u16, reason), 7 EOF, 8 advance the clock (a byte: 0 jumps to
/// `poll_timeout`, else that many 10 ms) and fire the timers, 9 drain
/// `poll_transmit`, 10 send a text as a [`SharedFrame`] (compressed once
/// with a [`SharedCompressor`] when the connection accepts it, as a
/// broadcast does).
///
/// Checks after every operation, with all events polled:
/// - no panic; no event after `Closed`, and `Closed` was polled exactly when
///   the state is `Closed`; after EOF the connection is closed;
/// - messages within `max_message_size`, control payloads within 125 bytes;
/// - `pending_input()` at most `max_frame_size` (or a partial header) plus
///   `max_message_size`;
/// - `pending_transmit()` at most what local calls queued since the last
///   transmit, plus 16 pongs and one close frame, whatever the peer sends;
/// - `send`/`close` succeed exactly when open with a valid payload, code and
///   reason;
/// - timers: at most three `handle_timeout` calls at one instant leave no
///   deadline due;
/// - what the connection sends reads back: a peer connection with the same
///   deflate parameters, fed every drained output, gets exactly the data
///   messages sent so far (own and shared, compressed or not), in order,
///   and never a protocol error;
///
/// and at the end, chunking invariance: the peer bytes delivered in one
/// chunk or in the chunks of the run (no local operations, no timers; EOF
/// if the run had one) give the same events and the same output.
pub fn ws_connection(data: &[u8], start: Instant) {
    let mut input = Input::new(data);
    let (config, params) = ws_config(&mut input);
    let role_byte = input.byte();
    let role = if role_byte & 1 != 0 {
        Role::Client {
            mask_seed: [role_byte; 32],
        }
    } else {
        Role::Server
    };
    let client = role.is_client();
    let mut conn = Connection::new(role.clone(), config.clone(), start).with_deflate(params);
    // Generates well-formed (compressed) peer messages.
    let mut generator = peer_of(&role, &config, params, start);
    // Reads what `conn` sends.
    let mut mirror = Mirror {
        conn: peer_of(&role, &config, params, start),
        sent: Vec::new(),
        received: Vec::new(),
    };
    let mut shared_compressor: Option<SharedCompressor> = None;
    let mut watch = Watch {
        max_frame_size: config.max_frame_size,
        max_message_size: config.max_message_size,
        closed: false,
        allowance: 0,
    };
    let mut now = start;
    let mut peer: Vec<Vec<u8>> = Vec::new();
    let mut eof = false;
    let mut out = Vec::new();
    while !input.is_empty() {
        let was_open = conn.state() == State::Open;
        match input.byte() % 11 {
            0 => {
                let bytes = input.short_bytes();
                conn.handle_input(now, bytes);
                peer.push(bytes.to_vec());
            }
            1 => {
                let frame = peer_frame(&mut input, client, Some(&mut generator));
                conn.handle_input(now, &frame);
                peer.push(frame);
            }
            2 => {
                let text = input.short_text();
                let result = conn.send(Outgoing::Text(&text));
                let queued = result.is_ok();
                watch.sent_data(&conn, was_open, result, text.len());
                mirror.sent(queued, Message::Text(text.into()));
            }
            3 => {
                let seed = input.byte();
                let payload = if seed & 1 != 0 {
                    filler(usize::from(input.u16()) % 8192, seed)
                } else {
                    input.short_bytes().to_vec()
                };
                let result = conn.send(Outgoing::Binary(&payload));
                let queued = result.is_ok();
                watch.sent_data(&conn, was_open, result, payload.len());
                mirror.sent(queued, Message::Binary(payload.into()));
            }
            tag @ (4 | 5) => {
                let payload = input.short_bytes();
                let result = conn.send(if tag == 4 {
                    Outgoing::Ping(payload)
                } else {
                    Outgoing::Pong(payload)
                });
                watch.sent_control(was_open, result, payload.len());
            }
            6 => {
                let code = CloseCode(input.u16());
                let reason = input.short_text();
                let result = conn.close(now, code, &reason);
                let expected = if !was_open {
                    Err(SendError::Closed)
                } else if !code.is_valid_on_wire() {
                    Err(SendError::InvalidCloseCode(code.0))
                } else if reason.len() > MAX_CONTROL_PAYLOAD - 2 {
                    Err(SendError::CloseReasonTooLong(reason.len()))
                } else {
                    watch.allowance += MAX_CONTROL_FRAME;
                    Ok(())
                };
                assert_eq!(result, expected);
            }
            7 => {
                conn.handle_eof(now);
                eof = true;
            }
            8 => {
                match input.byte() {
                    0 => now = conn.poll_timeout().map_or(now, |at| at.max(now)),
                    step => now += millis(step),
                }
                for _ in 0..3 {
                    if conn.poll_timeout().is_some_and(|at| at <= now) {
                        conn.handle_timeout(now);
                        // A keep-alive ping (the close frame is counted once already).
                        watch.allowance += MAX_HEADER_LEN;
                    }
                }
                assert!(
                    conn.poll_timeout().is_none_or(|at| at > now),
                    "a timer is still due after three handle_timeout calls"
                );
            }
            9 => {
                let _ = conn.poll_transmit(&mut out);
                mirror.read(&out, now);
                out.clear();
                watch.allowance = 0;
            }
            _ => {
                let text = input.short_text();
                let level = config.deflate.as_ref().map_or(1, |d| d.level);
                let frame = match params {
                    Some(params)
                        if conn.accepts_shared_compression(params.server_max_window_bits) =>
                    {
                        let compressor = shared_compressor.get_or_insert_with(|| {
                            SharedCompressor::new(params.server_max_window_bits, level)
                        });
                        SharedFrame::compressed(Outgoing::Text(&text), compressor, &config)
                    }
                    _ => SharedFrame::new(Outgoing::Text(&text), &config),
                }
                .expect("a data message always encodes");
                let result = conn.send_shared(&frame);
                let queued = result.is_ok();
                let expected = if !was_open {
                    Err(SendError::Closed)
                } else if client {
                    Err(SendError::SharedFrameOnClient)
                } else {
                    watch.allowance += frame.len();
                    Ok(())
                };
                assert_eq!(result, expected);
                mirror.sent(queued, Message::Text(text.into()));
            }
        }
        watch.drain(&mut conn);
        if eof {
            assert_eq!(
                conn.state(),
                State::Closed,
                "still {:?} after EOF",
                conn.state()
            );
        }
        if watch.closed {
            assert_eq!(conn.send(Outgoing::Text("late")), Err(SendError::Closed));
        }
    }

    let _ = conn.poll_transmit(&mut out);
    mirror.read(&out, now);

    let chunks: Vec<&[u8]> = peer.iter().map(Vec::as_slice).collect();
    let whole = peer.concat();
    assert_eq!(
        observe_ws(&role, &config, params, &chunks, eof, start),
        observe_ws(&role, &config, params, &[&whole], eof, start),
        "chunking changed the events or the output"
    );
}

/// The peer that reads what the connection under test sends, and what it
/// should read.
struct Mirror {
    conn: Connection,
    /// The data messages queued, in order.
    sent: Vec<Message>,
    /// The data messages the peer read.
    received: Vec<Message>,
}

impl Mirror {
    /// Records a message, if it was `queued`.
    fn sent(&mut self, queued: bool, message: Message) {
        if queued {
            self.sent.push(message);
        }
    }

    /// Feeds drained output and checks that it carried every message sent.
    fn read(&mut self, output: &[u8], now: Instant) {
        self.conn.handle_input(now, output);
        while let Some(event) = self.conn.poll_event() {
            match event {
                Event::Message(message) => self.received.push(message),
                Event::Closed(closed) => {
                    if let CloseCause::ProtocolViolation(error) = &closed.cause {
                        panic!("the peer could not read the output: {error}");
                    }
                }
                _ => {}
            }
        }
        assert_eq!(self.received, self.sent, "the peer read other messages");
    }
}

/// Layout: a flags byte (bit 0: the client sends; bit 1: an outgoing frame
/// size byte follows, 1-256), [`Input::chunk_sizes`], then messages, each a
/// tag byte (mod 4) and its payload: 0 text, 1 binary (length byte, bytes),
/// 2 binary filler (two-byte length, doubled: up to 128 KiB, for the 64-bit
/// length form), 3 ping (length byte, payload cut to 125 bytes).
///
/// Checks: the messages and pings, sent by one role (split into frames when a
/// frame size is set) and fed to the other in the chosen chunks, arrive
/// identical and in order; then a close (1000, "done") from the sender
/// completes cleanly on both sides, each seeing the right close frames.
pub fn ws_roundtrip(data: &[u8], now: Instant) {
    let mut input = Input::new(data);
    let flags = input.byte();
    let frame_size = (flags & 2 != 0).then(|| usize::from(input.byte()) + 1);
    let sizes = input.chunk_sizes();
    let quiet = Config::default().ping_period(None).pong_wait(None);
    let client = Role::Client {
        mask_seed: [flags; 32],
    };
    let (sender_role, receiver_role) = if flags & 1 != 0 {
        (client, Role::Server)
    } else {
        (Role::Server, client)
    };
    let mut sender = Connection::new(
        sender_role,
        quiet.clone().max_outgoing_frame_size(frame_size),
        now,
    );
    let mut receiver = Connection::new(receiver_role, quiet, now);

    let mut expected = Vec::new();
    // Large messages reach the 16- and 64-bit length forms; a budget keeps
    // one input from generating hundreds of megabytes (which made this
    // target run at ~16 execs/s).
    let mut large_budget: usize = 96 << 10;
    while !input.is_empty() {
        let event = match input.byte() % 4 {
            0 => Event::Message(Message::Text(input.short_text().into())),
            1 => Event::Message(Message::Binary(Bytes::copy_from_slice(input.short_bytes()))),
            2 => {
                let len = (usize::from(input.u16()) * 2).min(large_budget);
                large_budget -= len;
                Event::Message(Message::Binary(filler(len, 2).into()))
            }
            _ => {
                let payload = input.short_bytes();
                Event::Ping(Bytes::copy_from_slice(
                    &payload[..payload.len().min(MAX_CONTROL_PAYLOAD)],
                ))
            }
        };
        let result = match &event {
            Event::Message(Message::Text(text)) => sender.send(Outgoing::Text(text.as_str())),
            Event::Message(Message::Binary(bytes)) => sender.send(Outgoing::Binary(bytes)),
            Event::Ping(bytes) => sender.send(Outgoing::Ping(bytes)),
            other => unreachable!("not generated: {other:?}"),
        };
        assert_eq!(result, Ok(()));
        expected.push(event);
    }
    sender
        .close(now, CloseCode::NORMAL, "done")
        .expect("an open connection closes");

    let mut wire = Vec::new();
    let _ = sender.poll_transmit(&mut wire);
    // Chunks grow with the stream (1-256 bytes per 8 KiB of it), so large
    // messages are still cut inside headers and code points but cost
    // hundreds of calls rather than hundreds of thousands.
    let scale = wire.len() / 8192 + 1;
    let sizes: Vec<usize> = sizes.iter().map(|size| size * scale).collect();
    let mut events = Vec::new();
    for piece in split(&wire, &sizes) {
        receiver.handle_input(now, piece);
        events.extend(std::iter::from_fn(|| receiver.poll_event()));
    }
    let mut reply = Vec::new();
    let _ = receiver.poll_transmit(&mut reply);
    let mut sender_events = Vec::new();
    for piece in split(&reply, &sizes) {
        sender.handle_input(now, piece);
        sender_events.extend(std::iter::from_fn(|| sender.poll_event()));
    }
    // Each side's transport ends (the server closes it; the client sees that).
    for conn in [&mut sender, &mut receiver] {
        conn.handle_eof(now);
    }
    events.extend(std::iter::from_fn(|| receiver.poll_event()));
    sender_events.extend(std::iter::from_fn(|| sender.poll_event()));

    let done = |code: u16, reason: &str| crate::ws::CloseFrame {
        code: CloseCode(code),
        reason: reason.to_owned(),
    };
    let receiver_closed = events.pop();
    assert_eq!(events, expected, "messages changed in transit");
    assert_eq!(
        receiver_closed,
        Some(Event::Closed(Box::new(crate::ws::Closed {
            cause: CloseCause::PeerClose,
            sent: Some(done(1000, "")),
            received: Some(done(1000, "done")),
        })))
    );
    assert!(
        sender_events
            .iter()
            .rev()
            .skip(1)
            .all(|e| matches!(e, Event::Pong(_)))
    );
    assert_eq!(
        sender_events.last(),
        Some(&Event::Closed(Box::new(crate::ws::Closed {
            cause: CloseCause::LocalClose,
            sent: Some(done(1000, "done")),
            received: Some(done(1000, "")),
        })))
    );
}

// ---- Server-Sent Events ----------------------------------------------------

/// A reference model of the WHATWG event-stream rules, independent of
/// [`sse::Decoder`], and the helpers to compare the two.
pub mod sse_model {
    use std::time::Duration;

    use crate::sse::{DecodeError, DecodedEvent, Decoder};

    /// Everything observable about a decoded stream.
    #[derive(Debug, PartialEq, Eq)]
    pub struct Outcome {
        /// The events, in order.
        pub events: Vec<DecodedEvent>,
        /// The last event id after the stream.
        pub last_event_id: String,
        /// The reconnection delay after the stream.
        pub retry: Option<Duration>,
        /// The limit error, if the decoder stopped at one.
        pub error: Option<DecodeError>,
    }

    /// Feeds `chunks` (stopping at the first error), finishes, polls everything.
    pub fn decode_chunks(mut decoder: Decoder, chunks: &[&[u8]]) -> Outcome {
        let mut error = None;
        for chunk in chunks {
            if let Err(e) = decoder.feed(chunk) {
                error = Some(e);
                break;
            }
        }
        let last_event_id = decoder.last_event_id().to_owned();
        let retry = decoder.retry();
        decoder.finish();
        Outcome {
            events: std::iter::from_fn(|| decoder.poll_event()).collect(),
            last_event_id,
            retry,
            error,
        }
    }

    /// The WHATWG algorithm on a whole stream, as literally as possible
    /// (no limits, so `error` is always `None`).
    pub fn reference(input: &[u8]) -> Outcome {
        let decoded = String::from_utf8_lossy(input);
        let mut rest = decoded.strip_prefix('\u{FEFF}').unwrap_or(&decoded);
        let mut lines = Vec::new();
        // Only terminated lines count: the text after the last break is an
        // unfinished line of an unfinished event, discarded at the end.
        while let Some(end) = rest.find(['\r', '\n']) {
            lines.push(&rest[..end]);
            let skip = if rest[end..].starts_with("\r\n") {
                2
            } else {
                1
            };
            rest = &rest[end + skip..];
        }

        let (mut data, mut event_type, mut id_buffer) =
            (String::new(), String::new(), String::new());
        let mut out = Outcome {
            events: Vec::new(),
            last_event_id: String::new(),
            retry: None,
            error: None,
        };
        for line in lines {
            if line.is_empty() {
                out.last_event_id = id_buffer.clone();
                if !data.is_empty() {
                    data.pop(); // always a LF
                    let event_type = if event_type.is_empty() {
                        "message"
                    } else {
                        &event_type
                    };
                    out.events.push(DecodedEvent {
                        event_type: event_type.to_owned(),
                        data: data.clone(),
                        last_event_id: id_buffer.clone(),
                    });
                }
                data.clear();
                event_type.clear();
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (name, value) = match line.split_once(':') {
                Some((name, value)) => (name, value.strip_prefix(' ').unwrap_or(value)),
                None => (line, ""),
            };
            match name {
                "event" => event_type = value.to_owned(),
                "data" => {
                    data.push_str(value);
                    data.push('\n');
                }
                "id" if !value.contains('\0') => id_buffer = value.to_owned(),
                "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                    if let Ok(millis) = value.parse::<u64>() {
                        out.retry = Some(Duration::from_millis(millis));
                    }
                }
                _ => {}
            }
        }
        out
    }
}

/// Layout: a limits byte (even: the default limits; odd: lines up to
/// `byte / 2 + 1` bytes and event data up to the next byte + 1),
/// [`Input::chunk_sizes`], then the stream.
///
/// Checks: the decoder fed the stream in chunks gives the same outcome
/// (events, last event id, retry, error) as fed it whole, and the same as the
/// reference model; when it stops at a limit, its events are a prefix of the
/// model's.
pub fn sse_decoder(data: &[u8]) {
    let mut input = Input::new(data);
    let mode = input.byte();
    let limits = if mode & 1 == 0 {
        sse::Limits::default()
    } else {
        sse::Limits::default()
            .with_max_line_len(usize::from(mode / 2) + 1)
            .with_max_data_len(usize::from(input.byte()) + 1)
    };
    let sizes = input.chunk_sizes();
    let stream = input.rest();

    let chunked =
        sse_model::decode_chunks(sse::Decoder::with_limits(limits), &split(stream, &sizes));
    let whole = sse_model::decode_chunks(sse::Decoder::with_limits(limits), &[stream]);
    assert_eq!(chunked, whole, "chunking changed the outcome");
    let model = sse_model::reference(stream);
    if whole.error.is_none() {
        assert_eq!(whole, model, "the decoder disagrees with the model");
    } else {
        assert!(
            model.events.starts_with(&whole.events),
            "events before the limit error differ from the model's"
        );
    }
}

/// Layout: [`Input::chunk_sizes`], an optional stand-alone retry hint (a byte;
/// odd: eight bytes of milliseconds follow), then events, each a flags byte
/// saying which fields follow: bit 0 a comment, bit 1 retry (eight bytes),
/// bit 2 id, bit 3 event name, bit 4 data (each a length byte and text, any
/// characters), bit 5 a keep-alive after the event.
///
/// Checks: an id encodes exactly when it holds no CR, LF or NUL, an event name
/// when it holds no CR or LF; the valid events (names and ids stripped of
/// those characters) encoded and decoded in the chosen chunks give back each
/// event with data (line breaks read back as LF), the latest id and retry.
pub fn sse_roundtrip(data: &[u8]) {
    let mut input = Input::new(data);
    let sizes = input.chunk_sizes();
    let u64_of = |input: &mut Input<'_>| u64::from_be_bytes(std::array::from_fn(|_| input.byte()));
    let mut stream = Vec::new();
    let mut retry = None;
    if input.byte() & 1 != 0 {
        let hint = Duration::from_millis(u64_of(&mut input));
        sse::encode_retry(hint, &mut stream);
        retry = Some(hint);
    }
    let mut expected = Vec::new();
    let mut last_event_id = String::new();
    while !input.is_empty() {
        let flags = input.byte();
        let mut event = sse::Event::new();
        if flags & 1 != 0 {
            event = event.comment(input.short_text());
        }
        if flags & 2 != 0 {
            let delay = Duration::from_millis(u64_of(&mut input));
            event = event.retry(delay);
            retry = Some(delay);
        }
        if flags & 4 != 0 {
            let raw = input.short_text();
            let valid = !raw.contains(['\r', '\n', '\0']);
            assert_eq!(
                sse::Event::new().try_id(raw.as_str()).is_ok(),
                valid,
                "id {raw:?}"
            );
            let id = raw.replace(['\r', '\n', '\0'], "");
            event = event.id(id.as_str());
            last_event_id = id;
        }
        let mut event_type = String::from("message");
        if flags & 8 != 0 {
            let raw = input.short_text();
            let valid = !raw.contains(['\r', '\n']);
            assert_eq!(
                sse::Event::new().try_event(raw.as_str()).is_ok(),
                valid,
                "name {raw:?}"
            );
            let name = raw.replace(['\r', '\n'], "");
            if !name.is_empty() {
                event_type.clone_from(&name);
            }
            event = event.event(name);
        }
        if flags & 16 != 0 {
            let data = input.short_text();
            expected.push(sse::DecodedEvent {
                event_type,
                data: data.replace("\r\n", "\n").replace('\r', "\n"),
                last_event_id: last_event_id.clone(),
            });
            event = event.data(data);
        }
        event.encode(&mut stream).expect("a valid event encodes");
        if flags & 32 != 0 {
            stream.extend_from_slice(sse::KEEP_ALIVE);
        }
    }
    let got = sse_model::decode_chunks(sse::Decoder::new(), &split(&stream, &sizes));
    let expected = sse_model::Outcome {
        events: expected,
        last_event_id,
        retry,
        error: None,
    };
    assert_eq!(got, expected, "encode then decode changed the events");
}

// ---- permessage-deflate negotiation ---------------------------------------

/// A [`DeflateConfig`] from four bytes of input.
fn deflate_config(input: &mut Input<'_>) -> DeflateConfig {
    let flags = input.byte();
    DeflateConfig::default()
        .server_no_context_takeover(flags & 1 != 0)
        .client_no_context_takeover(flags & 2 != 0)
        .server_max_window_bits(8 + input.byte() % 8)
        .client_max_window_bits(8 + input.byte() % 8)
        .level(u32::from(input.byte() % 10))
}

/// Layout: a client [`DeflateConfig`] (4 bytes), a server one (4 bytes), then
/// a `Sec-WebSocket-Extensions` value.
///
/// Checks: [`deflate::parse_extensions`] never panics on the value; when the
/// server accepts something from it, its response parses back to exactly
/// one permessage-deflate element whose window bits are 8 to 15; and the
/// server always accepts the client's own [`deflate::client_offer`], which
/// the client then verifies to the very parameters the server chose.
pub fn deflate_negotiation(data: &[u8]) {
    let mut input = Input::new(data);
    let client = deflate_config(&mut input);
    let server = deflate_config(&mut input);
    let header = input.rest();

    if let Ok(offers) = deflate::parse_extensions([header]) {
        if let Some((params, response)) = deflate::accept_offers(&server, &offers) {
            let parsed = deflate::parse_extensions([response.as_bytes()]).unwrap();
            assert_eq!(parsed.len(), 1, "{response:?}");
            assert_eq!(parsed[0].name, deflate::PERMESSAGE_DEFLATE);
            for bits in [params.server_max_window_bits, params.client_max_window_bits] {
                assert!((8..=15).contains(&bits), "{params:?}");
            }
        }
    }

    let offer = deflate::client_offer(&client);
    let offers = deflate::parse_extensions([offer.as_bytes()]).unwrap();
    let (params, response) = deflate::accept_offers(&server, &offers)
        .unwrap_or_else(|| panic!("server declined our own offer {offer:?}"));
    let response = deflate::parse_extensions([response.as_bytes()]).unwrap();
    let verified = deflate::verify_response(&client, &response)
        .unwrap_or_else(|()| panic!("client refused {response:?} to {offer:?}"));
    assert_eq!(verified, Some(params));
}

/// Raw DEFLATE of `data` as a peer sends a message: sync flush, the
/// `00 00 ff ff` tail stripped. Test support for permessage-deflate.
pub fn deflate_raw(data: &[u8]) -> Vec<u8> {
    let mut shared = crate::deflate::SharedCompressor::new(15, 1);
    shared.compress(data).unwrap_or_default()
}

/// A compressed stream that inflates to `mib` MiB of zeros: the sync-flushed
/// compression of 1 MiB of zeros, repeated (each piece ends byte-aligned
/// with an empty stored block, so the concatenation is one valid stream).
/// Test support: an inflation bomb.
pub fn deflate_zero_bomb(mib: usize) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    let mut compress = Compress::new_with_window_bits(Compression::best(), false, 15);
    let mut piece = Vec::with_capacity(4096);
    let _ = compress.compress_vec(&vec![0; 1 << 20], &mut piece, FlushCompress::Sync);
    assert!(piece.ends_with(&[0, 0, 0xff, 0xff]) && piece.len() < 2048);
    piece.repeat(mib)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed 101 response is accepted by the fuzzed client handshake, so
    /// the fuzzer starts from the success path, not only from refusals.
    #[test]
    fn the_seed_101_response_verifies() {
        let accept = STANDARD.encode(FUZZ_CLIENT_KEY);
        let raw = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: chat\r\n\r\n",
            accept_key(accept.as_bytes())
        );
        assert!(raw.contains("IxtOseKCd3ARAZpODJ8h3tuvG4E="));
        let (resp, _) = parse_response(raw.as_bytes(), &HeadLimits::default())
            .unwrap()
            .unwrap();
        let client = ClientHandshake::new("ws://example.com/chat", FUZZ_CLIENT_KEY)
            .unwrap()
            .with_subprotocols(["chat", "superchat"])
            .unwrap();
        assert_eq!(
            client.verify(&resp).unwrap().subprotocol.as_deref(),
            Some("chat")
        );
    }

    #[test]
    fn split_cycles_the_sizes_and_keeps_every_byte() {
        let data = b"abcdefghij";
        assert_eq!(split(data, &[]), [&data[..]]);
        assert_eq!(
            split(data, &[3, 1]),
            [&b"abc"[..], b"d", b"efg", b"h", b"ij"]
        );
        assert_eq!(split(b"", &[2]), Vec::<&[u8]>::new());
    }

    #[test]
    fn peer_frames_mask_as_the_role_requires() {
        // Text "hi", masked for a server, with key 1 2 3 4.
        let mut input = Input::new(&[0x81, 0, 2, b'h', b'i', 1, 2, 3, 4]);
        assert_eq!(
            peer_frame(&mut input, false, None),
            [0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2]
        );
        let mut input = Input::new(&[0x81, 0, 2, b'h', b'i']);
        assert_eq!(peer_frame(&mut input, true, None), [0x81, 0x02, b'h', b'i']);
        // The 64-bit length form on request.
        let mut input = Input::new(&[0x82, 4, 0]);
        assert_eq!(
            peer_frame(&mut input, true, None),
            [0x82, 127, 0, 0, 0, 0, 0, 0, 0, 0]
        );
    }
}
