//! HTTP/1.1 request bodies: how a request head frames its body (RFC 9112
//! §6.1–6.3), and an incremental decoder for `Content-Length` and `chunked`
//! bodies that enforces a size limit.
//!
//! - [`request_framing`] reads the head's `Content-Length` and
//!   `Transfer-Encoding` and says how long the body is: [`Framing::None`],
//!   [`Framing::Length`] or [`Framing::Chunked`]; heads whose framing is
//!   ambiguous (both headers, differing lengths, `chunked` not last) are
//!   refused, as RFC 9112 requires of a server, since a proxy in front could
//!   read them differently (request smuggling).
//! - [`BodyDecoder`] takes the bytes that follow the head, as they arrive,
//!   and appends the body's bytes to a caller-owned buffer; it says how many
//!   input bytes it used, so the bytes after the body (the next pipelined
//!   request) stay with the caller.
//!
//! ```
//! use tidings_core::body::{BodyDecoder, Framing, request_framing};
//!
//! let head = http::Request::post("/publish")
//!     .header("transfer-encoding", "chunked")
//!     .body(())
//!     .unwrap();
//! let framing = request_framing(head.headers()).unwrap();
//! assert_eq!(framing, Framing::Chunked);
//! let mut decoder = BodyDecoder::new(framing, 1024).unwrap();
//! let mut body = Vec::new();
//! let input = b"5\r\nhello\r\n0\r\n\r\nGET /next HTTP/1.1\r\n";
//! let used = decoder.decode(input, &mut body).unwrap();
//! assert!(decoder.is_done());
//! assert_eq!(body, b"hello");
//! assert!(input[used..].starts_with(b"GET /next"));
//! ```
//!
//! ## What this module does not do
//!
//! - No I/O, no timeouts: the caller reads the socket and bounds the wait.
//! - No transfer codings but `chunked` (a request with `gzip` gets
//!   [`BodyError::UnsupportedCoding`], 501), no content codings.
//! - Chunk extensions are skipped (each at most [`MAX_CHUNK_LINE`] bytes) and
//!   trailer fields are read and dropped (at most [`MAX_TRAILERS`] bytes).
//! - Line ends inside the chunked framing must be CRLF: a bare LF is
//!   refused rather than guessed at.

use http::StatusCode;
use http::header::{CONTENT_LENGTH, HeaderMap, TRANSFER_ENCODING};

/// How a request's body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body (neither `Content-Length` nor `Transfer-Encoding`).
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

impl Framing {
    /// Whether the request has a body to read (a length of 0 has none).
    pub fn has_body(self) -> bool {
        !matches!(self, Framing::None | Framing::Length(0))
    }
}

/// The longest chunk-size line (size, extensions, CRLF) accepted.
pub const MAX_CHUNK_LINE: usize = 1024;

/// The most bytes of trailer fields accepted after the last chunk.
pub const MAX_TRAILERS: usize = 8192;

/// Why a request body cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// The body is longer than the limit (known from `Content-Length` or a
    /// chunk size before its bytes arrive). Answer 413.
    #[error("request body larger than {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// `Transfer-Encoding` names a coding other than `chunked`. Answer 501.
    #[error("unsupported transfer coding")]
    UnsupportedCoding,
    /// The framing is invalid or ambiguous. Answer 400.
    #[error("malformed request body framing: {reason}")]
    Malformed {
        /// A short description of what is wrong.
        reason: &'static str,
    },
}

impl BodyError {
    /// The HTTP status to answer with: 413 (Content Too Large), 501 (Not
    /// Implemented) or 400 (Bad Request).
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::UnsupportedCoding => StatusCode::NOT_IMPLEMENTED,
            BodyError::Malformed { .. } => StatusCode::BAD_REQUEST,
        }
    }

    fn malformed(reason: &'static str) -> Self {
        BodyError::Malformed { reason }
    }
}

