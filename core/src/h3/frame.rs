//! HTTP/3 frames (RFC 9114 §7): the type and length header, an incremental
//! reader that hands out payloads as they arrive, and the encoder.

use super::varint::{self, VarIntReader};

/// DATA: request or response content; on a WebTransport session's CONNECT
/// stream, the capsules.
pub const DATA: u64 = 0x00;
/// HEADERS: a QPACK-encoded field section.
pub const HEADERS: u64 = 0x01;
/// CANCEL_PUSH (control stream).
pub const CANCEL_PUSH: u64 = 0x03;
/// SETTINGS: the first frame of each control stream.
pub const SETTINGS: u64 = 0x04;
/// PUSH_PROMISE (server to client only).
pub const PUSH_PROMISE: u64 = 0x05;
/// GOAWAY (control stream).
pub const GOAWAY: u64 = 0x07;
/// MAX_PUSH_ID (control stream, client to server).
pub const MAX_PUSH_ID: u64 = 0x0d;
/// The signal that opens a WebTransport bidirectional stream; it takes the
/// place of a frame type and is followed by the session id, not a length.
pub const WEBTRANSPORT_STREAM: u64 = 0x41;

/// Whether `frame_type` is one of HTTP/2's frame types that HTTP/3 reserves
/// and forbids (PRIORITY 0x02, PING 0x06, WINDOW_UPDATE 0x08, CONTINUATION
/// 0x09: RFC 9114 §7.2.8), whose receipt is [`H3_FRAME_UNEXPECTED`].
///
/// [`H3_FRAME_UNEXPECTED`]: super::ErrorCode::FRAME_UNEXPECTED
pub fn is_http2_only(frame_type: u64) -> bool {
    matches!(frame_type, 0x02 | 0x06 | 0x08 | 0x09)
}

/// Appends a frame with the given type and payload to `out`.
///
/// ```
/// # use tidings_core::h3::frame;
/// let mut out = Vec::new();
/// frame::encode(frame::DATA, b"hi", &mut out);
/// assert_eq!(out, [0x00, 0x02, b'h', b'i']);
/// ```
pub fn encode(frame_type: u64, payload: &[u8], out: &mut Vec<u8>) {
    encode_header(frame_type, payload.len() as u64, out);
    out.extend_from_slice(payload);
}

/// Appends only a frame header (type and payload length) to `out`; the
/// payload follows separately.
pub fn encode_header(frame_type: u64, payload_len: u64, out: &mut Vec<u8>) {
    varint::encode(frame_type, out);
    varint::encode(payload_len, out);
}

/// A piece of a frame, from [`FrameReader::read`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FramePiece<'a> {
    /// A frame header: the frame's type and payload length. For
    /// [`WEBTRANSPORT_STREAM`] the "length" is the session id, and no
    /// payload follows: the caller takes the stream over.
    Header {
        /// The frame type.
        frame_type: u64,
        /// The payload length in bytes.
        len: u64,
    },
    /// Part of the current frame's payload (possibly empty when the frame
    /// is); `end` marks the last part.
    Payload {
        /// The frame type, repeated for convenience.
        frame_type: u64,
        /// The bytes of this part.
        data: &'a [u8],
        /// Whether this part completes the payload.
        end: bool,
    },
}

/// Reads a sequence of frames from a stream that arrives in arbitrary
/// pieces, without buffering payloads: the caller keeps the payload of
/// the frames it needs whole (bounded by its limits) and skips the others.
///
/// ```
/// # use tidings_core::h3::frame::{self, FramePiece, FrameReader};
/// let mut reader = FrameReader::default();
/// let mut input: &[u8] = &[0x00, 0x03, b'a', b'b'];
/// assert_eq!(reader.read(&mut input), Some(FramePiece::Header { frame_type: frame::DATA, len: 3 }));
/// assert_eq!(reader.read(&mut input), Some(FramePiece::Payload { frame_type: frame::DATA, data: b"ab", end: false }));
/// assert_eq!(reader.read(&mut input), None); // needs the third byte
/// let mut input: &[u8] = b"c";
/// assert_eq!(reader.read(&mut input), Some(FramePiece::Payload { frame_type: frame::DATA, data: b"c", end: true }));
/// assert!(reader.is_at_boundary());
/// ```
#[derive(Clone, Debug, Default)]
pub struct FrameReader {
    field: VarIntReader,
    /// The type of the frame whose header is being read (after its first
    /// varint) or whose payload is being read.
    frame_type: Option<u64>,
    /// Payload bytes still to come, once the header is complete.
    remaining: Option<u64>,
}

