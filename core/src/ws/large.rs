//! Large incoming frames: their payloads are received into buffers of their
//! own, taken from a per-thread pool of initialised buffers, and handed out
//! as the message's bytes without a copy. Once every clone of the message
//! is dropped, its buffer goes back to the pool of the thread that dropped
//! it.
//!
//! Why: input is read into initialised memory (safe code cannot read into
//! uninitialised memory). A frame received in the connection's receive
//! buffer (a `BytesMut`) needs its room zeroed before every read, since the
//! memory handed out as a message's `Bytes` comes back uninitialised; for a
//! 64 KiB echo that zeroing was two thirds of the server's own instructions.
//! A recycled `Vec<u8>` stays initialised: in steady state nothing is
//! zeroed. The pool is small and bounded ([`POOLED_BUFFERS`] buffers of at
//! most [`MAX_POOLED_LEN`] bytes per thread). It keeps each buffer in the
//! [`LargePayload`] box it was received in, so that a large frame costs one
//! small allocation of its own (the message's `Bytes` owner), next to at
//! least 16 KiB of payload. A frame abandoned halfway (the connection
//! ended) frees its buffer instead of pooling it.

use std::cell::RefCell;

use bytes::Bytes;

/// A data frame whose payload has at least this many bytes still to arrive
/// when its header is parsed is received into a [`LargePayload`]. Smaller
/// ones (and frames already received whole) stay in the receive buffer.
#[cfg(not(fuzzing))]
pub(super) const LARGE_FRAME: usize = 16 << 10;

/// Under cargo-fuzz (`--cfg fuzzing`): small enough that the fuzzers'
/// frames (at most 255 bytes) take this path when they arrive in pieces,
/// and their chunking-invariance check compares it with the plain one.
#[cfg(fuzzing)]
pub(super) const LARGE_FRAME: usize = 8;

/// Buffers kept per thread.
const POOLED_BUFFERS: usize = 4;

/// Buffers longer than this are freed rather than pooled.
const MAX_POOLED_LEN: usize = 2 << 20;

thread_local! {
    #[allow(
        clippy::vec_box,
        reason = "the boxes are what is pooled: a frame in progress holds its payload boxed, and reusing the box spares an allocation per large message"
    )]
    static POOL: RefCell<Vec<Box<LargePayload>>> = const { RefCell::new(Vec::new()) };
}

/// The payload of a large frame being received, in order; unmasking and
/// validation are the connection's business.
#[derive(Debug)]
pub(super) struct LargePayload {
    /// Initialised up to its length; the payload starts at `start`; bytes
    /// past the received ones are left over from earlier use (or read past
    /// the payload's end, see [`room`](Self::room)).
    buf: Vec<u8>,
    /// Where the payload starts in `buf`: 0, or after the frame's header
    /// when the read that brought the header went into `buf` (see
    /// [`begin_in_place`](Self::begin_in_place)).
    start: usize,
    /// The frame's payload length.
    len: usize,
    /// Payload bytes received so far (at most `len`).
    received: usize,
}

impl LargePayload {
    /// An empty payload of `len` bytes to come, in a pooled buffer (and
    /// box) if the thread has one.
    pub(super) fn new(len: usize) -> Box<Self> {
        let mut payload = take_pooled();
        payload.start = 0;
        payload.len = len;
        payload.received = 0;
        payload
    }

    /// Makes the first `read` bytes of the buffer (input read into
    /// [`room`](Self::room) of an empty payload) a payload of `len` bytes
    /// that starts at `start` (after its frame's header); returns the bytes
    /// read past the payload's end (they belong to the frames after it).
    pub(super) fn begin_in_place(&mut self, start: usize, len: usize, read: usize) -> &[u8] {
        self.start = start;
        self.len = len;
        self.received = 0;
        self.filled(read.saturating_sub(start))
    }

    /// The first `n` bytes of the buffer: input read into the room of an
    /// empty payload (before [`begin_in_place`](Self::begin_in_place)).
    pub(super) fn head(&self, n: usize) -> &[u8] {
        self.buf.get(..n).unwrap_or_default()
    }

    /// Where the next received byte goes in `buf`.
    fn at(&self) -> usize {
        self.start + self.received
    }

    /// Payload bytes received so far.
    pub(super) fn received(&self) -> usize {
        self.received
    }

    /// Payload bytes still to arrive.
    pub(super) fn missing(&self) -> usize {
        self.len - self.received
    }

    /// Bytes that can be read without growing the buffer (so without
    /// zeroing anything).
    pub(super) fn spare(&self) -> usize {
        self.buf.len().saturating_sub(self.at())
    }

