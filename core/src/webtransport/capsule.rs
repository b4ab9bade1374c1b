//! The capsule protocol (RFC 9297 §3) on a session's CONNECT stream: the
//! capsules WebTransport defines, an incremental reader that skips unknown
//! ones, and the encoder.

use bytes::Bytes;

use crate::h3::varint::{self, VarIntReader};

/// DATAGRAM capsule (RFC 9297 §3.5): a datagram sent on the stream.
pub const DATAGRAM: u64 = 0x00;
/// CLOSE_WEBTRANSPORT_SESSION: an application error code (32 bits) and a
/// UTF-8 message of at most [`MAX_CLOSE_MESSAGE`] bytes.
pub const CLOSE_WEBTRANSPORT_SESSION: u64 = 0x2843;
/// DRAIN_WEBTRANSPORT_SESSION: the peer asks for a graceful end; empty.
pub const DRAIN_WEBTRANSPORT_SESSION: u64 = 0x78ae;

/// The longest message a CLOSE_WEBTRANSPORT_SESSION capsule may carry.
pub const MAX_CLOSE_MESSAGE: usize = 1024;

/// A capsule this crate understands; others are skipped by the reader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Capsule {
    /// A datagram carried on the CONNECT stream (when it fits the limit).
    Datagram(Bytes),
    /// The session ends with this code and message.
    Close {
        /// The application error code.
        code: u32,
        /// The message (at most [`MAX_CLOSE_MESSAGE`] bytes).
        reason: String,
    },
    /// The peer asks to end the session gracefully.
    Drain,
}

/// A capsule that breaks its rules: the session is ended with
/// [`H3_MESSAGE_ERROR`](crate::h3::ErrorCode::MESSAGE_ERROR).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CapsuleError {
    /// A CLOSE_WEBTRANSPORT_SESSION shorter than its 4-byte code, or with
    /// a message over 1024 bytes or not UTF-8.
    #[error("malformed CLOSE_WEBTRANSPORT_SESSION capsule")]
    MalformedClose,
    /// A DRAIN_WEBTRANSPORT_SESSION with a payload.
    #[error("DRAIN_WEBTRANSPORT_SESSION capsule with a payload")]
    MalformedDrain,
}

impl Capsule {
    /// Appends the capsule (type, length, value) to `out`.
    ///
    /// # Panics
    ///
    /// When a close reason is over [`MAX_CLOSE_MESSAGE`] bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Capsule::Datagram(payload) => {
                varint::encode(DATAGRAM, out);
                varint::encode(payload.len() as u64, out);
                out.extend_from_slice(payload);
            }
            Capsule::Close { code, reason } => {
                assert!(
                    reason.len() <= MAX_CLOSE_MESSAGE,
                    "close reason over 1024 bytes"
                );
                varint::encode(CLOSE_WEBTRANSPORT_SESSION, out);
                varint::encode(4 + reason.len() as u64, out);
                out.extend_from_slice(&code.to_be_bytes());
                out.extend_from_slice(reason.as_bytes());
            }
            Capsule::Drain => {
                varint::encode(DRAIN_WEBTRANSPORT_SESSION, out);
                varint::encode(0, out);
            }
        }
    }
}

#[derive(Clone, Debug)]
enum State {
    Type,
    Length(u64),
    /// Collecting a known capsule's value.
    Keep {
        capsule_type: u64,
        remaining: u64,
        value: Vec<u8>,
    },
    /// Skipping an unknown (or oversized datagram) capsule's value.
    Skip(u64),
}

