//! The Server-Sent Events client: a runtime-generic [`EventSource`] with the
//! semantics of a browser's, built on the core [`Decoder`].
//!
//! [`EventSource::connect`] sends `GET` (or the method, headers and body of
//! an [`http::Request`], see [`IntoEventSourceRequest`]: `POST` for the
//! LLM streaming APIs) with `Accept: text/event-stream` and
//! `Cache-Control: no-cache` on runtime `N` (an adapter's runtime type;
//! each adapter also exports a non-generic `EventSource` alias and
//! `connect_events`), over TCP, through a proxy if
//! [`EventSourceConfig::proxy`] names one, with TLS for `https://` (see
//! [`dial`](crate::dial)). Then [`EventSource::next`] (or the
//! [`Stream`](futures_core::Stream) impl) yields each event as the WHATWG
//! algorithm fires it, and reconnects by itself when the stream ends:
//!
//! | the server… | the client… |
//! |---|---|
//! | answers 200 with `Content-Type: text/event-stream` (parameters allowed) | reads the body: close-delimited, `Content-Length` or chunked |
//! | ends the body, closes the connection, or the connection fails | waits the reconnection delay, reconnects with `Last-Event-ID` (if an id was received) |
//! | answers 204 No Content | stops: [`next`](EventSource::next) returns `None` |
//! | answers another status (redirects included) or content type | fails without retrying: one `Err`, then `None` (a status error carries the response headers and the start of its body: an API's error message) |
//! | cannot be reached when reconnecting | tries again after the delay (with backoff, below), up to [`EventSourceConfig::max_retries`] times in a row |
//! | sends nothing for [`EventSourceConfig::idle_timeout`] (off by default) | drops the connection and reconnects, as if it had ended |
//!
//! The reconnection delay is the latest `retry:` field received, or
//! [`EventSourceConfig::reconnect_delay`] (3 s, as in browsers) before any,
//! capped by [`EventSourceConfig::max_reconnect_delay`]. After a stream that
//! ended it is exactly that delay. After attempts that failed in a row,
//! with [`EventSourceConfig::backoff`] (on by default), the `n`th waits a
//! random delay between that delay and `delay × 2ⁿ` (capped the same way):
//! exponential backoff with jitter whose base is the server's `retry:`,
//! never shorter. These rules are the core's [`Reconnect`] policy; time is
//! read from the runtime ([`Runtime::now`](crate::runtime::Runtime::now)),
//! never from the system clock directly, and the jitter comes from
//! [`Runtime::fill_random`](crate::runtime::Runtime::fill_random).
//!
//! The head of the latest response (status and headers: rate-limit
//! counters, request ids) is [`EventSource::response`].
//!
//! ```no_run
//! # async fn demo<N: tidings_framework::runtime::Net + Default>() -> Result<(), tidings_framework::event_source::EventSourceError> {
//! use tidings_framework::event_source::{EventSource, EventSourceConfig};
//!
//! let config = EventSourceConfig::default().max_retries(Some(5));
//! let mut events = EventSource::<N>::connect("http://127.0.0.1:8080/events", config).await?;
//! while let Some(event) = events.next().await {
//!     let event = event?;
//!     println!("{} {}: {}", event.last_event_id, event.event_type, event.data);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! ## What this module does not do
//!
//! - No TLS in a build without the `ring` and `aws-lc-rs` features:
//!   `https://` URLs are then refused with
//!   [`EventSourceError::TlsUnsupported`].
//! - No redirects, no cookies, no credentials from the URL, no HTTP/2, no
//!   content codings (it sends no `Accept-Encoding`; a compressed response
//!   fails).
//! - The first connection is not retried: [`EventSource::connect`] returns its
//!   error, so a wrong URL or a server that is down shows at once.

mod chunked;
mod request;

use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use http::header::{
    ACCEPT, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderMap,
    HeaderName, HeaderValue, TRANSFER_ENCODING,
};
use http::{Method, Request, Response, StatusCode, Uri};

pub use chunked::ChunkedError;
use chunked::{Chunk, ChunkedDecoder};
pub use request::IntoEventSourceRequest;

use futures_io::AsyncRead;
use tidings_core::head::{HeadError, HeadLimits, HeadReader, encode_request_head};

use bytes::Bytes;

use crate::dial::{ClientStream, Dial, ProxyConfig, ProxyError, TlsError, TlsErrorKind};
use crate::io_util::{read_some, with_deadline, write_all};
use crate::runtime::Net;
use tidings_core::sse::{
    DecodeError, DecodedEvent, Decoder, Limits, Reconnect, ReconnectConfig, Retry,
};

/// The `Last-Event-ID` request header.
const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");

