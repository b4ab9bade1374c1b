//! Incremental HTTP/1.1 head parsing and encoding.
//!
//! An HTTP/1.x connection that will switch to WebSocket starts with a request
//! head (request line, header fields, empty line). This module turns the bytes
//! of such a head into an [`http::Request<()>`] (server side) or an
//! [`http::Response<()>`] (client side) and back.
//!
//! Parsing is incremental: call [`parse_request`] (or [`HeadReader::read_request`])
//! each time more bytes arrive. It returns `Ok(None)` until the head is complete,
//! then `Ok(Some((head, n)))` where `n` is the length of the head: the bytes in
//! `&buf[n..]` are *not* part of the head (a client may send its first frames
//! right after the handshake) and must be handed to whatever runs after the
//! protocol switch.
//!
//! Limits ([`HeadLimits`]) are checked before anything is allocated: a head that
//! cannot complete within `max_head_bytes` is rejected as soon as that is certain,
//! without waiting for the rest of it.
//!
//! ## What this module does not do
//!
//! - It never reads a message body; `Content-Length` and `Transfer-Encoding` are
//!   returned as ordinary headers.
//! - It does not keep the response reason phrase (the `http` types have no
//!   place for it); encoding writes the canonical phrase.
//! - It speaks HTTP/1.0 and HTTP/1.1 only (no HTTP/2 prior knowledge).
//!
//! ## Cost of repeated calls
//!
//! Nothing is parsed until the buffer holds an empty line (`\r\n\r\n`, or the
//! bare-`\n` forms httparse also accepts), so calling [`parse_request`] again for
//! every trickled byte costs one scan of the buffer. [`HeadReader`] also
//! remembers how far it has scanned, so each call only looks at the new bytes.

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};

/// Limits applied while parsing a head.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeadLimits {
    /// The largest head accepted, in bytes, counting the request or status line,
    /// all header lines and the final empty line. Default: 8192.
    pub max_head_bytes: usize,
    /// The largest number of header fields accepted. Default: 64.
    pub max_headers: usize,
}

impl Default for HeadLimits {
    fn default() -> Self {
        HeadLimits {
            max_head_bytes: 8192,
            max_headers: 64,
        }
    }
}

/// Why a head could not be parsed.
///
/// Every variant is a peer error; [`HeadError::status`] gives the HTTP status a
/// server should answer with before closing the connection.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeadError {
    /// The head is longer than [`HeadLimits::max_head_bytes`], or is still
    /// incomplete after that many bytes. Answer 431.
    #[error("HTTP head larger than {limit} bytes")]
    TooLarge {
        /// The limit that was exceeded, in bytes.
        limit: usize,
    },
    /// The head has more header fields than [`HeadLimits::max_headers`].
    /// Answer 431.
    #[error("more than {limit} HTTP header fields")]
    TooManyHeaders {
        /// The limit that was exceeded, in header fields.
        limit: usize,
    },
    /// The head is not valid HTTP/1.x. Answer 400.
    #[error("malformed HTTP head: {reason}")]
    Malformed {
        /// A short description of what is wrong.
        reason: &'static str,
    },
}

impl HeadError {
    /// The HTTP status a server should answer with: 431 (Request Header Fields
    /// Too Large) for the two limits, 400 (Bad Request) otherwise.
    pub fn status(&self) -> StatusCode {
        match self {
            HeadError::TooLarge { .. } | HeadError::TooManyHeaders { .. } => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            HeadError::Malformed { .. } => StatusCode::BAD_REQUEST,
        }
    }

    fn malformed(reason: &'static str) -> Self {
        HeadError::Malformed { reason }
    }
}

/// Parses a request head from the start of `buf`.
///
/// Returns `Ok(None)` while the head is incomplete, and `Ok(Some((request, n)))`
/// once it is complete, where `n` is the length of the head; `&buf[n..]` belongs
/// to whatever follows. The request target (path and query, or the whole target
/// in absolute form) becomes the [`Uri`]; header values are kept as bytes.
///
/// This scans the whole buffer on every call; [`HeadReader`] scans only the bytes
/// added since the previous call.
///
/// ```
/// use tidings_core::head::{parse_request, HeadLimits};
///
/// let buf = b"GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\n\r\n\x81\x00";
/// let (req, n) = parse_request(buf, &HeadLimits::default()).unwrap().unwrap();
/// assert_eq!(req.uri(), "/chat?room=1");
/// assert_eq!(req.headers()["host"], "example.com");
/// assert_eq!(&buf[n..], b"\x81\x00");
/// assert!(parse_request(&buf[..20], &HeadLimits::default()).unwrap().is_none());
/// ```
pub fn parse_request(
    buf: &[u8],
    limits: &HeadLimits,
) -> Result<Option<(Request<()>, usize)>, HeadError> {
    HeadReader::new(limits.clone()).read_request(buf)
}

