//! WebTransport over HTTP/3 (draft-ietf-webtrans-http3, draft-02 as
//! Chromium speaks it and the later drafts): an HTTP/3 connection whose
//! extended CONNECT requests open WebTransport sessions, as a state machine
//! keyed by QUIC stream id. The server side is the main one; a client side
//! (opening sessions with [`Connection::connect`]) shares all of it but the
//! request handling. It owns no QUIC: the caller's QUIC
//! engine (quinn, or any other) carries streams and datagrams, feeds what
//! arrives in, and writes out what [`Connection::poll_transmit`] gives.
//!
//! What it handles: the control stream and SETTINGS (GREASE skipped), the
//! QPACK streams (with a dynamic table of capacity 0), request streams
//! with extended CONNECT validation, the session life (accept, reject,
//! drain, close, with capsules on the CONNECT stream), data streams
//! (bidirectional ones opened by the 0x41 signal, unidirectional ones of
//! type 0x54, each followed by the session id), datagrams with their
//! quarter-stream-id prefix, and streams or datagrams that arrive before
//! their session (kept up to a limit, then refused).
//!
//! What it leaves to the caller: the bytes of data streams. Once
//! [`Connection::handle_stream_data`] says a stream is a session's
//! ([`StreamRead::Payload`]), the rest of that stream goes straight to the
//! application, uncopied.
//!
//! ```
//! use bytes::Bytes;
//! # use tidings_core::webtransport::{Config, Connection, Event, StreamRead, Transmit};
//! # use tidings_core::h3::{frame, settings, varint, Settings};
//! # use tidings_core::qpack;
//! let mut server = Connection::server(Config::default());
//!
//! // The client's control stream (id 2): type 0x00, then its SETTINGS.
//! let mut control = vec![0x00];
//! let mut payload = Vec::new();
//! Settings::from_pairs([(settings::ENABLE_WEBTRANSPORT, 1), (settings::H3_DATAGRAM, 1)]).encode_payload(&mut payload);
//! frame::encode(frame::SETTINGS, &payload, &mut control);
//! assert_eq!(server.handle_stream_data(2, &control, false), StreamRead::Consumed);
//!
//! // The CONNECT request on stream 0.
//! let mut fields = Vec::new();
//! qpack::encode_field_section([
//!     (&b":method"[..], &b"CONNECT"[..]), (b":protocol", b"webtransport"), (b":scheme", b"https"),
//!     (b":authority", b"example.com"), (b":path", b"/chat"),
//! ], &mut fields);
//! let mut request = Vec::new();
//! frame::encode(frame::HEADERS, &fields, &mut request);
//! server.handle_stream_data(0, &request, false);
//! let Some(Event::SessionRequest { session, request }) = server.poll_event() else { panic!() };
//! assert_eq!(request.path, "/chat");
//! server.accept(session).unwrap();
//!
//! // A datagram for the session: quarter stream id 0, then the payload.
//! server.handle_datagram(Bytes::from_static(b"\x00hello"));
//! assert!(matches!(server.poll_event(), Some(Event::Datagram { payload, .. }) if payload == "hello"));
//!
//! // The control stream (with our SETTINGS) and the 200 response go out.
//! assert!(matches!(server.poll_transmit(), Some(Transmit::Control(_))));
//! assert!(matches!(server.poll_transmit(), Some(Transmit::Stream { id: 0, fin: false, .. })));
//! ```

pub mod capsule;
mod config;
mod connect;
mod error;
mod event;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;

pub use config::Config;
pub use connect::{ConnectRequest, DRAFT02_HEADER, PROTOCOL, PROTOCOL_DRAFT02};
pub use error::{
    APPLICATION_ERROR_FIRST, APPLICATION_ERROR_LAST, ProtocolError, SendError, app_error_to_h3,
    h3_to_app_error,
};
pub use event::{Event, SessionEnd, SessionId};

use crate::h3::{
    self, ErrorCode, FramePiece, FrameReader, Settings, StreamId, frame, varint,
    varint::VarIntReader,
};
use crate::qpack::{self, DecodeError, DecoderStreamReader, EncoderStreamReader, InstructionError};
use capsule::{Capsule, CapsuleReader};
use connect::Verdict;

/// How far (in streams of one kind) a new peer stream id may skip ahead of
/// the highest one seen. QUIC's own stream limits keep honest peers far
/// below; the core remembers each skipped id until it is seen.
pub const MAX_STREAM_ID_GAP: u64 = 1 << 12;

/// What [`Connection::handle_stream_data`] did with the bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamRead {
    /// The core took them all (control or QPACK stream, a CONNECT stream, a
    /// data stream's header still incomplete): keep feeding the stream.
    Consumed,
    /// The stream is a data stream of an open session: the first
    /// `header_len` bytes of this input were its header (0 after the call
    /// that read it); the rest, and everything later, is the application's
    /// payload. [`Event::IncomingStream`] announces it once.
    Payload {
        /// The session.
        session: SessionId,
        /// Header bytes at the start of this input.
        header_len: usize,
    },
    /// A data stream whose session is not open yet: `header_len` bytes
    /// were its header. Keep the rest of the input, stop reading, and wait
    /// for [`Event::IncomingStream`] (or a reset in
    /// [`Connection::poll_transmit`]).
    Buffered {
        /// Header bytes at the start of this input.
        header_len: usize,
    },
    /// The core has no use for this stream (an unknown stream type, a
    /// refused request, a stream of an ended session): drop its bytes. A
    /// STOP_SENDING may be queued.
    Discard,
}

/// Something to do on the QUIC connection, from
/// [`Connection::poll_transmit`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transmit {
    /// Bytes for this endpoint's control stream: open a unidirectional
    /// stream for the first of them (it begins with the stream type), and
    /// keep it open for the connection's life.
    Control(Bytes),
    /// Bytes for a stream (a CONNECT stream's response and capsules); with
    /// `fin`, end the sending side after them.
    Stream {
        /// The QUIC stream id.
        id: u64,
        /// The bytes (possibly empty with `fin`).
        data: Bytes,
        /// Whether to finish the stream.
        fin: bool,
    },
    /// Reset the sending side of a stream (RESET_STREAM).
    ResetStream {
        /// The QUIC stream id.
        id: u64,
        /// The HTTP/3 error code.
        code: ErrorCode,
    },
    /// Ask the peer to stop sending on a stream (STOP_SENDING).
    StopSending {
        /// The QUIC stream id.
        id: u64,
        /// The HTTP/3 error code.
        code: ErrorCode,
    },
    /// Close the QUIC connection with this application error code: the
    /// last transmit.
    CloseConnection {
        /// The HTTP/3 error code.
        code: ErrorCode,
        /// A reason for the CONNECTION_CLOSE frame.
        reason: String,
    },
}