/// [`EventSource`] settings.
///
/// ```
/// use std::time::Duration;
/// # use tidings_framework::event_source::EventSourceConfig;
/// # use tidings_framework::http::{HeaderName, HeaderValue};
///
/// let config = EventSourceConfig::default()
///     .reconnect_delay(Duration::from_millis(500))
///     .max_retries(Some(10))
///     .header(HeaderName::from_static("authorization"), HeaderValue::from_static("Bearer t"));
/// assert_eq!(config.max_retries, Some(10));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EventSourceConfig {
    /// The reconnection delay until the server sends a `retry:` field.
    /// Default 3 s (the WHATWG suggestion, and what browsers use).
    pub reconnect_delay: Duration,
    /// The longest reconnection delay, whatever `retry:` asks for.
    /// Default 60 s.
    pub max_reconnect_delay: Duration,
    /// How many reconnection attempts in a row may fail (no connection, I/O
    /// error, timeout, EOF before the response head) before the client gives
    /// up and yields the last error. `None`: never give up, as browsers do
    /// (the default). `Some(0)`: never reconnect; the end of the stream is
    /// the end of the client. The count restarts after each successful
    /// connection.
    pub max_retries: Option<u32>,
    /// Time allowed to connect (TCP, proxy, TLS), send the request and
    /// receive the response head, per attempt. Default 10 s.
    pub connect_timeout: Duration,
    /// Exponential backoff with jitter after failed reconnection attempts
    /// (see the [module docs](self)). Default on; off: every attempt waits
    /// the plain delay, as browsers do.
    pub backoff: bool,
    /// How long the stream may stay silent (no bytes at all, keep-alive
    /// comments count) before the client drops it and reconnects. `None`
    /// (the default): wait for ever. Set it a little above the server's
    /// keep-alive period.
    pub idle_timeout: Option<Duration>,
    /// The proxies to go through ([`ProxyConfig::all`],
    /// [`ProxyConfig::from_env`]). Default: none.
    pub proxy: Option<ProxyConfig>,
    /// The TLS configuration for `https://`; `None` (the default):
    /// [`tls::default_client_config`](crate::tls::default_client_config).
    #[cfg(feature = "_tls")]
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Limits on the server's response head.
    pub head_limits: HeadLimits,
    /// Limits of the event-stream decoder (line length, event data size).
    pub decoder_limits: Limits,
    /// Bytes read from the socket per read call. Default 8 KiB.
    pub read_buffer_size: usize,
    /// Extra request headers, sent on every request. The client's own
    /// `Host`, `Accept`, `Cache-Control` and (when it has an id)
    /// `Last-Event-ID` replace headers of the same name.
    pub headers: HeaderMap,
}

impl Default for EventSourceConfig {
    fn default() -> Self {
        EventSourceConfig {
            reconnect_delay: Duration::from_secs(3),
            max_reconnect_delay: Duration::from_secs(60),
            max_retries: None,
            connect_timeout: Duration::from_secs(10),
            backoff: true,
            idle_timeout: None,
            proxy: None,
            #[cfg(feature = "_tls")]
            tls: None,
            head_limits: HeadLimits::default(),
            decoder_limits: Limits::default(),
            read_buffer_size: 8 << 10,
            headers: HeaderMap::new(),
        }
    }
}

impl EventSourceConfig {
    /// Sets [`EventSourceConfig::reconnect_delay`](#structfield.reconnect_delay).
    #[must_use]
    pub fn reconnect_delay(mut self, delay: Duration) -> Self {
        self.reconnect_delay = delay;
        self
    }

    /// Sets [`EventSourceConfig::max_reconnect_delay`](#structfield.max_reconnect_delay).
    #[must_use]
    pub fn max_reconnect_delay(mut self, delay: Duration) -> Self {
        self.max_reconnect_delay = delay;
        self
    }

    /// Sets [`EventSourceConfig::max_retries`](#structfield.max_retries).
    #[must_use]
    pub fn max_retries(mut self, retries: Option<u32>) -> Self {
        self.max_retries = retries;
        self
    }

    /// Sets [`EventSourceConfig::connect_timeout`](#structfield.connect_timeout).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`EventSourceConfig::head_limits`](#structfield.head_limits).
    #[must_use]
    pub fn head_limits(mut self, limits: HeadLimits) -> Self {
        self.head_limits = limits;
        self
    }

    /// Sets [`EventSourceConfig::decoder_limits`](#structfield.decoder_limits).
    #[must_use]
    pub fn decoder_limits(mut self, limits: Limits) -> Self {
        self.decoder_limits = limits;
        self
    }

