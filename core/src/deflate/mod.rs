//! permessage-deflate (RFC 7692): negotiation and the per-message codec,
//! without I/O.
//!
//! The codec and the negotiation need the crate's `deflate` feature (on by
//! default; it brings in flate2). Without it, [`DeflateConfig`], the
//! constants and the settings that take a config stay, so code that
//! configures the extension compiles either way, but the extension is never
//! negotiated: a [server](crate::handshake::ServerHandshake::with_deflate)
//! declines every offer, a [client](crate::handshake::ClientHandshake::with_deflate)
//! offers none, and [`DeflateParams`] has no values.
//!
//! - [`DeflateConfig`] says what an endpoint offers (client) or accepts
//!   (server), and how hard it compresses. It lives in
//!   [`ws::Config::deflate`](crate::ws::Config::deflate); `None` (the
//!   default) disables the extension.
//! - The handshake negotiates it ([`ServerHandshake::with_deflate`],
//!   [`ClientHandshake::with_deflate`]) and reports the outcome as
//!   [`DeflateParams`], which [`ws::Connection::with_deflate`] turns on.
//! - [`SharedCompressor`] compresses a message once into a frame payload that
//!   every connection whose own compressor does not take over context may
//!   send (broadcast), see [`ws::Connection::accepts_shared_compression`]
//!   and [`SharedFrame::compressed`]. The framework's hub does this for its
//!   broadcasts; its `BroadcastCompression` (in `tidings-framework`) says
//!   how it treats clients with context takeover (CPU, bandwidth and memory
//!   trade-off).
//!
//! # Memory
//!
//! Each connection that negotiated the extension holds, once it first
//! compresses or inflates a message, one compressor and one decompressor
//! (zlib-rs through flate2; memory level 8). Measured by
//! `cargo run --release -p tidings-core --example deflate_figures`:
//!
//! | window bits | compressor | decompressor |
//! |------------:|-----------:|-------------:|
//! | 15          | 313 KiB    | 39 KiB       |
//! | 12          | 193 KiB    | 44 KiB       |
//! | 9           | 183 KiB    | 42 KiB       |
//!
//! (Resident memory per codec after one 64 KiB message, level 6, averaged
//! over 200 codecs; the decompressor figures are within the noise of the
//! method.) The compressor's hash table and symbol buffer do not shrink with
//! the window. Both are kept between messages, also without context
//! takeover (they are reset, not freed). A connection that never sends a
//! compressed message (all below the threshold) never allocates the
//! compressor.
//!
//! # Speed (same example, chat messages of 125 bytes on average)
//!
//! Through `ws::Connection`, server to client: context takeover at level 1
//! gives a wire ratio of 0.273 at about 267 MB/s sending; level 6 gives
//! 0.199 at about 21 MB/s; without context takeover (level 6) the ratio is
//! only 0.878: short messages need the shared history.
//!
//! [`ServerHandshake::with_deflate`]: crate::handshake::ServerHandshake::with_deflate
//! [`ClientHandshake::with_deflate`]: crate::handshake::ClientHandshake::with_deflate
//! [`ws::Connection::with_deflate`]: crate::ws::Connection::with_deflate
//! [`ws::Connection::accepts_shared_compression`]: crate::ws::Connection::accepts_shared_compression
//! [`SharedFrame::compressed`]: crate::ws::SharedFrame::compressed

#[cfg(feature = "deflate")]
mod codec;
#[cfg(not(feature = "deflate"))]
#[path = "off.rs"]
mod codec;
#[cfg(feature = "deflate")]
mod negotiate;
#[cfg(all(test, feature = "deflate"))]
mod tests;

#[cfg(feature = "deflate")]
pub use codec::SharedCompressor;
#[cfg(not(feature = "deflate"))]
pub(crate) use codec::SharedCompressor;
pub(crate) use codec::{Codec, InflateError};
#[cfg(feature = "deflate")]
pub use negotiate::{Extension, ExtensionParseError, client_offer, parse_extensions};
#[cfg(feature = "deflate")]
pub(crate) use negotiate::{accept_offers, verify_response};

/// The extension's name in `Sec-WebSocket-Extensions`.
pub const PERMESSAGE_DEFLATE: &str = "permessage-deflate";

/// The largest LZ77 window RFC 7692 allows (and the default): 2^15 bytes.
pub const MAX_WINDOW_BITS: u8 = 15;
/// The smallest LZ77 window RFC 7692 allows: 2^8 bytes.
pub const MIN_WINDOW_BITS: u8 = 8;