/// The header a locally opened data stream starts with, from
/// [`Connection::open_stream`]: the 0x41 signal or the 0x54 type, then the
/// session id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamHeader {
    bytes: [u8; 2 * varint::MAX_LEN],
    len: u8,
}

impl StreamHeader {
    fn new(kind: u64, session: SessionId) -> Self {
        let mut out = Vec::with_capacity(2 * varint::MAX_LEN);
        varint::encode(kind, &mut out);
        varint::encode(session.0, &mut out);
        let mut bytes = [0; 2 * varint::MAX_LEN];
        bytes[..out.len()].copy_from_slice(&out);
        StreamHeader {
            bytes,
            len: out.len() as u8,
        }
    }

    /// The bytes to write first on the stream.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// Which peer stream ids have been seen, for one kind of stream: every id
/// below `next` except those in `gaps`. Ids are never reused, so data for
/// a seen stream the core no longer tracks is discarded.
#[derive(Clone, Debug, Default)]
struct IdTracker {
    next: u64,
    gaps: BTreeSet<u64>,
}

impl IdTracker {
    /// Records the stream (by its index, the id divided by 4): whether it
    /// is new, or an error when it skips too far.
    fn first_sight(&mut self, index: u64) -> Result<bool, ()> {
        if index >= self.next {
            if index - self.next > MAX_STREAM_ID_GAP || self.gaps.len() as u64 > MAX_STREAM_ID_GAP {
                return Err(());
            }
            self.gaps.extend(self.next..index);
            self.next = index + 1;
            Ok(true)
        } else {
            Ok(self.gaps.remove(&index))
        }
    }

    fn seen(&self, index: u64) -> bool {
        index < self.next && !self.gaps.contains(&index)
    }
}

#[derive(Debug)]
enum Stream {
    /// A peer unidirectional stream whose type is still incomplete.
    UniType(VarIntReader),
    Control(Box<ControlStream>),
    QpackEncoder(EncoderStreamReader),
    QpackDecoder(DecoderStreamReader),
    /// A 0x54 stream whose session id is still incomplete.
    UniSession(VarIntReader),
    Request(Box<RequestStream>),
    /// A data stream of a session (open or pending).
    Data {
        session: u64,
    },
}

#[derive(Debug, Default)]
struct ControlStream {
    reader: FrameReader,
    settings_seen: bool,
    /// The payload of a frame being kept (SETTINGS), if any.
    keep: Option<Vec<u8>>,
}

/// Which end of the HTTP/3 connection this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Server,
    Client,
}

#[derive(Debug, PartialEq, Eq)]
enum Phase {
    /// Before the first frame's header.
    Start,
    /// A client's CONNECT stream, before the (final) response's HEADERS.
    Response,
    /// Collecting the HEADERS payload (a request's, or a client's
    /// response).
    Headers,
    /// The CONNECT of a session: capsules follow in DATA frames.
    Session,
    /// Answered or refused: the rest is skipped.
    Done,
}

#[derive(Debug)]
struct RequestStream {
    reader: FrameReader,
    phase: Phase,
    headers: Vec<u8>,
    capsules: CapsuleReader,
    /// The peer's CLOSE capsule arrived: only the stream's end may follow.
    peer_closed: bool,
}

#[derive(Debug, PartialEq, Eq)]
enum SessionState {
    /// The request arrived before the peer's SETTINGS.
    AwaitingSettings(Box<ConnectRequest>),
    /// Announced, waiting for accept or reject.
    Requested,
    /// A client's CONNECT, waiting for the response.
    Connecting,
    Open,
}

#[derive(Debug)]
struct Session {
    state: SessionState,
    draft02: bool,
    /// Open data streams of the session (both directions, both initiators).
    streams: BTreeSet<u64>,
}

/// One HTTP/3 connection carrying WebTransport sessions, server or client
/// side, keyed by QUIC stream id.
///
/// # Call order for an adapter
///
/// 1. Create it with [`Connection::server`] (or [`Connection::client`])
///    when the QUIC handshake is done (ALPN `h3`), and write out what
///    [`poll_transmit`](Self::poll_transmit) gives: first the control
///    stream with this endpoint's SETTINGS.
/// 2. For every peer-initiated stream (bidirectional or unidirectional),
///    feed its bytes to [`handle_stream_data`](Self::handle_stream_data)
///    (with `fin` at its end) and act on the [`StreamRead`]; a peer reset is
///    [`handle_stream_reset`](Self::handle_stream_reset). Feed each QUIC
///    datagram to [`handle_datagram`](Self::handle_datagram).
/// 3. After each input or local call, drain
///    [`poll_event`](Self::poll_event), then
///    [`poll_transmit`](Self::poll_transmit), until both return `None`.
/// 4. A server answers each [`Event::SessionRequest`] with
///    [`accept`](Self::accept) or [`reject`](Self::reject); a client opens
///    a bidirectional stream, calls [`connect`](Self::connect) with its id,
///    feeds that stream's incoming bytes in too, and waits for
///    [`Event::SessionEstablished`]. Open data streams with the QUIC engine
///    and register them with [`open_stream`](Self::open_stream), whose
///    header goes first on the stream. When a data stream is over in both
///    directions, call [`handle_stream_closed`](Self::handle_stream_closed).
/// 5. After [`Event::ConnectionClosed`], send the
///    [`Transmit::CloseConnection`] and stop.
///
/// There are no timers: QUIC's idle timeout covers a silent peer.
#[derive(Debug)]
pub struct Connection {
    config: Config,
    peer_settings: Option<Settings>,
    streams: BTreeMap<u64, Stream>,
    role: Role,
    /// Peer-initiated stream ids seen.
    peer_bidi: IdTracker,
    peer_uni: IdTracker,
    sessions: BTreeMap<u64, Session>,
    /// Data streams waiting for their session, in arrival order.
    buffered_streams: VecDeque<(u64, u64)>,
    /// Datagrams waiting for their session.
    buffered_datagrams: VecDeque<(u64, Bytes)>,
    seen_control: bool,
    seen_qpack_encoder: bool,
    seen_qpack_decoder: bool,
    /// The stream id sent in GOAWAY: requests from it on are refused.
    goaway: Option<u64>,
    events: VecDeque<Event>,
    transmits: VecDeque<Transmit>,
    failed: bool,
    /// Incoming datagrams dropped (see [`Connection::datagrams_dropped`]).
    datagrams_dropped: u64,
}

impl Connection {
    /// The server side of a new HTTP/3 connection; its control stream with
    /// the SETTINGS of [`Config::settings`] is queued for
    /// [`poll_transmit`](Self::poll_transmit).
    pub fn server(config: Config) -> Self {
        let settings = config.settings();
        Self::new(Role::Server, config, &settings)
    }