    /// Sets [`EventSourceConfig::read_buffer_size`](#structfield.read_buffer_size).
    #[must_use]
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.read_buffer_size = bytes;
        self
    }

    /// Sets [`EventSourceConfig::backoff`](#structfield.backoff).
    #[must_use]
    pub fn backoff(mut self, on: bool) -> Self {
        self.backoff = on;
        self
    }

    /// Sets [`EventSourceConfig::idle_timeout`](#structfield.idle_timeout).
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets [`EventSourceConfig::proxy`](#structfield.proxy).
    #[must_use]
    pub fn proxy(mut self, proxy: ProxyConfig) -> Self {
        self.proxy = Some(proxy);
        self
    }

    /// Sets [`EventSourceConfig::tls`](#structfield.tls): a rustls
    /// configuration of your own, used as is.
    #[cfg(feature = "_tls")]
    #[must_use]
    pub fn tls(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// Adds an extra request header (appended: a name may repeat).
    #[must_use]
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }
}

/// Why an [`EventSource`] failed, or why one connection attempt failed.
///
/// [`is_retryable`](EventSourceError::is_retryable) tells which errors the
/// client retries by itself (those of the network); the others end the
/// client at once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventSourceError {
    /// The URL is not an absolute `http://` or `https://` URL with a host.
    /// Local misuse: fix the URL.
    #[error("invalid event-stream URL: {reason}")]
    InvalidUrl {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The URL is `https://`, and this build of tidings has no TLS (neither
    /// the `ring` nor the `aws-lc-rs` feature).
    #[error(
        "https:// needs TLS, which this build of tidings does not include (enable the `ring` or `aws-lc-rs` feature)"
    )]
    TlsUnsupported,
    /// TLS failed; the text names the cause (expired certificate, wrong
    /// host, unknown issuer, …). Not retried.
    #[error(transparent)]
    Tls(TlsError),
    /// The proxy could not open a tunnel. Retried when
    /// [`ProxyError::is_transient`] (e.g. a 502 from the proxy).
    #[error(transparent)]
    Proxy(#[from] ProxyError),
    /// The stream stayed silent for [`EventSourceConfig::idle_timeout`].
    /// Retried.
    #[error("the event stream sent nothing for {0:?}")]
    Idle(Duration),
    /// Connecting, writing or reading failed, or the server closed the
    /// connection before its response head. Retried.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// No response head within [`EventSourceConfig::connect_timeout`].
    /// Retried.
    #[error("timed out waiting for the event-stream response")]
    Timeout,
    /// The chunked framing of the response body is broken. Retried, like a
    /// dropped connection.
    #[error("bad chunked body: {0}")]
    Chunked(#[from] ChunkedError),
    /// The response head could not be parsed (or exceeds
    /// [`EventSourceConfig::head_limits`]). Not retried.
    #[error("bad HTTP response head: {0}")]
    Head(#[from] HeadError),
    /// The server answered with a status other than 200 or 204. Not retried:
    /// the remedy depends on the status (authenticate, fix the path, ask the
    /// server's operator).
    #[error("the server answered {status} instead of 200")]
    Status {
        /// The status received.
        status: StatusCode,
        /// The response headers (`Retry-After`, rate-limit counters, …).
        headers: Box<HeaderMap>,
        /// The start of the response body, lossily decoded: an API's error
        /// message (at most [`ERROR_BODY_LIMIT`] bytes, read for at most
        /// [`ERROR_BODY_WAIT`]; empty if none arrived).
        body: String,
    },
    /// The server answered 200 with a content type other than
    /// `text/event-stream`: the URL is not an event stream. Not retried.
    #[error("the server answered with content type {content_type:?}, not text/event-stream")]
    ContentType {
        /// The `Content-Type` header received, if any (lossily decoded).
        content_type: Option<String>,
    },
    /// The response uses a transfer coding other than `chunked`, a content
    /// coding (compression), or an invalid `Content-Length`. Not retried.
    #[error("unsupported response framing: {header}: {value}")]
    UnsupportedFraming {
        /// The header at fault.
        header: HeaderName,
        /// Its value (lossily decoded).
        value: String,
    },
    /// The event stream exceeded [`EventSourceConfig::decoder_limits`].
    /// Not retried: the connection is closed.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

impl EventSourceError {
    /// Whether the client retries after this error (network failures: I/O,
    /// timeout, broken chunked framing) rather than stopping.
    pub fn is_retryable(&self) -> bool {
        match self {
            EventSourceError::Io(_)
            | EventSourceError::Timeout
            | EventSourceError::Chunked(_)
            | EventSourceError::Idle(_) => true,
            EventSourceError::Proxy(error) => error.is_transient(),
            _ => false,
        }
    }
}

impl From<crate::dial::DialError> for EventSourceError {
    fn from(error: crate::dial::DialError) -> Self {
        use crate::dial::DialError;
        match error {
            DialError::Io(error) => EventSourceError::Io(error),
            DialError::Timeout => EventSourceError::Timeout,
            DialError::Proxy(error) => EventSourceError::Proxy(error),
            DialError::Tls(error) if error.kind() == TlsErrorKind::NotCompiled => {
                EventSourceError::TlsUnsupported
            }
            DialError::Tls(error) => EventSourceError::Tls(error),
        }
    }
}

/// Converts to the crate's general error, so `?` works in handlers and
/// functions returning [`crate::Error`]: I/O, timeout and head errors map to
/// their variants, the rest to [`Error::Other`](crate::Error::Other) (which
/// can be downcast back).
impl From<EventSourceError> for crate::Error {
    fn from(error: EventSourceError) -> Self {
        match error {
            EventSourceError::Io(error) => crate::Error::Io(error),
            EventSourceError::Timeout => crate::Error::Timeout,
            EventSourceError::Head(error) => crate::Error::Head(error),
            other => crate::Error::other(other),
        }
    }
}

/// Where to connect, read from an `http://` or `https://` URL, and what
/// to send there.
#[derive(Clone, Debug)]
struct Target {
    /// The host as written, without the brackets of an IPv6 address.
    host: String,
    port: u16,
    /// `https`.
    tls: bool,
    /// The request's method, extra headers and body.
    method: Method,
    headers: HeaderMap,
    body: Bytes,
    /// The `Host` header value.
    authority: String,
    /// The path and query, `/` at least.
    resource: String,
}

#[cfg(test)]
fn parse_url(url: &str) -> Result<Target, EventSourceError> {
    parse_request(url.into_event_source_request()?)
}

fn parse_request(request: Request<Bytes>) -> Result<Target, EventSourceError> {
    let invalid = |reason| EventSourceError::InvalidUrl { reason };
    let (parts, body) = request.into_parts();
    let uri = parts.uri;
    let scheme = uri
        .scheme_str()
        .ok_or(invalid("not a valid absolute URL"))?;
    let tls = scheme.eq_ignore_ascii_case("https");
    if !tls && !scheme.eq_ignore_ascii_case("http") {
        return Err(invalid("the scheme must be http or https"));
    }
    let default_port = if tls { 443 } else { 80 };
    let authority = uri.authority().ok_or(invalid("not a valid absolute URL"))?;
    if authority.as_str().contains('@') {
        return Err(invalid(
            "credentials in the URL are not supported; send an Authorization header",
        ));
    }
    let host = authority.host();
    let port = match authority.as_str().strip_prefix(host) {
        Some("" | ":") => default_port,
        _ => authority
            .port_u16()
            .ok_or(invalid("the port is not valid"))?,
    };
    let bare_host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if bare_host.is_empty() {
        return Err(invalid("the URL has no host"));
    }
    let authority = if port == default_port {
        host.to_owned()
    } else {
        format!("{host}:{port}")
    };
    let resource = match uri.path_and_query().map(|pq| pq.as_str()) {
        None | Some("") => "/".to_owned(),
        Some(pq) if pq.starts_with('/') => pq.to_owned(),
        Some(pq) => format!("/{pq}"),
    };
    Ok(Target {
        host: bare_host.to_owned(),
        port,
        tls,
        method: parts.method,
        headers: parts.headers,
        body,
        authority,
        resource,
    })
}

/// How the response body ends.
#[derive(Debug)]
enum Body {
    /// At the end of the connection.
    Close,
    /// After this many more bytes.
    Length(u64),
    /// At the last chunk.
    Chunked(ChunkedDecoder),
}

/// The outcome of one successful request.
enum Opened<S> {
    /// 200 with an event stream: the stream, its framing, the response head
    /// and the body bytes read with it.
    Stream(S, Body, Response<()>, Vec<u8>),
    /// 204: stop.
    NoContent,
}

type OpenFuture<S> = Pin<Box<dyn Future<Output = Result<Opened<S>, EventSourceError>> + Send>>;

/// The connection of an open stream: TCP or TLS.
type Stream<N> = ClientStream<<N as Net>::Stream>;

enum State<N: Net> {
    /// A request is under way.
    Connecting(OpenFuture<Stream<N>>),
    /// Reading the event stream; `idle` fires after
    /// [`EventSourceConfig::idle_timeout`] without bytes.
    Open {
        stream: Stream<N>,
        body: Body,
        idle: Option<Pin<Box<N::Sleep>>>,
    },
    /// Waiting to reconnect.
    Waiting(Pin<Box<N::Sleep>>),
    /// Finished: 204, a fatal error, retries exhausted, or closed.
    Closed,
}

/// A Server-Sent Events client on runtime `N`: connects, yields events,
/// reconnects with `Last-Event-ID`; see the [module docs](self) for the
/// rules.
///
/// Read it with [`next`](EventSource::next) or as a
/// [`Stream`](futures_core::Stream) of `Result<DecodedEvent, EventSourceError>`.
/// After `None` it stays finished. An `Err` is always followed by `None`:
/// errors the client can retry are not reported unless retries run out.
/// Both are cancel-safe: dropping a pending `next()` loses nothing, and a
/// reconnection in progress continues at the next call.
pub struct EventSource<N: Net> {
    target: Arc<Target>,
    config: Arc<EventSourceConfig>,
    decoder: Decoder,
    state: State<N>,
    /// When to reconnect and when to give up.
    reconnect: Reconnect,
    /// A fatal error to yield once the events before it have been.
    pending_error: Option<EventSourceError>,
    /// The head of the latest response.
    response: Option<Response<()>>,
    buf: Vec<u8>,
}

impl<N: Net> fmt::Debug for EventSource<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Connecting(_) => "connecting",
            State::Open { .. } => "open",
            State::Waiting(_) => "waiting",
            State::Closed => "closed",
        };
        f.debug_struct("EventSource")
            .field("host", &self.target.authority)
            .field("resource", &self.target.resource)
            .field("state", &state)
            .field("last_event_id", &self.decoder.last_event_id())
            .finish_non_exhaustive()
    }
}

