//! Property checks of the HTTP/3, QPACK and WebTransport fuzz targets.

use std::collections::BTreeSet;

use bytes::Bytes;

use super::{Input, split};
use crate::h3::{ErrorCode, FramePiece, FrameReader, Settings, frame, varint};
use crate::qpack::{self, DecoderStreamReader, EncoderStreamReader, InstructionError, huffman};
use crate::webtransport::capsule::{Capsule, CapsuleReader};
use crate::webtransport::{Config, Connection, Event, SessionId, StreamRead, Transmit};

/// A frame as read: its type, its length (the session id for the
/// WebTransport signal, which has no payload) and its payload.
type ReadFrame = (u64, u64, Vec<u8>);

/// Reads `pieces` with one [`FrameReader`]; returns the frames and whether
/// it ended at a frame boundary.
fn read_frames(pieces: &[&[u8]]) -> (Vec<ReadFrame>, bool) {
    let mut reader = FrameReader::default();
    let mut frames: Vec<ReadFrame> = Vec::new();
    for piece in pieces {
        let mut input = *piece;
        while let Some(read) = reader.read(&mut input) {
            match read {
                FramePiece::Header { frame_type, len } => {
                    frames.push((frame_type, len, Vec::new()))
                }
                FramePiece::Payload {
                    frame_type,
                    data,
                    end,
                } => {
                    let last = frames.last_mut().expect("payload before a header");
                    assert_eq!(last.0, frame_type, "payload of another frame type");
                    last.2.extend_from_slice(data);
                    if end {
                        assert_eq!(last.2.len() as u64, last.1, "payload length");
                    } else {
                        assert!((last.2.len() as u64) < last.1, "payload beyond its length");
                    }
                }
            }
        }
        assert!(input.is_empty(), "the reader left bytes unread");
    }
    (frames, reader.is_at_boundary())
}

/// Layout: [`Input::chunk_sizes`], then a stream's bytes.
///
/// Checks:
/// - [`FrameReader`] fed in chunks reads the same frames and boundary as
///   fed at once, never more payload than a frame's length;
/// - complete frames re-encoded (minimal varints) read back the same;
/// - each complete SETTINGS payload either fails with a code of
///   H3_SETTINGS_ERROR or H3_FRAME_ERROR, or re-encodes to settings that
///   decode equal;
/// - a varint at the start re-encodes to at most its length and decodes back.
pub fn h3_frames(data: &[u8]) {
    let mut input = Input::new(data);
    let sizes = input.chunk_sizes();
    let bytes = input.rest();
    let whole = read_frames(&[bytes]);
    let chunked = read_frames(&split(bytes, &sizes));
    assert_eq!(whole, chunked, "chunked reading differs");

    let (frames, boundary) = whole;
    let complete = if boundary {
        &frames[..]
    } else {
        &frames[..frames.len().saturating_sub(1)]
    };
    let mut wire = Vec::new();
    for (frame_type, len, payload) in complete {
        if *frame_type == frame::WEBTRANSPORT_STREAM {
            frame::encode_header(*frame_type, *len, &mut wire);
        } else {
            frame::encode(*frame_type, payload, &mut wire);
        }
        if *frame_type == frame::SETTINGS {
            match Settings::decode_payload(payload) {
                Ok(settings) => {
                    let mut again = Vec::new();
                    settings.encode_payload(&mut again);
                    assert_eq!(Settings::decode_payload(&again), Ok(settings));
                }
                Err(err) => assert!(matches!(
                    err.code(),
                    ErrorCode::SETTINGS_ERROR | ErrorCode::FRAME_ERROR
                )),
            }
        }
    }
    let (again, again_boundary) = read_frames(&[&wire]);
    assert_eq!(again, complete, "re-encoded frames read differently");
    assert!(again_boundary);

    if let Some((value, len)) = varint::decode(bytes) {
        let mut out = Vec::new();
        varint::encode(value, &mut out);
        assert!(out.len() <= len);
        assert_eq!(varint::decode(&out), Some((value, out.len())));
    }
}