/// Reads capsules from the CONNECT stream's data (the DATA frames'
/// payloads, in order, split anywhere), keeping only the values of the
/// capsules it knows and skipping the others, GREASE included.
///
/// ```
/// # use tidings_core::webtransport::capsule::{Capsule, CapsuleReader};
/// let mut wire = vec![0x40, 0x21, 0x02, 0xaa, 0xbb]; // an unknown (GREASE) capsule
/// Capsule::Close { code: 7, reason: "bye".into() }.encode(&mut wire);
/// let mut reader = CapsuleReader::new(1200);
/// let mut input = &wire[..];
/// assert_eq!(reader.read(&mut input), Ok(Some(Capsule::Close { code: 7, reason: "bye".into() })));
/// assert!(reader.is_at_boundary());
/// ```
#[derive(Clone, Debug)]
pub struct CapsuleReader {
    field: VarIntReader,
    state: State,
    max_datagram: usize,
}

impl CapsuleReader {
    /// A reader that keeps DATAGRAM capsules of at most `max_datagram`
    /// bytes (larger ones are skipped).
    pub fn new(max_datagram: usize) -> Self {
        CapsuleReader {
            field: VarIntReader::default(),
            state: State::Type,
            max_datagram,
        }
    }

    /// Takes bytes from the front of `input` up to the end of the next
    /// known capsule: that capsule, or `None` once `input` is used up.
    pub fn read(&mut self, input: &mut &[u8]) -> Result<Option<Capsule>, CapsuleError> {
        loop {
            match &mut self.state {
                State::Type => match self.field.read(input) {
                    Some(capsule_type) => self.state = State::Length(capsule_type),
                    None => return Ok(None),
                },
                State::Length(capsule_type) => {
                    let capsule_type = *capsule_type;
                    let Some(len) = self.field.read(input) else {
                        return Ok(None);
                    };
                    let keep = match capsule_type {
                        CLOSE_WEBTRANSPORT_SESSION => {
                            if !(4..=4 + MAX_CLOSE_MESSAGE as u64).contains(&len) {
                                return Err(CapsuleError::MalformedClose);
                            }
                            true
                        }
                        DRAIN_WEBTRANSPORT_SESSION => {
                            if len != 0 {
                                return Err(CapsuleError::MalformedDrain);
                            }
                            true
                        }
                        DATAGRAM => len <= self.max_datagram as u64,
                        _ => false,
                    };
                    self.state = if keep {
                        State::Keep {
                            capsule_type,
                            remaining: len,
                            value: Vec::with_capacity(len as usize),
                        }
                    } else {
                        State::Skip(len)
                    };
                }
                State::Skip(remaining) => {
                    let take = usize::try_from(*remaining)
                        .unwrap_or(usize::MAX)
                        .min(input.len());
                    *input = &input[take..];
                    *remaining -= take as u64;
                    if *remaining > 0 {
                        return Ok(None);
                    }
                    self.state = State::Type;
                }
                State::Keep {
                    capsule_type,
                    remaining,
                    value,
                } => {
                    let take = usize::try_from(*remaining)
                        .unwrap_or(usize::MAX)
                        .min(input.len());
                    value.extend_from_slice(&input[..take]);
                    *input = &input[take..];
                    *remaining -= take as u64;
                    if *remaining > 0 {
                        return Ok(None);
                    }
                    let capsule_type = *capsule_type;
                    let value = std::mem::take(value);
                    self.state = State::Type;
                    return Ok(Some(match capsule_type {
                        CLOSE_WEBTRANSPORT_SESSION => {
                            let (code, reason) = value.split_at(4);
                            let code = u32::from_be_bytes([code[0], code[1], code[2], code[3]]);
                            let reason = String::from_utf8(reason.to_vec())
                                .map_err(|_| CapsuleError::MalformedClose)?;
                            Capsule::Close { code, reason }
                        }
                        DRAIN_WEBTRANSPORT_SESSION => Capsule::Drain,
                        _ => Capsule::Datagram(Bytes::from(value)),
                    }));
                }
            }
        }
    }