/// Parses a response head from the start of `buf`; the client-side twin of
/// [`parse_request`], with the same return convention.
///
/// ```
/// use tidings_core::head::{parse_response, HeadLimits};
///
/// let buf = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
/// let (resp, n) = parse_response(buf, &HeadLimits::default()).unwrap().unwrap();
/// assert_eq!(resp.status(), 101);
/// assert_eq!(n, buf.len());
/// ```
pub fn parse_response(
    buf: &[u8],
    limits: &HeadLimits,
) -> Result<Option<(Response<()>, usize)>, HeadError> {
    HeadReader::new(limits.clone()).read_response(buf)
}

/// An incremental head parser that remembers how far it has looked.
///
/// Call order: pass the same growing buffer to [`read_request`](Self::read_request)
/// (or [`read_response`](Self::read_response)) each time bytes are appended to
/// it; the bytes passed before must stay at the start of the buffer. The reader
/// scans only the new bytes for the end of the head and runs httparse once the
/// end may be there. After it returns a head or an error it is reset and can be
/// used for the next head (drain `&buf[..n]` first). If the buffer passed is
/// shorter than what was scanned, the reader starts over from the beginning.
///
/// ```
/// use tidings_core::head::{HeadLimits, HeadReader};
///
/// let mut reader = HeadReader::new(HeadLimits::default());
/// let mut buf = Vec::new();
/// let mut parsed = None;
/// for &byte in b"GET / HTTP/1.1\r\nHost: a\r\n\r\n" {
///     buf.push(byte);
///     if let Some(head) = reader.read_request(&buf).unwrap() {
///         parsed = Some(head);
///     }
/// }
/// let (req, n) = parsed.unwrap();
/// assert_eq!(req.uri(), "/");
/// assert_eq!(n, buf.len());
/// ```
#[derive(Clone, Debug)]
pub struct HeadReader {
    limits: HeadLimits,
    /// Bytes of the buffer already known not to hold the end of the head.
    scanned: usize,
    /// httparse has seen an empty line that did not end the head (it skips
    /// empty lines before the start line); from then on every call re-runs
    /// it, so the verdict cannot depend on how the bytes were chunked.
    reparse: bool,
}

impl HeadReader {
    /// A reader enforcing `limits`.
    pub fn new(limits: HeadLimits) -> Self {
        HeadReader {
            limits,
            scanned: 0,
            reparse: false,
        }
    }

    /// The limits this reader enforces.
    pub fn limits(&self) -> &HeadLimits {
        &self.limits
    }

    /// Forgets what was scanned; the next call starts from the beginning.
    pub fn reset(&mut self) {
        self.scanned = 0;
        self.reparse = false;
    }

    /// Reads a request head from the start of `buf`; see [`parse_request`] for
    /// the return convention and the type's documentation for the call order.
    pub fn read_request(&mut self, buf: &[u8]) -> Result<Option<(Request<()>, usize)>, HeadError> {
        self.read_head(buf, |headers, window| {
            let mut parsed = httparse::Request::new(headers);
            let status = parsed.parse(window);
            let head =
                matches!(status, Ok(httparse::Status::Complete(_))).then(|| build_request(&parsed));
            (status, head)
        })
    }

    /// Reads a response head from the start of `buf`; see [`parse_response`] for
    /// the return convention and the type's documentation for the call order.
    pub fn read_response(
        &mut self,
        buf: &[u8],
    ) -> Result<Option<(Response<()>, usize)>, HeadError> {
        self.read_head(buf, |headers, window| {
            let mut parsed = httparse::Response::new(headers);
            let status = parsed.parse(window);
            let head = matches!(status, Ok(httparse::Status::Complete(_)))
                .then(|| build_response(&parsed));
            (status, head)
        })
    }

