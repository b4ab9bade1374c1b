//! [`InputBuffer`]: room at the end of a connection's receive buffer that
//! input is read into directly, instead of being read elsewhere and copied
//! in by [`Connection::handle_input`].

use std::ops::{Deref, DerefMut};
use std::time::Instant;

use super::Connection;
use super::large::LargePayload;

/// Room for input in a [`Connection`], from [`Connection::input_buffer`].
/// Read into it, then report how many bytes arrived with
/// [`filled`](Self::filled); the rest is given back when the buffer is
/// dropped (dropping it without `filled` adds nothing).
///
/// For a large frame this saves copying its payload from the caller's read
/// buffer into the connection's. A large unfragmented data frame (16 KiB
/// or more still to arrive when its header is parsed) is received into a
/// buffer of its own, recycled from earlier large messages once they are
/// dropped: its room is then usually not even zeroed (safe code cannot read
/// into uninitialised memory, and new memory must be zeroed first). After
/// such a frame, while [`Connection::expects_large_frame`], the room is in
/// a recycled buffer too, which keeps the next frame's header and payload
/// in place if that frame is large (16 KiB or more of payload). Small
/// reads are cheaper through [`Connection::handle_input`].
///
/// ```
/// use std::time::Instant;
/// # use tidings_core::ws::{Config, Connection, Event, Role};
///
/// // `now` comes from the caller's clock.
/// fn read_into_the_connection(now: Instant) {
///     let mut server = Connection::new(Role::Server, Config::default(), now);
///     // A masked text frame "hi" (key 0), as a socket read would deliver it.
///     let wire = [0x81, 0x82, 0, 0, 0, 0, b'h', b'i'];
///     let mut buf = server.input_buffer(16);
///     buf[..wire.len()].copy_from_slice(&wire);
///     buf.filled(now, wire.len());
///     assert!(matches!(server.poll_event(), Some(Event::Message(m)) if m.as_bytes() == b"hi"));
/// }
/// # read_into_the_connection(<Instant>::now());
/// ```
#[derive(Debug)]
pub struct InputBuffer<'a> {
    conn: &'a mut Connection,
    /// Where the room is.
    room: Room,
    /// Bytes of the room that hold input (kept when dropped).
    filled: usize,
}

/// Where an [`InputBuffer`]'s room lies.
#[derive(Debug)]
enum Room {
    /// At the end of the receive buffer, from this offset.
    Rx { start: usize },
    /// After the received bytes of the large frame being received (see
    /// `super::large`), this long: recycled memory, usually not zeroed.
    Large { len: usize },
    /// At the start of a recycled buffer, this long, while a large frame is
    /// expected (see [`Connection::expects_large_frame`]): it becomes that
    /// frame's buffer if the input begins one.
    Fresh {
        payload: Box<LargePayload>,
        len: usize,
    },
}

impl<'a> InputBuffer<'a> {
    /// Makes `len` bytes of room: in the large frame's own buffer while one
    /// is being received, in a recycled one while one is expected, else
    /// zeroed bytes appended to `conn`'s receive buffer.
    pub(super) fn new(conn: &'a mut Connection, len: usize) -> Self {
        let expected = conn.expects_large_frame();
        let room = match conn.large_payload() {
            Some(large) => {
                let _ = large.room(len);
                Room::Large { len }
            }
            None if expected => {
                let mut payload = LargePayload::new(0);
                let _ = payload.room(len);
                Room::Fresh { payload, len }
            }
            None => {
                let start = conn.rx.len();
                conn.rx.resize(start + len, 0);
                Room::Rx { start }
            }
        };
        InputBuffer {
            conn,
            room,
            filled: 0,
        }
    }

    /// Reports that the first `n` bytes of the room hold input received at
    /// `now` (as [`Connection::handle_input`] with those bytes would). `n`
    /// is clamped to the room's length; input after the close handshake is
    /// ignored, as by `handle_input`.
    pub fn filled(mut self, now: Instant, n: usize) {
        let n = n.min(self.len());
        if n > 0 && self.conn.accepts_input() {
            self.filled = n;
            self.conn.input_arrived(now);
        }
    }
}

impl Deref for InputBuffer<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self.room {
            Room::Rx { start } => self.conn.rx.get(start..).unwrap_or_default(),
            Room::Large { len } => self
                .conn
                .frame
                .as_ref()
                .and_then(|frame| frame.large.as_deref())
                .map_or(&[], |large| large.room_ref(len)),
            Room::Fresh { ref payload, len } => payload.room_ref(len),
        }
    }
}

impl DerefMut for InputBuffer<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        match self.room {
            Room::Rx { start } => self.conn.rx.get_mut(start..).unwrap_or_default(),
            Room::Large { len } => self
                .conn
                .large_payload()
                .map_or(&mut [], |large| large.room(len)),
            Room::Fresh {
                ref mut payload,
                len,
            } => payload.room(len),
        }
    }
}

impl Drop for InputBuffer<'_> {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.room, Room::Large { len: 0 }) {
            Room::Rx { start } => self.conn.rx.truncate(start + self.filled),
            Room::Fresh { payload, .. } => self.conn.begin_in_place(payload, self.filled),
            Room::Large { .. } => {
                let Connection { frame, rx, .. } = &mut *self.conn;
                if let Some(large) = frame.as_mut().and_then(|frame| frame.large.as_deref_mut()) {
                    // Bytes read past the payload belong to the next frames.
                    rx.extend_from_slice(large.filled(self.filled));
                }
            }
        }
    }
}
