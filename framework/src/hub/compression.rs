//! permessage-deflate for broadcasts: the policy ([`BroadcastCompression`]),
//! how each recipient is served ([`WsEncoding`]), and the hub's compressors
//! ([`CompressorPool`]).
//!
//! Without the `deflate` feature no connection negotiates the extension,
//! every recipient is [`WsEncoding::Plain`] and the pool holds nothing.

#[cfg(feature = "deflate")]
use std::sync::Mutex;

#[cfg(feature = "deflate")]
use tidings_core::deflate::SharedCompressor;
use tidings_core::deflate::{MAX_WINDOW_BITS, MIN_WINDOW_BITS};
use tidings_core::ws::{self, Outgoing, SharedFrame};

/// How a broadcast (or a [hub](crate::hub) send) is compressed for
/// WebSocket clients that negotiated permessage-deflate (set with
/// [`ServerConfig::broadcast_compression`](crate::server::ServerConfig::broadcast_compression)).
///
/// A message shorter than the
/// [threshold](tidings_core::deflate::DeflateConfig::threshold) is never
/// compressed, and a client without the extension always gets the plain
/// frame that every such client shares.
///
/// A client whose connection resets the server's compressor after each
/// message (`server_no_context_takeover` negotiated) can take a message
/// compressed once for everyone: the hub compresses it once per negotiated
/// window size (at most 8 sizes, in practice one) and queues the same bytes
/// on each. A client with context takeover expects the server's compressor
/// to keep the history of what it sent that client, so a message compressed
/// for it is compressed for it alone.
///
/// | policy | no context takeover | context takeover |
/// |---|---|---|
/// | [`Shared`](Self::Shared) (default) | compressed once, shared | plain, shared |
/// | [`PerConnection`](Self::PerConnection) | compressed once, shared | compressed per recipient |
/// | [`Never`](Self::Never) | plain, shared | plain, shared |
///
/// The trade-off, for a broadcast to N clients with context takeover:
/// - CPU: `PerConnection` runs the compressor N times (about 270 MB/s of
///   input at level 1, see [`deflate`](tidings_core::deflate)); `Shared` and `Never`
///   once or not at all.
/// - Bandwidth: `PerConnection` sends the smallest frames (short, similar
///   messages compress best with the connection's history: a wire ratio of
///   about 0.27 on chat messages, against 0.88 compressed alone); plain
///   frames are sent whole.
/// - Memory: `PerConnection` makes every such connection allocate its own
///   compressor on its first compressed message, about 313 KiB with a 2^15
///   window (193 KiB with 2^12): 3 GiB for 10,000 clients. The shared
///   compressors are the hub's, one per window size (the pool keeps at most
///   one idle per size).
///
/// For a broadcast-heavy server, require `server_no_context_takeover`
/// ([`DeflateConfig::server_no_context_takeover`](tidings_core::deflate::DeflateConfig::server_no_context_takeover)):
/// every client then takes the message compressed once, whatever it
/// offered, and no connection allocates a compressor for broadcasts (its
/// own sends still compress through its own).
///
/// Messages compressed per recipient are queued with the connection's own
/// frames: they count in
/// [`outbox_bytes`](crate::server::ServerConfig::outbox_bytes), not in
/// [`outbox_messages`](crate::server::ServerConfig::outbox_messages).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum BroadcastCompression {
    /// Compress once for the clients without context takeover; plain frames
    /// for the others.
    #[default]
    Shared,
    /// As [`Shared`](Self::Shared), but compress for each client with
    /// context takeover through its own compressor.
    PerConnection,
    /// Never compress broadcasts.
    Never,
}

/// How the hub sends broadcast messages to one WebSocket connection, fixed
/// when it registers (its deflate parameters do not change).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WsEncoding {
    /// The plain shared frame.
    Plain,
    /// The shared frame compressed with a window of 2^bits.
    Shared(u8),
    /// Through the connection's own compressor.
    Own,
}

