//! [`InputBuffer`]: room at the end of a connection's receive buffer that
//! input is read into directly, instead of being read elsewhere and copied
//! in by [`Connection::handle_input`].

use std::ops::{Deref, DerefMut};
use std::time::Instant;

use super::Connection;

/// Zeroed room at the end of a [`Connection`]'s receive buffer, from
/// [`Connection::input_buffer`]. Read into it, then report how many bytes
/// arrived with [`filled`](Self::filled); the rest is given back when the
/// buffer is dropped (dropping it without `filled` adds nothing).
///
/// For a large frame this saves copying its payload from the caller's read
/// buffer into the connection's, at the price of zeroing the room first
/// (safe code cannot read into uninitialised memory); small reads are
/// cheaper through [`Connection::handle_input`].
///
/// ```
/// use std::time::Instant;
/// use tidings_core::ws::{Config, Connection, Event, Role};
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
    /// Where the room starts in the receive buffer.
    start: usize,
    /// Bytes of the room that hold input (kept when dropped).
    filled: usize,
}

impl<'a> InputBuffer<'a> {
    /// Appends `len` zeroed bytes to `conn`'s receive buffer as the room.
    pub(super) fn new(conn: &'a mut Connection, len: usize) -> Self {
        let start = conn.rx.len();
        conn.rx.resize(start + len, 0);
        InputBuffer {
            conn,
            start,
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
        self.conn.rx.get(self.start..).unwrap_or_default()
    }
}

impl DerefMut for InputBuffer<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.conn.rx.get_mut(self.start..).unwrap_or_default()
    }
}

impl Drop for InputBuffer<'_> {
    fn drop(&mut self) {
        self.conn.rx.truncate(self.start + self.filled);
    }
}