/// Layout: a byte choosing the size limit (its value times 16), a byte
/// choosing what else to check the rest as (bit 0: Huffman string; bit 1:
/// QPACK encoder stream; bit 2: decoder stream, each with
/// [`Input::chunk_sizes`] first), then the bytes.
///
/// Checks:
/// - [`qpack::decode_field_section`] never panics; a decoded section fits
///   the limit, and our encoding of it decodes to the same fields;
///   [`qpack::DecodeError::TooLarge`] is H3_EXCESSIVE_LOAD and every other
///   error QPACK_DECOMPRESSION_FAILED;
/// - a Huffman string that decodes re-encodes to exactly the same bytes
///   (the code is prefix-free and the padding forced);
/// - the QPACK stream readers give the same verdict in chunks as at once.
pub fn qpack_field_section(data: &[u8]) {
    let mut input = Input::new(data);
    let max = usize::from(input.byte()) * 16;
    let mode = input.byte();
    let sizes = if mode & 0b110 != 0 {
        input.chunk_sizes()
    } else {
        Vec::new()
    };
    let bytes = input.rest();

    match qpack::decode_field_section(bytes, max) {
        Ok(fields) => {
            let size: usize = fields
                .iter()
                .map(|f| qpack::field_size(&f.name, &f.value))
                .sum();
            assert!(size <= max);
            let mut wire = Vec::new();
            qpack::encode_field_section(
                fields.iter().map(|f| (&f.name[..], &f.value[..])),
                &mut wire,
            );
            assert_eq!(
                qpack::decode_field_section(&wire, max).as_ref(),
                Ok(&fields)
            );
        }
        Err(err @ qpack::DecodeError::TooLarge { .. }) => {
            assert_eq!(err.code(), ErrorCode::EXCESSIVE_LOAD)
        }
        Err(err) => assert_eq!(err.code(), ErrorCode::QPACK_DECOMPRESSION_FAILED),
    }

    if mode & 1 != 0 {
        let mut decoded = Vec::new();
        if huffman::decode(bytes, &mut decoded).is_ok() {
            let mut again = Vec::new();
            huffman::encode(&decoded, &mut again);
            assert_eq!(again, bytes, "Huffman re-encoding differs");
        }
    }
    if mode & 2 != 0 {
        same_verdict_in_chunks(bytes, &sizes, EncoderStreamReader::read);
    }
    if mode & 4 != 0 {
        same_verdict_in_chunks(bytes, &sizes, DecoderStreamReader::read);
    }
}

/// A QPACK stream reader gives the same verdict in chunks as at once.
fn same_verdict_in_chunks<R: Default>(
    bytes: &[u8],
    sizes: &[usize],
    read: impl Fn(&mut R, &[u8]) -> Result<(), InstructionError>,
) {
    let whole = read(&mut R::default(), bytes);
    let mut reader = R::default();
    let chunked = split(bytes, sizes)
        .into_iter()
        .try_for_each(|piece| read(&mut reader, piece));
    assert_eq!(whole, chunked);
}

fn read_capsules(pieces: &[&[u8]], max_datagram: usize) -> (Vec<Capsule>, Option<String>, bool) {
    let mut reader = CapsuleReader::new(max_datagram);
    let mut capsules = Vec::new();
    for piece in pieces {
        let mut input = *piece;
        loop {
            match reader.read(&mut input) {
                Ok(Some(capsule)) => capsules.push(capsule),
                Ok(None) => {
                    assert!(input.is_empty());
                    break;
                }
                Err(err) => return (capsules, Some(err.to_string()), false),
            }
        }
    }
    (capsules, None, reader.is_at_boundary())
}

/// Layout: the datagram size limit byte, [`Input::chunk_sizes`], then the
/// CONNECT stream's data.
///
/// Checks: [`CapsuleReader`] reads the same capsules and error in chunks as
/// at once; a CLOSE reason is at most 1024 bytes, a datagram within the
/// limit; the capsules read, re-encoded, read back the same.
pub fn wt_capsules(data: &[u8]) {
    let mut input = Input::new(data);
    let max_datagram = usize::from(input.byte());
    let sizes = input.chunk_sizes();
    let bytes = input.rest();
    let whole = read_capsules(&[bytes], max_datagram);
    assert_eq!(
        whole,
        read_capsules(&split(bytes, &sizes), max_datagram),
        "chunked reading differs"
    );
    let mut wire = Vec::new();
    for capsule in &whole.0 {
        match capsule {
            Capsule::Close { reason, .. } => assert!(reason.len() <= 1024),
            Capsule::Datagram(payload) => assert!(payload.len() <= max_datagram),
            Capsule::Drain => {}
        }
        capsule.encode(&mut wire);
    }
    let again = read_capsules(&[&wire], max_datagram);
    assert_eq!(again.0, whole.0);
    assert!(again.1.is_none() && again.2);
}

/// The stream ids the connection fuzzer uses: client bidi 0, 4, 8; client
/// uni 2, 6, 10, 14; server bidi 1, 5 and uni 3, 7.
const STREAM_IDS: [u64; 11] = [0, 4, 8, 2, 6, 10, 14, 1, 5, 3, 7];

