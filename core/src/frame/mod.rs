//! The WebSocket frame header codec (RFC 6455 §5.2) and payload masking.
//!
//! A frame on the wire is a 2 to 14 byte header followed by the payload:
//!
//! ```text
//!  byte 0: FIN RSV1 RSV2 RSV3 opcode(4)
//!  byte 1: MASK len7(7)        len7 = 126 → 16-bit length follows,
//!                              len7 = 127 → 64-bit length follows
//!  [2 or 8 bytes extended length, network order] [4 bytes masking key]
//! ```
//!
//! [`FrameHeader::decode`] checks every rule that can be checked on the header
//! alone — reserved opcodes and bits, control frame size and fragmentation, the
//! masking direction, the 64-bit length's top bit and the frame size limit — so
//! a caller never reserves memory for a frame it is going to refuse.
//!
//! This module accepts extended lengths that are not minimally encoded (a
//! 16-bit length below 126): RFC 6455 obliges senders to use the minimal form
//! but does not ask receivers to refuse the others.

mod mask;

pub use mask::apply_mask;

use crate::close::CloseCode;

/// The longest possible frame header: 2 + 8 (64-bit length) + 4 (masking key).
pub const MAX_HEADER_LEN: usize = 14;

/// The largest payload a control frame (close, ping, pong) may carry.
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// Bit for RSV1 in [`FrameHeader::rsv`] (used by permessage-deflate).
pub const RSV1: u8 = 0b100;
/// Bit for RSV2 in [`FrameHeader::rsv`].
pub const RSV2: u8 = 0b010;
/// Bit for RSV3 in [`FrameHeader::rsv`].
pub const RSV3: u8 = 0b001;

/// A frame opcode (RFC 6455 §5.2). Reserved opcodes have no variant: decoding
/// one is a protocol error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// 0x0: continues a fragmented message.
    Continuation,
    /// 0x1: the first frame of a text message.
    Text,
    /// 0x2: the first frame of a binary message.
    Binary,
    /// 0x8: the close frame.
    Close,
    /// 0x9: a ping.
    Ping,
    /// 0xA: a pong.
    Pong,
}

impl OpCode {
    /// The opcode for a 4-bit wire value, or `None` for a reserved value.
    pub fn from_u8(value: u8) -> Option<OpCode> {
        Some(match value {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            _ => return None,
        })
    }

    /// The 4-bit wire value.
    pub fn as_u8(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    /// Whether this is a control opcode (close, ping, pong).
    pub fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }
}

/// A decoded or to-be-encoded frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN: this is the last frame of its message.
    pub fin: bool,
    /// The three reserved bits, RSV1 as `0b100` down to RSV3 as `0b001`.
    pub rsv: u8,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, present on every client-to-server frame.
    pub mask: Option<[u8; 4]>,
    /// The payload length in bytes.
    pub payload_len: u64,
}

/// Which masking a decoder demands (RFC 6455 §5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaskRule {
    /// Every frame must be masked: a server reading a client.
    Required,
    /// No frame may be masked: a client reading a server.
    Forbidden,
    /// Either is accepted (for tools and tests).
    Any,
}

/// What [`FrameHeader::decode`] enforces beyond the fixed rules of RFC 6455.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeRules {
    /// The RSV bits an extension has claimed; any other set bit is an error.
    pub allowed_rsv: u8,
    /// Masking direction.
    pub mask: MaskRule,
    /// The largest payload accepted in one frame; larger is
    /// [`FrameError::TooLarge`] before any of the payload is buffered.
    pub max_payload: u64,
}

/// A frame header that breaks RFC 6455 or a configured limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The opcode is one of the reserved values 0x3-0x7 or 0xB-0xF.
    #[error("reserved opcode {0:#x}")]
    ReservedOpcode(u8),
    /// An RSV bit is set that no negotiated extension claims.
    #[error("reserved bits {0:#05b} set without an extension")]
    ReservedBits(u8),
    /// A control frame has FIN clear.
    #[error("fragmented control frame")]
    FragmentedControl,
    /// A control frame's payload is over 125 bytes.
    #[error("control frame payload of {0} bytes (max 125)")]
    ControlTooLong(u64),
    /// A 64-bit length has its most significant bit set.
    #[error("64-bit payload length with the most significant bit set")]
    LengthOverflow,
    /// The frame is masked but must not be, or the other way round.
    #[error("frame masking does not match the peer's role (masked: {masked})")]
    WrongMasking {
        /// Whether the offending frame was masked.
        masked: bool,
    },
    /// The payload length is over [`DecodeRules::max_payload`].
    #[error("frame payload of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// The announced payload length.
        len: u64,
        /// The configured limit.
        max: u64,
    },
}