    /// Appends the start of `data` that belongs to the payload; returns how
    /// many bytes that was (the rest belongs to the frames after it).
    pub(super) fn extend(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.missing());
        let at = self.at();
        let end = at + n;
        // `at <= buf.len()` always: the kept part is overwritten, the rest
        // appended (neither zeroes anything).
        let kept = self.buf.len().min(end);
        let (overwrite, append) = data.split_at(kept - at);
        if let Some(target) = self.buf.get_mut(at..kept) {
            target.copy_from_slice(overwrite);
        }
        self.buf
            .extend_from_slice(append.get(..n - overwrite.len()).unwrap_or_default());
        self.received += n;
        n
    }

    /// Room for `n` bytes to be read right after the received ones; the
    /// buffer grows (zeroing only what it never held) if it is shorter.
    /// Bytes read past the payload's end are given back by
    /// [`filled`](Self::filled).
    pub(super) fn room(&mut self, n: usize) -> &mut [u8] {
        let at = self.at();
        let end = at.saturating_add(n);
        if self.buf.len() < end {
            self.buf.resize(end, 0);
        }
        self.buf.get_mut(at..end).unwrap_or_default()
    }

    /// The bytes of the room (see [`room`](Self::room)), read-only.
    pub(super) fn room_ref(&self, n: usize) -> &[u8] {
        let at = self.at();
        let end = at.saturating_add(n).min(self.buf.len());
        self.buf.get(at..end).unwrap_or_default()
    }

    /// Records that `n` bytes were read into the room; returns those of
    /// them past the payload's end (they belong to the frames after it).
    pub(super) fn filled(&mut self, n: usize) -> &[u8] {
        let end = self.at().saturating_add(n).min(self.buf.len());
        self.received = end.saturating_sub(self.start).min(self.len);
        self.buf.get(self.at()..end).unwrap_or_default()
    }

    /// The received payload bytes from `from` on, to unmask and validate.
    pub(super) fn received_from(&mut self, from: usize) -> &mut [u8] {
        let end = self.at();
        self.buf.get_mut(self.start + from..end).unwrap_or_default()
    }

    /// Gives the box and its buffer back to this thread's pool, unused.
    pub(super) fn recycle(self: Box<Self>) {
        give_back(self);
    }

    /// The complete payload as the message's bytes (no copy); its box and
    /// buffer return to a pool when they are dropped.
    pub(super) fn into_bytes(self: Box<Self>) -> Bytes {
        Bytes::from_owner(Recycled(Some(self)))
    }
}

/// The owner of a message's bytes received as a [`LargePayload`] (always
/// `Some` until dropped).
struct Recycled(Option<Box<LargePayload>>);

impl AsRef<[u8]> for Recycled {
    fn as_ref(&self) -> &[u8] {
        self.0
            .as_ref()
            .and_then(|payload| {
                let end = payload.start.saturating_add(payload.len);
                payload.buf.get(payload.start..end)
            })
            .unwrap_or_default()
    }
}

impl Drop for Recycled {
    fn drop(&mut self) {
        if let Some(payload) = self.0.take() {
            give_back(payload);
        }
    }
}

/// A pooled payload box (and buffer) of this thread, or a new one with an
/// empty buffer.
fn take_pooled() -> Box<LargePayload> {
    POOL.try_with(|pool| pool.try_borrow_mut().ok().and_then(|mut pool| pool.pop()))
        .ok()
        .flatten()
        .unwrap_or_else(|| {
            Box::new(LargePayload {
                buf: Vec::new(),
                start: 0,
                len: 0,
                received: 0,
            })
        })
}

/// The length of the buffer [`LargePayload::new`] would take from this
/// thread's pool (0 if none): room that can be read into with no zeroing.
pub(super) fn pooled_len() -> usize {
    POOL.try_with(|pool| {
        pool.try_borrow()
            .ok()
            .and_then(|pool| pool.last().map(|payload| payload.buf.len()))
    })
    .ok()
    .flatten()
    .unwrap_or(0)
}

/// Pools `payload` (its box and buffer) on this thread if there is room
/// (else, or while the thread ends, it is freed).
fn give_back(payload: Box<LargePayload>) {
    if payload.buf.is_empty() || payload.buf.len() > MAX_POOLED_LEN {
        return;
    }
    let _ = POOL.try_with(|pool| {
        if let Ok(mut pool) = pool.try_borrow_mut()
            && pool.len() < POOLED_BUFFERS
        {
            pool.push(payload);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pooled() -> usize {
        POOL.with(|pool| pool.borrow().len())
    }

    #[test]
    fn extend_room_and_filled_keep_the_payload_in_order() {
        let mut payload = LargePayload::new(10);
        assert_eq!(payload.extend(b"abc"), 3);
        payload.room(4).copy_from_slice(b"defg");
        assert_eq!(payload.filled(4), b"");
        // A read past the payload's end: the extra bytes are given back.
        payload.room(6).copy_from_slice(b"hijXYZ");
        assert_eq!(payload.filled(6), b"XYZ");
        assert_eq!(payload.missing(), 0);
        assert_eq!(payload.extend(b"more"), 0, "nothing past the end is taken");
        assert_eq!(&payload.into_bytes()[..], b"abcdefghij");
    }

    #[test]
    fn dropped_messages_give_their_initialised_buffer_back() {
        let before = pooled();
        let mut payload = LargePayload::new(8);
        payload.room(8).copy_from_slice(b"12345678");
        let _ = payload.filled(8);
        let bytes = payload.into_bytes();
        let clone = bytes.clone();
        drop(bytes);
        assert_eq!(pooled(), before, "a clone still holds it");
        drop(clone);
        assert_eq!(pooled(), before + 1);
        // The next payload reuses it: its old bytes are spare room.
        let mut next = LargePayload::new(4);
        assert_eq!(pooled(), before);
        assert!(next.spare() >= 8);
        assert_eq!(next.extend(b"wxyz"), 4);
        assert_eq!(&next.into_bytes()[..], b"wxyz");
    }

    #[test]
    fn the_pool_is_bounded() {
        let buffers: Vec<Bytes> = (0..POOLED_BUFFERS + 3)
            .map(|_| {
                let mut payload = LargePayload::new(4);
                let _ = payload.extend(b"1234");
                payload.into_bytes()
            })
            .collect();
        drop(buffers);
        assert_eq!(pooled(), POOLED_BUFFERS);
        // A buffer grown past the limit is freed, not pooled.
        let mut huge = LargePayload::new(MAX_POOLED_LEN + 1);
        assert_eq!(pooled(), POOLED_BUFFERS - 1, "it took a pooled buffer");
        let _ = huge.room(MAX_POOLED_LEN + 1);
        drop(huge);
        assert_eq!(pooled(), POOLED_BUFFERS - 1);
    }
}
