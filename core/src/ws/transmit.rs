//! The outgoing queue of a connection: its own frames, encoded into a reused
//! staging buffer, and pre-encoded [`SharedFrame`]s, kept in order.
//!
//! A server's frames are unmasked, so a message sent to many connections can
//! be encoded once ([`SharedFrame`]) and the same refcounted [`Bytes`]
//! queued on each of them: no per-recipient copy.

use std::collections::VecDeque;

use bytes::{BufMut, Bytes, BytesMut};

use super::{Config, Outgoing, SendError};
use crate::deflate::SharedCompressor;
use crate::frame::{FrameHeader, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN, OpCode, RSV1, apply_mask};

/// A message encoded once as server frames (header and payload, unmasked),
/// ready to be queued on any number of server connections with
/// [`Connection::send_shared`](super::Connection::send_shared).
///
/// Cloning it clones a refcounted [`Bytes`]: cheap.
///
/// ```
/// # use tidings_core::ws::SharedFrame;
///
/// let frame = SharedFrame::text("hello");
/// assert_eq!(frame.as_bytes(), b"\x81\x05hello");
/// assert_eq!(frame.payload_len(), 5);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedFrame {
    bytes: Bytes,
    payload_len: usize,
}

impl SharedFrame {
    /// A text message as one frame.
    pub fn text(text: &str) -> Self {
        Self::data(OpCode::Text, 0, text.as_bytes(), None, text.len())
    }

    /// A binary message as one frame.
    pub fn binary(data: &[u8]) -> Self {
        Self::data(OpCode::Binary, 0, data, None, data.len())
    }

    /// `message` encoded as a server would send it with `config`: a data
    /// message split into frames of at most
    /// [`Config::max_outgoing_frame_size`] payload bytes when that is set.
    ///
    /// # Errors
    /// [`SendError::ControlPayloadTooLong`] for a ping or pong over 125 bytes.
    pub fn new(message: Outgoing<'_>, config: &Config) -> Result<Self, SendError> {
        Self::encode(message, config, None)
    }

    /// `message` compressed once by `compressor` (permessage-deflate, RFC
    /// 7692) and encoded as a server would send it with `config`: RSV1 on
    /// the first frame, split as [`new`](Self::new) splits. Pings and pongs
    /// are not compressed (RFC 7692 §6.1), nor a message the compressor
    /// fails on (zlib does not on valid state). Whatever the
    /// [threshold](crate::deflate::DeflateConfig::threshold), the message is
    /// compressed: that choice is the caller's.
    ///
    /// Only connections whose
    /// [`accepts_shared_compression`](super::Connection::accepts_shared_compression)
    /// holds for the compressor's
    /// [`window_bits`](SharedCompressor::window_bits) may be sent the result.
    /// [`payload_len`](Self::payload_len) stays the uncompressed length.
    ///
    /// ```
    /// # use tidings_core::deflate::SharedCompressor;
    /// # use tidings_core::ws::{Config, Outgoing, SharedFrame};
    ///
    /// let mut compressor = SharedCompressor::new(15, 1);
    /// let text = "tick tick tick tick tick tick tick tick";
    /// let frame = SharedFrame::compressed(Outgoing::Text(text), &mut compressor, &Config::default()).unwrap();
    /// assert_eq!(frame.as_bytes()[0], 0xc1, "FIN, RSV1, text");
    /// assert!(frame.len() < text.len());
    /// assert_eq!(frame.payload_len(), text.len());
    /// ```
    ///
    /// # Errors
    /// [`SendError::ControlPayloadTooLong`] for a ping or pong over 125 bytes.
    #[cfg(feature = "deflate")]
    pub fn compressed(
        message: Outgoing<'_>,
        compressor: &mut SharedCompressor,
        config: &Config,
    ) -> Result<Self, SendError> {
        Self::encode(message, config, Some(compressor))
    }