impl<N: Net + Default> EventSource<N> {
    /// Connects to `request` (a URL, `http://host[:port]/path?query` or
    /// `https://…`, or an [`http::Request`] with method, headers and body:
    /// see [`IntoEventSourceRequest`]) and waits for the response head.
    ///
    /// # Errors
    /// The URL's ([`InvalidUrl`](EventSourceError::InvalidUrl),
    /// [`TlsUnsupported`](EventSourceError::TlsUnsupported)), and any failure
    /// of this first request, which is not retried: I/O, timeout, TLS,
    /// proxy, a status other than 200 and 204, a content type other than
    /// `text/event-stream`, unsupported framing. A 204 is not an error: the
    /// client is returned finished, and `next` returns `None`.
    pub async fn connect(
        request: impl IntoEventSourceRequest,
        config: EventSourceConfig,
    ) -> Result<Self, EventSourceError> {
        let target = Arc::new(parse_request(request.into_event_source_request()?)?);
        let decoder = Decoder::with_limits(config.decoder_limits);
        let reconnect = Reconnect::new(
            ReconnectConfig::default()
                .delay(config.reconnect_delay)
                .max_delay(config.max_reconnect_delay)
                .max_retries(config.max_retries),
        );
        let mut source = EventSource {
            target,
            config: Arc::new(config),
            decoder,
            state: State::Closed,
            reconnect,
            pending_error: None,
            response: None,
            buf: Vec::new(),
        };
        let opened = source.open().await?;
        source.opened(opened);
        Ok(source)
    }

