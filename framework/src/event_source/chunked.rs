//! An incremental decoder for the HTTP/1.1 chunked transfer coding
//! (RFC 9112 §7.1), sans-IO: framing bytes in, data slices out, without
//! copying the data.
//!
//! Leniency: a line may end with a bare LF as well as CRLF (RFC 9112 §2.2
//! allows recipients to accept it); chunk extensions and trailer fields are
//! skipped, not interpreted. Limits: a chunk-size line (extensions included)
//! of at most [`MAX_SIZE_LINE`] bytes, a trailer section of at most
//! [`MAX_TRAILER`] bytes. Nothing is buffered: memory use is constant.

/// The longest chunk-size line accepted, extensions included, without its
/// line break.
pub(crate) const MAX_SIZE_LINE: usize = 4096;

/// The largest trailer section accepted, line breaks included.
pub(crate) const MAX_TRAILER: usize = 16 << 10;

/// A response body whose chunked framing is broken. A peer error: the
/// connection cannot be used any further (an event-stream client reconnects).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkedError {
    /// A chunk-size line does not start with a hexadecimal size, or has
    /// something other than whitespace before its extensions.
    #[error("invalid chunk size line")]
    InvalidSize,
    /// A chunk size does not fit in 64 bits.
    #[error("chunk size too large")]
    SizeOverflow,
    /// A chunk-size line is longer than its limit (4096 bytes).
    #[error("chunk size line longer than {limit} bytes")]
    SizeLineTooLong {
        /// The limit that was exceeded, in bytes.
        limit: usize,
    },
    /// Chunk data is not followed by a line break.
    #[error("chunk data not followed by CRLF")]
    MissingLineBreak,
    /// A CR in the trailer section is not followed by LF.
    #[error("invalid line break in the trailer section")]
    InvalidTrailer,
    /// The trailer section is longer than its limit (16 KiB).
    #[error("chunked trailer section larger than {limit} bytes")]
    TrailerTooLarge {
        /// The limit that was exceeded, in bytes.
        limit: usize,
    },
}

/// What [`ChunkedDecoder::decode`] found next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Chunk<'a> {
    /// Body data (never empty).
    Data(&'a [u8]),
    /// The input is used up and the body is not finished.
    NeedMore,
    /// The last chunk and the trailer section have been read: the body is
    /// complete. Bytes after it are left in the input.
    End,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading the hexadecimal size; `line` counts the bytes of the line.
    Size {
        size: u64,
        digits: usize,
        line: usize,
    },
    /// After the size: whitespace, then (after `;`) extensions, skipped.
    Extensions {
        size: u64,
        line: usize,
        semicolon: bool,
    },
    /// A CR ended the size line: LF must follow.
    SizeLf { size: u64 },
    /// Chunk data, `remaining` bytes of it still to come.
    Data { remaining: u64 },
    /// The chunk's data is complete: CRLF or LF must follow.
    DataEnd,
    /// A CR followed the chunk's data: LF must follow.
    DataLf,
    /// In the trailer section: `line` bytes of the current line seen,
    /// `total` bytes of the section so far.
    Trailer { line: usize, total: usize },
    /// A CR ended a trailer line (an empty one if `line` is 0).
    TrailerLf { line: usize, total: usize },
    /// The body is complete.
    Done,
}

const SIZE_START: State = State::Size {
    size: 0,
    digits: 0,
    line: 0,
};

/// The decoder. Call [`decode`](ChunkedDecoder::decode) with the received
/// bytes until it returns [`Chunk::NeedMore`] (read more, call again) or
/// [`Chunk::End`]. An error is final.
#[derive(Clone, Debug)]
pub(crate) struct ChunkedDecoder {
    state: State,
}

impl ChunkedDecoder {
    /// A decoder at the start of a body.
    pub(crate) fn new() -> Self {
        ChunkedDecoder { state: SIZE_START }
    }