/// A valid start: Chromium's control stream (id 2) and a CONNECT on 0.
fn prologue(conn: &mut Connection, observe: &mut Observer) {
    let mut control = vec![0x00];
    let mut payload = Vec::new();
    Settings::from_pairs([(0x2b60_3742, 1), (0x33, 1)]).encode_payload(&mut payload);
    frame::encode(frame::SETTINGS, &payload, &mut control);
    let read = conn.handle_stream_data(2, &control, false);
    observe.read(2, control.len(), read);
    let mut section = Vec::new();
    qpack::encode_field_section(
        [
            (&b":method"[..], &b"CONNECT"[..]),
            (b":protocol", b"webtransport"),
            (b":scheme", b"https"),
            (b":authority", b"a"),
            (b":path", b"/"),
        ],
        &mut section,
    );
    let mut request = Vec::new();
    frame::encode(frame::HEADERS, &section, &mut request);
    let read = conn.handle_stream_data(0, &request, false);
    observe.read(0, request.len(), read);
}

/// A valid start for a client: a CONNECT on 0, the server's control stream
/// (id 3) and a 200 response.
fn client_prologue(conn: &mut Connection, observe: &mut Observer) {
    conn.connect(0, "a", "/", None).expect("first CONNECT");
    observe.requested.insert(0);
    let mut control = vec![0x00];
    let mut payload = Vec::new();
    Config::default().settings().encode_payload(&mut payload);
    frame::encode(frame::SETTINGS, &payload, &mut control);
    let read = conn.handle_stream_data(3, &control, false);
    observe.read(3, control.len(), read);
    let mut section = Vec::new();
    qpack::encode_field_section([(&b":status"[..], &b"200"[..])], &mut section);
    let mut response = Vec::new();
    frame::encode(frame::HEADERS, &section, &mut response);
    let read = conn.handle_stream_data(0, &response, false);
    observe.read(0, response.len(), read);
}

/// What the connection fuzzer has seen, to check events against.
#[derive(Default)]
struct Observer {
    requested: BTreeSet<u64>,
    incoming: BTreeSet<u64>,
    /// Local streams registered with `open_stream`.
    opened: BTreeSet<u64>,
    /// Whether the connection is a client.
    client: bool,
    closed: bool,
    close_transmitted: bool,
}

impl Observer {
    fn read(&mut self, id: u64, len: usize, read: StreamRead) {
        match read {
            StreamRead::Payload { header_len, .. } | StreamRead::Buffered { header_len } => {
                assert!(header_len <= len, "header longer than the input");
                assert!(
                    (id & 1 == 1) == self.client || self.opened.contains(&id),
                    "payload on a local stream the core never opened"
                );
            }
            StreamRead::Consumed | StreamRead::Discard => {}
        }
    }

    fn drain(&mut self, conn: &mut Connection, max_datagram: usize) {
        while let Some(event) = conn.poll_event() {
            assert!(!self.closed, "event after ConnectionClosed: {event:?}");
            match event {
                Event::SessionRequest { session, .. } => {
                    assert!(!self.client, "a request on a client");
                    assert!(self.requested.insert(session.0), "session requested twice");
                    assert_eq!(session.0 % 4, 0);
                }
                Event::SessionEstablished { session } | Event::SessionRejected { session, .. } => {
                    assert!(self.client, "a response on a server");
                    assert!(
                        self.requested.contains(&session.0),
                        "response to no CONNECT"
                    );
                }
                Event::IncomingStream {
                    session, stream, ..
                } => {
                    assert!(
                        self.requested.contains(&session.0),
                        "stream of an unknown session"
                    );
                    assert!(self.incoming.insert(stream.0), "stream announced twice");
                }
                Event::Datagram { session, payload } => {
                    assert!(self.requested.contains(&session.0));
                    assert!(payload.len() <= max_datagram);
                }
                Event::SessionDraining { session } | Event::SessionClosed { session, .. } => {
                    assert!(
                        self.requested.contains(&session.0),
                        "end of an unannounced session"
                    );
                }
                Event::ConnectionClosed(_) => self.closed = true,
            }
        }
        while let Some(transmit) = conn.poll_transmit() {
            assert!(
                !self.close_transmitted,
                "transmit after CloseConnection: {transmit:?}"
            );
            if let Transmit::CloseConnection { .. } = transmit {
                self.close_transmitted = true;
            }
        }
        assert_eq!(
            self.closed, self.close_transmitted,
            "the close event and transmit go together"
        );
        assert_eq!(conn.is_closed(), self.closed);
    }
}