    /// The next event; `None` when the client has finished (204, closed,
    /// retries exhausted, after an error, or the stream ended with
    /// [`max_retries`](EventSourceConfig::max_retries) at `Some(0)`).
    pub async fn next(&mut self) -> Option<Result<DecodedEvent, EventSourceError>> {
        poll_fn(|cx| self.poll_next_event(cx)).await
    }

    /// The poll form of [`next`](EventSource::next).
    pub fn poll_next_event(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<DecodedEvent, EventSourceError>>> {
        loop {
            if let Some(event) = self.decoder.poll_event() {
                return Poll::Ready(Some(Ok(event)));
            }
            if let Some(error) = self.pending_error.take() {
                self.state = State::Closed;
                return Poll::Ready(Some(Err(error)));
            }
            match &mut self.state {
                State::Closed => return Poll::Ready(None),
                State::Waiting(sleep) => {
                    ready!(sleep.as_mut().poll(cx));
                    self.state = State::Connecting(self.open());
                }
                State::Connecting(future) => match ready!(future.as_mut().poll(cx)) {
                    Ok(opened) => {
                        if matches!(opened, Opened::Stream(..)) {
                            self.reconnect.handle_reconnected();
                        }
                        self.opened(opened);
                    }
                    Err(error) if error.is_retryable() => {
                        let rt = N::default();
                        let mut random = [0u8; 8];
                        if self.config.backoff {
                            rt.fill_random(&mut random);
                        }
                        let retry = self.reconnect.handle_failure_with_jitter(
                            rt.now(),
                            self.decoder.retry(),
                            u64::from_le_bytes(random),
                        );
                        match retry {
                            Retry::At(at) => self.wait_until(at),
                            _ => self.fail(error),
                        }
                    }
                    Err(error) => self.fail(error),
                },
                State::Open { stream, idle, .. } => {
                    if let Some(sleep) = idle {
                        if sleep.as_mut().poll(cx).is_ready() {
                            let silent = self.config.idle_timeout.unwrap_or_default();
                            self.stream_ended(Some(EventSourceError::Idle(silent)));
                            continue;
                        }
                    }
                    let mut buf = std::mem::take(&mut self.buf);
                    buf.resize(self.config.read_buffer_size.max(1), 0);
                    let result = Pin::new(stream).poll_read(cx, &mut buf);
                    let pending = result.is_pending();
                    if !pending {
                        self.rearm_idle();
                    }
                    match result {
                        Poll::Pending => {}
                        Poll::Ready(Ok(0)) => self.stream_ended(None),
                        Poll::Ready(Ok(n)) => self.handle_body(buf.get(..n).unwrap_or_default()),
                        Poll::Ready(Err(error)) if error.kind() == io::ErrorKind::Interrupted => {}
                        Poll::Ready(Err(error)) => self.stream_ended(Some(error.into())),
                    }
                    self.buf = buf;
                    if pending {
                        return Poll::Pending;
                    }
                }
            }
        }
    }

    /// The current last event id: what `Last-Event-ID` carries on the next
    /// reconnection (nothing if empty).
    pub fn last_event_id(&self) -> &str {
        self.decoder.last_event_id()
    }

    /// The delay before the next reconnection: the latest `retry:` value
    /// received, or [`EventSourceConfig::reconnect_delay`], capped by
    /// [`EventSourceConfig::max_reconnect_delay`].
    pub fn reconnect_delay(&self) -> Duration {
        self.reconnect.delay(self.decoder.retry())
    }

    /// The head (status, headers) of the latest successful response: the
    /// first connection's, then each reconnection's. `None` only for a
    /// client whose first response was a 204.
    pub fn response(&self) -> Option<&Response<()>> {
        self.response.as_ref()
    }

    /// How many times the client has reconnected successfully.
    pub fn reconnects(&self) -> u64 {
        self.reconnect.reconnects()
    }

    /// Whether the client has finished: `next` returns `None` (once queued
    /// events and a final error have been read).
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// Closes the connection and stops reconnecting. Events already received
    /// and decoded are still returned by `next`, then `None`.
    pub fn close(&mut self) {
        self.state = State::Closed;
        self.pending_error = None;
    }

    /// The future of one request with the current last event id. It owns
    /// what it needs, so a reconnection survives a dropped `next()`.
    fn open(&self) -> OpenFuture<Stream<N>> {
        let target = Arc::clone(&self.target);
        let config = Arc::clone(&self.config);
        let request = encode_request(&target, &config, self.decoder.last_event_id());
        Box::pin(async move {
            let rt = N::default();
            let deadline = rt.now() + config.connect_timeout;
            with_deadline(&rt, deadline, open_stream::<N>(target, config, request))
                .await
                .map_err(|_| EventSourceError::Timeout)?
        })
    }

    /// A request succeeded: read its stream, or stop on 204.
    fn opened(&mut self, opened: Opened<Stream<N>>) {
        match opened {
            Opened::NoContent => self.state = State::Closed,
            Opened::Stream(stream, body, response, leftover) => {
                self.response = Some(response);
                self.state = State::Open {
                    stream,
                    body,
                    idle: None,
                };
                self.rearm_idle();
                self.handle_body(&leftover);
            }
        }
    }

    /// Starts the idle timer again (bytes arrived, or the stream opened).
    fn rearm_idle(&mut self) {
        if let (State::Open { idle, .. }, Some(timeout)) =
            (&mut self.state, self.config.idle_timeout)
        {
            let rt = N::default();
            *idle = Some(Box::pin(rt.sleep_until(rt.now() + timeout)));
        }
    }

    /// Feeds body bytes to the decoder; ends the stream at the end of the
    /// body or on an error.
    fn handle_body(&mut self, mut input: &[u8]) {
        let State::Open { body, .. } = &mut self.state else {
            return;
        };
        let outcome = feed_body(body, &mut self.decoder, &mut input);
        match outcome {
            Ok(false) => {}
            Ok(true) => self.stream_ended(None),
            Err(error) if error.is_retryable() => self.stream_ended(Some(error)),
            Err(error) => self.fail(error),
        }
    }

    /// The stream is over (end of body, EOF, I/O or framing error):
    /// reconnect unless reconnection is off.
    fn stream_ended(&mut self, error: Option<EventSourceError>) {
        self.decoder.finish();
        let now = N::default().now();
        match self.reconnect.handle_stream_end(now, self.decoder.retry()) {
            Retry::At(at) => self.wait_until(at),
            _ => {
                self.state = State::Closed;
                self.pending_error = error;
            }
        }
    }

    /// Waits until `at`, then reconnects.
    fn wait_until(&mut self, at: Instant) {
        let rt = N::default();
        self.state = State::Waiting(Box::pin(rt.sleep_until(at)));
    }

    fn fail(&mut self, error: EventSourceError) {
        self.decoder.finish();
        self.state = State::Closed;
        self.pending_error = Some(error);
    }
}

/// Yields each event; ends as [`EventSource::next`] does.
impl<N: Net + Default> futures_core::Stream for EventSource<N> {
    type Item = Result<DecodedEvent, EventSourceError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_event(cx)
    }
}

