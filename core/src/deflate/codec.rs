//! The per-message codec (RFC 7692 §7.2): raw DEFLATE with a sync flush per
//! message, the `00 00 ff ff` tail stripped when sending and put back when
//! receiving, context kept or reset per direction.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::{DeflateConfig, DeflateParams, MAX_WINDOW_BITS};

/// The bytes a sync flush ends with; stripped from each compressed message.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Inflation grows the message buffer by at least this much at a time.
const MIN_INFLATE_STEP: usize = 4 << 10;

/// The zlib window bits that implement an RFC 7692 window of `bits`.
///
/// zlib (and zlib-rs, which follows it) refuses a raw 2^8 window and uses 2^9
/// instead. That is still correct for a peer with a 2^8 window: zlib's
/// compressor never emits a distance beyond `2^bits - 262` (its
/// `MAX_DIST`), 250 for 9 bits, inside 256. For inflating, a larger window
/// than the peer's is always fine.
fn zlib_bits(bits: u8) -> u8 {
    bits.clamp(9, MAX_WINDOW_BITS)
}

/// Why a compressed message could not be inflated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InflateError {
    /// The inflated message exceeds the limit; `size` is what it reached.
    TooLarge {
        /// Bytes inflated when the limit was crossed.
        size: usize,
    },
    /// The data is not valid DEFLATE.
    Corrupt,
}

/// Raw DEFLATE of one whole message, tail stripped: `compress` with a sync
/// flush, growing `out` as needed. Returns `false` if zlib reported an error.
fn compress_message(compress: &mut Compress, payload: &[u8], out: &mut Vec<u8>) -> bool {
    let start_in = compress.total_in();
    let start_out = out.len();
    out.reserve(payload.len() / 2 + 16);
    loop {
        // Bounded by `payload.len()`: total_in only counts this message's bytes.
        let consumed = usize::try_from(compress.total_in() - start_in).unwrap_or(usize::MAX);
        let rest = payload.get(consumed..).unwrap_or_default();
        if out.capacity() == out.len() {
            out.reserve(out.len().max(64));
        }
        if compress
            .compress_vec(rest, out, FlushCompress::Sync)
            .is_err()
        {
            return false;
        }
        let consumed = usize::try_from(compress.total_in() - start_in).unwrap_or(usize::MAX);
        // The flush is complete once all input is in and zlib left room.
        if consumed >= payload.len() && out.len() < out.capacity() {
            break;
        }
    }
    if out.ends_with(&TAIL) {
        out.truncate(out.len() - TAIL.len());
    }
    if out.len() == start_out {
        // An empty message right after a flush: zlib emits nothing (a
        // repeated sync flush without input is a no-op), and an empty
        // payload would leave the peer's inflater inside the stored block
        // its appended tail starts. `00` plus the tail is one empty stored
        // block (RFC 7692 §7.2.3.6).
        out.push(0);
    }
    true
}

/// Compresses messages once for many connections (broadcast).
///
/// Each message is compressed on its own (the compressor is reset after
/// each), so the result may be sent, as the payload of a data frame with RSV1
/// set, on any connection whose compressor does not take over context and
/// whose negotiated window for this side is at least
/// [`window_bits`](Self::window_bits): see
/// [`ws::Connection::accepts_shared_compression`](crate::ws::Connection::accepts_shared_compression).
///
/// The trade-off: one compression for all recipients instead of one per
/// connection (CPU), but no context takeover, so short similar messages
/// compress worse (see the figures in `deflate_figures`), and the
/// connections must have agreed to `server_no_context_takeover` (a server
/// that broadcasts sets [`DeflateConfig::server_no_context_takeover`]).
///
/// ```
/// # use tidings_core::deflate::SharedCompressor;
///
/// let mut shared = SharedCompressor::new(15, 6);
/// let payload = shared.compress(b"hello hello hello hello hello hello").unwrap();
/// assert!(payload.len() < 35);
/// ```
#[derive(Debug)]
pub struct SharedCompressor {
    compress: Compress,
    window_bits: u8,
}

impl SharedCompressor {
    /// A compressor with a window of 2^`window_bits` (clamped to 8..=15) and
    /// `level` (clamped to 0..=9).
    pub fn new(window_bits: u8, level: u32) -> Self {
        let window_bits = window_bits.clamp(super::MIN_WINDOW_BITS, MAX_WINDOW_BITS);
        SharedCompressor {
            compress: Compress::new_with_window_bits(
                Compression::new(level.min(9)),
                false,
                zlib_bits(window_bits),
            ),
            window_bits,
        }
    }

    /// The window this compressor's output needs (RFC 7692 bits).
    pub fn window_bits(&self) -> u8 {
        self.window_bits
    }

    /// One message compressed on its own, as the payload of a frame with
    /// RSV1 set (tail stripped). `None` only if the compressor failed, which
    /// zlib does not do on valid state; send the message uncompressed then.
    pub fn compress(&mut self, message: &[u8]) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let ok = compress_message(&mut self.compress, message, &mut out);
        self.compress.reset();
        ok.then_some(out)
    }
}