    /// The steps shared by requests and responses: find a possible end of
    /// head, give `parse` header slots (on the stack up to `INLINE_HEADERS`),
    /// and act on httparse's verdict. `parse` returns that verdict and, when
    /// it is `Complete`, the head built from the parsed fields.
    fn read_head<'b, T>(
        &mut self,
        buf: &'b [u8],
        parse: impl FnOnce(
            &mut [httparse::Header<'b>],
            &'b [u8],
        ) -> (httparse::Result<usize>, Option<Result<T, HeadError>>),
    ) -> Result<Option<(T, usize)>, HeadError> {
        let Some(window) = self.window_with_end(buf)? else {
            return Ok(None);
        };
        let mut inline = [httparse::EMPTY_HEADER; INLINE_HEADERS];
        let mut heap;
        let headers = if self.limits.max_headers <= INLINE_HEADERS {
            &mut inline[..self.limits.max_headers]
        } else {
            heap = vec![httparse::EMPTY_HEADER; self.limits.max_headers];
            &mut heap[..]
        };
        let (status, head) = parse(headers, window);
        let Some(n) = self.after_parse(buf, window, status)? else {
            return Ok(None);
        };
        // `head` is `Some` exactly when httparse said `Complete`, which is
        // when `after_parse` returns a length.
        head.map(|head| head.map(|head| (head, n))).transpose()
    }

    /// Returns the part of `buf` a head may occupy (at most `max_head_bytes`)
    /// if it contains a possible end of head, `None` if the head is certainly
    /// incomplete, or `TooLarge` if it can no longer fit.
    fn window_with_end<'b>(&mut self, buf: &'b [u8]) -> Result<Option<&'b [u8]>, HeadError> {
        if buf.len() < self.scanned {
            self.reset();
        }
        let window = buf.get(..self.limits.max_head_bytes).unwrap_or(buf);
        // An end of head that straddles the previous call's last bytes starts
        // at most two bytes back ("\n" then "\r\n").
        let from = self.scanned.saturating_sub(2);
        if self.reparse || has_empty_line(window, from) {
            return Ok(Some(window));
        }
        self.scanned = window.len();
        self.check_size(buf)?;
        Ok(None)
    }

    /// Handles httparse's verdict on `window`: the head length when complete.
    fn after_parse(
        &mut self,
        buf: &[u8],
        window: &[u8],
        status: httparse::Result<usize>,
    ) -> Result<Option<usize>, HeadError> {
        match status {
            Ok(httparse::Status::Complete(n)) => {
                self.reset();
                Ok(Some(n))
            }
            // The empty line found was not the end of the head (httparse skips
            // empty lines before a request line), so the head is not in the
            // window: nothing scanned so far needs another look.
            Ok(httparse::Status::Partial) => {
                self.scanned = window.len();
                self.reparse = true;
                self.check_size(buf)?;
                Ok(None)
            }
            Err(error) => {
                self.reset();
                Err(self.convert_error(error))
            }
        }
    }

    /// With no complete head in the first `max_head_bytes` of `buf`, the head
    /// can only complete beyond the limit once `buf` has reached it.
    fn check_size(&mut self, buf: &[u8]) -> Result<(), HeadError> {
        if buf.len() >= self.limits.max_head_bytes {
            self.reset();
            return Err(HeadError::TooLarge {
                limit: self.limits.max_head_bytes,
            });
        }
        Ok(())
    }

    fn convert_error(&self, error: httparse::Error) -> HeadError {
        let reason = match error {
            httparse::Error::TooManyHeaders => {
                return HeadError::TooManyHeaders {
                    limit: self.limits.max_headers,
                };
            }
            httparse::Error::HeaderName => "invalid byte in header name",
            httparse::Error::HeaderValue => "invalid byte in header value",
            httparse::Error::NewLine => "invalid line ending",
            httparse::Error::Status => "invalid status code",
            httparse::Error::Token => "invalid method or request target",
            httparse::Error::Version => "invalid or unsupported HTTP version",
        };
        HeadError::malformed(reason)
    }
}

/// Header slots kept on the stack; larger `max_headers` use a `Vec`.
const INLINE_HEADERS: usize = 64;

