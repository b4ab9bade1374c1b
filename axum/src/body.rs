//! The response body of everything this crate answers ([`ResponseBody`]),
//! and a refused request ([`Refusal`]).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::StatusCode;
use http_body::{Body, Frame, SizeHint};
use tidings_framework::server::embed::SseBody;

/// The body of the responses this crate makes: a complete body (a tidings
/// GET route's, a refusal), nothing (a `101`), or an SSE stream. An
/// [`http_body::Body`] of `Bytes` that never fails, so hyper serves it and
/// tower layers (tower-http's `TraceLayer`, `CorsLayer`) wrap it; `Default`
/// is the empty body.
///
/// ```
/// use http_body::Body;
/// use tidings_axum::ResponseBody;
///
/// let body = ResponseBody::from("hello");
/// assert_eq!(body.size_hint().exact(), Some(5));
/// assert!(ResponseBody::default().is_end_stream());
/// ```
#[derive(Debug, Default)]
pub struct ResponseBody {
    kind: Kind,
}

#[derive(Debug, Default)]
enum Kind {
    #[default]
    Empty,
    Full(Bytes),
    Sse(SseBody),
}

impl ResponseBody {
    /// The body of an SSE stream.
    pub(crate) fn sse(body: SseBody) -> Self {
        ResponseBody {
            kind: Kind::Sse(body),
        }
    }
}

impl From<Bytes> for ResponseBody {
    fn from(bytes: Bytes) -> Self {
        let kind = if bytes.is_empty() {
            Kind::Empty
        } else {
            Kind::Full(bytes)
        };
        ResponseBody { kind }
    }
}

impl From<&'static str> for ResponseBody {
    fn from(text: &'static str) -> Self {
        Bytes::from_static(text.as_bytes()).into()
    }
}

impl From<String> for ResponseBody {
    fn from(text: String) -> Self {
        Bytes::from(text).into()
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        match &mut this.kind {
            Kind::Empty => Poll::Ready(None),
            Kind::Full(_) => match std::mem::take(&mut this.kind) {
                Kind::Full(bytes) => Poll::Ready(Some(Ok(Frame::data(bytes)))),
                _ => Poll::Ready(None),
            },
            Kind::Sse(body) => body
                .poll_chunk(cx)
                .map(|chunk| chunk.map(|bytes| Ok(Frame::data(bytes)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Full(_) => false,
            Kind::Sse(body) => body.is_end(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Full(bytes) => SizeHint::with_exact(bytes.len() as u64),
            Kind::Sse(_) => SizeHint::default(),
        }
    }
}

/// A request tidings refused, with the complete response to send: an
/// invalid WebSocket handshake (400, 403, 405, 426), 503 beyond the
/// connection limits or during shutdown, a middleware's rejection (401,
/// 429, …). The rejection of the [`WsUpgrade`](crate::WsUpgrade) and
/// [`SseRequest`](crate::SseRequest) extractors (with the `axum` feature it
/// is an `axum::response::IntoResponse`).
///
/// ```
/// # async fn demo(tidings: tidings_axum::Tidings) {
/// use tidings_axum::WsUpgrade;
///
/// // Not an upgrade request: 426 Upgrade Required.
/// let mut request = http::Request::get("/ws").header("host", "x").body(()).unwrap();
/// let refusal = WsUpgrade::from_request(&tidings, &mut request).await.unwrap_err();
/// assert_eq!(refusal.status(), 426);
/// let response = refusal.into_http();
/// assert_eq!(response.headers()["sec-websocket-version"], "13");
/// # }
/// # let tidings = tidings_axum::Tidings::new(tidings_axum::TidingsRouter::new(), Default::default(), tidings_tokio::Tokio);
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(demo(tidings));
/// ```
#[derive(Debug)]
pub struct Refusal {
    response: http::Response<Bytes>,
}

impl Refusal {
    pub(crate) fn new(response: http::Response<Bytes>) -> Self {
        Refusal { response }
    }

    /// The status of the response.
    pub fn status(&self) -> StatusCode {
        self.response.status()
    }

    /// The response to send.
    pub fn into_http(self) -> http::Response<ResponseBody> {
        self.response.map(ResponseBody::from)
    }
}

impl From<Refusal> for http::Response<ResponseBody> {
    fn from(refusal: Refusal) -> Self {
        refusal.into_http()
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "request refused with {}", self.status())
    }
}

impl std::error::Error for Refusal {}