/// How the request with these headers frames its body (RFC 9112 §6.3):
///
/// - `Transfer-Encoding` whose last coding is `chunked` and that has no
///   other coding: [`Framing::Chunked`]; another coding is
///   [`BodyError::UnsupportedCoding`], `chunked` not last or repeated is
///   malformed;
/// - `Transfer-Encoding` together with `Content-Length`: malformed;
/// - `Content-Length` (every value, over every field, the same decimal
///   number): [`Framing::Length`]; differing or invalid values are
///   malformed;
/// - neither: [`Framing::None`].
pub fn request_framing(headers: &HeaderMap) -> Result<Framing, BodyError> {
    let mut codings = headers
        .get_all(TRANSFER_ENCODING)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b','))
        .map(|coding| coding.trim_ascii())
        .filter(|coding| !coding.is_empty())
        .peekable();
    if headers.contains_key(TRANSFER_ENCODING) {
        if headers.contains_key(CONTENT_LENGTH) {
            return Err(BodyError::malformed(
                "both Content-Length and Transfer-Encoding",
            ));
        }
        let mut chunked = false;
        while let Some(coding) = codings.next() {
            if coding.eq_ignore_ascii_case(b"chunked") {
                if chunked || codings.peek().is_some() {
                    return Err(BodyError::malformed("chunked is not the last coding"));
                }
                chunked = true;
            } else if codings.peek().is_none() {
                return Err(BodyError::UnsupportedCoding);
            } else {
                // A coding before chunked (gzip, chunked): not supported.
                return Err(BodyError::UnsupportedCoding);
            }
        }
        return if chunked {
            Ok(Framing::Chunked)
        } else {
            Err(BodyError::malformed("empty Transfer-Encoding"))
        };
    }
    let mut length: Option<u64> = None;
    for value in headers
        .get_all(CONTENT_LENGTH)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b','))
    {
        let n = parse_decimal(value.trim_ascii())
            .ok_or(BodyError::malformed("invalid Content-Length"))?;
        if length.is_some_and(|seen| seen != n) {
            return Err(BodyError::malformed("differing Content-Length values"));
        }
        length = Some(n);
    }
    Ok(length.map_or(Framing::None, Framing::Length))
}

/// A non-empty run of ASCII digits as a `u64` (no sign, no overflow).
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        if b.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// Where the decoder is in the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// `Content-Length` bytes still to come.
    Length {
        remaining: u64,
    },
    /// Reading a chunk size: `digits` hex digits so far, worth `value`.
    Size {
        digits: u8,
        value: u64,
    },
    /// Skipping a chunk extension, `len` bytes of the line so far.
    Extension {
        value: u64,
        len: usize,
    },
    /// After the CR that ends a size line.
    SizeLf {
        value: u64,
    },
    /// Inside a chunk's data.
    Data {
        remaining: u64,
    },
    /// The CR, then the LF, after a chunk's data.
    DataCr,
    DataLf,
    /// In the trailer section: `line` bytes of the current field line,
    /// `total` bytes of trailers so far.
    Trailer {
        line: usize,
        total: usize,
    },
    /// After the CR of a trailer line (`line` > 0) or of the final empty
    /// line (`line` == 0).
    TrailerLf {
        line: usize,
        total: usize,
    },
    /// The body is complete.
    Done,
}

/// Decodes one request body, `Content-Length` or chunked, incrementally
/// and within a size limit; see the [module documentation](self).
///
/// Call [`decode`](Self::decode) with each new piece of input until
/// [`is_done`](Self::is_done); the body accumulates in the caller's buffer.
/// After an error the decoder is finished with: answer with
/// [`BodyError::status`] and close the connection.
#[derive(Clone, Debug)]
pub struct BodyDecoder {
    state: State,
    limit: usize,
    received: usize,
}

impl BodyDecoder {
    /// A decoder for a body framed as `framing`, at most `limit` bytes long.
    /// A `Content-Length` over the limit is refused at once.
    pub fn new(framing: Framing, limit: usize) -> Result<Self, BodyError> {
        let state = match framing {
            Framing::None | Framing::Length(0) => State::Done,
            Framing::Length(n) if n > limit as u64 => return Err(BodyError::TooLarge { limit }),
            Framing::Length(remaining) => State::Length { remaining },
            Framing::Chunked => State::Size {
                digits: 0,
                value: 0,
            },
        };
        Ok(BodyDecoder {
            state,
            limit,
            received: 0,
        })
    }

    /// Whether the whole body has been decoded.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The body bytes decoded so far.
    pub fn received(&self) -> usize {
        self.received
    }