    fn encode(
        message: Outgoing<'_>,
        config: &Config,
        compressor: Option<&mut SharedCompressor>,
    ) -> Result<Self, SendError> {
        let max = config.max_outgoing_frame_size;
        let (opcode, payload) = match message {
            Outgoing::Text(text) => (OpCode::Text, text.as_bytes()),
            Outgoing::Binary(data) => (OpCode::Binary, data),
            Outgoing::Ping(payload) | Outgoing::Pong(payload)
                if payload.len() > MAX_CONTROL_PAYLOAD =>
            {
                return Err(SendError::ControlPayloadTooLong(payload.len()));
            }
            Outgoing::Ping(payload) => return Ok(Self::control(OpCode::Ping, payload)),
            Outgoing::Pong(payload) => return Ok(Self::control(OpCode::Pong, payload)),
        };
        let deflated = compressor.and_then(|compressor| compressor.compress(payload));
        Ok(match deflated {
            Some(deflated) => Self::data(opcode, RSV1, &deflated, max, payload.len()),
            None => Self::data(opcode, 0, payload, max, payload.len()),
        })
    }

    /// Frames of a data message's `payload` (`rsv` on the first frame only)
    /// whose uncompressed length is `message_len`.
    fn data(
        opcode: OpCode,
        rsv: u8,
        payload: &[u8],
        max_frame: Option<usize>,
        message_len: usize,
    ) -> Self {
        let mut out = BytesMut::with_capacity(payload.len() + MAX_HEADER_LEN);
        for_each_fragment(
            opcode,
            rsv,
            payload,
            max_frame,
            |opcode, rsv, fin, chunk| {
                encode_frame(&mut out, opcode, rsv, fin, None, chunk);
            },
        );
        SharedFrame {
            bytes: out.freeze(),
            payload_len: message_len,
        }
    }

    fn control(opcode: OpCode, payload: &[u8]) -> Self {
        let mut out = BytesMut::with_capacity(payload.len() + MAX_HEADER_LEN);
        encode_frame(&mut out, opcode, 0, true, None, payload);
        SharedFrame {
            bytes: out.freeze(),
            payload_len: payload.len(),
        }
    }

    /// The encoded frames.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The encoded frames, shared.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Bytes on the wire (headers included).
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether there are no bytes at all (never true for a built frame).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The message's payload length (before compression, for a
    /// [`compressed`](Self::compressed) frame).
    pub fn payload_len(&self) -> usize {
        self.payload_len
    }
}

/// Calls `f(opcode, rsv, fin, chunk)` for each frame of a data message split
/// into frames of at most `max_frame` payload bytes (`None` or 0: one
/// frame); `rsv` goes on the first frame only (RFC 7692 §6.1).
pub(super) fn for_each_fragment(
    opcode: OpCode,
    rsv: u8,
    payload: &[u8],
    max_frame: Option<usize>,
    mut f: impl FnMut(OpCode, u8, bool, &[u8]),
) {
    let Some(frame_size) = max_frame.filter(|&size| size > 0 && size < payload.len()) else {
        f(opcode, rsv, true, payload);
        return;
    };
    let mut chunks = payload.chunks(frame_size).peekable();
    let (mut opcode, mut rsv) = (opcode, rsv);
    while let Some(chunk) = chunks.next() {
        f(opcode, rsv, chunks.peek().is_none(), chunk);
        (opcode, rsv) = (OpCode::Continuation, 0);
    }
}

/// Appends one frame to `out` with the `rsv` bits, masked with `mask` when given.
pub(super) fn encode_frame(
    out: &mut BytesMut,
    opcode: OpCode,
    rsv: u8,
    fin: bool,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) {
    let header = FrameHeader {
        fin,
        rsv,
        opcode,
        mask,
        payload_len: payload.len() as u64,
    };
    out.reserve(MAX_HEADER_LEN + payload.len());
    encode_header(out, &header);
    let start = out.len();
    out.put_slice(payload);
    if let (Some(key), Some(body)) = (mask, out.get_mut(start..)) {
        apply_mask(body, key, 0);
    }
}

/// Appends a frame header to `out`.
pub(super) fn encode_header(out: &mut BytesMut, header: &FrameHeader) {
    let mut head = [0u8; MAX_HEADER_LEN];
    let n = header.encode(&mut head);
    out.put_slice(head.get(..n).unwrap_or_default());
}