/// Layout: a flags byte (bit 0: start with a valid control stream and
/// CONNECT; bits 1-2: buffered streams limit 0-3; bit 3: max sessions 2
/// instead of 1; bit 4: two streams per session at most; bit 5: the client
/// role, whose start is a CONNECT on 0 answered 200 and whose opcode 3 is
/// `connect`), then operations,
/// each an opcode byte and its arguments:
///
/// ```text
///  0 stream data: stream (index into STREAM_IDS), fin flag, short bytes
///  1 datagram: short bytes
///  2 peer reset: stream, code byte
///  3 accept, 4 reject (status byte + 300), 5 close (code, short text),
///  6 drain, 7 open stream (stream), 8 send datagram (short bytes):
///    each with a session byte (times 4)
///  9 stream closed: stream
/// 10 GOAWAY
/// ```
///
/// Checks: nothing panics; a returned header length is within the input;
/// every event's session was requested first; no stream is announced
/// twice; nothing follows [`Event::ConnectionClosed`] and its
/// [`Transmit::CloseConnection`], which come together; local calls on a
/// closed connection fail.
pub fn wt_connection(data: &[u8]) {
    let mut input = Input::new(data);
    let flags = input.byte();
    let config = Config::default()
        .max_buffered_streams(usize::from((flags >> 1) & 3))
        .max_sessions(if flags & 8 != 0 { 2 } else { 1 })
        .max_streams_per_session(if flags & 16 != 0 { 2 } else { 256 })
        .max_datagram_size(64)
        .max_field_section_size(512);
    let max_datagram = config.max_datagram_size;
    let client = flags & 32 != 0;
    let mut conn = if client {
        Connection::client(config)
    } else {
        Connection::server(config)
    };
    let mut observe = Observer {
        client,
        ..Observer::default()
    };
    if flags & 1 != 0 {
        if client {
            client_prologue(&mut conn, &mut observe);
        } else {
            prologue(&mut conn, &mut observe);
        }
    }
    observe.drain(&mut conn, max_datagram);
    let stream = |input: &mut Input<'_>| STREAM_IDS[usize::from(input.byte()) % STREAM_IDS.len()];
    let session = |input: &mut Input<'_>| SessionId(u64::from(input.byte() % 4) * 4);
    while !input.is_empty() {
        match input.byte() % 11 {
            0 => {
                let id = stream(&mut input);
                let fin = input.byte() & 1 != 0;
                let bytes = input.short_bytes();
                let read = conn.handle_stream_data(id, bytes, fin);
                observe.read(id, bytes.len(), read);
            }
            1 => conn.handle_datagram(Bytes::copy_from_slice(input.short_bytes())),
            2 => {
                let id = stream(&mut input);
                conn.handle_stream_reset(id, ErrorCode(u64::from(input.byte())));
            }
            3 if client => {
                let session = session(&mut input);
                if conn.connect(session.0, "a", "/", None).is_ok() {
                    observe.requested.insert(session.0);
                }
            }
            3 => {
                let _ = conn.accept(session(&mut input));
            }
            4 => {
                let session = session(&mut input);
                let _ = conn.reject(session, 300 + u16::from(input.byte()));
            }
            5 => {
                let session = session(&mut input);
                let code = u32::from(input.u16());
                let reason = input.short_text();
                let _ = conn.close_session(session, code, &reason);
            }
            6 => {
                let _ = conn.drain_session(session(&mut input));
            }
            7 => {
                let session = session(&mut input);
                let id = stream(&mut input);
                if let Ok(header) = conn.open_stream(session, id) {
                    assert_eq!(id & 1 == 0, client, "open_stream took a peer's stream id");
                    observe.opened.insert(id);
                    assert_eq!(
                        varint::decode(
                            &header.as_bytes()[varint::decode(header.as_bytes()).unwrap().1..]
                        )
                        .unwrap()
                        .0,
                        session.0
                    );
                }
            }
            8 => {
                let session = session(&mut input);
                let mut out = Vec::new();
                if conn
                    .send_datagram(session, input.short_bytes(), &mut out)
                    .is_ok()
                {
                    assert_eq!(varint::decode(&out).unwrap().0, session.0 / 4);
                }
            }
            9 => conn.handle_stream_closed(stream(&mut input)),
            _ => conn.go_away(),
        }
        observe.drain(&mut conn, max_datagram);
    }
    if observe.closed {
        assert!(conn.accept(SessionId(0)).is_err());
        assert!(
            conn.send_datagram(SessionId(0), b"", &mut Vec::new())
                .is_err()
        );
    }
}
