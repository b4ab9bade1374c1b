//! The path that relies on one of the core's two `unsafe` places
//! (`Utf8Bytes::as_str`): text validated piece by piece by a connection
//! (split across frames and inside code points), then read as `str`. CI runs
//! this file under Miri.

// The core is sans-IO (core/clippy.toml disallows the clock); a test reads
// the clock only for a starting `now`; the core itself is handed every
// instant.
#![allow(clippy::disallowed_methods)]

use std::time::Instant;

use tidings_core::ws::{Config, Connection, Event, Message, Outgoing, Role};

#[test]
fn text_received_by_a_connection_reads_back_as_str() {
    let now = Instant::now();
    let config = Config::default().max_outgoing_frame_size(Some(3));
    let mut client = Connection::new(Role::Client { mask_seed: [1; 32] }, config, now);
    let mut server = Connection::new(Role::Server, Config::default(), now);
    client.send(Outgoing::Text("añ€𝄞z")).unwrap();
    let mut wire = Vec::new();
    let _ = client.poll_transmit(&mut wire);
    for byte in wire.chunks(1) {
        server.handle_input(now, byte);
    }
    match server.poll_event() {
        Some(Event::Message(Message::Text(text))) => {
            assert_eq!(text.as_str(), "añ€𝄞z");
            assert_eq!(text.chars().count(), 5);
            let bytes = text.clone().into_bytes();
            assert_eq!(&bytes[..], "añ€𝄞z".as_bytes());
        }
        other => panic!("unexpected {other:?}"),
    }
}