    /// Consumes framing bytes from the front of `input` up to the next piece
    /// of data, which it returns (and consumes), or until `input` is empty or
    /// the body ends.
    pub(crate) fn decode<'a>(&mut self, input: &mut &'a [u8]) -> Result<Chunk<'a>, ChunkedError> {
        loop {
            match &mut self.state {
                State::Done => return Ok(Chunk::End),
                State::Data { remaining } => {
                    if input.is_empty() {
                        return Ok(Chunk::NeedMore);
                    }
                    let n = usize::try_from(*remaining)
                        .unwrap_or(usize::MAX)
                        .min(input.len());
                    let (data, rest) = input.split_at(n);
                    *input = rest;
                    // `n <= remaining`, so this cannot underflow.
                    *remaining -= n as u64;
                    if *remaining == 0 {
                        self.state = State::DataEnd;
                    }
                    return Ok(Chunk::Data(data));
                }
                _ => {
                    let Some((&byte, rest)) = input.split_first() else {
                        return Ok(Chunk::NeedMore);
                    };
                    *input = rest;
                    self.state = self.step(byte)?;
                }
            }
        }
    }

    /// The state after one framing byte.
    fn step(&self, byte: u8) -> Result<State, ChunkedError> {
        match self.state {
            State::Size { size, digits, line } => {
                let line = size_line(line, byte)?;
                if let Some(digit) = hex_value(byte) {
                    let size = size
                        .checked_mul(16)
                        .and_then(|s| s.checked_add(u64::from(digit)))
                        .ok_or(ChunkedError::SizeOverflow)?;
                    return Ok(State::Size {
                        size,
                        digits: digits + 1,
                        line,
                    });
                }
                if digits == 0 {
                    return Err(ChunkedError::InvalidSize);
                }
                after_size(size, line, false, byte)
            }
            State::Extensions {
                size,
                line,
                semicolon,
            } => after_size(size, size_line(line, byte)?, semicolon, byte),
            State::SizeLf { size } => match byte {
                b'\n' => Ok(end_size_line(size)),
                _ => Err(ChunkedError::InvalidSize),
            },
            State::DataEnd => match byte {
                b'\r' => Ok(State::DataLf),
                b'\n' => Ok(SIZE_START),
                _ => Err(ChunkedError::MissingLineBreak),
            },
            State::DataLf => match byte {
                b'\n' => Ok(SIZE_START),
                _ => Err(ChunkedError::MissingLineBreak),
            },
            State::Trailer { line, total } => {
                let total = trailer_total(total)?;
                Ok(match byte {
                    b'\r' => State::TrailerLf { line, total },
                    b'\n' if line == 0 => State::Done,
                    b'\n' => State::Trailer { line: 0, total },
                    _ => State::Trailer {
                        line: line + 1,
                        total,
                    },
                })
            }
            State::TrailerLf { line, total } => {
                let total = trailer_total(total)?;
                match byte {
                    b'\n' if line == 0 => Ok(State::Done),
                    b'\n' => Ok(State::Trailer { line: 0, total }),
                    _ => Err(ChunkedError::InvalidTrailer),
                }
            }
            // `decode` handles these two without calling `step`.
            State::Data { .. } | State::Done => Ok(self.state),
        }
    }
}

/// The length of the size line with `byte`, if within the limit (a line
/// break does not count).
fn size_line(line: usize, byte: u8) -> Result<usize, ChunkedError> {
    if byte == b'\r' || byte == b'\n' {
        return Ok(line);
    }
    if line >= MAX_SIZE_LINE {
        return Err(ChunkedError::SizeLineTooLong {
            limit: MAX_SIZE_LINE,
        });
    }
    Ok(line + 1)
}

/// The length of the trailer section with one more byte, if within the limit.
fn trailer_total(total: usize) -> Result<usize, ChunkedError> {
    if total >= MAX_TRAILER {
        return Err(ChunkedError::TrailerTooLarge { limit: MAX_TRAILER });
    }
    Ok(total + 1)
}

/// A byte of the size line after the size: whitespace before `;`, anything
/// but a line break after it.
fn after_size(size: u64, line: usize, semicolon: bool, byte: u8) -> Result<State, ChunkedError> {
    match byte {
        b'\r' => Ok(State::SizeLf { size }),
        b'\n' => Ok(end_size_line(size)),
        b';' => Ok(State::Extensions {
            size,
            line,
            semicolon: true,
        }),
        b' ' | b'\t' => Ok(State::Extensions {
            size,
            line,
            semicolon,
        }),
        _ if semicolon => Ok(State::Extensions {
            size,
            line,
            semicolon,
        }),
        _ => Err(ChunkedError::InvalidSize),
    }
}

