//! The SETTINGS frame (RFC 9114 §7.2.4) and the identifiers WebTransport
//! needs, old and new codepoints alike.

use super::error::{ErrorCode, is_grease};
use super::varint;

/// SETTINGS_QPACK_MAX_TABLE_CAPACITY (RFC 9204 §5): this crate sends 0.
pub const QPACK_MAX_TABLE_CAPACITY: u64 = 0x01;
/// SETTINGS_MAX_FIELD_SECTION_SIZE (RFC 9114 §7.2.4.1).
pub const MAX_FIELD_SECTION_SIZE: u64 = 0x06;
/// SETTINGS_QPACK_BLOCKED_STREAMS (RFC 9204 §5).
pub const QPACK_BLOCKED_STREAMS: u64 = 0x07;
/// SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 9220 §3): 1 allows extended
/// CONNECT, which opens WebTransport sessions.
pub const ENABLE_CONNECT_PROTOCOL: u64 = 0x08;
/// SETTINGS_H3_DATAGRAM (RFC 9297 §2.1.1).
pub const H3_DATAGRAM: u64 = 0x33;
/// SETTINGS_H3_DATAGRAM of draft-ietf-masque-h3-datagram-04, which
/// Chromium still sends beside [`H3_DATAGRAM`].
pub const H3_DATAGRAM_DRAFT04: u64 = 0xff_d277;
/// SETTINGS_ENABLE_WEBTRANSPORT of draft-ietf-webtrans-http3-02, the draft
/// Chromium speaks: a server must send it (= 1) or Chromium fails the
/// session.
pub const ENABLE_WEBTRANSPORT: u64 = 0x2b60_3742;
/// SETTINGS_WEBTRANSPORT_MAX_SESSIONS of draft-ietf-webtrans-http3-07.
pub const WEBTRANSPORT_MAX_SESSIONS_DRAFT07: u64 = 0xc671_706a;
/// SETTINGS_WT_MAX_SESSIONS of the later drafts (Safari, Firefox).
pub const WT_MAX_SESSIONS: u64 = 0x14e9_cd29;

/// Identifiers that HTTP/2 defines and HTTP/3 forbids in SETTINGS (RFC 9114
/// §7.2.4.1, §11.2.2): ENABLE_PUSH, MAX_CONCURRENT_STREAMS,
/// INITIAL_WINDOW_SIZE and MAX_FRAME_SIZE.
pub fn is_http2_only(id: u64) -> bool {
    matches!(id, 0x02..=0x05)
}

/// The parameters of one SETTINGS frame, in the order they came, without
/// GREASE identifiers.
///
/// ```
/// # use tidings_core::h3::{Settings, settings};
/// let mut wire = Vec::new();
/// Settings::from_pairs([(settings::ENABLE_CONNECT_PROTOCOL, 1)]).encode_payload(&mut wire);
/// let settings = Settings::decode_payload(&wire).unwrap();
/// assert_eq!(settings.get(settings::ENABLE_CONNECT_PROTOCOL), Some(1));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    pairs: Vec<(u64, u64)>,
}

/// A SETTINGS frame that breaks RFC 9114 §7.2.4: it is a connection error
/// of type [`ErrorCode::SETTINGS_ERROR`] (or [`ErrorCode::FRAME_ERROR`]
/// for a payload that ends inside a parameter).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// The payload ends inside an identifier or value.
    #[error("SETTINGS payload ends inside a parameter")]
    Truncated,
    /// An identifier appears twice.
    #[error("setting {0:#x} appears twice")]
    Duplicate(u64),
    /// An HTTP/2 setting identifier, forbidden in HTTP/3.
    #[error("HTTP/2 setting {0:#x} in an HTTP/3 SETTINGS frame")]
    Http2Setting(u64),
}

impl SettingsError {
    /// The HTTP/3 error code the connection is closed with.
    pub fn code(&self) -> ErrorCode {
        match self {
            SettingsError::Truncated => ErrorCode::FRAME_ERROR,
            _ => ErrorCode::SETTINGS_ERROR,
        }
    }
}