/// The request: the method, the configuration's headers, the request's,
/// then the client's own; the body with its `Content-Length`.
fn encode_request(target: &Target, config: &EventSourceConfig, last_event_id: &str) -> Vec<u8> {
    let mut request = Request::new(());
    *request.method_mut() = target.method.clone();
    // `resource` came out of a parsed `Uri`, so it parses again; `/` if not.
    *request.uri_mut() = Uri::try_from(target.resource.as_str()).unwrap_or_default();
    let headers = request.headers_mut();
    headers.clone_from(&config.headers);
    let mut last_name = None;
    for (name, value) in &target.headers {
        // A name the request sets replaces the configuration's.
        if last_name.as_ref() != Some(name) {
            headers.remove(name);
            last_name = Some(name.clone());
        }
        headers.append(name, value.clone());
    }
    if !target.body.is_empty() || target.method == Method::POST || target.method == Method::PUT {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(target.body.len()));
    }
    // The authority came out of a parsed `Uri` too: it is a valid value.
    if let Ok(host) = HeaderValue::from_str(&target.authority) {
        headers.insert(HOST, host);
    }
    headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Not when empty, nor when it holds control bytes a header cannot carry.
    if let Some(id) = Reconnect::last_event_id_header(last_event_id) {
        headers.insert(LAST_EVENT_ID, id);
    }
    let mut out = Vec::with_capacity(256 + target.body.len());
    encode_request_head(&request, &mut out);
    out.extend_from_slice(&target.body);
    out
}