/// What an endpoint offers or accepts, and how it compresses.
///
/// The `server_*` and `client_*` fields name the direction as RFC 7692 does:
/// `server_*` limits what the server compresses, `client_*` what the client
/// compresses. A server always includes the parameters it is configured to
/// require in its response; a client puts them in its offer.
///
/// ```
/// # use tidings_core::deflate::DeflateConfig;
/// # use tidings_core::ws::Config;
///
/// let config = Config::default().deflate(Some(DeflateConfig::default().level(3).threshold(128)));
/// assert_eq!(config.deflate.unwrap().level, 3);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateConfig {
    /// Require (server) or request (client) that the server resets its
    /// compressor after each message. A server that broadcasts with
    /// [`SharedCompressor`] sets it. Costs compression ratio on small,
    /// similar messages. Default `false`.
    pub server_no_context_takeover: bool,
    /// Require (server) or announce (client) that the client resets its
    /// compressor after each message. Default `false`.
    pub client_no_context_takeover: bool,
    /// The largest window the server compresses with (8 to 15). A server
    /// uses the smaller of this and the client's request; a client requests
    /// it when below 15. Default 15.
    pub server_max_window_bits: u8,
    /// The largest window the client compresses with (8 to 15). A server can
    /// only impose it when the client's offer has `client_max_window_bits`
    /// (otherwise it inflates with a 2^15 window); a client offers it. Default 15.
    pub client_max_window_bits: u8,
    /// Compression level, 0 (store) to 9 (best). Default 1 (fastest, as
    /// gorilla/websocket): on chat messages it sends ~13x faster than 6 for
    /// a wire ratio of 0.27 instead of 0.20 (see the module docs).
    pub level: u32,
    /// Messages shorter than this many bytes are sent uncompressed (small
    /// messages do not shrink and cost CPU). Default 64.
    pub threshold: usize,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: MAX_WINDOW_BITS,
            client_max_window_bits: MAX_WINDOW_BITS,
            level: 1,
            threshold: 64,
        }
    }
}

impl DeflateConfig {
    /// Sets [`DeflateConfig::server_no_context_takeover`](#structfield.server_no_context_takeover).
    #[must_use]
    pub fn server_no_context_takeover(mut self, value: bool) -> Self {
        self.server_no_context_takeover = value;
        self
    }

    /// Sets [`DeflateConfig::client_no_context_takeover`](#structfield.client_no_context_takeover).
    #[must_use]
    pub fn client_no_context_takeover(mut self, value: bool) -> Self {
        self.client_no_context_takeover = value;
        self
    }

    /// Sets [`DeflateConfig::server_max_window_bits`](#structfield.server_max_window_bits),
    /// clamped to 8..=15.
    #[must_use]
    pub fn server_max_window_bits(mut self, value: u8) -> Self {
        self.server_max_window_bits = value.clamp(MIN_WINDOW_BITS, MAX_WINDOW_BITS);
        self
    }

    /// Sets [`DeflateConfig::client_max_window_bits`](#structfield.client_max_window_bits),
    /// clamped to 8..=15.
    #[must_use]
    pub fn client_max_window_bits(mut self, value: u8) -> Self {
        self.client_max_window_bits = value.clamp(MIN_WINDOW_BITS, MAX_WINDOW_BITS);
        self
    }

    /// Sets [`DeflateConfig::level`](#structfield.level), clamped to 0..=9.
    #[must_use]
    pub fn level(mut self, value: u32) -> Self {
        self.level = value.min(9);
        self
    }

    /// Sets [`DeflateConfig::threshold`](#structfield.threshold).
    #[must_use]
    pub fn threshold(mut self, value: usize) -> Self {
        self.threshold = value;
        self
    }
}

/// The parameters both ends agreed on in the handshake.
///
/// Without the `deflate` feature this type has no values (no handshake
/// negotiates the extension then), so an `Option<DeflateParams>` is always
/// `None`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct DeflateParams {
    /// The server resets its compressor after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message.
    pub client_no_context_takeover: bool,
    /// The server compresses with a window of at most 2^this bytes.
    pub server_max_window_bits: u8,
    /// The client compresses with a window of at most 2^this bytes.
    pub client_max_window_bits: u8,
    /// Makes the type uninhabited without the codec.
    #[cfg(not(feature = "deflate"))]
    pub(crate) never: std::convert::Infallible,
}

#[cfg(feature = "deflate")]
impl Default for DeflateParams {
    /// The parameters of a bare `permessage-deflate` (context takeover both
    /// ways, 2^15 windows).
    fn default() -> Self {
        DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: MAX_WINDOW_BITS,
            client_max_window_bits: MAX_WINDOW_BITS,
        }
    }
}