/// One connection's permessage-deflate state: a compressor for what it
/// sends, a decompressor for what it receives, each made on first use.
#[derive(Debug)]
pub(crate) struct Codec {
    params: DeflateParams,
    level: Compression,
    threshold: usize,
    compress: Option<Compress>,
    compress_bits: u8,
    compress_reset: bool,
    decompress: Option<Decompress>,
    decompress_bits: u8,
    decompress_reset: bool,
}

impl Codec {
    /// The codec for `params`, as the server (`is_server`) or the client.
    pub(crate) fn new(params: DeflateParams, config: &DeflateConfig, is_server: bool) -> Self {
        let (ours, theirs) = if is_server {
            (
                (
                    params.server_max_window_bits,
                    params.server_no_context_takeover,
                ),
                (
                    params.client_max_window_bits,
                    params.client_no_context_takeover,
                ),
            )
        } else {
            (
                (
                    params.client_max_window_bits,
                    params.client_no_context_takeover,
                ),
                (
                    params.server_max_window_bits,
                    params.server_no_context_takeover,
                ),
            )
        };
        Codec {
            params,
            level: Compression::new(config.level.min(9)),
            threshold: config.threshold,
            compress: None,
            compress_bits: ours.0,
            compress_reset: ours.1,
            decompress: None,
            decompress_bits: theirs.0,
            decompress_reset: theirs.1,
        }
    }

    /// The negotiated parameters.
    pub(crate) fn params(&self) -> &DeflateParams {
        &self.params
    }

    /// Whether this side resets its compressor after each message, and its
    /// window: what a shared compressed payload must fit.
    pub(crate) fn accepts_shared(&self, window_bits: u8) -> bool {
        self.compress_reset && window_bits <= self.compress_bits
    }

    /// Compresses `payload` into `out` (cleared first) unless it is below the
    /// threshold. Returns whether `out` holds the compressed message.
    pub(crate) fn compress(&mut self, payload: &[u8], out: &mut Vec<u8>) -> bool {
        out.clear();
        if payload.len() < self.threshold {
            return false;
        }
        let (level, bits) = (self.level, zlib_bits(self.compress_bits));
        let compress = self
            .compress
            .get_or_insert_with(|| Compress::new_with_window_bits(level, false, bits));
        let ok = compress_message(compress, payload, out);
        if self.compress_reset || !ok {
            // After an error the context is unknown; a fresh one is always
            // valid (the peer's window holds what it inflated, and a fresh
            // compressor refers to none of it).
            compress.reset();
        }
        ok
    }

    /// Inflates one frame's payload of a compressed message onto `out`;
    /// `fin` marks the message's last frame (the tail is appended then).
    /// `out` never grows beyond `limit + 1` bytes of capacity.
    pub(crate) fn inflate(
        &mut self,
        payload: &[u8],
        fin: bool,
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), InflateError> {
        let bits = zlib_bits(self.decompress_bits);
        let decompress = self
            .decompress
            .get_or_insert_with(|| Decompress::new_with_window_bits(false, bits));
        let mut result = inflate_into(decompress, payload, out, limit);
        if fin && result.is_ok() {
            result = inflate_into(decompress, &TAIL, out, limit);
        }
        if result.is_err() || (fin && self.decompress_reset) {
            decompress.reset(false);
        }
        result
    }
}

/// Inflates all of `input` onto `out`, growing it in bounded steps so that
/// its capacity never passes `limit + 1`.
fn inflate_into(
    decompress: &mut Decompress,
    input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<(), InflateError> {
    let start_in = decompress.total_in();
    loop {
        let consumed = usize::try_from(decompress.total_in() - start_in).unwrap_or(usize::MAX);
        let rest = input.get(consumed..).unwrap_or_default();
        if out.len() == out.capacity() {
            let room = (limit + 1).saturating_sub(out.len());
            if room == 0 {
                return Err(InflateError::TooLarge { size: out.len() });
            }
            out.reserve_exact(out.len().max(MIN_INFLATE_STEP).min(room));
        }
        let before_out = out.len();
        let status = decompress
            .decompress_vec(rest, out, FlushDecompress::Sync)
            .map_err(|_| InflateError::Corrupt)?;
        if out.len() > limit {
            return Err(InflateError::TooLarge { size: out.len() });
        }
        let now_consumed = usize::try_from(decompress.total_in() - start_in).unwrap_or(usize::MAX);
        let progress = now_consumed > consumed || out.len() > before_out;
        if status == Status::StreamEnd {
            // A final block (BFINAL) ends the stream: nothing may follow but
            // the tail we append ourselves; start afresh for the next message.
            decompress.reset(false);
            return Ok(());
        }
        if now_consumed >= input.len() && out.len() < out.capacity() {
            return Ok(());
        }
        if !progress && out.len() < out.capacity() {
            // Input left, room left, and zlib moved nothing: truncated or bad data.
            return Err(InflateError::Corrupt);
        }
    }
}