/// Whether `buf[from..]` holds the end of an empty line: `\n\n` or `\n\r\n`
/// (`\r\n\r\n` being the usual case of the latter).
fn has_empty_line(buf: &[u8], from: usize) -> bool {
    let mut rest = buf.get(from..).unwrap_or_default();
    while let Some(at) = rest.iter().position(|&b| b == b'\n') {
        let after = rest.get(at + 1..).unwrap_or_default();
        if after.starts_with(b"\n") || after.starts_with(b"\r\n") {
            return true;
        }
        rest = after;
    }
    false
}

fn build_request(parsed: &httparse::Request<'_, '_>) -> Result<Request<()>, HeadError> {
    let method = parsed
        .method
        .ok_or(HeadError::malformed("missing method"))?;
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| HeadError::malformed("invalid method"))?;
    let target = parsed
        .path
        .ok_or(HeadError::malformed("missing request target"))?;
    let uri = Uri::try_from(target).map_err(|_| HeadError::malformed("invalid request target"))?;
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = version(parsed.version)?;
    *request.headers_mut() = header_map(parsed.headers)?;
    Ok(request)
}

fn build_response(parsed: &httparse::Response<'_, '_>) -> Result<Response<()>, HeadError> {
    let code = parsed
        .code
        .ok_or(HeadError::malformed("missing status code"))?;
    let status =
        StatusCode::from_u16(code).map_err(|_| HeadError::malformed("invalid status code"))?;
    let mut response = Response::new(());
    *response.status_mut() = status;
    *response.version_mut() = version(parsed.version)?;
    *response.headers_mut() = header_map(parsed.headers)?;
    Ok(response)
}

fn version(minor: Option<u8>) -> Result<Version, HeadError> {
    match minor {
        Some(0) => Ok(Version::HTTP_10),
        Some(1) => Ok(Version::HTTP_11),
        _ => Err(HeadError::malformed("invalid or unsupported HTTP version")),
    }
}