impl FrameError {
    /// The close code to fail the connection with: 1009 for a frame over the
    /// size limit, 1002 for everything else.
    pub fn close_code(&self) -> CloseCode {
        match self {
            FrameError::TooLarge { .. } => CloseCode::MESSAGE_TOO_BIG,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

impl FrameHeader {
    /// Decodes a header from the start of `buf`.
    ///
    /// Returns `Ok(None)` when `buf` does not yet hold the whole header (nothing
    /// is consumed), or the header and its length in bytes. The rules are
    /// checked in wire order, so the first violation in the header is the one
    /// reported, and as soon as the bytes that show it have arrived.
    pub fn decode(
        buf: &[u8],
        rules: &DecodeRules,
    ) -> Result<Option<(FrameHeader, usize)>, FrameError> {
        let [b0, b1, ..] = *buf else {
            // A lone first byte can already show a bad opcode or bits.
            if let [b0] = *buf {
                Self::check_first_byte(b0, rules)?;
            }
            return Ok(None);
        };
        let (fin, rsv, opcode) = Self::check_first_byte(b0, rules)?;
        let masked = b1 & 0x80 != 0;
        match (rules.mask, masked) {
            (MaskRule::Required, false) | (MaskRule::Forbidden, true) => {
                return Err(FrameError::WrongMasking { masked });
            }
            _ => {}
        }
        let len7 = b1 & 0x7f;
        if opcode.is_control() && len7 > MAX_CONTROL_PAYLOAD as u8 {
            // 126 and 127 announce an extended length: over 125 either way.
            return Err(FrameError::ControlTooLong(u64::from(len7)));
        }
        let (payload_len, mut at) = match len7 {
            126 => match buf.get(2..4) {
                Some(&[a, b]) => (u64::from(u16::from_be_bytes([a, b])), 4),
                _ => return Ok(None),
            },
            127 => {
                // The top bit is known from the first length byte.
                if let Some(&first) = buf.get(2) {
                    if first & 0x80 != 0 {
                        return Err(FrameError::LengthOverflow);
                    }
                }
                match buf.get(2..10).and_then(|s| <[u8; 8]>::try_from(s).ok()) {
                    Some(bytes) => (u64::from_be_bytes(bytes), 10),
                    None => return Ok(None),
                }
            }
            n => (u64::from(n), 2),
        };
        if payload_len > rules.max_payload {
            return Err(FrameError::TooLarge {
                len: payload_len,
                max: rules.max_payload,
            });
        }
        let mask = if masked {
            match buf
                .get(at..at + 4)
                .and_then(|s| <[u8; 4]>::try_from(s).ok())
            {
                Some(key) => {
                    at += 4;
                    Some(key)
                }
                None => return Ok(None),
            }
        } else {
            None
        };
        Ok(Some((
            FrameHeader {
                fin,
                rsv,
                opcode,
                mask,
                payload_len,
            },
            at,
        )))
    }

    fn check_first_byte(b0: u8, rules: &DecodeRules) -> Result<(bool, u8, OpCode), FrameError> {
        let fin = b0 & 0x80 != 0;
        let rsv = (b0 >> 4) & 0b111;
        if rsv & !rules.allowed_rsv != 0 {
            return Err(FrameError::ReservedBits(rsv));
        }
        let opcode = OpCode::from_u8(b0 & 0x0f).ok_or(FrameError::ReservedOpcode(b0 & 0x0f))?;
        if opcode.is_control() && !fin {
            return Err(FrameError::FragmentedControl);
        }
        Ok((fin, rsv, opcode))
    }

    /// The number of bytes [`FrameHeader::encode`] writes: 2 to 14.
    pub fn encoded_len(&self) -> usize {
        let len = match self.payload_len {
            0..=125 => 2,
            126..=0xffff => 4,
            _ => 10,
        };
        if self.mask.is_some() { len + 4 } else { len }
    }

    /// Writes the header into `out` (minimal length encoding) and returns the
    /// number of bytes written.
    ///
    /// The caller is responsible for a valid header: a `payload_len` with the
    /// top bit set, or `rsv` above `0b111`, is written as given (masked to the
    /// field width) and would be refused by a peer.
    pub fn encode(&self, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
        out[0] = (u8::from(self.fin) << 7) | ((self.rsv & 0b111) << 4) | self.opcode.as_u8();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let mut at = match self.payload_len {
            // Each arm's cast is lossless: the arm bounds the value.
            len @ 0..=125 => {
                out[1] = mask_bit | len as u8;
                2
            }
            len @ 126..=0xffff => {
                out[1] = mask_bit | 126;
                out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                4
            }
            len => {
                out[1] = mask_bit | 127;
                out[2..10].copy_from_slice(&len.to_be_bytes());
                10
            }
        };
        if let Some(key) = self.mask {
            out[at..at + 4].copy_from_slice(&key);
            at += 4;
        }
        at
    }

    /// Appends the encoded header to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let mut buf = [0u8; MAX_HEADER_LEN];
        let n = self.encode(&mut buf);
        out.extend_from_slice(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANY: DecodeRules = DecodeRules {
        allowed_rsv: 0,
        mask: MaskRule::Any,
        max_payload: u64::MAX >> 1,
    };

    #[test]
    fn partial_headers_consume_nothing() {
        let header = FrameHeader {
            fin: true,
            rsv: 0,
            opcode: OpCode::Binary,
            mask: Some([1, 2, 3, 4]),
            payload_len: 70_000,
        };
        let mut bytes = Vec::new();
        header.encode_into(&mut bytes);
        assert_eq!(bytes.len(), 14);
        for cut in 0..bytes.len() {
            assert_eq!(
                FrameHeader::decode(&bytes[..cut], &ANY),
                Ok(None),
                "cut at {cut}"
            );
        }
        assert_eq!(FrameHeader::decode(&bytes, &ANY), Ok(Some((header, 14))));
    }

    #[test]
    fn length_with_top_bit_is_refused_as_soon_as_seen() {
        assert_eq!(
            FrameHeader::decode(&[0x82, 127, 0x80], &ANY),
            Err(FrameError::LengthOverflow)
        );
    }

    #[test]
    fn size_limit_is_checked_on_the_header() {
        let rules = DecodeRules {
            max_payload: 1 << 20,
            ..ANY
        };
        // 2^40 bytes announced: refused with 1009 from 10 bytes of header.
        let mut bytes = vec![0x82, 127];
        bytes.extend_from_slice(&(1u64 << 40).to_be_bytes());
        let err = FrameHeader::decode(&bytes, &rules).unwrap_err();
        assert_eq!(
            err,
            FrameError::TooLarge {
                len: 1 << 40,
                max: 1 << 20
            }
        );
        assert_eq!(err.close_code(), CloseCode::MESSAGE_TOO_BIG);
    }

    #[test]
    fn reserved_bits_opcodes_and_control_rules() {
        assert_eq!(
            FrameHeader::decode(&[0xC1], &ANY),
            Err(FrameError::ReservedBits(0b100))
        );
        let deflate = DecodeRules {
            allowed_rsv: RSV1,
            ..ANY
        };
        assert_eq!(
            FrameHeader::decode(&[0xC1, 0], &deflate)
                .unwrap()
                .unwrap()
                .0
                .rsv,
            RSV1
        );
        for op in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
            assert_eq!(
                FrameHeader::decode(&[0x80 | op], &ANY),
                Err(FrameError::ReservedOpcode(op))
            );
        }
        assert_eq!(
            FrameHeader::decode(&[0x09, 0], &ANY),
            Err(FrameError::FragmentedControl)
        );
        assert_eq!(
            FrameHeader::decode(&[0x89, 126], &ANY),
            Err(FrameError::ControlTooLong(126))
        );
        assert_eq!(
            FrameHeader::decode(&[0x89, 125], &ANY)
                .unwrap()
                .unwrap()
                .0
                .payload_len,
            125
        );
    }

    #[test]
    fn masking_direction() {
        let server = DecodeRules {
            mask: MaskRule::Required,
            ..ANY
        };
        let client = DecodeRules {
            mask: MaskRule::Forbidden,
            ..ANY
        };
        assert_eq!(
            FrameHeader::decode(&[0x81, 0x00], &server),
            Err(FrameError::WrongMasking { masked: false })
        );
        assert_eq!(
            FrameHeader::decode(&[0x81, 0x80], &client),
            Err(FrameError::WrongMasking { masked: true })
        );
    }
}