/// Connects, sends `request`, reads and checks the response head.
async fn open_stream<N: Net + Default>(
    target: Arc<Target>,
    config: Arc<EventSourceConfig>,
    request: Vec<u8>,
) -> Result<Opened<Stream<N>>, EventSourceError> {
    let dial = Dial {
        host: &target.host,
        port: target.port,
        tls: target.tls,
        proxy: config.proxy.as_ref(),
        #[cfg(feature = "_tls")]
        tls_config: config.tls.as_ref(),
        // The caller bounds the whole request by the same timeout.
        timeout: config.connect_timeout,
    };
    let (mut stream, _) = dial.connect::<N>().await?;
    write_all(&mut stream, &request).await?;
    let mut reader = HeadReader::new(config.head_limits.clone());
    let mut buf = Vec::with_capacity(1024);
    loop {
        if let Some((response, n)) = reader.read_response(&buf)? {
            // `n` is the length of a head parsed from `buf`, so
            // `n <= buf.len()` and `split_off` cannot panic.
            let leftover = buf.split_off(n);
            return match check_response(&response) {
                Ok(Some(body)) => Ok(Opened::Stream(stream, body, response, leftover)),
                Ok(None) => Ok(Opened::NoContent),
                Err(EventSourceError::Status {
                    status, headers, ..
                }) => {
                    let body = error_body::<N>(&mut stream, &headers, leftover).await;
                    Err(EventSourceError::Status {
                        status,
                        headers,
                        body,
                    })
                }
                Err(error) => Err(error),
            };
        }
        if read_some(&mut stream, &mut buf, 4096).await? == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
        }
    }
}

/// The body framing of an acceptable response, `None` for 204, or why the
/// response is refused.
fn check_response(response: &Response<()>) -> Result<Option<Body>, EventSourceError> {
    let status = response.status();
    if status == StatusCode::NO_CONTENT {
        return Ok(None);
    }
    if status != StatusCode::OK {
        return Err(EventSourceError::Status {
            status,
            headers: Box::new(response.headers().clone()),
            body: String::new(),
        });
    }
    let headers = response.headers();
    let content_type = headers.get(CONTENT_TYPE);
    if !content_type.is_some_and(|value| is_event_stream(value.as_bytes())) {
        return Err(EventSourceError::ContentType {
            content_type: content_type.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        });
    }
    framing(headers).map(Some)
}