fn header_map(headers: &[httparse::Header<'_>]) -> Result<HeaderMap, HeadError> {
    let mut map = HeaderMap::with_capacity(headers.len());
    for header in headers {
        let name = HeaderName::from_bytes(header.name.as_bytes())
            .map_err(|_| HeadError::malformed("invalid header name"))?;
        let value = HeaderValue::from_bytes(header.value)
            .map_err(|_| HeadError::malformed("invalid header value"))?;
        map.append(name, value);
    }
    Ok(map)
}

/// Writes `req`'s head as HTTP/1.1: request line, header fields, empty line.
///
/// The request target written is the URI's path and query (origin form, `/` if
/// the URI has none); a scheme or authority in the URI is not written, so put
/// the authority in a `Host` header. The request's [`Version`] is ignored: the
/// line always says `HTTP/1.1`. Header names are written as the `http` crate
/// stores them (lowercase), values byte for byte.
pub fn encode_request_head(req: &Request<()>, out: &mut Vec<u8>) {
    let target = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    out.extend_from_slice(req.method().as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    encode_headers(req.headers(), out);
}

/// Writes `resp`'s head as HTTP/1.1: status line with the canonical reason
/// phrase (empty for unregistered codes), header fields, empty line.
///
/// ```
/// use tidings_core::head::encode_response_head;
///
/// let resp = http::Response::builder().status(404).header("content-length", "0").body(()).unwrap();
/// let mut out = Vec::new();
/// encode_response_head(&resp, &mut out);
/// assert_eq!(out, b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
/// ```
pub fn encode_response_head(resp: &Response<()>, out: &mut Vec<u8>) {
    let status = resp.status();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    encode_headers(resp.headers(), out);
}

fn encode_headers(headers: &HeaderMap, out: &mut Vec<u8>) {
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const REQUEST: &[u8] = b"GET /chat?room=a%20b&x HTTP/1.1\r\n\
        Host: example.com:8080\r\n\
        Upgrade: websocket\r\n\
        Connection: keep-alive, Upgrade\r\n\
        X-Multi: one\r\n\
        X-Multi: two\r\n\
        X-Bytes: caf\xc3\xa9 \xff\r\n\
        \r\n";

    fn limits(max_head_bytes: usize, max_headers: usize) -> HeadLimits {
        HeadLimits {
            max_head_bytes,
            max_headers,
        }
    }

    /// Feeds `bytes` to a fresh reader in the given chunk sizes (cycled), as a
    /// growing buffer, and returns the first non-`None` result.
    fn read_in_chunks(
        bytes: &[u8],
        sizes: &[usize],
        limits: HeadLimits,
    ) -> Result<Option<(Request<()>, usize)>, HeadError> {
        let mut reader = HeadReader::new(limits);
        let mut end = 0;
        let mut sizes = sizes.iter().cycle();
        while end < bytes.len() {
            end = (end + sizes.next().copied().unwrap_or(1).max(1)).min(bytes.len());
            let result = reader.read_request(&bytes[..end]);
            if !matches!(result, Ok(None)) {
                return result;
            }
        }
        Ok(None)
    }

    fn summary(req: &Request<()>) -> String {
        format!(
            "{:?} {:?} {:?} {:?}",
            req.method(),
            req.uri(),
            req.version(),
            req.headers()
        )
    }

    #[test]
    fn request_fields_are_preserved() {
        let (req, n) = parse_request(REQUEST, &HeadLimits::default())
            .unwrap()
            .unwrap();
        assert_eq!(n, REQUEST.len());
        assert_eq!(req.method(), Method::GET);
        assert_eq!(req.uri().path(), "/chat");
        assert_eq!(req.uri().query(), Some("room=a%20b&x"));
        assert_eq!(req.version(), Version::HTTP_11);
        assert_eq!(req.headers()["host"], "example.com:8080");
        assert_eq!(req.headers()["connection"], "keep-alive, Upgrade");
        let multi: Vec<_> = req.headers().get_all("x-multi").iter().collect();
        assert_eq!(multi, ["one", "two"]);
        assert_eq!(req.headers()["x-bytes"].as_bytes(), b"caf\xc3\xa9 \xff");
        assert_eq!(req.headers().len(), 6);
    }

    #[test]
    fn http_1_0_is_reflected_in_version() {
        let (req, _) = parse_request(b"GET / HTTP/1.0\r\n\r\n", &HeadLimits::default())
            .unwrap()
            .unwrap();
        assert_eq!(req.version(), Version::HTTP_10);
    }

    #[test]
    fn trailing_bytes_follow_the_head() {
        let mut buf = REQUEST.to_vec();
        buf.extend_from_slice(b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
        let (_, n) = parse_request(&buf, &HeadLimits::default())
            .unwrap()
            .unwrap();
        assert_eq!(n, REQUEST.len());
        assert_eq!(&buf[n..], b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
        // Even when the trailing bytes contain another empty line.
        buf.extend_from_slice(b"\r\n\r\n");
        let (_, n) = parse_request(&buf, &HeadLimits::default())
            .unwrap()
            .unwrap();
        assert_eq!(n, REQUEST.len());
    }

    #[test]
    fn every_prefix_is_incomplete() {
        for end in 0..REQUEST.len() {
            assert!(
                matches!(
                    parse_request(&REQUEST[..end], &HeadLimits::default()),
                    Ok(None)
                ),
                "prefix of {end} bytes"
            );
        }
    }

    #[test]
    fn byte_at_a_time_matches_one_chunk() {
        let (whole, n) = parse_request(REQUEST, &HeadLimits::default())
            .unwrap()
            .unwrap();
        let (trickled, m) = read_in_chunks(REQUEST, &[1], HeadLimits::default())
            .unwrap()
            .unwrap();
        assert_eq!(summary(&whole), summary(&trickled));
        assert_eq!(n, m);
    }

    #[test]
    fn bare_newlines_and_leading_empty_lines_are_accepted() {
        let buf = b"\r\nGET /a HTTP/1.1\nHost: h\n\nrest";
        let (req, n) = read_in_chunks(buf, &[1], HeadLimits::default())
            .unwrap()
            .unwrap();
        assert_eq!(req.uri(), "/a");
        assert_eq!(&buf[n..], b"rest");
        let (req, n) = parse_request(buf, &HeadLimits::default()).unwrap().unwrap();
        assert_eq!(req.uri(), "/a");
        assert_eq!(&buf[n..], b"rest");
    }

    fn head_of_length(len: usize) -> Vec<u8> {
        let mut head = b"GET / HTTP/1.1\r\nX-Pad: ".to_vec();
        let pad = len - head.len() - 4;
        head.resize(head.len() + pad, b'a');
        head.extend_from_slice(b"\r\n\r\n");
        assert_eq!(head.len(), len);
        head
    }

    #[test]
    fn head_of_exactly_the_limit_is_accepted() {
        let head = head_of_length(8192);
        let (_, n) = parse_request(&head, &HeadLimits::default())
            .unwrap()
            .unwrap();
        assert_eq!(n, 8192);
        let (_, n) = read_in_chunks(&head, &[1000], HeadLimits::default())
            .unwrap()
            .unwrap();
        assert_eq!(n, 8192);
    }

    #[test]
    fn incomplete_head_over_the_limit_is_431_at_once() {
        let head = head_of_length(9000);
        let incomplete = &head[..8193];
        let err = parse_request(incomplete, &HeadLimits::default()).unwrap_err();
        assert_eq!(err, HeadError::TooLarge { limit: 8192 });
        assert_eq!(err.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        // Byte at a time, the error comes as soon as the buffer reaches the
        // limit without holding a complete head.
        let mut reader = HeadReader::new(HeadLimits::default());
        for end in 1..8192 {
            assert!(
                matches!(reader.read_request(&head[..end]), Ok(None)),
                "at {end}"
            );
        }
        assert_eq!(
            reader.read_request(&head[..8192]).unwrap_err(),
            HeadError::TooLarge { limit: 8192 }
        );
    }

    #[test]
    fn complete_head_over_the_limit_is_431() {
        let head = head_of_length(8193);
        let err = parse_request(&head, &HeadLimits::default()).unwrap_err();
        assert_eq!(err, HeadError::TooLarge { limit: 8192 });
    }

    fn request_with_headers(count: usize) -> Vec<u8> {
        let mut head = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..count {
            head.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        head
    }

    #[test]
    fn header_count_limit() {
        let (req, _) = parse_request(&request_with_headers(64), &HeadLimits::default())
            .unwrap()
            .unwrap();
        assert_eq!(req.headers().len(), 64);
        let err = parse_request(&request_with_headers(65), &HeadLimits::default()).unwrap_err();
        assert_eq!(err, HeadError::TooManyHeaders { limit: 64 });
        assert_eq!(err.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        // Limits above the inline storage use the heap path.
        let (req, _) = parse_request(&request_with_headers(100), &limits(8192, 100))
            .unwrap()
            .unwrap();
        assert_eq!(req.headers().len(), 100);
        assert_eq!(
            parse_request(&request_with_headers(101), &limits(8192, 100)).unwrap_err(),
            HeadError::TooManyHeaders { limit: 100 }
        );
        assert_eq!(
            parse_request(&request_with_headers(3), &limits(8192, 2)).unwrap_err(),
            HeadError::TooManyHeaders { limit: 2 }
        );
    }

    #[test]
    fn malformed_heads_are_400() {
        for bad in [
            &b"GET / HTTP/2.0\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nBad Name: v\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n",
            b"G(T / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\n folded\r\n\r\n",
        ] {
            let err = parse_request(bad, &HeadLimits::default()).unwrap_err();
            assert!(
                matches!(err, HeadError::Malformed { .. }),
                "{bad:?}: {err:?}"
            );
            assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn reader_is_reusable_after_a_head() {
        let mut reader = HeadReader::new(HeadLimits::default());
        let mut buf = REQUEST.to_vec();
        buf.extend_from_slice(b"GET /second HTTP/1.1\r\n");
        let (_, n) = reader.read_request(&buf).unwrap().unwrap();
        buf.drain(..n);
        assert!(matches!(reader.read_request(&buf), Ok(None)));
        buf.extend_from_slice(b"\r\n");
        let (req, _) = reader.read_request(&buf).unwrap().unwrap();
        assert_eq!(req.uri(), "/second");
    }

    #[test]
    fn response_head_round_trip() {
        let mut resp = Response::new(());
        *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        resp.headers_mut()
            .insert("upgrade", HeaderValue::from_static("websocket"));
        resp.headers_mut()
            .append("x-bytes", HeaderValue::from_bytes(b"\xfe\xff").unwrap());
        let mut out = Vec::new();
        encode_response_head(&resp, &mut out);
        assert!(out.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
        out.extend_from_slice(b"tail");
        let (parsed, n) = parse_response(&out, &HeadLimits::default())
            .unwrap()
            .unwrap();
        assert_eq!(&out[n..], b"tail");
        assert_eq!(parsed.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(parsed.version(), Version::HTTP_11);
        assert_eq!(parsed.headers(), resp.headers());
        assert!(matches!(
            parse_response(&out[..n - 1], &HeadLimits::default()),
            Ok(None)
        ));
    }

    #[test]
    fn unregistered_status_has_empty_reason() {
        let mut resp = Response::new(());
        *resp.status_mut() = StatusCode::from_u16(599).unwrap();
        let mut out = Vec::new();
        encode_response_head(&resp, &mut out);
        assert_eq!(out, b"HTTP/1.1 599 \r\n\r\n");
        let (parsed, _) = parse_response(&out, &HeadLimits::default())
            .unwrap()
            .unwrap();
        assert_eq!(parsed.status().as_u16(), 599);
    }

    #[test]
    fn request_head_round_trip() {
        let (req, _) = parse_request(REQUEST, &HeadLimits::default())
            .unwrap()
            .unwrap();
        let mut out = Vec::new();
        encode_request_head(&req, &mut out);
        assert!(out.starts_with(b"GET /chat?room=a%20b&x HTTP/1.1\r\nhost: example.com:8080\r\n"));
        let (again, n) = parse_request(&out, &HeadLimits::default())
            .unwrap()
            .unwrap();
        assert_eq!(n, out.len());
        assert_eq!(summary(&req), summary(&again));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any chunking of a head plus trailing bytes gives the same request and
        /// head length as parsing it in one piece.
        #[test]
        fn chunking_does_not_change_the_result(
            sizes in proptest::collection::vec(1usize..40, 1..20),
            tail in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut buf = REQUEST.to_vec();
            buf.extend_from_slice(&tail);
            let (whole, n) = parse_request(&buf, &HeadLimits::default()).unwrap().unwrap();
            let (chunked, m) = read_in_chunks(&buf, &sizes, HeadLimits::default()).unwrap().unwrap();
            prop_assert_eq!(summary(&whole), summary(&chunked));
            prop_assert_eq!(n, REQUEST.len());
            prop_assert_eq!(m, REQUEST.len());
        }

        /// Arbitrary bytes never panic, and the chunked reader agrees with the
        /// one-shot parser on whether (and how) they fail or succeed.
        #[test]
        fn arbitrary_bytes_agree_across_chunkings(
            bytes in proptest::collection::vec(
                prop_oneof![Just(b'\r'), Just(b'\n'), Just(b' '), Just(b':'), Just(b'G'), any::<u8>()],
                0..200,
            ),
            sizes in proptest::collection::vec(1usize..10, 1..10),
            request_line in any::<bool>(),
        ) {
            let small = limits(128, 4);
            let mut bytes = bytes;
            if request_line {
                bytes.splice(0..0, b"GET / HTTP/1.1\r\n".iter().copied());
            }
            let whole = parse_request(&bytes, &small).map(|r| r.map(|(req, n)| (summary(&req), n)));
            let chunked = read_in_chunks(&bytes, &sizes, small).map(|r| r.map(|(req, n)| (summary(&req), n)));
            // The chunked reader may stop at an earlier error or head: compare
            // with the one-shot parse of the prefix it had seen.
            match (&whole, &chunked) {
                (Ok(Some(a)), Ok(Some(b))) => prop_assert_eq!(a, b),
                (Ok(None), Ok(None)) => {}
                (Err(a), Err(b)) => prop_assert_eq!(a, b),
                _ => prop_assert!(false, "whole {:?} vs chunked {:?}", whole, chunked),
            }
        }
    }

    #[test]
    fn leading_empty_lines_give_the_same_verdict_however_chunked() {
        // Found by proptest: httparse skips the leading empty lines, so the
        // first "\n\n" does not end the head; a later call must still parse.
        let bytes = b"\n\nG\0";
        let whole = parse_request(bytes, &HeadLimits::default());
        assert!(whole.is_err());
        let mut reader = HeadReader::new(HeadLimits::default());
        assert!(matches!(reader.read_request(&bytes[..3]), Ok(None)));
        assert_eq!(
            reader.read_request(bytes).map(|_| ()).unwrap_err(),
            whole.map(|_| ()).unwrap_err()
        );
    }
}