impl Settings {
    /// Settings with the given parameters, in order. A later pair with an
    /// identifier already present replaces the earlier value.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (u64, u64)>) -> Self {
        let mut settings = Settings::default();
        for (id, value) in pairs {
            settings.set(id, value);
        }
        settings
    }

    /// Sets a parameter (replacing its value if present).
    pub fn set(&mut self, id: u64, value: u64) {
        match self.pairs.iter_mut().find(|(known, _)| *known == id) {
            Some(pair) => pair.1 = value,
            None => self.pairs.push((id, value)),
        }
    }

    /// A parameter's value, if present.
    pub fn get(&self, id: u64) -> Option<u64> {
        self.pairs
            .iter()
            .find(|(known, _)| *known == id)
            .map(|&(_, value)| value)
    }

    /// The parameters, in order.
    pub fn pairs(&self) -> &[(u64, u64)] {
        &self.pairs
    }

    /// Decodes a SETTINGS payload (the frame without its header). GREASE
    /// and unknown identifiers are allowed; GREASE ones are dropped.
    pub fn decode_payload(mut payload: &[u8]) -> Result<Self, SettingsError> {
        let mut settings = Settings::default();
        let mut seen = Vec::new();
        while !payload.is_empty() {
            let (id, id_len) = varint::decode(payload).ok_or(SettingsError::Truncated)?;
            let (value, value_len) =
                varint::decode(&payload[id_len..]).ok_or(SettingsError::Truncated)?;
            payload = &payload[id_len + value_len..];
            if is_http2_only(id) {
                return Err(SettingsError::Http2Setting(id));
            }
            if seen.contains(&id) {
                return Err(SettingsError::Duplicate(id));
            }
            seen.push(id);
            if !is_grease(id) {
                settings.pairs.push((id, value));
            }
        }
        Ok(settings)
    }

    /// Appends the SETTINGS payload (identifier and value varints, in order).
    pub fn encode_payload(&self, out: &mut Vec<u8>) {
        for &(id, value) in &self.pairs {
            varint::encode(id, out);
            varint::encode(value, out);
        }
    }

    /// Whether these (a peer's) settings announce WebTransport in any of the
    /// drafts this crate speaks: [`ENABLE_WEBTRANSPORT`] = 1 (draft-02), or
    /// a non-zero [`WEBTRANSPORT_MAX_SESSIONS_DRAFT07`] or
    /// [`WT_MAX_SESSIONS`].
    pub fn supports_webtransport(&self) -> bool {
        self.get(ENABLE_WEBTRANSPORT) == Some(1)
            || self
                .get(WEBTRANSPORT_MAX_SESSIONS_DRAFT07)
                .is_some_and(|n| n > 0)
            || self.get(WT_MAX_SESSIONS).is_some_and(|n| n > 0)
    }

    /// Whether these settings allow HTTP datagrams ([`H3_DATAGRAM`] or
    /// [`H3_DATAGRAM_DRAFT04`] = 1).
    pub fn supports_datagrams(&self) -> bool {
        self.get(H3_DATAGRAM) == Some(1) || self.get(H3_DATAGRAM_DRAFT04) == Some(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn chromium_settings() {
        // What Chromium 156 sends (after its QPACK settings): H3_DATAGRAM,
        // the draft-04 datagram setting, ENABLE_WEBTRANSPORT, and a GREASE
        // identifier.
        let payload = [
            0x01, 0x40, 0x64, // QPACK_MAX_TABLE_CAPACITY = 100
            0x07, 0x40, 0x64, // QPACK_BLOCKED_STREAMS = 100
            0x33, 0x01, // H3_DATAGRAM = 1
            0x80, 0xff, 0xd2, 0x77, 0x01, // H3_DATAGRAM_DRAFT04 = 1
            0xab, 0x60, 0x37, 0x42, 0x01, // ENABLE_WEBTRANSPORT = 1
            0x80, 0x09, 0x7d, 0x07, 0x00, // GREASE 0x97d07 (0x21 + 0x1f * 0x4e5a) = 0
        ];
        assert!(is_grease(0x97d07));
        let settings = Settings::decode_payload(&payload).unwrap();
        assert!(settings.supports_webtransport());
        assert!(settings.supports_datagrams());
        assert_eq!(settings.get(QPACK_MAX_TABLE_CAPACITY), Some(100));
        assert_eq!(settings.pairs().len(), 5, "GREASE dropped");
    }

    #[test]
    fn errors() {
        assert_eq!(
            Settings::decode_payload(&[0x33, 0x01, 0x33, 0x00]),
            Err(SettingsError::Duplicate(0x33))
        );
        for id in 2..=5 {
            let err = Settings::decode_payload(&[id, 0x00]).unwrap_err();
            assert_eq!(err, SettingsError::Http2Setting(u64::from(id)));
            assert_eq!(err.code(), ErrorCode::SETTINGS_ERROR);
        }
        let err = Settings::decode_payload(&[0x33]).unwrap_err();
        assert_eq!(err, SettingsError::Truncated);
        assert_eq!(err.code(), ErrorCode::FRAME_ERROR);
        assert_eq!(
            Settings::decode_payload(&[0x40]),
            Err(SettingsError::Truncated)
        );
        // A repeated GREASE identifier is a duplicate too.
        assert_eq!(
            Settings::decode_payload(&[0x21, 0x00, 0x21, 0x01]),
            Err(SettingsError::Duplicate(0x21))
        );
    }

    #[test]
    fn webtransport_detection() {
        assert!(!Settings::default().supports_webtransport());
        assert!(!Settings::from_pairs([(ENABLE_WEBTRANSPORT, 0)]).supports_webtransport());
        assert!(Settings::from_pairs([(WT_MAX_SESSIONS, 1)]).supports_webtransport());
        assert!(!Settings::from_pairs([(WT_MAX_SESSIONS, 0)]).supports_webtransport());
        assert!(
            Settings::from_pairs([(WEBTRANSPORT_MAX_SESSIONS_DRAFT07, 4)]).supports_webtransport()
        );
    }

    proptest! {
        #[test]
        fn round_trip(pairs in proptest::collection::vec((0u64..=varint::MAX, 0u64..=varint::MAX), 0..10)) {
            let pairs: Vec<(u64, u64)> = pairs
                .into_iter()
                .filter(|&(id, _)| !is_http2_only(id) && !is_grease(id))
                .collect();
            let settings = Settings::from_pairs(pairs);
            let mut wire = Vec::new();
            settings.encode_payload(&mut wire);
            prop_assert_eq!(Settings::decode_payload(&wire), Ok(settings));
        }
    }
}
