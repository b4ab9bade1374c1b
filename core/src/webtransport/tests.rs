//! The connection driven by hand-built client bytes: Chromium's draft-02
//! sequence from start to end, the newer drafts' `:protocol`, buffering of
//! early streams, and each hostile input with its HTTP/3 error.

use super::*;
use crate::h3::settings;

/// Chromium 156's SETTINGS: QPACK, datagrams in two codepoints,
/// ENABLE_WEBTRANSPORT, and a GREASE identifier.
fn chromium_settings() -> Vec<(u64, u64)> {
    vec![
        (settings::QPACK_MAX_TABLE_CAPACITY, 100),
        (settings::QPACK_BLOCKED_STREAMS, 100),
        (settings::H3_DATAGRAM, 1),
        (settings::H3_DATAGRAM_DRAFT04, 1),
        (settings::ENABLE_WEBTRANSPORT, 1),
        (0x21 + 0x1f * 7, 5),
    ]
}

fn control_stream(pairs: &[(u64, u64)]) -> Vec<u8> {
    let mut out = vec![0x00];
    let mut payload = Vec::new();
    for &(id, value) in pairs {
        varint::encode(id, &mut payload);
        varint::encode(value, &mut payload);
    }
    frame::encode(frame::SETTINGS, &payload, &mut out);
    out
}

const CHROMIUM_CONNECT: [(&str, &str); 7] = [
    (":method", "CONNECT"),
    (":protocol", "webtransport"),
    (":scheme", "https"),
    (":authority", "127.0.0.1:4433"),
    (":path", "/echo"),
    ("sec-webtransport-http3-draft02", "1"),
    ("origin", "http://127.0.0.1:8000"),
];

fn headers_frame(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut section = Vec::new();
    qpack::encode_field_section(
        fields.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())),
        &mut section,
    );
    let mut out = Vec::new();
    frame::encode(frame::HEADERS, &section, &mut out);
    out
}

fn data_frame(capsule: &Capsule) -> Vec<u8> {
    let mut value = Vec::new();
    capsule.encode(&mut value);
    let mut out = Vec::new();
    frame::encode(frame::DATA, &value, &mut out);
    out
}