fn end_size_line(size: u64) -> State {
    if size == 0 {
        State::Trailer { line: 0, total: 0 }
    } else {
        State::Data { remaining: size }
    }
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Feeds `pieces` in order; returns the data, whether the body ended and
    /// what followed it, or the first error.
    fn run(pieces: &[&[u8]]) -> Result<(Vec<u8>, bool, Vec<u8>), ChunkedError> {
        let mut decoder = ChunkedDecoder::new();
        let mut data = Vec::new();
        for piece in pieces {
            let mut input = *piece;
            loop {
                match decoder.decode(&mut input)? {
                    Chunk::Data(d) => {
                        assert!(!d.is_empty());
                        data.extend_from_slice(d);
                    }
                    Chunk::NeedMore => break,
                    Chunk::End => return Ok((data, true, input.to_vec())),
                }
            }
        }
        Ok((data, false, Vec::new()))
    }

    fn whole(body: &[u8]) -> Result<(Vec<u8>, bool, Vec<u8>), ChunkedError> {
        run(&[body])
    }

    #[test]
    fn decodes_chunks_extensions_and_trailers() {
        let body = b"5\r\nhello\r\n1;name=value;x\r\n \r\nA \t; ext=\"q;\"\r\n0123456789\r\n\
                     0\r\nExpires: never\r\nX: y\r\n\r\nNEXT";
        let (data, end, rest) = whole(body).unwrap();
        assert_eq!(data, b"hello 0123456789");
        assert!(end);
        assert_eq!(rest, b"NEXT");
    }

    #[test]
    fn accepts_bare_lf_and_upper_case_hex() {
        let (data, end, _) = whole(b"B\nhello world\n0\n\n").unwrap();
        assert_eq!((data.as_slice(), end), (&b"hello world"[..], true));
        let (data, end, _) = whole(b"0000000000000000001\r\nx\r\n0\r\n\r\n").unwrap();
        assert_eq!((data.as_slice(), end), (&b"x"[..], true));
    }

    #[test]
    fn every_split_gives_the_same_result() {
        let body: &[u8] = b"3;a=b\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: 1\r\n\r\n";
        let expected = whole(body).unwrap();
        for i in 0..=body.len() {
            for j in i..=body.len() {
                let got = run(&[&body[..i], &body[i..j], &body[j..]]).unwrap();
                assert_eq!(got, expected, "split at {i} and {j}");
            }
        }
    }

    #[test]
    fn incomplete_body_needs_more() {
        let (data, end, _) = whole(b"5\r\nhel").unwrap();
        assert_eq!((data.as_slice(), end), (&b"hel"[..], false));
        let (data, end, _) = whole(b"5\r\nhello\r\n0\r\nTrailer: x\r\n").unwrap();
        assert_eq!((data.as_slice(), end), (&b"hello"[..], false));
    }

    #[test]
    fn rejects_broken_framing() {
        assert_eq!(whole(b"\r\n"), Err(ChunkedError::InvalidSize));
        assert_eq!(whole(b"x\r\n"), Err(ChunkedError::InvalidSize));
        assert_eq!(whole(b"5 x\r\n"), Err(ChunkedError::InvalidSize));
        assert_eq!(whole(b"5\rx"), Err(ChunkedError::InvalidSize));
        assert_eq!(whole(b"-5\r\n"), Err(ChunkedError::InvalidSize));
        assert_eq!(
            whole(b"10000000000000000\r\n"),
            Err(ChunkedError::SizeOverflow)
        );
        assert_eq!(whole(b"2\r\nabc\r\n"), Err(ChunkedError::MissingLineBreak));
        assert_eq!(whole(b"2\r\nab\rc"), Err(ChunkedError::MissingLineBreak));
        assert_eq!(whole(b"0\r\nX: 1\rY"), Err(ChunkedError::InvalidTrailer));
    }

    #[test]
    fn enforces_limits_without_buffering() {
        let mut line = b"1;".to_vec();
        line.resize(MAX_SIZE_LINE, b'x');
        let mut ok = line.clone();
        ok.extend_from_slice(b"\r\nz\r\n");
        assert_eq!(whole(&ok).unwrap().0, b"z");
        line.push(b'x');
        assert_eq!(
            whole(&line),
            Err(ChunkedError::SizeLineTooLong {
                limit: MAX_SIZE_LINE
            })
        );

        let mut trailer = b"0\r\n".to_vec();
        trailer.extend(std::iter::repeat_n(b'a', MAX_TRAILER - 4));
        let mut ok = trailer.clone();
        ok.extend_from_slice(b"\r\n\r\n");
        assert!(whole(&ok).unwrap().1);
        trailer.extend_from_slice(b"a\r\n\r\n");
        assert_eq!(
            whole(&trailer),
            Err(ChunkedError::TrailerTooLarge { limit: MAX_TRAILER })
        );
    }

    #[test]
    fn data_after_the_end_is_left_alone() {
        let mut decoder = ChunkedDecoder::new();
        let mut input: &[u8] = b"0\r\n\r\n5\r\nhello";
        assert_eq!(decoder.decode(&mut input), Ok(Chunk::End));
        assert_eq!(input, b"5\r\nhello");
        assert_eq!(decoder.decode(&mut input), Ok(Chunk::End));
    }

    /// Encodes `data` as chunks of the given sizes (the last chunk takes
    /// the rest), with optional extensions and a trailer.
    fn encode(data: &[u8], sizes: &[usize], extension: bool, trailer: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = data;
        for &size in sizes.iter().chain(std::iter::once(&usize::MAX)) {
            if rest.is_empty() {
                break;
            }
            let (chunk, tail) = rest.split_at(size.clamp(1, rest.len()));
            rest = tail;
            out.extend_from_slice(format!("{:x}", chunk.len()).as_bytes());
            if extension {
                out.extend_from_slice(b" ;n=v");
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(chunk);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n");
        if trailer {
            out.extend_from_slice(b"T: x\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    proptest! {
        // 256 cases (the proptest default).
        #[test]
        fn round_trips_any_data_any_split(
            data in proptest::collection::vec(any::<u8>(), 0..600),
            sizes in proptest::collection::vec(1usize..80, 0..12),
            cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 0..8),
            extension in any::<bool>(),
            trailer in any::<bool>(),
        ) {
            let body = encode(&data, &sizes, extension, trailer);
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(body.len() + 1)).collect();
            cuts.sort_unstable();
            let mut pieces = Vec::new();
            let mut from = 0;
            for cut in cuts {
                pieces.push(&body[from..cut]);
                from = cut;
            }
            pieces.push(&body[from..]);
            let (decoded, end, rest) = run(&pieces).unwrap();
            prop_assert_eq!(decoded, data);
            prop_assert!(end);
            prop_assert!(rest.is_empty());
        }
    }
}