    /// Decodes what it can of `input`, appending body bytes to `out`, and
    /// returns how many bytes of `input` it used: all of them until the
    /// body is complete, then none past its end.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, BodyError> {
        let mut at = 0;
        while let Some(rest) = input.get(at..).filter(|rest| !rest.is_empty()) {
            if self.state == State::Done {
                break;
            }
            at += self.step(rest, out)?;
        }
        Ok(at)
    }

    /// Takes a run of data bytes or one framing byte from `input` (not
    /// empty); returns how many it used.
    fn step(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, BodyError> {
        let byte = input.first().copied().unwrap_or_default();
        match self.state {
            State::Length { remaining } | State::Data { remaining } => {
                let n = usize::try_from(remaining)
                    .unwrap_or(usize::MAX)
                    .min(input.len());
                out.extend_from_slice(input.get(..n).unwrap_or_default());
                self.received += n;
                let remaining = remaining - n as u64;
                self.state = match self.state {
                    State::Length { .. } if remaining == 0 => State::Done,
                    State::Length { .. } => State::Length { remaining },
                    _ if remaining == 0 => State::DataCr,
                    _ => State::Data { remaining },
                };
                return Ok(n);
            }
            State::Size { digits, value } => {
                if let Some(digit) = char::from(byte).to_digit(16) {
                    if digits >= 16 {
                        return Err(BodyError::malformed("chunk size too long"));
                    }
                    let value = (value << 4) | u64::from(digit);
                    self.state = State::Size {
                        digits: digits + 1,
                        value,
                    };
                } else if digits == 0 {
                    return Err(BodyError::malformed("missing chunk size"));
                } else {
                    self.check_size(value)?;
                    self.state = match byte {
                        b'\r' => State::SizeLf { value },
                        b';' | b' ' | b'\t' => State::Extension {
                            value,
                            len: usize::from(digits) + 1,
                        },
                        _ => return Err(BodyError::malformed("invalid chunk size")),
                    };
                }
            }
            State::Extension { value, len } => {
                self.state = match byte {
                    b'\r' => State::SizeLf { value },
                    b'\n' | 0 => return Err(BodyError::malformed("bare LF or NUL in chunk line")),
                    _ if len + 1 >= MAX_CHUNK_LINE => {
                        return Err(BodyError::malformed("chunk extension too long"));
                    }
                    _ => State::Extension {
                        value,
                        len: len + 1,
                    },
                };
            }
            State::SizeLf { value } => {
                if byte != b'\n' {
                    return Err(BodyError::malformed("chunk size line not ended by CRLF"));
                }
                self.state = if value == 0 {
                    State::Trailer { line: 0, total: 0 }
                } else {
                    State::Data { remaining: value }
                };
            }
            State::DataCr => {
                if byte != b'\r' {
                    return Err(BodyError::malformed("chunk data not followed by CRLF"));
                }
                self.state = State::DataLf;
            }
            State::DataLf => {
                if byte != b'\n' {
                    return Err(BodyError::malformed("chunk data not followed by CRLF"));
                }
                self.state = State::Size {
                    digits: 0,
                    value: 0,
                };
            }
            State::Trailer { line, total } => {
                if total + 1 > MAX_TRAILERS {
                    return Err(BodyError::malformed("trailer section too large"));
                }
                self.state = match byte {
                    b'\r' => State::TrailerLf {
                        line,
                        total: total + 1,
                    },
                    b'\n' | 0 => return Err(BodyError::malformed("bare LF or NUL in trailers")),
                    _ => State::Trailer {
                        line: line + 1,
                        total: total + 1,
                    },
                };
            }
            State::TrailerLf { line, total } => {
                if byte != b'\n' {
                    return Err(BodyError::malformed("trailer line not ended by CRLF"));
                }
                self.state = if line == 0 {
                    State::Done
                } else {
                    State::Trailer {
                        line: 0,
                        total: total + 1,
                    }
                };
            }
            State::Done => return Ok(0),
        }
        Ok(1)
    }

    /// Refuses a chunk that would take the body over the limit, before its
    /// bytes arrive.
    fn check_size(&self, chunk: u64) -> Result<(), BodyError> {
        let room = (self.limit - self.received.min(self.limit)) as u64;
        if chunk > room {
            return Err(BodyError::TooLarge { limit: self.limit });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn headers(list: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in list {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                http::HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    /// Decodes `input` whole: the body and the bytes used, or the error.
    fn decode_all(
        framing: Framing,
        limit: usize,
        input: &[u8],
    ) -> Result<(Vec<u8>, usize, bool), BodyError> {
        let mut decoder = BodyDecoder::new(framing, limit)?;
        let mut body = Vec::new();
        let used = decoder.decode(input, &mut body)?;
        Ok((body, used, decoder.is_done()))
    }

    #[test]
    fn framing_of_the_usual_heads() {
        assert_eq!(request_framing(&headers(&[])), Ok(Framing::None));
        assert_eq!(
            request_framing(&headers(&[("content-length", "42")])),
            Ok(Framing::Length(42))
        );
        assert_eq!(
            request_framing(&headers(&[
                ("content-length", "7"),
                ("content-length", "7")
            ])),
            Ok(Framing::Length(7))
        );
        assert_eq!(
            request_framing(&headers(&[("content-length", "7, 7")])),
            Ok(Framing::Length(7))
        );
        assert_eq!(
            request_framing(&headers(&[("transfer-encoding", "Chunked")])),
            Ok(Framing::Chunked)
        );
        assert!(!Framing::Length(0).has_body());
        assert!(!Framing::None.has_body());
        assert!(Framing::Chunked.has_body());
    }

    #[test]
    fn ambiguous_or_invalid_framing_is_refused() {
        for list in [
            &[("content-length", "7"), ("transfer-encoding", "chunked")][..],
            &[("content-length", "7"), ("content-length", "8")],
            &[("content-length", "7, 8")],
            &[("content-length", "-1")],
            &[("content-length", "+1")],
            &[("content-length", "0x10")],
            &[("content-length", "")],
            &[("content-length", "99999999999999999999999")],
            &[("transfer-encoding", "chunked, chunked")],
            &[
                ("transfer-encoding", "chunked"),
                ("transfer-encoding", "chunked"),
            ],
            &[("transfer-encoding", "")],
        ] {
            let error = request_framing(&headers(list)).unwrap_err();
            assert_eq!(error.status(), StatusCode::BAD_REQUEST, "{list:?}: {error}");
        }
        for list in [
            &[("transfer-encoding", "gzip")][..],
            &[("transfer-encoding", "gzip, chunked")],
            &[("transfer-encoding", "chunked, gzip")],
        ] {
            let error = request_framing(&headers(list)).unwrap_err();
            assert!(
                error.status() == StatusCode::NOT_IMPLEMENTED
                    || error.status() == StatusCode::BAD_REQUEST,
                "{list:?}: {error}"
            );
        }
        assert_eq!(
            request_framing(&headers(&[("transfer-encoding", "gzip")])),
            Err(BodyError::UnsupportedCoding)
        );
    }

    #[test]
    fn content_length_body_stops_at_its_end() {
        let (body, used, done) = decode_all(Framing::Length(5), 10, b"helloGET /").unwrap();
        assert_eq!(body, b"hello");
        assert_eq!(used, 5);
        assert!(done);
        let (body, used, done) = decode_all(Framing::Length(5), 10, b"hel").unwrap();
        assert_eq!((body.as_slice(), used, done), (&b"hel"[..], 3, false));
        let (body, used, done) = decode_all(Framing::None, 10, b"GET /").unwrap();
        assert_eq!((body.len(), used, done), (0, 0, true));
    }

    #[test]
    fn content_length_over_the_limit_is_413_at_once() {
        let error = BodyDecoder::new(Framing::Length(11), 10).unwrap_err();
        assert_eq!(error, BodyError::TooLarge { limit: 10 });
        assert_eq!(error.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(BodyDecoder::new(Framing::Length(10), 10).is_ok());
    }

    #[test]
    fn chunked_with_extensions_and_trailers() {
        let input = b"4;name=value\r\nWiki\r\n5 ; x\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n\
                      0\r\nExpires: never\r\nX-Other: 1\r\n\r\nnext";
        let (body, used, done) = decode_all(Framing::Chunked, 100, input).unwrap();
        assert_eq!(body, b"Wikipedia in\r\n\r\nchunks.");
        assert!(done);
        assert_eq!(&input[used..], b"next");
        let (body, _, done) = decode_all(Framing::Chunked, 100, b"0\r\n\r\n").unwrap();
        assert!(body.is_empty() && done);
    }

    #[test]
    fn chunked_over_the_limit_is_413_before_the_data() {
        assert_eq!(
            decode_all(Framing::Chunked, 10, b"b\r\n").unwrap_err(),
            BodyError::TooLarge { limit: 10 }
        );
        assert_eq!(
            decode_all(Framing::Chunked, 10, b"6\r\nabcdef\r\n5\r\n").unwrap_err(),
            BodyError::TooLarge { limit: 10 }
        );
        assert!(
            decode_all(
                Framing::Chunked,
                10,
                b"6\r\nabcdef\r\n4\r\nghij\r\n0\r\n\r\n"
            )
            .is_ok()
        );
        // A size that would overflow is refused as too long.
        assert_eq!(
            decode_all(Framing::Chunked, usize::MAX, b"10000000000000000\r\n").unwrap_err(),
            BodyError::malformed("chunk size too long")
        );
    }

    #[test]
    fn malformed_chunked_bodies_are_400() {
        for input in [
            &b"\r\n"[..],
            b"x\r\n",
            b"5\nhello\r\n",
            b"5\r\nhelloX",
            b"5\r\nhello\rX",
            b"5;a\nb\r\n",
            b"0\r\nX: y\nZ",
            b"0\r\n\rX",
            b"-5\r\n",
        ] {
            let error = decode_all(Framing::Chunked, 100, input).unwrap_err();
            assert_eq!(error.status(), StatusCode::BAD_REQUEST, "{input:?}");
        }
        let long_extension = [b"1;".as_slice(), &[b'a'; MAX_CHUNK_LINE]].concat();
        assert!(decode_all(Framing::Chunked, 100, &long_extension).is_err());
        let long_trailers = [b"0\r\n".as_slice(), &[b'a'; MAX_TRAILERS + 1]].concat();
        assert!(decode_all(Framing::Chunked, 100, &long_trailers).is_err());
    }

    /// A body chunk-encoded with the given chunk sizes, then `tail`.
    fn chunked(body: &[u8], sizes: &[usize], tail: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = body;
        let mut sizes = sizes.iter().cycle();
        while !rest.is_empty() {
            let n = sizes.next().copied().unwrap_or(1).clamp(1, rest.len());
            out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
            out.extend_from_slice(&rest[..n]);
            out.extend_from_slice(b"\r\n");
            rest = &rest[n..];
        }
        out.extend_from_slice(b"0\r\n\r\n");
        out.extend_from_slice(tail);
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any body, chunked any way and fed in any pieces, decodes to itself
        /// and leaves exactly the bytes after it.
        #[test]
        fn chunked_round_trip_however_fed(
            body in proptest::collection::vec(any::<u8>(), 0..300),
            sizes in proptest::collection::vec(1usize..40, 1..8),
            pieces in proptest::collection::vec(1usize..17, 1..8),
            tail in proptest::collection::vec(any::<u8>(), 0..16),
        ) {
            let input = chunked(&body, &sizes, &tail);
            let mut decoder = BodyDecoder::new(Framing::Chunked, 300).unwrap();
            let mut out = Vec::new();
            let mut at = 0;
            let mut pieces = pieces.iter().cycle();
            while !decoder.is_done() && at < input.len() {
                let end = (at + pieces.next().copied().unwrap_or(1)).min(input.len());
                at += decoder.decode(&input[at..end], &mut out).unwrap();
            }
            prop_assert!(decoder.is_done());
            prop_assert_eq!(out, body);
            prop_assert_eq!(&input[at..], &tail[..]);
        }

        /// Arbitrary input never panics, never yields more than the limit.
        #[test]
        fn arbitrary_input_is_bounded(
            input in proptest::collection::vec(
                prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'0'), Just(b'a'), Just(b';'), any::<u8>()],
                0..200,
            ),
        ) {
            let mut decoder = BodyDecoder::new(Framing::Chunked, 16).unwrap();
            let mut out = Vec::new();
            if decoder.decode(&input, &mut out).is_ok() {
                prop_assert!(out.len() <= 16);
            }
        }
    }
}