fn events(conn: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

fn transmits(conn: &mut Connection) -> Vec<Transmit> {
    std::iter::from_fn(|| conn.poll_transmit()).collect()
}

/// A server past its own control stream, with Chromium's control stream
/// and QPACK streams read.
fn server_with_peer(config: Config) -> Connection {
    let mut conn = Connection::server(config);
    assert!(matches!(conn.poll_transmit(), Some(Transmit::Control(_))));
    assert_eq!(
        conn.handle_stream_data(2, &control_stream(&chromium_settings()), false),
        StreamRead::Consumed
    );
    assert_eq!(
        conn.handle_stream_data(6, &[0x02, 0x20], false),
        StreamRead::Consumed
    );
    assert_eq!(
        conn.handle_stream_data(10, &[0x03], false),
        StreamRead::Consumed
    );
    conn
}

/// A server with session 0 requested (the event taken).
fn requested(config: Config) -> Connection {
    let mut conn = server_with_peer(config);
    assert_eq!(
        conn.handle_stream_data(0, &headers_frame(&CHROMIUM_CONNECT), false),
        StreamRead::Consumed
    );
    let events = events(&mut conn);
    assert!(
        matches!(
            &events[..],
            [Event::SessionRequest {
                session: SessionId(0),
                ..
            }]
        ),
        "{events:?}"
    );
    conn
}

fn open(config: Config) -> Connection {
    let mut conn = requested(config);
    conn.accept(SessionId(0)).unwrap();
    let _ = transmits(&mut conn);
    conn
}

fn closed_with(conn: &mut Connection, code: ErrorCode) {
    let events = events(conn);
    match events.last() {
        Some(Event::ConnectionClosed(err)) => assert_eq!(err.code(), code, "{err}"),
        other => panic!("expected the connection to close with {code}, got {other:?}"),
    }
    let transmits = transmits(conn);
    assert!(
        matches!(transmits.last(), Some(Transmit::CloseConnection { code: c, .. }) if *c == code),
        "{transmits:?}"
    );
    assert!(conn.is_closed());
}

#[test]
fn our_settings_advertise_old_and_new_codepoints() {
    let mut conn = Connection::server(Config::default());
    let Some(Transmit::Control(bytes)) = conn.poll_transmit() else {
        panic!()
    };
    assert_eq!(bytes[0], 0x00, "control stream type");
    let mut reader = FrameReader::default();
    let mut input = &bytes[1..];
    assert_eq!(
        reader.read(&mut input),
        Some(FramePiece::Header {
            frame_type: frame::SETTINGS,
            len: input.len() as u64
        })
    );
    let settings = Settings::decode_payload(input).unwrap();
    for (id, value) in [
        (settings::ENABLE_CONNECT_PROTOCOL, 1),
        (settings::H3_DATAGRAM, 1),
        (settings::H3_DATAGRAM_DRAFT04, 1),
        (settings::ENABLE_WEBTRANSPORT, 1),
        (settings::WEBTRANSPORT_MAX_SESSIONS_DRAFT07, 1),
        (settings::WT_MAX_SESSIONS, 1),
        (settings::MAX_FIELD_SECTION_SIZE, 16 << 10),
    ] {
        assert_eq!(settings.get(id), Some(value), "{id:#x}");
    }
    assert_eq!(
        settings.get(settings::QPACK_MAX_TABLE_CAPACITY),
        None,
        "capacity stays at its default 0"
    );
}

#[test]
fn chromium_session_from_start_to_end() {
    let mut conn = server_with_peer(Config::default());
    // A GREASE frame on the control stream is skipped.
    assert_eq!(
        conn.handle_stream_data(2, &[0x40, 0x40, 0x02, 0xaa, 0xbb], false),
        StreamRead::Consumed
    );
    assert_eq!(
        conn.peer_settings()
            .unwrap()
            .get(settings::ENABLE_WEBTRANSPORT),
        Some(1)
    );

    // CONNECT on stream 0.
    assert_eq!(
        conn.handle_stream_data(0, &headers_frame(&CHROMIUM_CONNECT), false),
        StreamRead::Consumed
    );
    let Some(Event::SessionRequest { session, request }) = conn.poll_event() else {
        panic!()
    };
    assert_eq!(session, SessionId(0));
    assert_eq!(
        (request.path.as_str(), request.origin.as_deref()),
        ("/echo", Some("http://127.0.0.1:8000"))
    );
    assert!(request.is_draft02());
    conn.accept(session).unwrap();
    assert_eq!(conn.accept(session), Err(SendError::AlreadyAnswered));
    let Some(Transmit::Stream {
        id: 0,
        data,
        fin: false,
    }) = conn.poll_transmit()
    else {
        panic!()
    };
    let mut reader = FrameReader::default();
    let mut input = &data[..];
    let Some(FramePiece::Header {
        frame_type: frame::HEADERS,
        len,
    }) = reader.read(&mut input)
    else {
        panic!()
    };
    assert_eq!(len as usize, input.len());
    let response = qpack::decode_field_section(input, 1000).unwrap();
    let response: Vec<(&[u8], &[u8])> = response
        .iter()
        .map(|f| (&f.name[..], &f.value[..]))
        .collect();
    assert_eq!(
        response,
        [
            (&b":status"[..], &b"200"[..]),
            (b"sec-webtransport-http3-draft", b"draft02")
        ]
    );

    // Chrome's GREASE capsule first, then a DRAIN.
    let mut capsules = vec![0x00, 0x04, 0x40, 0x21, 0x01, 0x00];
    capsules.extend(data_frame(&Capsule::Drain));
    assert_eq!(
        conn.handle_stream_data(0, &capsules, false),
        StreamRead::Consumed
    );
    assert_eq!(events(&mut conn), [Event::SessionDraining { session }]);

    // A client bidi stream: signal 0x41 (two-byte varint) + session 0.
    let read = conn.handle_stream_data(4, b"\x40\x41\x00hello", false);
    assert_eq!(
        read,
        StreamRead::Payload {
            session,
            header_len: 3
        }
    );
    // A client uni stream: type 0x54 + session 0, split in the header.
    assert_eq!(
        conn.handle_stream_data(14, b"\x40", false),
        StreamRead::Consumed
    );
    assert_eq!(
        conn.handle_stream_data(14, b"\x54\x00uni", false),
        StreamRead::Payload {
            session,
            header_len: 2
        }
    );
    assert_eq!(
        conn.handle_stream_data(14, b"more", true),
        StreamRead::Payload {
            session,
            header_len: 0
        }
    );
    assert_eq!(
        events(&mut conn),
        [
            Event::IncomingStream {
                session,
                stream: StreamId(4),
                bidi: true
            },
            Event::IncomingStream {
                session,
                stream: StreamId(14),
                bidi: false
            },
        ]
    );

    // Datagrams both ways.
    conn.handle_datagram(Bytes::from_static(b"\x00ping"));
    assert_eq!(
        events(&mut conn),
        [Event::Datagram {
            session,
            payload: Bytes::from_static(b"ping")
        }]
    );
    let mut out = Vec::new();
    conn.send_datagram(session, b"pong", &mut out).unwrap();
    assert_eq!(out, b"\x00pong");
    assert_eq!(
        conn.send_datagram(session, &[0; 1201], &mut out),
        Err(SendError::DatagramTooLarge {
            len: 1201,
            max: 1200
        })
    );
    // An incoming one over the limit is dropped, and counted.
    assert_eq!(conn.datagrams_dropped(), 0);
    let mut large = vec![0u8];
    large.extend_from_slice(&[7; 1201]);
    conn.handle_datagram(Bytes::from(large));
    assert!(events(&mut conn).is_empty());
    assert_eq!(conn.datagrams_dropped(), 1);

    // Server-opened streams.
    assert_eq!(
        conn.open_stream(session, 1).unwrap().as_bytes(),
        [0x40, 0x41, 0x00]
    );
    assert_eq!(
        conn.open_stream(session, 3).unwrap().as_bytes(),
        [0x40, 0x54, 0x00]
    );
    assert_eq!(
        conn.open_stream(session, 1),
        Err(SendError::InvalidStreamId(1))
    );
    assert_eq!(
        conn.open_stream(session, 8),
        Err(SendError::InvalidStreamId(8))
    );
    assert!(transmits(&mut conn).is_empty());

    // Chrome closes: CLOSE_WEBTRANSPORT_SESSION, then FIN.
    let close = data_frame(&Capsule::Close {
        code: 7,
        reason: "done".into(),
    });
    assert_eq!(
        conn.handle_stream_data(0, &close, false),
        StreamRead::Consumed
    );
    assert_eq!(
        events(&mut conn),
        [Event::SessionClosed {
            session,
            end: SessionEnd::Closed {
                code: 7,
                reason: "done".into()
            }
        }]
    );
    let gone = ErrorCode::WEBTRANSPORT_SESSION_GONE;
    let resets = transmits(&mut conn);
    for expected in [
        Transmit::ResetStream { id: 1, code: gone },
        Transmit::StopSending { id: 1, code: gone },
        Transmit::ResetStream { id: 3, code: gone },
        Transmit::ResetStream { id: 4, code: gone },
        Transmit::StopSending { id: 4, code: gone },
        Transmit::StopSending { id: 14, code: gone },
    ] {
        assert!(
            resets.contains(&expected),
            "{expected:?} missing from {resets:?}"
        );
    }
    assert_eq!(resets.len(), 6, "{resets:?}");
    assert_eq!(conn.handle_stream_data(0, &[], true), StreamRead::Discard);
    assert_eq!(
        transmits(&mut conn),
        [Transmit::Stream {
            id: 0,
            data: Bytes::new(),
            fin: true
        }]
    );
    assert!(events(&mut conn).is_empty());
    // The session is gone: its streams and datagrams are refused or dropped.
    assert_eq!(
        conn.handle_stream_data(4, b"late", false),
        StreamRead::Discard
    );
    let dropped = conn.datagrams_dropped();
    conn.handle_datagram(Bytes::from_static(b"\x00late"));
    assert!(events(&mut conn).is_empty());
    assert_eq!(conn.datagrams_dropped(), dropped + 1);
    assert_eq!(
        conn.handle_stream_data(18, b"\x40\x54\x00", false),
        StreamRead::Discard
    );
    assert_eq!(
        transmits(&mut conn),
        [Transmit::StopSending { id: 18, code: gone }]
    );
    assert!(!conn.is_closed());
}

#[test]
fn byte_at_a_time_gives_the_same_request() {
    let mut conn = server_with_peer(Config::default());
    for &byte in &headers_frame(&CHROMIUM_CONNECT) {
        assert_eq!(
            conn.handle_stream_data(0, &[byte], false),
            StreamRead::Consumed
        );
    }
    let events = events(&mut conn);
    let [Event::SessionRequest { request, .. }] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!(request.authority, "127.0.0.1:4433");
}

#[test]
fn newer_drafts_protocol_token() {
    let mut conn = server_with_peer(Config::default());
    let mut fields = CHROMIUM_CONNECT[..5].to_vec();
    fields[1].1 = "webtransport-h3";
    conn.handle_stream_data(0, &headers_frame(&fields), false);
    let Some(Event::SessionRequest { session, request }) = conn.poll_event() else {
        panic!()
    };
    assert!(!request.is_draft02());
    conn.accept(session).unwrap();
    let Some(Transmit::Stream { data, .. }) = conn.poll_transmit() else {
        panic!()
    };
    assert_eq!(&data[..], [0x01, 0x03, 0x00, 0x00, 0xd9], "a bare 200");
}

#[test]
fn request_before_settings_waits_for_them() {
    let mut conn = Connection::server(Config::default());
    conn.handle_stream_data(0, &headers_frame(&CHROMIUM_CONNECT), false);
    assert!(events(&mut conn).is_empty());
    conn.handle_stream_data(2, &control_stream(&chromium_settings()), false);
    assert!(matches!(
        &events(&mut conn)[..],
        [Event::SessionRequest { .. }]
    ));

    // A peer whose SETTINGS lack WebTransport gets a 400.
    let mut conn = Connection::server(Config::default());
    let _ = transmits(&mut conn);
    conn.handle_stream_data(0, &headers_frame(&CHROMIUM_CONNECT), false);
    conn.handle_stream_data(2, &control_stream(&[(settings::H3_DATAGRAM, 1)]), false);
    assert!(events(&mut conn).is_empty());
    let transmits = transmits(&mut conn);
    assert!(
        matches!(
            &transmits[0],
            Transmit::Stream {
                id: 0,
                fin: true,
                ..
            }
        ),
        "{transmits:?}"
    );
}

#[test]
fn early_streams_and_datagrams_are_buffered_then_delivered() {
    let mut conn = server_with_peer(Config::default().max_buffered_streams(2));
    // Streams and a datagram for session 0 before its CONNECT.
    assert_eq!(
        conn.handle_stream_data(4, b"\x40\x41\x00early", false),
        StreamRead::Buffered { header_len: 3 }
    );
    assert_eq!(
        conn.handle_stream_data(14, b"\x40\x54\x00", false),
        StreamRead::Buffered { header_len: 3 }
    );
    conn.handle_datagram(Bytes::from_static(b"\x00dg"));
    // A third stream exceeds the buffer.
    assert_eq!(
        conn.handle_stream_data(8, b"\x40\x41\x00", false),
        StreamRead::Discard
    );
    let rejected = ErrorCode::WEBTRANSPORT_BUFFERED_STREAM_REJECTED;
    assert_eq!(
        transmits(&mut conn),
        [
            Transmit::ResetStream {
                id: 8,
                code: rejected
            },
            Transmit::StopSending {
                id: 8,
                code: rejected
            }
        ]
    );
    assert!(events(&mut conn).is_empty());
    conn.handle_stream_data(0, &headers_frame(&CHROMIUM_CONNECT), false);
    assert!(matches!(
        &events(&mut conn)[..],
        [Event::SessionRequest { .. }]
    ));
    // Still pending until accepted.
    assert_eq!(
        conn.handle_stream_data(4, b"more", false),
        StreamRead::Buffered { header_len: 0 }
    );
    conn.accept(SessionId(0)).unwrap();
    let session = SessionId(0);
    assert_eq!(
        events(&mut conn),
        [
            Event::IncomingStream {
                session,
                stream: StreamId(4),
                bidi: true
            },
            Event::IncomingStream {
                session,
                stream: StreamId(14),
                bidi: false
            },
            Event::Datagram {
                session,
                payload: Bytes::from_static(b"dg")
            },
        ]
    );
    assert_eq!(
        conn.handle_stream_data(4, b"more", false),
        StreamRead::Payload {
            session,
            header_len: 0
        }
    );
}

#[test]
fn reject_refuses_waiting_streams() {
    let mut conn = requested(Config::default());
    assert_eq!(
        conn.handle_stream_data(4, b"\x40\x41\x00", false),
        StreamRead::Buffered { header_len: 3 }
    );
    assert_eq!(
        conn.reject(SessionId(0), 200),
        Err(SendError::InvalidStatus(200))
    );
    conn.reject(SessionId(0), 403).unwrap();
    let transmits = transmits(&mut conn);
    let Transmit::Stream {
        id: 0,
        data,
        fin: true,
    } = &transmits[0]
    else {
        panic!("{transmits:?}")
    };
    let section = qpack::decode_field_section(&data[2..], 1000).unwrap();
    assert_eq!(section[0].value, "403");
    let rejected = ErrorCode::WEBTRANSPORT_BUFFERED_STREAM_REJECTED;
    assert!(transmits.contains(&Transmit::ResetStream {
        id: 4,
        code: rejected
    }));
    assert_eq!(conn.accept(SessionId(0)), Err(SendError::UnknownSession));
    // The client's CLOSE after the rejection is skipped.
    let close = data_frame(&Capsule::Close {
        code: 0,
        reason: String::new(),
    });
    assert_eq!(
        conn.handle_stream_data(0, &close, true),
        StreamRead::Discard
    );
    assert!(events(&mut conn).is_empty());
}

#[test]
fn local_close_sends_the_capsule_and_fin() {
    let mut conn = open(Config::default());
    conn.handle_stream_data(4, b"\x40\x41\x00", false);
    let _ = events(&mut conn);
    assert_eq!(
        conn.close_session(SessionId(0), 1, &"x".repeat(1025)),
        Err(SendError::ReasonTooLong(1025))
    );
    conn.close_session(SessionId(0), 0x1234_5678, "bye")
        .unwrap();
    let transmits = transmits(&mut conn);
    let mut expected = data_frame(&Capsule::Close {
        code: 0x1234_5678,
        reason: "bye".into(),
    });
    assert_eq!(
        &expected[..2],
        [0x00, 0x0a],
        "DATA of 10 bytes: type 2, length 1, code 4, reason 3"
    );
    assert_eq!(
        transmits[0],
        Transmit::Stream {
            id: 0,
            data: Bytes::from(std::mem::take(&mut expected)),
            fin: true
        }
    );
    assert!(transmits.contains(&Transmit::ResetStream {
        id: 4,
        code: ErrorCode::WEBTRANSPORT_SESSION_GONE
    }));
    assert_eq!(
        conn.drain_session(SessionId(0)),
        Err(SendError::UnknownSession)
    );
    // The peer's own CLOSE and FIN that cross ours raise nothing.
    let close = data_frame(&Capsule::Close {
        code: 0,
        reason: String::new(),
    });
    conn.handle_stream_data(0, &close, true);
    assert!(events(&mut conn).is_empty());
}

#[test]
fn peer_fin_without_capsule_and_reset_end_the_session() {
    let mut conn = open(Config::default());
    assert_eq!(conn.handle_stream_data(0, &[], true), StreamRead::Discard);
    assert_eq!(
        events(&mut conn),
        [Event::SessionClosed {
            session: SessionId(0),
            end: SessionEnd::Closed {
                code: 0,
                reason: String::new()
            }
        }]
    );

    let mut conn = open(Config::default());
    conn.handle_stream_reset(0, ErrorCode(0x10c));
    assert_eq!(
        events(&mut conn),
        [Event::SessionClosed {
            session: SessionId(0),
            end: SessionEnd::Reset(ErrorCode(0x10c))
        }]
    );
}

#[test]
fn malformed_capsule_ends_the_session_with_message_error() {
    let mut conn = open(Config::default());
    // CLOSE with a 3-byte payload.
    let mut frame_bytes = Vec::new();
    frame::encode(frame::DATA, &[0x68, 0x43, 0x03, 0, 0, 0], &mut frame_bytes);
    conn.handle_stream_data(0, &frame_bytes, false);
    let error = ErrorCode::MESSAGE_ERROR;
    assert_eq!(
        events(&mut conn),
        [Event::SessionClosed {
            session: SessionId(0),
            end: SessionEnd::Error(error)
        }]
    );
    assert!(transmits(&mut conn).contains(&Transmit::ResetStream { id: 0, code: error }));

    // Data after the CLOSE capsule.
    let mut conn = open(Config::default());
    let mut bytes = data_frame(&Capsule::Close {
        code: 1,
        reason: String::new(),
    });
    bytes.extend(data_frame(&Capsule::Drain));
    conn.handle_stream_data(0, &bytes, false);
    let _ = events(&mut conn);
    assert!(transmits(&mut conn).contains(&Transmit::ResetStream { id: 0, code: error }));
    assert!(!conn.is_closed());
}

#[test]
fn session_limits() {
    // A second CONNECT with max_sessions 1 is answered 429.
    let mut conn = open(Config::default());
    conn.handle_stream_data(8, &headers_frame(&CHROMIUM_CONNECT), false);
    assert!(events(&mut conn).is_empty());
    let transmits_ = transmits(&mut conn);
    let Transmit::Stream {
        id: 8,
        data,
        fin: true,
    } = &transmits_[0]
    else {
        panic!("{transmits_:?}")
    };
    assert_eq!(
        qpack::decode_field_section(&data[2..], 1000).unwrap()[0].value,
        "429"
    );

    // Streams per session.
    let mut conn = open(Config::default().max_streams_per_session(1));
    assert!(matches!(
        conn.handle_stream_data(4, b"\x40\x41\x00", false),
        StreamRead::Payload { .. }
    ));
    assert_eq!(
        conn.handle_stream_data(8, b"\x40\x41\x00", false),
        StreamRead::Discard
    );
    assert!(transmits(&mut conn).contains(&Transmit::ResetStream {
        id: 8,
        code: ErrorCode::REQUEST_REJECTED
    }));
    assert_eq!(
        conn.open_stream(SessionId(0), 1),
        Err(SendError::TooManyStreams)
    );
    conn.handle_stream_closed(4);
    assert!(conn.open_stream(SessionId(0), 1).is_ok());
}

#[test]
fn refused_requests() {
    let reject = |fields: &[(&str, &str)]| {
        let mut conn = server_with_peer(Config::default());
        conn.handle_stream_data(0, &headers_frame(fields), false);
        assert!(events(&mut conn).is_empty());
        assert!(!conn.is_closed());
        transmits(&mut conn)
    };
    let status = |transmits: &[Transmit]| match &transmits[0] {
        Transmit::Stream {
            data, fin: true, ..
        } => qpack::decode_field_section(&data[2..], 1000).unwrap()[0]
            .value
            .clone(),
        other => panic!("{other:?}"),
    };
    // Missing :path: malformed.
    let missing: Vec<_> = CHROMIUM_CONNECT
        .iter()
        .copied()
        .filter(|(n, _)| *n != ":path")
        .collect();
    assert_eq!(
        reject(&missing),
        [
            Transmit::ResetStream {
                id: 0,
                code: ErrorCode::MESSAGE_ERROR
            },
            Transmit::StopSending {
                id: 0,
                code: ErrorCode::MESSAGE_ERROR
            },
        ]
    );
    // Another protocol: 501.
    let mut other = CHROMIUM_CONNECT.to_vec();
    other[1].1 = "connect-udp";
    assert_eq!(status(&reject(&other)), "501");
    // A GET: 404.
    assert_eq!(
        status(&reject(&[
            (":method", "GET"),
            (":scheme", "https"),
            (":authority", "a"),
            (":path", "/")
        ])),
        "404"
    );
    // Oversized headers: 431, whether by frame length or decoded size.
    let mut conn = server_with_peer(Config::default().max_field_section_size(100));
    conn.handle_stream_data(0, &headers_frame(&CHROMIUM_CONNECT), false);
    assert_eq!(status(&transmits(&mut conn)), "431");
    let mut conn = server_with_peer(Config::default().max_field_section_size(100));
    conn.handle_stream_data(0, &[0x01, 0x40, 0xff], false);
    assert_eq!(status(&transmits(&mut conn)), "431");
    // The rest of the oversized frame is skipped.
    assert_eq!(
        conn.handle_stream_data(0, &[0; 255], false),
        StreamRead::Consumed
    );
    assert!(!conn.is_closed());
    // A request that ends before its HEADERS.
    let mut conn = server_with_peer(Config::default());
    assert_eq!(conn.handle_stream_data(0, &[], true), StreamRead::Discard);
    assert_eq!(
        transmits(&mut conn),
        [Transmit::ResetStream {
            id: 0,
            code: ErrorCode::REQUEST_INCOMPLETE
        }]
    );
}

#[test]
fn unknown_uni_streams_are_stopped() {
    let mut conn = server_with_peer(Config::default());
    // A GREASE stream type (0x21 + 0x1f), then more of it.
    assert_eq!(
        conn.handle_stream_data(14, &[0x40, 0x40, 1, 2, 3], false),
        StreamRead::Discard
    );
    assert_eq!(
        transmits(&mut conn),
        [Transmit::StopSending {
            id: 14,
            code: ErrorCode::STREAM_CREATION_ERROR
        }]
    );
    assert_eq!(
        conn.handle_stream_data(14, &[4], false),
        StreamRead::Discard
    );
    assert!(!conn.is_closed());
}

/// Each hostile input and the connection error that answers it.
#[test]
fn connection_errors() {
    let fresh = || {
        let mut conn = Connection::server(Config::default());
        let _ = transmits(&mut conn);
        conn
    };
    let with_peer = || server_with_peer(Config::default());

    // Duplicate setting identifier.
    let mut conn = fresh();
    conn.handle_stream_data(2, &control_stream(&[(0x33, 1), (0x33, 1)]), false);
    closed_with(&mut conn, ErrorCode::SETTINGS_ERROR);
    // An HTTP/2 setting.
    let mut conn = fresh();
    conn.handle_stream_data(2, &control_stream(&[(0x04, 1)]), false);
    closed_with(&mut conn, ErrorCode::SETTINGS_ERROR);
    // A second SETTINGS frame.
    let mut conn = with_peer();
    conn.handle_stream_data(2, &[0x04, 0x00], false);
    closed_with(&mut conn, ErrorCode::FRAME_UNEXPECTED);
    // A control stream that does not start with SETTINGS.
    let mut conn = fresh();
    conn.handle_stream_data(2, &[0x00, 0x07, 0x01, 0x00], false);
    closed_with(&mut conn, ErrorCode::MISSING_SETTINGS);
    // A second control stream.
    let mut conn = with_peer();
    conn.handle_stream_data(14, &control_stream(&[]), false);
    closed_with(&mut conn, ErrorCode::STREAM_CREATION_ERROR);
    // A second QPACK encoder stream.
    let mut conn = with_peer();
    conn.handle_stream_data(14, &[0x02], false);
    closed_with(&mut conn, ErrorCode::STREAM_CREATION_ERROR);
    // A push stream from the client.
    let mut conn = with_peer();
    conn.handle_stream_data(14, &[0x01], false);
    closed_with(&mut conn, ErrorCode::STREAM_CREATION_ERROR);
    // The control stream ends, or is reset.
    let mut conn = with_peer();
    conn.handle_stream_data(2, &[], true);
    closed_with(&mut conn, ErrorCode::CLOSED_CRITICAL_STREAM);
    let mut conn = with_peer();
    conn.handle_stream_reset(6, ErrorCode::NO_ERROR);
    closed_with(&mut conn, ErrorCode::CLOSED_CRITICAL_STREAM);
    // DATA on the control stream.
    let mut conn = with_peer();
    conn.handle_stream_data(2, &[0x00, 0x01, 0xaa], false);
    closed_with(&mut conn, ErrorCode::FRAME_UNEXPECTED);
    // HTTP/2-only frame types, on the control stream and on a request.
    for frame_type in [0x02, 0x06, 0x08, 0x09] {
        let mut conn = with_peer();
        conn.handle_stream_data(2, &[frame_type, 0x00], false);
        closed_with(&mut conn, ErrorCode::FRAME_UNEXPECTED);
        let mut conn = with_peer();
        conn.handle_stream_data(0, &[frame_type, 0x00], false);
        closed_with(&mut conn, ErrorCode::FRAME_UNEXPECTED);
    }
    // DATA before HEADERS on a request stream; SETTINGS on a request.
    let mut conn = with_peer();
    conn.handle_stream_data(0, &[0x00, 0x00], false);
    closed_with(&mut conn, ErrorCode::FRAME_UNEXPECTED);
    let mut conn = with_peer();
    conn.handle_stream_data(0, &[0x04, 0x00], false);
    closed_with(&mut conn, ErrorCode::FRAME_UNEXPECTED);
    // A request stream that ends inside a frame.
    let mut conn = with_peer();
    conn.handle_stream_data(0, &[0x01, 0x05, 0x00], true);
    closed_with(&mut conn, ErrorCode::FRAME_ERROR);
    // A SETTINGS frame larger than the limit.
    let mut conn = fresh();
    conn.handle_stream_data(2, &[0x00, 0x04, 0x80, 0x01, 0x00, 0x00], false);
    closed_with(&mut conn, ErrorCode::EXCESSIVE_LOAD);
    // A SETTINGS payload ending inside a parameter.
    let mut conn = fresh();
    conn.handle_stream_data(2, &[0x00, 0x04, 0x01, 0x33], false);
    closed_with(&mut conn, ErrorCode::FRAME_ERROR);
    // A dynamic table reference in a request.
    let mut conn = with_peer();
    conn.handle_stream_data(0, &[0x01, 0x03, 0x00, 0x00, 0x80], false);
    closed_with(&mut conn, ErrorCode::QPACK_DECOMPRESSION_FAILED);
    // An insertion on the QPACK encoder stream.
    let mut conn = with_peer();
    conn.handle_stream_data(6, &[0xc0 | 17, 0x01, b'x'], false);
    closed_with(&mut conn, ErrorCode::QPACK_ENCODER_STREAM_ERROR);
    // A section acknowledgment on the QPACK decoder stream.
    let mut conn = with_peer();
    conn.handle_stream_data(10, &[0x80], false);
    closed_with(&mut conn, ErrorCode::QPACK_DECODER_STREAM_ERROR);
    // A data stream naming a session id that is not a client bidi stream.
    let mut conn = with_peer();
    conn.handle_stream_data(14, &[0x40, 0x54, 0x02], false);
    closed_with(&mut conn, ErrorCode::ID_ERROR);
    // A datagram without a whole prefix, and one with a quarter id of 2^60.
    let mut conn = with_peer();
    conn.handle_datagram(Bytes::from_static(&[0x40]));
    closed_with(&mut conn, ErrorCode::DATAGRAM_ERROR);
    let mut conn = with_peer();
    conn.handle_datagram(Bytes::from_static(&[0xd0, 0, 0, 0, 0, 0, 0, 0]));
    closed_with(&mut conn, ErrorCode::DATAGRAM_ERROR);
    // A stream id far ahead of the others.
    let mut conn = with_peer();
    conn.handle_stream_data(4 * (MAX_STREAM_ID_GAP + 2), &[0x01], false);
    closed_with(&mut conn, ErrorCode::ID_ERROR);
    // After the failure every input is ignored.
    assert_eq!(
        conn.handle_stream_data(0, &headers_frame(&CHROMIUM_CONNECT), false),
        StreamRead::Discard
    );
    assert!(conn.poll_event().is_none() && conn.poll_transmit().is_none());
}

#[test]
fn send_errors() {
    let mut conn = requested(Config::default());
    let mut out = Vec::new();
    assert_eq!(
        conn.send_datagram(SessionId(0), b"x", &mut out),
        Err(SendError::NotOpen)
    );
    assert_eq!(conn.open_stream(SessionId(0), 1), Err(SendError::NotOpen));
    assert_eq!(
        conn.drain_session(SessionId(4)),
        Err(SendError::UnknownSession)
    );
    conn.accept(SessionId(0)).unwrap();
    conn.drain_session(SessionId(0)).unwrap();
    let transmits = transmits(&mut conn);
    assert_eq!(
        transmits[1],
        Transmit::Stream {
            id: 0,
            data: Bytes::from(data_frame(&Capsule::Drain)),
            fin: false
        }
    );
}

/// Found by the wt_connection fuzz target: a DRAIN for a session still
/// waiting for the peer's SETTINGS raised an event for a session the
/// application never saw.
#[test]
fn capsules_of_a_session_awaiting_settings_raise_no_event() {
    let mut conn = Connection::server(Config::default());
    conn.handle_stream_data(0, &headers_frame(&CHROMIUM_CONNECT), false);
    let mut bytes = data_frame(&Capsule::Drain);
    bytes.extend(data_frame(&Capsule::Close {
        code: 1,
        reason: String::new(),
    }));
    conn.handle_stream_data(0, &bytes, false);
    assert!(events(&mut conn).is_empty());
    // The session ended before it was announced: the SETTINGS announce nothing.
    conn.handle_stream_data(2, &control_stream(&chromium_settings()), false);
    assert!(events(&mut conn).is_empty());
}

#[test]
fn go_away_refuses_later_requests_but_not_session_streams() {
    let mut conn = open(Config::default().max_sessions(2));
    conn.go_away();
    assert_eq!(
        transmits(&mut conn),
        [Transmit::Control(Bytes::from_static(&[0x07, 0x01, 0x04]))]
    );
    conn.go_away();
    assert!(transmits(&mut conn).is_empty(), "one GOAWAY");
    // A request on stream 4 (not seen before the GOAWAY) is refused...
    conn.handle_stream_data(4, &headers_frame(&CHROMIUM_CONNECT), false);
    assert!(events(&mut conn).is_empty());
    let rejected = ErrorCode::REQUEST_REJECTED;
    assert_eq!(
        transmits(&mut conn),
        [
            Transmit::ResetStream {
                id: 4,
                code: rejected
            },
            Transmit::StopSending {
                id: 4,
                code: rejected
            }
        ]
    );
    // ...while a data stream of the open session on stream 8 is taken.
    let session = SessionId(0);
    assert_eq!(
        conn.handle_stream_data(8, b"\x40\x41\x00", false),
        StreamRead::Payload {
            session,
            header_len: 3
        }
    );
}

/// Per-connection and per-stream memory, so that a regression fails loudly
/// (measured on x86_64: 368, 32, 144 and 48 bytes; request streams are
/// boxed, so a data stream costs its map entry only).
#[test]
#[cfg(target_pointer_width = "64")]
fn state_sizes() {
    assert!(std::mem::size_of::<Connection>() <= 400);
    assert!(std::mem::size_of::<Stream>() <= 32);
    assert!(std::mem::size_of::<RequestStream>() <= 160);
    assert!(std::mem::size_of::<Session>() <= 48);
}

/// What aioquic 1.7.2's `H3Connection` (client, `enable_webtransport=True`)
/// sent over a QUIC stand-in that recorded its writes: its control stream
/// (SETTINGS with QPACK capacity 4096, a GREASE setting, H3_DATAGRAM and
/// ENABLE_WEBTRANSPORT; then MAX_PUSH_ID), its QPACK streams, a CONNECT
/// whose strings pylsqpack Huffman-coded, a bidi and a uni WebTransport
/// stream, a datagram, and a CLOSE capsule with FIN. Each write is one
/// (stream, hex, fin).
const AIOQUIC_CLIENT: [(u64, &str, bool); 13] = [
    (2, "00", false),
    (2, "04100150000710080121013301ab60374201", false),
    (2, "0d0108", false),
    (6, "02", false),
    (10, "03", false),
    (6, "", false),
    (
        0,
        "0140450000cfd7508aa0e41d139d09b8d34cb3518960a49cffe5873d30072f00b95d8749c87a3f89f058d360ea4567b13f5f4b8c9d29ad1718628390744e74275f5085198fdad313",
        false,
    ),
    (4, "404100", false),
    (4, "68656c6c6f", false),
    (14, "4054", false),
    (14, "00", false),
    (14, "756e69", true),
    (0, "000a68430700000007627965", true),
];
const AIOQUIC_DATAGRAM: &str = "0070696e67";

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

/// The core driven as an adapter would: bytes of streams the core handed
/// over go to the application, not to the core.
#[test]
fn aioquic_client_transcript() {
    let mut conn = Connection::server(Config::default());
    let _ = transmits(&mut conn);
    let mut app: std::collections::BTreeMap<u64, Vec<u8>> = Default::default();
    let mut parked: std::collections::BTreeMap<u64, Vec<u8>> = Default::default();
    let mut closed = Vec::new();
    let mut request = None;
    let mut datagrams = Vec::new();
    for (i, (id, hex, fin)) in AIOQUIC_CLIENT.into_iter().enumerate() {
        if i == AIOQUIC_CLIENT.len() - 1 {
            // The datagram, sent before the CLOSE.
            conn.handle_datagram(Bytes::from(unhex(AIOQUIC_DATAGRAM)));
        }
        let data = unhex(hex);
        if let Some(payload) = app.get_mut(&id) {
            payload.extend_from_slice(&data);
            continue;
        }
        if let Some(payload) = parked.get_mut(&id) {
            payload.extend_from_slice(&data);
            continue;
        }
        match conn.handle_stream_data(id, &data, fin) {
            StreamRead::Payload { header_len, .. } => {
                app.insert(id, data[header_len..].to_vec());
            }
            StreamRead::Buffered { header_len } => {
                parked.insert(id, data[header_len..].to_vec());
            }
            StreamRead::Consumed | StreamRead::Discard => {}
        }
        for event in events(&mut conn) {
            match event {
                Event::SessionRequest {
                    session,
                    request: r,
                } => {
                    request = Some(r);
                    conn.accept(session).unwrap();
                }
                Event::IncomingStream { stream, .. } => {
                    let leftover = parked.remove(&stream.0).unwrap_or_default();
                    app.entry(stream.0).or_default().extend(leftover);
                }
                Event::SessionClosed { end, .. } => closed.push(end),
                Event::Datagram { payload, .. } => datagrams.push(payload),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    let request = request.expect("no session request");
    assert_eq!(request.authority, "localhost:4433");
    assert_eq!(request.path, "/echo?room=1");
    assert_eq!(request.origin.as_deref(), Some("https://localhost"));
    assert_eq!(request.headers["user-agent"], "aioquic");
    assert_eq!(app[&4], b"hello");
    assert_eq!(app[&14], b"uni");
    assert_eq!(
        closed,
        [SessionEnd::Closed {
            code: 7,
            reason: "bye".into()
        }]
    );
    // The datagram came after the session ended: dropped.
    assert!(events(&mut conn).is_empty());
    assert!(!conn.is_closed());
    let peer = conn.peer_settings().unwrap();
    assert_eq!(peer.get(settings::QPACK_MAX_TABLE_CAPACITY), Some(4096));
    assert!(peer.supports_webtransport() && peer.supports_datagrams());
}

/// A client and a server core joined as a QUIC engine would join them: each
/// one's control stream reaches the other (client 2, server 3), stream
/// writes reach the same stream id, resets become peer resets.
struct Pair {
    client: Connection,
    server: Connection,
    /// Bytes of data streams handed to the application, by receiver and id.
    client_app: std::collections::BTreeMap<u64, Vec<u8>>,
    server_app: std::collections::BTreeMap<u64, Vec<u8>>,
    client_events: Vec<Event>,
    server_events: Vec<Event>,
}

impl Pair {
    fn new(config: Config) -> Self {
        Pair {
            client: Connection::client(config.clone()),
            server: Connection::server(config),
            client_app: Default::default(),
            server_app: Default::default(),
            client_events: Vec::new(),
            server_events: Vec::new(),
        }
    }

    /// Moves everything until neither side has anything to send.
    fn run(&mut self) {
        loop {
            let mut moved = false;
            while let Some(t) = self.client.poll_transmit() {
                moved = true;
                Self::deliver(t, 2, &mut self.server, &mut self.server_app);
            }
            self.server_events
                .extend(std::iter::from_fn(|| self.server.poll_event()));
            while let Some(t) = self.server.poll_transmit() {
                moved = true;
                Self::deliver(t, 3, &mut self.client, &mut self.client_app);
            }
            self.client_events
                .extend(std::iter::from_fn(|| self.client.poll_event()));
            if !moved {
                break;
            }
        }
    }

    fn deliver(
        t: Transmit,
        control: u64,
        to: &mut Connection,
        app: &mut std::collections::BTreeMap<u64, Vec<u8>>,
    ) {
        match t {
            Transmit::Control(data) => {
                assert_eq!(
                    to.handle_stream_data(control, &data, false),
                    StreamRead::Consumed
                );
            }
            Transmit::Stream { id, data, fin } => Self::write(to, app, id, &data, fin),
            Transmit::ResetStream { id, code } => to.handle_stream_reset(id, code),
            Transmit::StopSending { .. } => {}
            Transmit::CloseConnection { code, reason } => {
                panic!("connection closed: {code} {reason}")
            }
        }
    }

    /// A stream write arriving at `to`, routed as an adapter routes it.
    fn write(
        to: &mut Connection,
        app: &mut std::collections::BTreeMap<u64, Vec<u8>>,
        id: u64,
        data: &[u8],
        fin: bool,
    ) {
        if let Some(bytes) = app.get_mut(&id) {
            bytes.extend_from_slice(data);
            return;
        }
        if let StreamRead::Payload { header_len, .. } = to.handle_stream_data(id, data, fin) {
            app.insert(id, data[header_len..].to_vec());
        }
    }

    /// A session open on stream 0.
    fn open(config: Config) -> Self {
        let mut pair = Pair::new(config);
        assert_eq!(
            pair.client
                .connect(0, "example.com", "/chat", Some("https://example.com")),
            Ok(SessionId(0))
        );
        pair.run();
        let [Event::SessionRequest { session, request }] = &pair.server_events[..] else {
            panic!("{:?}", pair.server_events)
        };
        assert_eq!(
            (request.path.as_str(), request.is_draft02()),
            ("/chat", true)
        );
        pair.server.accept(*session).unwrap();
        pair.run();
        assert_eq!(
            pair.client_events,
            [Event::SessionEstablished {
                session: SessionId(0)
            }]
        );
        pair.client_events.clear();
        pair.server_events.clear();
        pair
    }
}

#[test]
fn client_and_server_cores_talk() {
    let mut pair = Pair::open(Config::default());
    let session = SessionId(0);
    // The client's settings carry no ENABLE_CONNECT_PROTOCOL; the server's do.
    assert_eq!(
        pair.server
            .peer_settings()
            .unwrap()
            .get(settings::ENABLE_CONNECT_PROTOCOL),
        None
    );
    assert_eq!(
        pair.client
            .peer_settings()
            .unwrap()
            .get(settings::ENABLE_CONNECT_PROTOCOL),
        Some(1)
    );

    // Streams both ways: client bidi 4 and uni 6 (2 is its control stream),
    // server bidi 1 and uni 7 (3 is its control stream).
    for (from_client, id, text) in [
        (true, 4, "c-bidi"),
        (true, 6, "c-uni"),
        (false, 1, "s-bidi"),
        (false, 7, "s-uni"),
    ] {
        let (from, to, app) = if from_client {
            (&mut pair.client, &mut pair.server, &mut pair.server_app)
        } else {
            (&mut pair.server, &mut pair.client, &mut pair.client_app)
        };
        let mut bytes = from.open_stream(session, id).unwrap().as_bytes().to_vec();
        bytes.extend_from_slice(text.as_bytes());
        Pair::write(to, app, id, &bytes, false);
    }
    pair.run();
    assert_eq!(pair.server_app[&4], b"c-bidi");
    assert_eq!(pair.server_app[&6], b"c-uni");
    assert_eq!(pair.client_app[&1], b"s-bidi");
    assert_eq!(pair.client_app[&7], b"s-uni");
    assert_eq!(
        pair.client.open_stream(session, 5),
        Err(SendError::InvalidStreamId(5))
    );

    // Datagrams both ways.
    let mut out = Vec::new();
    pair.client
        .send_datagram(session, b"to server", &mut out)
        .unwrap();
    pair.server.handle_datagram(Bytes::from(out.clone()));
    pair.server
        .send_datagram(session, b"to client", &mut out)
        .unwrap();
    pair.client.handle_datagram(Bytes::from(out));
    pair.run();
    assert!(pair.server_events.contains(&Event::Datagram {
        session,
        payload: Bytes::from_static(b"to server")
    }));
    assert!(pair.client_events.contains(&Event::Datagram {
        session,
        payload: Bytes::from_static(b"to client")
    }));

    // The server drains then closes; the client sees both, its streams reset.
    pair.server.drain_session(session).unwrap();
    pair.server.close_session(session, 42, "over").unwrap();
    pair.client_events.clear();
    pair.run();
    assert_eq!(
        pair.client_events,
        [
            Event::SessionDraining { session },
            Event::SessionClosed {
                session,
                end: SessionEnd::Closed {
                    code: 42,
                    reason: "over".into()
                }
            },
        ]
    );
    assert!(!pair.client.is_closed() && !pair.server.is_closed());
}

#[test]
fn client_sees_rejection_and_interim_responses() {
    let mut pair = Pair::new(Config::default());
    pair.client
        .connect(0, "example.com", "/nope", None)
        .unwrap();
    pair.run();
    pair.server.reject(SessionId(0), 404).unwrap();
    pair.run();
    assert_eq!(
        pair.client_events,
        [Event::SessionRejected {
            session: SessionId(0),
            status: 404
        }]
    );
    assert!(!pair.client.is_closed());

    // An interim 103 then a 200.
    let mut client = Connection::client(Config::default());
    client.connect(0, "a", "/", None).unwrap();
    let mut response = headers_frame(&[(":status", "103")]);
    response.extend(headers_frame(&[(":status", "200")]));
    assert_eq!(
        client.handle_stream_data(0, &response, false),
        StreamRead::Consumed
    );
    assert_eq!(
        events(&mut client),
        [Event::SessionEstablished {
            session: SessionId(0)
        }]
    );
}

#[test]
fn client_errors() {
    let mut client = Connection::client(Config::default());
    let _ = transmits(&mut client);
    assert_eq!(
        client.connect(1, "a", "/", None),
        Err(SendError::InvalidStreamId(1))
    );
    assert_eq!(
        client.connect(2, "a", "/", None),
        Err(SendError::InvalidStreamId(2))
    );
    client.connect(0, "a", "/", None).unwrap();
    assert_eq!(
        client.connect(0, "a", "/", None),
        Err(SendError::InvalidStreamId(0))
    );
    assert_eq!(
        client.connect(4, "a", "/", None),
        Err(SendError::TooManySessions)
    );
    let mut server = Connection::server(Config::default());
    assert_eq!(
        server.connect(0, "a", "/", None),
        Err(SendError::InvalidStreamId(0))
    );

    // A response without :status ends the session with H3_MESSAGE_ERROR.
    assert_eq!(
        client.handle_stream_data(0, &headers_frame(&[("server", "x")]), false),
        StreamRead::Consumed
    );
    let error = ErrorCode::MESSAGE_ERROR;
    assert_eq!(
        events(&mut client),
        [Event::SessionClosed {
            session: SessionId(0),
            end: SessionEnd::Error(error)
        }]
    );
    assert!(transmits(&mut client).contains(&Transmit::ResetStream { id: 0, code: error }));

    // The server ends the CONNECT stream without a response.
    let mut client = Connection::client(Config::default());
    client.connect(0, "a", "/", None).unwrap();
    assert_eq!(client.handle_stream_data(0, &[], true), StreamRead::Discard);
    assert_eq!(
        events(&mut client),
        [Event::SessionClosed {
            session: SessionId(0),
            end: SessionEnd::Error(error)
        }]
    );

    // A server-initiated bidirectional stream that is not WebTransport.
    let mut client = Connection::client(Config::default());
    client.handle_stream_data(1, &headers_frame(&[(":status", "200")]), false);
    closed_with(&mut client, ErrorCode::STREAM_CREATION_ERROR);
    // DATA before the response.
    let mut client = Connection::client(Config::default());
    client.connect(0, "a", "/", None).unwrap();
    client.handle_stream_data(0, &[0x00, 0x00], false);
    closed_with(&mut client, ErrorCode::FRAME_UNEXPECTED);
}

#[test]
fn client_buffers_streams_that_beat_the_response() {
    let mut client = Connection::client(Config::default());
    client.connect(0, "a", "/", None).unwrap();
    assert_eq!(
        client.handle_stream_data(1, b"\x40\x41\x00early", false),
        StreamRead::Buffered { header_len: 3 }
    );
    client.handle_datagram(Bytes::from_static(b"\x00dg"));
    // A stream for a session the client never opened is gone.
    assert_eq!(
        client.handle_stream_data(7, b"\x40\x54\x04", false),
        StreamRead::Discard
    );
    client.handle_stream_data(0, &headers_frame(&[(":status", "200")]), false);
    let session = SessionId(0);
    assert_eq!(
        events(&mut client),
        [
            Event::SessionEstablished { session },
            Event::IncomingStream {
                session,
                stream: StreamId(1),
                bidi: true
            },
            Event::Datagram {
                session,
                payload: Bytes::from_static(b"dg")
            },
        ]
    );
}
