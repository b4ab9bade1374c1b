//! Limits of a WebTransport-over-HTTP/3 connection, and the SETTINGS it
//! sends.

use crate::h3::{Settings, settings};

/// Limits of one HTTP/3 connection carrying WebTransport sessions.
///
/// The defaults suit a server on the open internet. Fields can be read
/// directly and set with the chainable methods of the same name:
///
/// ```
/// # use tidings_core::webtransport::Config;
/// let config = Config::default().max_sessions(4).max_datagram_size(1000);
/// assert_eq!(config.max_sessions, 4);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Sessions open (or awaiting an answer) at once on the connection;
    /// one more CONNECT is answered with 429 (a client's
    /// [`connect`](super::Connection::connect) fails instead). Advertised as the
    /// WT_MAX_SESSIONS settings. Default 1: draft-02 (Chromium) allows one
    /// session per connection.
    pub max_sessions: u64,
    /// Data streams of one session open at once (both directions); a
    /// stream beyond is reset with H3_REQUEST_REJECTED. Default 256.
    pub max_streams_per_session: usize,
    /// Streams that arrived before their session was established, waiting
    /// (the core keeps only their ids: their bytes stay in the QUIC
    /// engine's flow-control window). One more is reset with
    /// WEBTRANSPORT_BUFFERED_STREAM_REJECTED. Default 16.
    pub max_buffered_streams: usize,
    /// Datagrams that arrived before their session was established, kept
    /// until it is; more are dropped. Default 16.
    pub max_buffered_datagrams: usize,
    /// Largest field section (a request's headers, counted as in RFC 9114
    /// §4.2.2, and its encoded HEADERS frame); a larger one is answered
    /// with 431. Advertised as SETTINGS_MAX_FIELD_SECTION_SIZE. Default
    /// 16 KiB.
    pub max_field_section_size: usize,
    /// Largest datagram payload sent or kept (larger incoming ones are
    /// dropped). Default 1200 bytes, about what a QUIC packet holds.
    pub max_datagram_size: usize,
    /// Largest control-stream frame that is buffered (SETTINGS, GOAWAY);
    /// a larger one is H3_EXCESSIVE_LOAD. Unknown frames are skipped
    /// whatever their size. Default 16 KiB.
    pub max_control_frame_size: usize,
    /// More SETTINGS parameters to send, after the ones the connection
    /// sends anyway (see [`Config::settings`]).
    pub extra_settings: Vec<(u64, u64)>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_sessions: 1,
            max_streams_per_session: 256,
            max_buffered_streams: 16,
            max_buffered_datagrams: 16,
            max_field_section_size: 16 << 10,
            max_datagram_size: 1200,
            max_control_frame_size: 16 << 10,
            extra_settings: Vec::new(),
        }
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty;)*) => {
        impl Config {
            $($(#[$doc])* #[must_use] pub fn $name(mut self, value: $ty) -> Self {
                self.$name = value;
                self
            })*
        }
    };
}

setters! {
    /// Sets [`Config::max_sessions`].
    max_sessions: u64;
    /// Sets [`Config::max_streams_per_session`].
    max_streams_per_session: usize;
    /// Sets [`Config::max_buffered_streams`].
    max_buffered_streams: usize;
    /// Sets [`Config::max_buffered_datagrams`].
    max_buffered_datagrams: usize;
    /// Sets [`Config::max_field_section_size`].
    max_field_section_size: usize;
    /// Sets [`Config::max_datagram_size`].
    max_datagram_size: usize;
    /// Sets [`Config::max_control_frame_size`].
    max_control_frame_size: usize;
    /// Sets [`Config::extra_settings`].
    extra_settings: Vec<(u64, u64)>;
}

impl Config {
    /// The SETTINGS this endpoint sends: the dynamic table capacity stays
    /// at its default 0; SETTINGS_MAX_FIELD_SECTION_SIZE;
    /// ENABLE_CONNECT_PROTOCOL = 1; H3_DATAGRAM = 1 in its RFC and draft-04
    /// codepoints; and WebTransport in old and new codepoints together
    /// (ENABLE_WEBTRANSPORT = 1 for draft-02, which Chromium requires, and
    /// the max-sessions settings of draft-07 and later, which Safari and
    /// Firefox look for); then [`Config::extra_settings`].
    pub fn settings(&self) -> Settings {
        let mut settings = Settings::from_pairs([
            (
                settings::MAX_FIELD_SECTION_SIZE,
                self.max_field_section_size as u64,
            ),
            (settings::ENABLE_CONNECT_PROTOCOL, 1),
            (settings::H3_DATAGRAM, 1),
            (settings::H3_DATAGRAM_DRAFT04, 1),
            (settings::ENABLE_WEBTRANSPORT, 1),
            (
                settings::WEBTRANSPORT_MAX_SESSIONS_DRAFT07,
                self.max_sessions,
            ),
            (settings::WT_MAX_SESSIONS, self.max_sessions),
        ]);
        for &(id, value) in &self.extra_settings {
            settings.set(id, value);
        }
        settings
    }

    /// The SETTINGS a client sends: the server's set without
    /// ENABLE_CONNECT_PROTOCOL (a server setting, RFC 9220 §3); then
    /// [`Config::extra_settings`].
    pub fn client_settings(&self) -> Settings {
        let server = self.settings();
        Settings::from_pairs(
            server
                .pairs()
                .iter()
                .copied()
                .filter(|&(id, _)| id != settings::ENABLE_CONNECT_PROTOCOL),
        )
    }
}