/// How a response body with `headers` ends, or why it is not supported.
fn framing(headers: &HeaderMap) -> Result<Body, EventSourceError> {
    let unsupported =
        |header: HeaderName, value: &HeaderValue| EventSourceError::UnsupportedFraming {
            header,
            value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
        };
    for value in headers.get_all(CONTENT_ENCODING) {
        if !value
            .as_bytes()
            .trim_ascii()
            .eq_ignore_ascii_case(b"identity")
        {
            return Err(unsupported(CONTENT_ENCODING, value));
        }
    }
    let mut codings = headers.get_all(TRANSFER_ENCODING).iter().peekable();
    if codings.peek().is_some() {
        // Only `chunked` alone is supported (we send no TE header).
        for value in codings {
            if !value
                .as_bytes()
                .trim_ascii()
                .eq_ignore_ascii_case(b"chunked")
            {
                return Err(unsupported(TRANSFER_ENCODING, value));
            }
        }
        return Ok(Body::Chunked(ChunkedDecoder::new()));
    }
    let mut lengths = headers.get_all(CONTENT_LENGTH).iter();
    let Some(first) = lengths.next() else {
        return Ok(Body::Close);
    };
    let length = std::str::from_utf8(first.as_bytes().trim_ascii())
        .ok()
        .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse::<u64>().ok());
    match length {
        Some(length) if lengths.all(|other| other == first) => Ok(Body::Length(length)),
        _ => Err(unsupported(CONTENT_LENGTH, first)),
    }
}

/// Whether a `Content-Type` value is `text/event-stream`, parameters
/// allowed, case-insensitive.
fn is_event_stream(value: &[u8]) -> bool {
    let essence = value.split(|&b| b == b';').next().unwrap_or_default();
    essence
        .trim_ascii()
        .eq_ignore_ascii_case(b"text/event-stream")
}

/// Passes the body bytes in `input` to the decoder; `Ok(true)` when the body
/// is complete (bytes after its end are ignored).
fn feed_body(
    body: &mut Body,
    decoder: &mut Decoder,
    input: &mut &[u8],
) -> Result<bool, EventSourceError> {
    unframe(body, input, |data| decoder.feed(data).map_err(Into::into))
}

/// Passes the body bytes in `input` (framing removed) to `sink`; `Ok(true)`
/// when the body is complete (bytes after its end are ignored).
fn unframe(
    body: &mut Body,
    input: &mut &[u8],
    mut sink: impl FnMut(&[u8]) -> Result<(), EventSourceError>,
) -> Result<bool, EventSourceError> {
    match body {
        Body::Close => {
            sink(input)?;
            Ok(false)
        }
        Body::Length(remaining) => {
            let n = usize::try_from(*remaining)
                .unwrap_or(usize::MAX)
                .min(input.len());
            sink(input.get(..n).unwrap_or_default())?;
            // `n <= remaining`.
            *remaining -= n as u64;
            Ok(*remaining == 0)
        }
        Body::Chunked(chunked) => loop {
            match chunked.decode(input)? {
                Chunk::Data(data) => sink(data)?,
                Chunk::NeedMore => return Ok(false),
                Chunk::End => return Ok(true),
            }
        },
    }
}

/// The most of an error response's body [`EventSourceError::Status`] keeps.
pub const ERROR_BODY_LIMIT: usize = 64 << 10;

/// The longest wait for an error response's body.
pub const ERROR_BODY_WAIT: Duration = Duration::from_secs(1);

/// Reads the start of an error response's body (framed by `headers`, the
/// first bytes in `leftover`): up to [`ERROR_BODY_LIMIT`] bytes, for at
/// most [`ERROR_BODY_WAIT`]; what arrived, lossily decoded.
async fn error_body<N: Net + Default>(
    stream: &mut Stream<N>,
    headers: &HeaderMap,
    leftover: Vec<u8>,
) -> String {
    let Ok(mut body) = framing(headers) else {
        return String::new();
    };
    let mut kept = Vec::new();
    let mut input = leftover;
    let read = async {
        loop {
            let mut rest = input.as_slice();
            let done = unframe(&mut body, &mut rest, |data| {
                let room = ERROR_BODY_LIMIT.saturating_sub(kept.len());
                kept.extend_from_slice(data.get(..room.min(data.len())).unwrap_or_default());
                Ok(())
            });
            if !matches!(done, Ok(false)) || kept.len() >= ERROR_BODY_LIMIT {
                return;
            }
            input.clear();
            if !matches!(read_some(stream, &mut input, 4096).await, Ok(1..)) {
                return;
            }
        }
    };
    let rt = N::default();
    // Elapsed: keep what arrived.
    let _ = with_deadline(&rt, rt.now() + ERROR_BODY_WAIT, read).await;
    String::from_utf8_lossy(&kept).into_owned()
}

#[cfg(test)]
mod tests;