impl FrameReader {
    /// Takes the next piece from the front of `input`, advancing it past
    /// what it took. `None` means `input` is used up (all of it was taken).
    pub fn read<'a>(&mut self, input: &mut &'a [u8]) -> Option<FramePiece<'a>> {
        if let (Some(frame_type), Some(remaining)) = (self.frame_type, self.remaining) {
            if remaining > 0 && input.is_empty() {
                return None;
            }
            let take = usize::try_from(remaining)
                .unwrap_or(usize::MAX)
                .min(input.len());
            let (data, rest) = input.split_at(take);
            *input = rest;
            let end = take as u64 == remaining;
            if end {
                self.frame_type = None;
                self.remaining = None;
            } else {
                self.remaining = Some(remaining - take as u64);
            }
            return Some(FramePiece::Payload {
                frame_type,
                data,
                end,
            });
        }
        let Some(frame_type) = self.frame_type else {
            let frame_type = self.field.read(input)?;
            self.frame_type = Some(frame_type);
            return self.read(input);
        };
        let len = self.field.read(input)?;
        if frame_type == WEBTRANSPORT_STREAM {
            self.frame_type = None;
        } else {
            self.remaining = Some(len);
        }
        Some(FramePiece::Header { frame_type, len })
    }

    /// Whether the reader is between frames (nothing of the next frame taken
    /// yet): a stream may end only there (RFC 9114 §7.1: a truncated frame is
    /// [`H3_FRAME_ERROR`](super::ErrorCode::FRAME_ERROR)).
    pub fn is_at_boundary(&self) -> bool {
        self.frame_type.is_none() && !self.field.is_partial()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Reads everything, cut into the given piece sizes; returns the frames
    /// as (type, payload) and whether the reader ended at a boundary.
    fn read_all(bytes: &[u8], cuts: &[usize]) -> (Vec<(u64, Vec<u8>)>, bool) {
        let mut reader = FrameReader::default();
        let mut frames: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut rest = bytes;
        let mut cut = cuts.iter().cycle();
        while !rest.is_empty() {
            let n = (*cut.next().unwrap()).clamp(1, rest.len());
            let mut input = &rest[..n];
            rest = &rest[n..];
            while let Some(piece) = reader.read(&mut input) {
                match piece {
                    FramePiece::Header { frame_type, .. } => frames.push((frame_type, Vec::new())),
                    FramePiece::Payload {
                        frame_type, data, ..
                    } => {
                        let last = frames.last_mut().unwrap();
                        assert_eq!(last.0, frame_type);
                        last.1.extend_from_slice(data);
                    }
                }
            }
            assert!(input.is_empty());
        }
        (frames, reader.is_at_boundary())
    }

    #[test]
    fn empty_frame_has_an_empty_final_payload() {
        let mut reader = FrameReader::default();
        let mut input: &[u8] = &[0x04, 0x00, 0x07];
        assert_eq!(
            reader.read(&mut input),
            Some(FramePiece::Header {
                frame_type: SETTINGS,
                len: 0
            })
        );
        assert_eq!(
            reader.read(&mut input),
            Some(FramePiece::Payload {
                frame_type: SETTINGS,
                data: &[],
                end: true
            })
        );
        assert!(reader.is_at_boundary());
        assert_eq!(reader.read(&mut input), None);
        assert!(!reader.is_at_boundary(), "a frame type was taken");
    }

    #[test]
    fn webtransport_signal_carries_the_session_id() {
        let mut reader = FrameReader::default();
        let mut input: &[u8] = &[0x40, 0x41, 0x04, b'x'];
        assert_eq!(
            reader.read(&mut input),
            Some(FramePiece::Header {
                frame_type: WEBTRANSPORT_STREAM,
                len: 4
            })
        );
        assert_eq!(input, b"x", "the stream's payload is left to the caller");
    }

    #[test]
    fn truncated_frames_are_not_at_a_boundary() {
        let (frames, boundary) = read_all(&[0x00, 0x05, 1, 2], &[1]);
        assert_eq!(frames, [(DATA, vec![1, 2])]);
        assert!(!boundary);
        let (_, boundary) = read_all(&[0x00], &[1]);
        assert!(!boundary);
        let (_, boundary) = read_all(&[0x40], &[1]);
        assert!(!boundary);
    }

    proptest! {
        #[test]
        fn frames_round_trip(
            frames in proptest::collection::vec((0u64..=varint::MAX, proptest::collection::vec(any::<u8>(), 0..40)), 0..6),
            cuts in proptest::collection::vec(1usize..9, 1..5),
        ) {
            let frames: Vec<(u64, Vec<u8>)> = frames
                .into_iter()
                .map(|(ty, payload)| (if ty == WEBTRANSPORT_STREAM { DATA } else { ty }, payload))
                .collect();
            let mut bytes = Vec::new();
            for (ty, payload) in &frames {
                encode(*ty, payload, &mut bytes);
            }
            let (read, boundary) = read_all(&bytes, &cuts);
            prop_assert_eq!(read, frames);
            prop_assert!(boundary);
        }
    }
}