/// The ordered outgoing queue: chunks ready to write, then the staging
/// buffer where the connection's own frames are being encoded.
#[derive(Debug, Default)]
pub(super) struct TxQueue {
    /// Whole chunks, allocated for the first one (a connection that only
    /// ever sends small messages of its own never has any) and then kept:
    /// no allocation per message. Boxed, it costs every connection 8 bytes
    /// of its state instead of 48.
    chunks: Option<Box<Chunks>>,
    /// Own frames encoded after the last chunk. Reused: after its bytes are
    /// taken and written, the next `reserve` reclaims the same allocation.
    pub(super) staging: BytesMut,
}

/// The chunks of a [`TxQueue`].
#[derive(Debug, Default)]
struct Chunks {
    /// Whole chunks, in order: frozen staging buffers and payloads queued
    /// without a copy (`false`), and shared frames (`true`).
    queue: VecDeque<(Bytes, bool)>,
    /// Bytes in `queue`.
    bytes: usize,
    /// Shared frames in `queue`.
    shared_frames: usize,
}

impl TxQueue {
    /// Bytes waiting to be taken.
    #[inline]
    pub(super) fn len(&self) -> usize {
        self.chunks.as_ref().map_or(0, |chunks| chunks.bytes) + self.staging.len()
    }

    /// Shared frames waiting to be taken.
    #[inline]
    pub(super) fn shared_frames(&self) -> usize {
        self.chunks
            .as_ref()
            .map_or(0, |chunks| chunks.shared_frames)
    }

    /// Queues a shared frame after everything queued so far.
    pub(super) fn push_shared(&mut self, frame: &SharedFrame) {
        self.push_chunk(frame.bytes.clone(), true);
    }

    /// Queues bytes of the connection's own (a payload, shared rather than
    /// copied) after everything queued so far.
    pub(super) fn push_own(&mut self, bytes: Bytes) {
        self.push_chunk(bytes, false);
    }

    fn push_chunk(&mut self, bytes: Bytes, shared: bool) {
        let chunks = self.chunks.get_or_insert_default();
        // The staged own frames first: they were queued before.
        if !self.staging.is_empty() {
            let staged = self.staging.split().freeze();
            chunks.push(staged, false);
        }
        chunks.push(bytes, shared);
    }

    /// Whether no chunk is queued.
    #[inline]
    fn no_chunks(&self) -> bool {
        self.chunks
            .as_ref()
            .is_none_or(|chunks| chunks.queue.is_empty())
    }

    /// Moves the staged own frames into `buf` when they are all that is
    /// queued and `buf` is empty, giving `buf`'s allocation to the staging
    /// buffer in exchange; whether it did.
    pub(super) fn swap_staging(&mut self, buf: &mut BytesMut) -> bool {
        if self.staging.is_empty() || !buf.is_empty() || !self.no_chunks() {
            return false;
        }
        std::mem::swap(&mut self.staging, buf);
        true
    }

    /// The next chunk to write, in order; `None` when nothing is queued.
    pub(super) fn pop_chunk(&mut self) -> Option<Bytes> {
        if let Some(chunk) = self.chunks.as_mut().and_then(|chunks| chunks.pop()) {
            return Some(chunk);
        }
        (!self.staging.is_empty()).then(|| self.staging.split().freeze())
    }

    /// Drops the chunks not yet taken (own and shared).
    pub(super) fn clear(&mut self) {
        if let Some(chunks) = self.chunks.as_mut() {
            chunks.queue.clear();
            chunks.bytes = 0;
            chunks.shared_frames = 0;
        }
        self.staging.clear();
    }
}

impl Chunks {
    fn push(&mut self, bytes: Bytes, shared: bool) {
        self.bytes += bytes.len();
        self.shared_frames += usize::from(shared);
        self.queue.push_back((bytes, shared));
    }

    fn pop(&mut self) -> Option<Bytes> {
        let (chunk, shared) = self.queue.pop_front()?;
        self.bytes -= chunk.len();
        self.shared_frames -= usize::from(shared);
        Some(chunk)
    }
}