impl WsEncoding {
    /// The encoding for a server connection under `policy`.
    pub(crate) fn of(connection: &ws::Connection, policy: BroadcastCompression) -> Self {
        let Some(params) = connection.deflate_params() else {
            return WsEncoding::Plain;
        };
        let bits = params.server_max_window_bits;
        match policy {
            BroadcastCompression::Never => WsEncoding::Plain,
            _ if connection.accepts_shared_compression(bits) => WsEncoding::Shared(bits),
            BroadcastCompression::Shared => WsEncoding::Plain,
            BroadcastCompression::PerConnection => WsEncoding::Own,
        }
    }
}

/// Window sizes a compressor can have.
pub(crate) const WINDOW_SIZES: usize = (MAX_WINDOW_BITS - MIN_WINDOW_BITS + 1) as usize;

/// The hub's shared compressors, at most one idle per window size.
///
/// A compressor is taken out while it compresses (no lock held meanwhile)
/// and put back after; concurrent broadcasts make their own and the spares
/// are dropped. Keeping them spares each broadcast making one: zlib's
/// state for a 2^15 window is about 300 KiB to allocate and clear, which
/// made compressing a chat message about 3 times slower (96 µs against 32
/// µs at level 1, `deflate_figures` on a loaded machine; the kept
/// compressor's own reset, which clears its hash table, is most of the
/// rest).
#[cfg(feature = "deflate")]
#[derive(Debug)]
pub(crate) struct CompressorPool {
    level: u32,
    idle: Mutex<[Option<SharedCompressor>; WINDOW_SIZES]>,
}

#[cfg(feature = "deflate")]
impl CompressorPool {
    pub(crate) fn new(level: u32) -> Self {
        CompressorPool {
            level,
            idle: Mutex::new(Default::default()),
        }
    }

    /// `message` compressed with a window of 2^`bits` as a shared frame
    /// split by `config`.
    pub(crate) fn compress(
        &self,
        bits: u8,
        message: Outgoing<'_>,
        config: &ws::Config,
    ) -> Option<SharedFrame> {
        let slot = usize::from(bits.clamp(MIN_WINDOW_BITS, MAX_WINDOW_BITS) - MIN_WINDOW_BITS);
        let idle = self.lock().get_mut(slot).and_then(Option::take);
        let mut compressor = idle.unwrap_or_else(|| SharedCompressor::new(bits, self.level));
        let frame = SharedFrame::compressed(message, &mut compressor, config).ok();
        if let Some(free) = self.lock().get_mut(slot).filter(|free| free.is_none()) {
            *free = Some(compressor);
        }
        frame
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, [Option<SharedCompressor>; WINDOW_SIZES]> {
        // Each slot is replaced whole: a panic elsewhere leaves it consistent.
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Compressors kept idle.
    #[cfg(test)]
    pub(crate) fn idle(&self) -> usize {
        self.lock().iter().flatten().count()
    }
}

/// Without the `deflate` feature: nothing to compress with, and nobody to
/// compress for (no recipient is [`WsEncoding::Shared`]).
#[cfg(not(feature = "deflate"))]
#[derive(Debug)]
pub(crate) struct CompressorPool;

#[cfg(not(feature = "deflate"))]
impl CompressorPool {
    pub(crate) fn new(_level: u32) -> Self {
        CompressorPool
    }

    /// Never compresses: the caller sends the plain frame.
    pub(crate) fn compress(
        &self,
        _bits: u8,
        _message: Outgoing<'_>,
        _config: &ws::Config,
    ) -> Option<SharedFrame> {
        None
    }
}

#[cfg(all(test, feature = "deflate"))]
mod tests {
    use super::*;

    #[test]
    fn one_compressor_kept_per_window_size() {
        let pool = CompressorPool::new(1);
        let config = ws::Config::default();
        let text = "abcabcabcabcabcabcabcabcabcabc";
        for bits in [15, 15, 12, 15, 8, 9] {
            let frame = pool.compress(bits, Outgoing::Text(text), &config).unwrap();
            assert_eq!(frame.as_bytes()[0], 0xc1);
            assert!(frame.len() < text.len());
        }
        assert_eq!(pool.idle(), 4, "15, 12, 8 and 9");
    }
}