    /// The client side of a new HTTP/3 connection: its control stream with
    /// the SETTINGS of [`Config::client_settings`] is queued for
    /// [`poll_transmit`](Self::poll_transmit). Sessions are opened with
    /// [`connect`](Self::connect).
    pub fn client(config: Config) -> Self {
        let settings = config.client_settings();
        Self::new(Role::Client, config, &settings)
    }

    fn new(role: Role, config: Config, settings: &Settings) -> Self {
        let mut control = Vec::new();
        varint::encode(h3::STREAM_CONTROL, &mut control);
        let mut payload = Vec::new();
        settings.encode_payload(&mut payload);
        frame::encode(frame::SETTINGS, &payload, &mut control);
        Connection {
            config,
            role,
            peer_settings: None,
            streams: BTreeMap::new(),
            peer_bidi: IdTracker::default(),
            peer_uni: IdTracker::default(),
            sessions: BTreeMap::new(),
            buffered_streams: VecDeque::new(),
            buffered_datagrams: VecDeque::new(),
            seen_control: false,
            seen_qpack_encoder: false,
            seen_qpack_decoder: false,
            goaway: None,
            events: VecDeque::new(),
            transmits: VecDeque::from([Transmit::Control(Bytes::from(control))]),
            failed: false,
            datagrams_dropped: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The peer's SETTINGS, once received.
    pub fn peer_settings(&self) -> Option<&Settings> {
        self.peer_settings.as_ref()
    }

    /// Incoming datagrams dropped so far: over
    /// [`Config::max_datagram_size`], for a session that is gone or was
    /// never requested, or beyond [`Config::max_buffered_datagrams`] while
    /// waiting for their session. (A driver compares it before and after
    /// [`handle_datagram`](Self::handle_datagram) to count drops.)
    pub fn datagrams_dropped(&self) -> u64 {
        self.datagrams_dropped
    }

    /// Whether the connection has failed ([`Event::ConnectionClosed`]).
    pub fn is_closed(&self) -> bool {
        self.failed
    }

    /// The next event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next thing to do on the QUIC connection, if any.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    fn fail(&mut self, error: ProtocolError) {
        if self.failed {
            return;
        }
        self.failed = true;
        self.transmits.push_back(Transmit::CloseConnection {
            code: error.code(),
            reason: error.to_string(),
        });
        self.events.push_back(Event::ConnectionClosed(error));
        self.streams.clear();
        self.sessions.clear();
        self.buffered_streams.clear();
        self.buffered_datagrams.clear();
    }

    /// Bytes that arrived on stream `id` (one the peer opened, or a
    /// client's CONNECT stream), with `fin` when they end it (possibly with
    /// no bytes). See [`StreamRead`] for what to
    /// do next. Data for a stream the core has dropped, or for a locally
    /// opened stream, is [`StreamRead::Discard`] or
    /// [`StreamRead::Payload`] with no header.
    pub fn handle_stream_data(&mut self, id: u64, data: &[u8], fin: bool) -> StreamRead {
        if self.failed {
            return StreamRead::Discard;
        }
        let stream_id = StreamId(id);
        let stream = match self.streams.remove(&id) {
            Some(stream) => stream,
            None if !self.is_peer(id) => return StreamRead::Discard,
            None => {
                let tracker = if stream_id.is_bidi() {
                    &mut self.peer_bidi
                } else {
                    &mut self.peer_uni
                };
                match tracker.first_sight(id >> 2) {
                    Ok(true) => {}
                    Ok(false) => return StreamRead::Discard,
                    Err(()) => {
                        self.fail(ProtocolError::StreamIdGap(id));
                        return StreamRead::Discard;
                    }
                }
                if stream_id.is_bidi() {
                    Stream::Request(Box::new(RequestStream {
                        reader: FrameReader::default(),
                        phase: Phase::Start,
                        headers: Vec::new(),
                        capsules: CapsuleReader::new(self.config.max_datagram_size),
                        peer_closed: false,
                    }))
                } else {
                    Stream::UniType(VarIntReader::default())
                }
            }
        };
        let mut input = data;
        let (stream, read) = self.read_stream(id, stream, &mut input, fin);
        let read = match read {
            // Say where the payload starts in this input.
            StreamRead::Payload { session, .. } => StreamRead::Payload {
                session,
                header_len: data.len() - input.len(),
            },
            StreamRead::Buffered { .. } => StreamRead::Buffered {
                header_len: data.len() - input.len(),
            },
            other => other,
        };
        if let Some(stream) = stream {
            if !self.failed {
                self.streams.insert(id, stream);
            }
        }
        read
    }

    /// Runs `stream` over `input`; gives back the stream to keep (if any)
    /// and the verdict. For `Payload`/`Buffered`, `input` is left at the
    /// first payload byte.
    fn read_stream(
        &mut self,
        id: u64,
        stream: Stream,
        input: &mut &[u8],
        fin: bool,
    ) -> (Option<Stream>, StreamRead) {
        match stream {
            Stream::UniType(mut reader) => {
                let Some(stream_type) = reader.read(input) else {
                    return (
                        Some(Stream::UniType(reader)),
                        if fin {
                            StreamRead::Discard
                        } else {
                            StreamRead::Consumed
                        },
                    );
                };
                let next = match stream_type {
                    h3::STREAM_CONTROL | h3::STREAM_QPACK_ENCODER | h3::STREAM_QPACK_DECODER => {
                        let (seen, kind, next) = match stream_type {
                            h3::STREAM_CONTROL => (
                                &mut self.seen_control,
                                "control",
                                Stream::Control(Box::default()),
                            ),
                            h3::STREAM_QPACK_ENCODER => (
                                &mut self.seen_qpack_encoder,
                                "QPACK encoder",
                                Stream::QpackEncoder(EncoderStreamReader::default()),
                            ),
                            _ => (
                                &mut self.seen_qpack_decoder,
                                "QPACK decoder",
                                Stream::QpackDecoder(DecoderStreamReader::default()),
                            ),
                        };
                        if std::mem::replace(seen, true) {
                            self.fail(ProtocolError::StreamCreation(kind));
                            None
                        } else {
                            Some(next)
                        }
                    }
                    h3::STREAM_PUSH => {
                        self.fail(ProtocolError::StreamCreation("push"));
                        None
                    }
                    h3::STREAM_WEBTRANSPORT => Some(Stream::UniSession(VarIntReader::default())),
                    _ => {
                        // Unknown and GREASE stream types (RFC 9114 §6.2).
                        if !fin {
                            self.transmits.push_back(Transmit::StopSending {
                                id,
                                code: ErrorCode::STREAM_CREATION_ERROR,
                            });
                        }
                        None
                    }
                };
                match next {
                    Some(next) => self.read_stream(id, next, input, fin),
                    None => (None, StreamRead::Discard),
                }
            }
            Stream::UniSession(mut reader) => match reader.read(input) {
                Some(session) => {
                    let read = self.attach_stream(id, session);
                    (None, read)
                }
                None => (
                    Some(Stream::UniSession(reader)),
                    if fin {
                        StreamRead::Discard
                    } else {
                        StreamRead::Consumed
                    },
                ),
            },
            Stream::Control(mut control) => {
                self.read_control(&mut control, input);
                if fin && !self.failed {
                    self.fail(ProtocolError::ClosedCriticalStream("control"));
                }
                (Some(Stream::Control(control)), StreamRead::Consumed)
            }
            Stream::QpackEncoder(mut reader) => {
                let checked = reader.read(input);
                self.on_qpack_stream(checked, fin, "QPACK encoder");
                (Some(Stream::QpackEncoder(reader)), StreamRead::Consumed)
            }
            Stream::QpackDecoder(mut reader) => {
                let checked = reader.read(input);
                self.on_qpack_stream(checked, fin, "QPACK decoder");
                (Some(Stream::QpackDecoder(reader)), StreamRead::Consumed)
            }
            Stream::Request(mut request) => self.read_request(id, &mut request, input, fin).map_or(
                (None, StreamRead::Discard),
                |read| match read {
                    RequestRead::Keep => (Some(Stream::Request(request)), StreamRead::Consumed),
                    RequestRead::Data(read) => (None, read),
                    RequestRead::Drop => (None, StreamRead::Discard),
                },
            ),
            Stream::Data { session } => {
                // The adapter should have stopped feeding it; the
                // bookkeeping stays until handle_stream_closed.
                let open = self
                    .sessions
                    .get(&session)
                    .is_some_and(|s| s.state == SessionState::Open);
                let read = if open {
                    StreamRead::Payload {
                        session: SessionId(session),
                        header_len: 0,
                    }
                } else {
                    StreamRead::Buffered { header_len: 0 }
                };
                (Some(Stream::Data { session }), read)
            }
        }
    }

    /// Fails the connection for an invalid instruction on a QPACK stream,
    /// or for its end (it is a critical stream).
    fn on_qpack_stream(
        &mut self,
        checked: Result<(), InstructionError>,
        fin: bool,
        kind: &'static str,
    ) {
        match checked {
            Err(err) => self.fail(err.into()),
            Ok(()) if fin => self.fail(ProtocolError::ClosedCriticalStream(kind)),
            Ok(()) => {}
        }
    }

    fn read_control(&mut self, control: &mut ControlStream, input: &mut &[u8]) {
        const STREAM: &str = "the control stream";
        while let Some(piece) = control.reader.read(input) {
            match piece {
                FramePiece::Header { frame_type, len } => {
                    if !control.settings_seen && frame_type != frame::SETTINGS {
                        return self.fail(ProtocolError::MissingSettings);
                    }
                    match frame_type {
                        frame::SETTINGS if control.settings_seen => {
                            return self.fail(ProtocolError::UnexpectedFrame {
                                frame_type,
                                stream: STREAM,
                            });
                        }
                        frame::SETTINGS => {
                            control.settings_seen = true;
                            if len > self.config.max_control_frame_size as u64 {
                                let max = self.config.max_control_frame_size;
                                return self.fail(ProtocolError::FrameTooLarge {
                                    frame_type,
                                    len,
                                    max,
                                });
                            }
                            control.keep = Some(Vec::with_capacity(len as usize));
                        }
                        frame::DATA
                        | frame::HEADERS
                        | frame::PUSH_PROMISE
                        | frame::WEBTRANSPORT_STREAM => {
                            return self.fail(ProtocolError::UnexpectedFrame {
                                frame_type,
                                stream: STREAM,
                            });
                        }
                        _ if frame::is_http2_only(frame_type) => {
                            return self.fail(ProtocolError::UnexpectedFrame {
                                frame_type,
                                stream: STREAM,
                            });
                        }
                        // GOAWAY, MAX_PUSH_ID, CANCEL_PUSH, PRIORITY_UPDATE,
                        // unknown and GREASE types: nothing a WebTransport
                        // server acts on; skipped.
                        _ => {}
                    }
                }
                FramePiece::Payload { data, end, .. } => {
                    if let Some(keep) = &mut control.keep {
                        keep.extend_from_slice(data);
                        if end {
                            let payload = control.keep.take().unwrap_or_default();
                            match Settings::decode_payload(&payload) {
                                Ok(settings) => self.on_settings(settings),
                                Err(err) => return self.fail(err.into()),
                            }
                        }
                    }
                }
            }
        }
    }

    fn on_settings(&mut self, settings: Settings) {
        let supported = settings.supports_webtransport();
        self.peer_settings = Some(settings);
        let waiting: Vec<u64> = self
            .sessions
            .iter()
            .filter(|(_, s)| matches!(s.state, SessionState::AwaitingSettings(_)))
            .map(|(&id, _)| id)
            .collect();
        for id in waiting {
            let Some(session) = self.sessions.get_mut(&id) else {
                continue;
            };
            let state = std::mem::replace(&mut session.state, SessionState::Requested);
            if let SessionState::AwaitingSettings(request) = state {
                if supported {
                    self.events.push_back(Event::SessionRequest {
                        session: SessionId(id),
                        request: *request,
                    });
                } else {
                    let draft02 = session.draft02;
                    self.respond(id, 400, draft02, true);
                    self.remove_session(id, ErrorCode::WEBTRANSPORT_BUFFERED_STREAM_REJECTED);
                    self.stop_reading_request(id);
                }
            }
        }
    }

    /// Queues a response HEADERS frame on a request stream.
    fn respond(&mut self, id: u64, status: u16, draft02: bool, fin: bool) {
        let mut fields = Vec::new();
        connect::encode_response(status, draft02 && status == 200, &mut fields);
        let mut out = Vec::new();
        frame::encode(frame::HEADERS, &fields, &mut out);
        self.transmits.push_back(Transmit::Stream {
            id,
            data: Bytes::from(out),
            fin,
        });
        if fin {
            // The rest of the request is of no use (RFC 9114 §4.1).
            self.transmits.push_back(Transmit::StopSending {
                id,
                code: ErrorCode::NO_ERROR,
            });
        }
    }

    fn read_request(
        &mut self,
        id: u64,
        request: &mut RequestStream,
        input: &mut &[u8],
        fin: bool,
    ) -> Option<RequestRead> {
        const STREAM: &str = "a request stream";
        while let Some(piece) = request.reader.read(input) {
            match piece {
                FramePiece::Header { frame_type, len } => match frame_type {
                    // A server opens no request streams (RFC 9114 §6.1).
                    _ if self.role == Role::Client
                        && request.phase == Phase::Start
                        && frame_type != frame::WEBTRANSPORT_STREAM
                        && !h3::is_grease(frame_type) =>
                    {
                        self.fail(ProtocolError::StreamCreation("bidirectional"));
                        return None;
                    }
                    frame::WEBTRANSPORT_STREAM if request.phase == Phase::Start => {
                        return Some(RequestRead::Data(self.attach_stream(id, len)));
                    }
                    frame::HEADERS if request.phase == Phase::Response => {
                        if len > self.config.max_field_section_size as u64 {
                            self.session_error(id, ErrorCode::EXCESSIVE_LOAD);
                            request.phase = Phase::Done;
                        } else {
                            request.phase = Phase::Headers;
                            request.headers = Vec::with_capacity(len as usize);
                        }
                    }
                    frame::HEADERS if request.phase == Phase::Start => {
                        if self.goaway.is_some_and(|first_refused| id >= first_refused) {
                            // After GOAWAY (RFC 9114 §5.2): not processed,
                            // safe to retry on a new connection.
                            self.abort_stream(id, ErrorCode::REQUEST_REJECTED);
                            request.phase = Phase::Done;
                        } else if len > self.config.max_field_section_size as u64 {
                            self.respond(id, 431, false, true);
                            request.phase = Phase::Done;
                        } else {
                            request.phase = Phase::Headers;
                            request.headers = Vec::with_capacity(len as usize);
                        }
                    }
                    frame::DATA if matches!(request.phase, Phase::Start | Phase::Response) => {
                        self.fail(ProtocolError::UnexpectedFrame {
                            frame_type,
                            stream: STREAM,
                        });
                        return None;
                    }
                    frame::SETTINGS
                    | frame::GOAWAY
                    | frame::MAX_PUSH_ID
                    | frame::CANCEL_PUSH
                    | frame::PUSH_PROMISE
                    | frame::WEBTRANSPORT_STREAM => {
                        self.fail(ProtocolError::UnexpectedFrame {
                            frame_type,
                            stream: STREAM,
                        });
                        return None;
                    }
                    _ if frame::is_http2_only(frame_type) => {
                        self.fail(ProtocolError::UnexpectedFrame {
                            frame_type,
                            stream: STREAM,
                        });
                        return None;
                    }
                    _ => {}
                },
                FramePiece::Payload {
                    frame_type,
                    data,
                    end,
                } => {
                    if frame_type == frame::HEADERS && request.phase == Phase::Headers {
                        request.headers.extend_from_slice(data);
                        if end {
                            let headers = std::mem::take(&mut request.headers);
                            request.phase = match self.role {
                                Role::Server => self.on_request_headers(id, &headers)?,
                                Role::Client => self.on_response_headers(id, &headers)?,
                            };
                        }
                    } else if frame_type == frame::DATA
                        && request.phase == Phase::Session
                        && !self.read_capsules(id, request, data)
                    {
                        request.phase = Phase::Done;
                    }
                    // Anything else (trailers, unknown frames, a refused
                    // request's body) is skipped.
                }
            }
        }
        if !fin {
            return Some(RequestRead::Keep);
        }
        if !request.reader.is_at_boundary() {
            self.fail(ProtocolError::TruncatedFrame);
            return None;
        }
        match request.phase {
            Phase::Start | Phase::Headers if self.role == Role::Server => {
                self.transmits.push_back(Transmit::ResetStream {
                    id,
                    code: ErrorCode::REQUEST_INCOMPLETE,
                });
            }
            Phase::Start => {}
            Phase::Response | Phase::Headers => {
                // The server ended the CONNECT stream without a response.
                self.end_session(id, Some(SessionEnd::Error(ErrorCode::MESSAGE_ERROR)));
                self.transmits.push_back(Transmit::ResetStream {
                    id,
                    code: ErrorCode::REQUEST_CANCELLED,
                });
            }
            Phase::Session => {
                // The peer ended the CONNECT stream: the session is over
                // (without a CLOSE capsule, as if code 0, empty reason).
                if !request.peer_closed {
                    self.end_session(
                        id,
                        Some(SessionEnd::Closed {
                            code: 0,
                            reason: String::new(),
                        }),
                    );
                }
                self.transmits.push_back(Transmit::Stream {
                    id,
                    data: Bytes::new(),
                    fin: true,
                });
            }
            Phase::Done => {}
        }
        Some(RequestRead::Drop)
    }

    /// Handles the complete HEADERS payload of a response to this client's
    /// CONNECT; `None` when the connection failed.
    fn on_response_headers(&mut self, id: u64, headers: &[u8]) -> Option<Phase> {
        let fields = match qpack::decode_field_section(headers, self.config.max_field_section_size)
        {
            Ok(fields) => fields,
            Err(DecodeError::TooLarge { .. }) => {
                self.session_error(id, ErrorCode::EXCESSIVE_LOAD);
                return Some(Phase::Done);
            }
            Err(err) => {
                self.fail(err.into());
                return None;
            }
        };
        let Some(status) = connect::response_status(&fields) else {
            self.session_error(id, ErrorCode::MESSAGE_ERROR);
            return Some(Phase::Done);
        };
        let session = SessionId(id);
        match status {
            // Interim responses: the final one follows.
            100..=199 => Some(Phase::Response),
            200..=299 => {
                if let Some(s) = self.sessions.get_mut(&id) {
                    s.state = SessionState::Open;
                }
                self.events.push_back(Event::SessionEstablished { session });
                self.release_waiting(session);
                Some(Phase::Session)
            }
            _ => {
                self.events
                    .push_back(Event::SessionRejected { session, status });
                self.remove_session(id, ErrorCode::WEBTRANSPORT_BUFFERED_STREAM_REJECTED);
                Some(Phase::Done)
            }
        }
    }

    /// Handles a request's complete HEADERS payload; `None` when the
    /// connection failed.
    fn on_request_headers(&mut self, id: u64, headers: &[u8]) -> Option<Phase> {
        let fields = match qpack::decode_field_section(headers, self.config.max_field_section_size)
        {
            Ok(fields) => fields,
            Err(DecodeError::TooLarge { .. }) => {
                self.respond(id, 431, false, true);
                return Some(Phase::Done);
            }
            Err(err) => {
                self.fail(err.into());
                return None;
            }
        };
        match connect::validate(&fields) {
            Verdict::Session(request) => {
                let draft02 = request.is_draft02();
                if self.sessions.len() as u64 >= self.config.max_sessions {
                    self.respond(id, 429, draft02, true);
                    return Some(Phase::Done);
                }
                let state = match &self.peer_settings {
                    None => SessionState::AwaitingSettings(Box::new(request)),
                    Some(settings) if settings.supports_webtransport() => {
                        self.events.push_back(Event::SessionRequest {
                            session: SessionId(id),
                            request,
                        });
                        SessionState::Requested
                    }
                    Some(_) => {
                        self.respond(id, 400, draft02, true);
                        return Some(Phase::Done);
                    }
                };
                self.sessions.insert(
                    id,
                    Session {
                        state,
                        draft02,
                        streams: BTreeSet::new(),
                    },
                );
                Some(Phase::Session)
            }
            Verdict::Refuse(status) => {
                self.respond(id, status, false, true);
                Some(Phase::Done)
            }
            Verdict::Malformed(_) => {
                self.abort_stream(id, ErrorCode::MESSAGE_ERROR);
                Some(Phase::Done)
            }
        }
    }

    /// Reads capsules from a DATA payload of a session's CONNECT stream;
    /// `false` when the session ended.
    fn read_capsules(&mut self, id: u64, request: &mut RequestStream, mut data: &[u8]) -> bool {
        loop {
            if request.peer_closed && !data.is_empty() {
                self.session_error(id, ErrorCode::MESSAGE_ERROR);
                return false;
            }
            match request.capsules.read(&mut data) {
                Ok(None) => return true,
                Ok(Some(Capsule::Close { code, reason })) => {
                    request.peer_closed = true;
                    self.end_session(id, Some(SessionEnd::Closed { code, reason }));
                }
                Ok(Some(Capsule::Drain)) => {
                    let announced = self
                        .sessions
                        .get(&id)
                        .is_some_and(|s| !matches!(s.state, SessionState::AwaitingSettings(_)));
                    if announced {
                        self.events.push_back(Event::SessionDraining {
                            session: SessionId(id),
                        });
                    }
                }
                Ok(Some(Capsule::Datagram(payload))) => self.on_datagram(id, payload),
                Err(_) => {
                    self.session_error(id, ErrorCode::MESSAGE_ERROR);
                    return false;
                }
            }
        }
    }

    /// Ends a session for a rule its CONNECT stream broke.
    fn session_error(&mut self, id: u64, code: ErrorCode) {
        self.abort_stream(id, code);
        self.end_session(id, Some(SessionEnd::Error(code)));
    }

    /// Ties a data stream (its header just read) to session `session`.
    fn attach_stream(&mut self, id: u64, session: u64) -> StreamRead {
        let bidi = StreamId(id).is_bidi();
        let session_stream = StreamId(session);
        if !session_stream.is_client_initiated()
            || !session_stream.is_bidi()
            || session > varint::MAX
        {
            self.fail(ProtocolError::InvalidSessionId(session));
            return StreamRead::Discard;
        }
        let refuse = |this: &mut Self, code: ErrorCode| {
            this.abort_stream(id, code);
            StreamRead::Discard
        };
        match self.sessions.get_mut(&session) {
            Some(s) if s.state == SessionState::Open => {
                if s.streams.len() >= self.config.max_streams_per_session {
                    return refuse(self, ErrorCode::REQUEST_REJECTED);
                }
                s.streams.insert(id);
                self.streams.insert(id, Stream::Data { session });
                self.events.push_back(Event::IncomingStream {
                    session: SessionId(session),
                    stream: StreamId(id),
                    bidi,
                });
                StreamRead::Payload {
                    session: SessionId(session),
                    header_len: 0,
                }
            }
            // The session is pending, or its CONNECT has not arrived yet.
            Some(_) => self.buffer_stream(id, session, refuse),
            None if self.role == Role::Server && !self.peer_bidi.seen(session >> 2) => {
                self.buffer_stream(id, session, refuse)
            }
            None => refuse(self, ErrorCode::WEBTRANSPORT_SESSION_GONE),
        }
    }

    fn buffer_stream(
        &mut self,
        id: u64,
        session: u64,
        refuse: impl Fn(&mut Self, ErrorCode) -> StreamRead,
    ) -> StreamRead {
        if self.buffered_streams.len() >= self.config.max_buffered_streams {
            return refuse(self, ErrorCode::WEBTRANSPORT_BUFFERED_STREAM_REJECTED);
        }
        self.buffered_streams.push_back((id, session));
        self.streams.insert(id, Stream::Data { session });
        StreamRead::Buffered { header_len: 0 }
    }

    /// A QUIC datagram from the peer: a quarter stream id (the session id
    /// divided by 4), then the payload. Datagrams for a session still
    /// pending (or whose CONNECT has not arrived) are kept up to the limit,
    /// others for no open session are dropped, and so are those over
    /// [`Config::max_datagram_size`]. A datagram without a whole prefix, or
    /// with a quarter stream id over 2^60 - 1, fails the connection with
    /// H3_DATAGRAM_ERROR (RFC 9297 §2.1).
    pub fn handle_datagram(&mut self, datagram: Bytes) {
        if self.failed {
            return;
        }
        let Some((quarter, len)) = varint::decode(&datagram).filter(|&(q, _)| q < 1 << 60) else {
            self.fail(ProtocolError::MalformedDatagram);
            return;
        };
        self.on_datagram(quarter * 4, datagram.slice(len..));
    }

    fn on_datagram(&mut self, session: u64, payload: Bytes) {
        if payload.len() > self.config.max_datagram_size {
            self.datagrams_dropped += 1;
            return;
        }
        match self.sessions.get(&session) {
            Some(s) if s.state == SessionState::Open => {
                self.events.push_back(Event::Datagram {
                    session: SessionId(session),
                    payload,
                });
            }
            Some(_) => self.buffer_datagram(session, payload),
            None if self.role == Role::Server && !self.peer_bidi.seen(session >> 2) => {
                self.buffer_datagram(session, payload)
            }
            None => self.datagrams_dropped += 1,
        }
    }

    fn buffer_datagram(&mut self, session: u64, payload: Bytes) {
        if self.buffered_datagrams.len() < self.config.max_buffered_datagrams {
            self.buffered_datagrams.push_back((session, payload));
        } else {
            self.datagrams_dropped += 1;
        }
    }

    /// The peer reset its sending side of stream `id` with `code`. For a
    /// CONNECT stream this ends the session; for the control or a QPACK
    /// stream, the connection (H3_CLOSED_CRITICAL_STREAM).
    pub fn handle_stream_reset(&mut self, id: u64, code: ErrorCode) {
        if self.failed {
            return;
        }
        match self.streams.remove(&id) {
            Some(Stream::Control(_)) => self.fail(ProtocolError::ClosedCriticalStream("control")),
            Some(Stream::QpackEncoder(_)) => {
                self.fail(ProtocolError::ClosedCriticalStream("QPACK encoder"))
            }
            Some(Stream::QpackDecoder(_)) => {
                self.fail(ProtocolError::ClosedCriticalStream("QPACK decoder"))
            }
            Some(Stream::Request(request)) if request.phase == Phase::Session => {
                let end = (!request.peer_closed).then_some(SessionEnd::Reset(code));
                self.end_session(id, end);
                self.transmits.push_back(Transmit::ResetStream {
                    id,
                    code: ErrorCode::REQUEST_CANCELLED,
                });
            }
            Some(Stream::Data { session }) => {
                if let Some(pos) = self.buffered_streams.iter().position(|&(s, _)| s == id) {
                    self.buffered_streams.remove(pos);
                } else {
                    // An announced stream: the application sees the reset
                    // on the stream itself; the core keeps it until
                    // handle_stream_closed.
                    self.streams.insert(id, Stream::Data { session });
                }
            }
            Some(other) => drop(other),
            None => {}
        }
    }

    /// The data stream `id` is over in both directions (finished, reset or
    /// stopped): the session's stream count goes down.
    pub fn handle_stream_closed(&mut self, id: u64) {
        if let Some(Stream::Data { session }) = self.streams.get(&id) {
            let session = *session;
            self.streams.remove(&id);
            if let Some(s) = self.sessions.get_mut(&session) {
                s.streams.remove(&id);
            }
            self.buffered_streams.retain(|&(s, _)| s != id);
        }
    }

    /// Removes a session, resets its data streams (open or waiting) with
    /// `code` and drops its waiting datagrams.
    fn remove_session(&mut self, session: u64, code: ErrorCode) -> Option<Session> {
        let removed = self.sessions.remove(&session)?;
        let mut streams: Vec<u64> = removed.streams.iter().copied().collect();
        self.buffered_streams.retain(|&(stream, s)| {
            if s == session {
                streams.push(stream);
            }
            s != session
        });
        self.buffered_datagrams.retain(|&(s, _)| s != session);
        for stream in streams {
            self.streams.remove(&stream);
            self.abort_stream(stream, code);
        }
        Some(removed)
    }

    /// Queues RESET_STREAM for the sending side of stream `id` (if this
    /// endpoint sends on it) and STOP_SENDING for its receiving side (if
    /// the peer sends on it), both with `code`.
    fn abort_stream(&mut self, id: u64, code: ErrorCode) {
        let bidi = StreamId(id).is_bidi();
        if bidi || !self.is_peer(id) {
            self.transmits.push_back(Transmit::ResetStream { id, code });
        }
        if bidi || self.is_peer(id) {
            self.transmits.push_back(Transmit::StopSending { id, code });
        }
    }

    /// Whether the peer opened stream `id`.
    fn is_peer(&self, id: u64) -> bool {
        StreamId(id).is_client_initiated() == (self.role == Role::Server)
    }

    /// Ends a session by the peer's doing, reporting `end` when the
    /// application knew the session.
    fn end_session(&mut self, session: u64, end: Option<SessionEnd>) {
        if let Some(removed) = self.remove_session(session, ErrorCode::WEBTRANSPORT_SESSION_GONE) {
            let announced = !matches!(removed.state, SessionState::AwaitingSettings(_));
            if let (true, Some(end)) = (announced, end) {
                self.events.push_back(Event::SessionClosed {
                    session: SessionId(session),
                    end,
                });
            }
        }
    }

    /// Starts a graceful shutdown (RFC 9114 §5.2): queues a GOAWAY frame on
    /// the control stream with the first request stream id not seen yet;
    /// requests on that stream and later ones are refused with
    /// H3_REQUEST_REJECTED. Sessions already open go on (their data
    /// streams are not requests); ask them to end with
    /// [`drain_session`](Self::drain_session) and close the connection once
    /// they are over. A second call changes nothing, and so does a call on
    /// a client (whose GOAWAY would name push ids, which it never allows).
    pub fn go_away(&mut self) {
        if self.failed || self.goaway.is_some() || self.role == Role::Client {
            return;
        }
        let first_refused = self.peer_bidi.next * 4;
        self.goaway = Some(first_refused);
        let mut payload = Vec::new();
        varint::encode(first_refused, &mut payload);
        let mut out = Vec::new();
        frame::encode(frame::GOAWAY, &payload, &mut out);
        self.transmits
            .push_back(Transmit::Control(Bytes::from(out)));
    }

    /// Accepts a requested session: queues the 200 response (with
    /// `sec-webtransport-http3-draft: draft02` for a draft-02 client) and
    /// hands over the streams and datagrams that were waiting for it.
    pub fn accept(&mut self, session: SessionId) -> Result<(), SendError> {
        let s = self
            .sessions
            .get_mut(&session.0)
            .ok_or(SendError::UnknownSession)?;
        if s.state != SessionState::Requested {
            return Err(SendError::AlreadyAnswered);
        }
        s.state = SessionState::Open;
        let draft02 = s.draft02;
        self.respond(session.0, 200, draft02, false);
        self.release_waiting(session);
        Ok(())
    }

    /// Hands the streams and datagrams that waited for `session` (now
    /// open) to the application, refusing streams beyond the limit.
    fn release_waiting(&mut self, session: SessionId) {
        let waiting: Vec<u64> = self
            .buffered_streams
            .iter()
            .filter(|&&(_, s)| s == session.0)
            .map(|&(id, _)| id)
            .collect();
        self.buffered_streams.retain(|&(_, s)| s != session.0);
        for id in waiting {
            let bidi = StreamId(id).is_bidi();
            let Some(s) = self.sessions.get_mut(&session.0) else {
                return;
            };
            if s.streams.len() >= self.config.max_streams_per_session {
                self.streams.remove(&id);
                self.abort_stream(id, ErrorCode::REQUEST_REJECTED);
                continue;
            }
            s.streams.insert(id);
            self.events.push_back(Event::IncomingStream {
                session,
                stream: StreamId(id),
                bidi,
            });
        }
        let datagrams: Vec<Bytes> = self
            .buffered_datagrams
            .iter()
            .filter(|(s, _)| *s == session.0)
            .map(|(_, payload)| payload.clone())
            .collect();
        self.buffered_datagrams.retain(|(s, _)| *s != session.0);
        for payload in datagrams {
            self.events.push_back(Event::Datagram { session, payload });
        }
    }

    /// Opens a session as a client: the adapter opened bidirectional stream
    /// `id` with its QUIC engine; the extended CONNECT (`:protocol
    /// webtransport`, with `sec-webtransport-http3-draft02: 1` so that
    /// draft-02 servers answer too) is queued on it. Feed the stream's
    /// incoming bytes to [`handle_stream_data`](Self::handle_stream_data);
    /// [`Event::SessionEstablished`] or [`Event::SessionRejected`] follows.
    pub fn connect(
        &mut self,
        id: u64,
        authority: &str,
        path: &str,
        origin: Option<&str>,
    ) -> Result<SessionId, SendError> {
        if self.failed {
            return Err(SendError::ConnectionClosed);
        }
        let stream = StreamId(id);
        if self.role != Role::Client
            || !stream.is_client_initiated()
            || !stream.is_bidi()
            || id > varint::MAX
            || self.streams.contains_key(&id)
        {
            return Err(SendError::InvalidStreamId(id));
        }
        if self.sessions.len() as u64 >= self.config.max_sessions {
            return Err(SendError::TooManySessions);
        }
        let mut section = Vec::new();
        connect::encode_request(authority, path, origin, &mut section);
        let mut out = Vec::new();
        frame::encode(frame::HEADERS, &section, &mut out);
        self.transmits.push_back(Transmit::Stream {
            id,
            data: Bytes::from(out),
            fin: false,
        });
        self.sessions.insert(
            id,
            Session {
                state: SessionState::Connecting,
                draft02: true,
                streams: BTreeSet::new(),
            },
        );
        self.streams.insert(
            id,
            Stream::Request(Box::new(RequestStream {
                reader: FrameReader::default(),
                phase: Phase::Response,
                headers: Vec::new(),
                capsules: CapsuleReader::new(self.config.max_datagram_size),
                peer_closed: false,
            })),
        );
        Ok(SessionId(id))
    }

    /// Rejects a requested session with `status` (300-599): queues the
    /// response, ends the CONNECT stream, and refuses the streams that
    /// were waiting for it (WEBTRANSPORT_BUFFERED_STREAM_REJECTED).
    pub fn reject(&mut self, session: SessionId, status: u16) -> Result<(), SendError> {
        if !(300..=599).contains(&status) {
            return Err(SendError::InvalidStatus(status));
        }
        let s = self
            .sessions
            .get(&session.0)
            .ok_or(SendError::UnknownSession)?;
        if s.state != SessionState::Requested {
            return Err(SendError::AlreadyAnswered);
        }
        let draft02 = s.draft02;
        self.respond(session.0, status, draft02, true);
        self.remove_session(session.0, ErrorCode::WEBTRANSPORT_BUFFERED_STREAM_REJECTED);
        self.stop_reading_request(session.0);
        Ok(())
    }

    /// The CONNECT stream of an ended session: skip what still comes.
    fn stop_reading_request(&mut self, id: u64) {
        if let Some(Stream::Request(request)) = self.streams.get_mut(&id) {
            request.phase = Phase::Done;
        }
    }

    /// Closes an open session: queues a CLOSE_WEBTRANSPORT_SESSION capsule
    /// with `code` and `reason` and the end of the CONNECT stream, and
    /// resets the session's data streams (WEBTRANSPORT_SESSION_GONE). No
    /// [`Event::SessionClosed`] follows.
    pub fn close_session(
        &mut self,
        session: SessionId,
        code: u32,
        reason: &str,
    ) -> Result<(), SendError> {
        if reason.len() > capsule::MAX_CLOSE_MESSAGE {
            return Err(SendError::ReasonTooLong(reason.len()));
        }
        self.send_capsule(
            session,
            &Capsule::Close {
                code,
                reason: reason.to_owned(),
            },
            true,
        )?;
        self.remove_session(session.0, ErrorCode::WEBTRANSPORT_SESSION_GONE);
        self.stop_reading_request(session.0);
        Ok(())
    }

    /// Asks the peer to end an open session gracefully (a
    /// DRAIN_WEBTRANSPORT_SESSION capsule).
    pub fn drain_session(&mut self, session: SessionId) -> Result<(), SendError> {
        self.send_capsule(session, &Capsule::Drain, false)
    }

    fn send_capsule(
        &mut self,
        session: SessionId,
        capsule: &Capsule,
        fin: bool,
    ) -> Result<(), SendError> {
        self.open_session(session)?;
        let mut value = Vec::new();
        capsule.encode(&mut value);
        let mut out = Vec::new();
        frame::encode(frame::DATA, &value, &mut out);
        self.transmits.push_back(Transmit::Stream {
            id: session.0,
            data: Bytes::from(out),
            fin,
        });
        Ok(())
    }

    fn open_session(&mut self, session: SessionId) -> Result<&mut Session, SendError> {
        if self.failed {
            return Err(SendError::ConnectionClosed);
        }
        let s = self
            .sessions
            .get_mut(&session.0)
            .ok_or(SendError::UnknownSession)?;
        if s.state != SessionState::Open {
            return Err(SendError::NotOpen);
        }
        Ok(s)
    }

    /// Registers a data stream this endpoint opened with its QUIC engine
    /// (id `id`, which says whether it is bidirectional) for an open
    /// session, and gives the header to write first on it.
    pub fn open_stream(&mut self, session: SessionId, id: u64) -> Result<StreamHeader, SendError> {
        let stream_id = StreamId(id);
        if self.is_peer(id) || id > varint::MAX || self.streams.contains_key(&id) {
            return Err(SendError::InvalidStreamId(id));
        }
        let max = self.config.max_streams_per_session;
        let s = self.open_session(session)?;
        if s.streams.len() >= max {
            return Err(SendError::TooManyStreams);
        }
        s.streams.insert(id);
        self.streams.insert(id, Stream::Data { session: session.0 });
        let kind = if stream_id.is_bidi() {
            frame::WEBTRANSPORT_STREAM
        } else {
            h3::STREAM_WEBTRANSPORT
        };
        Ok(StreamHeader::new(kind, session))
    }

    /// Encodes a datagram of an open session into `out` (cleared first):
    /// the quarter stream id, then `payload`. Send it as one QUIC datagram.
    pub fn send_datagram(
        &mut self,
        session: SessionId,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), SendError> {
        let supported = self
            .peer_settings
            .as_ref()
            .is_some_and(Settings::supports_datagrams);
        let max = if supported {
            self.config.max_datagram_size
        } else {
            0
        };
        self.open_session(session)?;
        if payload.len() > max {
            return Err(SendError::DatagramTooLarge {
                len: payload.len(),
                max,
            });
        }
        out.clear();
        varint::encode(session.0 / 4, out);
        out.extend_from_slice(payload);
        Ok(())
    }
}

/// The outcome of reading a request stream.
enum RequestRead {
    /// Keep the stream: more will come.
    Keep,
    /// It turned out to be a data stream.
    Data(StreamRead),
    /// The stream is over.
    Drop,
}

#[cfg(test)]
mod tests;