    /// Whether the reader is between capsules (the stream may end here).
    pub fn is_at_boundary(&self) -> bool {
        matches!(self.state, State::Type) && !self.field.is_partial()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read_all(wire: &[u8], cut: usize) -> Result<Vec<Capsule>, CapsuleError> {
        let mut reader = CapsuleReader::new(100);
        let mut out = Vec::new();
        for chunk in wire.chunks(cut.max(1)) {
            let mut input = chunk;
            while let Some(capsule) = reader.read(&mut input)? {
                out.push(capsule);
            }
            assert!(input.is_empty());
        }
        assert!(reader.is_at_boundary());
        Ok(out)
    }

    #[test]
    fn close_capsule_bytes() {
        let mut wire = Vec::new();
        Capsule::Close {
            code: 0x1234_5678,
            reason: "ok".into(),
        }
        .encode(&mut wire);
        assert_eq!(wire, [0x68, 0x43, 0x06, 0x12, 0x34, 0x56, 0x78, b'o', b'k']);
        wire.clear();
        Capsule::Drain.encode(&mut wire);
        assert_eq!(wire, [0x80, 0x00, 0x78, 0xae, 0x00]);
    }

    #[test]
    fn malformed_capsules() {
        let mut reader = CapsuleReader::new(100);
        assert_eq!(
            reader.read(&mut &[0x80, 0x00, 0x28, 0x43, 0x03][..]),
            Err(CapsuleError::MalformedClose)
        );
        let mut reader = CapsuleReader::new(100);
        assert_eq!(
            reader.read(&mut &[0x80, 0x00, 0x28, 0x43, 0x44, 0x05][..]),
            Err(CapsuleError::MalformedClose)
        );
        let mut reader = CapsuleReader::new(100);
        let wire = [0x80, 0x00, 0x28, 0x43, 0x05, 0, 0, 0, 1, 0xff];
        assert_eq!(
            reader.read(&mut &wire[..]),
            Err(CapsuleError::MalformedClose)
        );
        let mut reader = CapsuleReader::new(100);
        assert_eq!(
            reader.read(&mut &[0x80, 0x00, 0x78, 0xae, 0x01, 0x00][..]),
            Err(CapsuleError::MalformedDrain)
        );
    }

    #[test]
    fn oversized_datagrams_and_unknown_capsules_are_skipped() {
        let mut wire = Vec::new();
        Capsule::Datagram(Bytes::from(vec![1; 101])).encode(&mut wire);
        wire.extend_from_slice(&[0x17, 0x00]); // unknown, empty
        Capsule::Datagram(Bytes::from_static(b"kept")).encode(&mut wire);
        assert_eq!(
            read_all(&wire, 3),
            Ok(vec![Capsule::Datagram(Bytes::from_static(b"kept"))])
        );
    }

    fn capsule() -> impl Strategy<Value = Capsule> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..100)
                .prop_map(|v| Capsule::Datagram(Bytes::from(v))),
            (any::<u32>(), "[a-zé]{0,40}")
                .prop_map(|(code, reason)| Capsule::Close { code, reason }),
            Just(Capsule::Drain),
        ]
    }

    proptest! {
        #[test]
        fn capsules_round_trip(
            capsules in proptest::collection::vec(capsule(), 0..6),
            unknown in proptest::collection::vec((0x100u64..=varint::MAX, 0usize..20), 0..3),
            cut in 1usize..12,
        ) {
            let mut wire = Vec::new();
            for (ty, len) in &unknown {
                varint::encode(*ty, &mut wire);
                varint::encode(*len as u64, &mut wire);
                wire.extend(std::iter::repeat_n(0x5a, *len));
            }
            for capsule in &capsules {
                capsule.encode(&mut wire);
            }
            let unknown_known = unknown.iter().any(|(ty, _)| matches!(*ty, CLOSE_WEBTRANSPORT_SESSION | DRAIN_WEBTRANSPORT_SESSION));
            prop_assume!(!unknown_known);
            prop_assert_eq!(read_all(&wire, cut), Ok(capsules));
        }
    }
}
