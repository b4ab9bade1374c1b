//! [`SseRequest`] and [`SseResponse`]: a Server-Sent Events stream written
//! by tidings' SSE machinery, returned from a handler.

use std::future::Future;

use http::Request;
use tidings_framework::Error;
use tidings_framework::server::embed::SseBody;
use tidings_framework::server::{Context, SseContext, SseTopic};

use crate::driver::SseStart;
use crate::{Refusal, ResponseBody, Tidings, addrs_of, restore_head, take_head};

/// An SSE request that tidings accepted, to be answered with an
/// [`SseResponse`] written through tidings' [`SseContext`]: the stream is in
/// the [`Tidings`]' hub (rooms, broadcast, statistics), replays an
/// [`SseTopic`] after the client's `Last-Event-ID`
/// ([`subscribe`](Self::subscribe)), sends keep-alive comments, disconnects
/// clients that read too slowly, and ends at shutdown (see
/// [`SseConfig`](crate::SseConfig)).
///
/// With the `axum` feature it is an extractor (`Tidings: FromRef<S>`). It
/// refuses ([`Refusal`]) methods other than `GET` (405), streams beyond
/// [`SseConfig::max_connections`](crate::SseConfig::max_connections) or
/// during shutdown (503), and what a middleware layer rejects.
///
/// ```
/// use axum::extract::State;
/// use axum::routing::get;
/// use tidings_axum::{ServerConfig, SseRequest, SseResponse, SseTopic, Tidings, TidingsRouter};
///
/// #[derive(Clone)]
/// struct App {
///     tidings: Tidings,
///     news: SseTopic,
/// }
///
/// impl axum::extract::FromRef<App> for Tidings {
///     fn from_ref(app: &App) -> Tidings {
///         app.tidings.clone()
///     }
/// }
///
/// /// What the client missed since its Last-Event-ID, then every new event.
/// async fn news(State(app): State<App>, sse: SseRequest) -> SseResponse {
///     sse.subscribe(&app.news)
/// }
///
/// let app = App {
///     tidings: Tidings::new(TidingsRouter::new(), ServerConfig::default(), tidings_tokio::Tokio),
///     news: SseTopic::new(100),
/// };
/// let router: axum::Router = axum::Router::new().route("/news", get(news)).with_state(app);
/// ```
pub struct SseRequest {
    start: Box<dyn SseStart>,
}

impl std::fmt::Debug for SseRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseRequest")
            .field("path", &self.context().path())
            .field("last_event_id", &self.last_event_id())
            .finish()
    }
}

impl SseRequest {
    /// Accepts the stream `request` asks for, as the extractor does; for
    /// hyper servers without axum. The route the statistics show is the
    /// path.
    ///
    /// ```
    /// use std::convert::Infallible;
    ///
    /// use tidings_axum::{ResponseBody, SseRequest, SseTopic, Tidings};
    ///
    /// async fn events<B>(
    ///     tidings: Tidings,
    ///     topic: SseTopic,
    ///     mut request: http::Request<B>,
    /// ) -> Result<http::Response<ResponseBody>, Infallible> {
    ///     Ok(match SseRequest::from_request(&tidings, &mut request).await {
    ///         Ok(sse) => sse.subscribe(&topic).into_http(),
    ///         Err(refusal) => refusal.into_http(),
    ///     })
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// The [`Refusal`] to answer with.
    pub async fn from_request<B>(
        tidings: &Tidings,
        request: &mut Request<B>,
    ) -> Result<SseRequest, Refusal> {
        let route = request.uri().path().to_owned();
        let head = take_head(request);
        let result = Self::accept(tidings, &head, &route).await;
        restore_head(request, head);
        result
    }

    /// Accepts a stream for the request whose head is `head`.
    pub(crate) async fn accept(
        tidings: &Tidings,
        head: &Request<()>,
        route: &str,
    ) -> Result<SseRequest, Refusal> {
        let addrs = addrs_of(head.extensions());
        let start = tidings
            .driver
            .sse(head, addrs, route)
            .await
            .map_err(Refusal::new)?;
        Ok(SseRequest { start })
    }

    /// The response whose events `handler` writes through its
    /// [`SseContext`] (`send`, `send_json`, `subscribe`, `join`, …). The
    /// handler runs in a task of its own; the stream ends when it returns
    /// (after its queued events), when the client goes away, when the
    /// client is too slow, or at shutdown.
    pub fn respond<F, Fut>(self, handler: F) -> SseResponse
    where
        F: FnOnce(SseContext) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        let head = self.start.response();
        let body = self
            .start
            .start(Some(Box::new(move |ctx| Box::pin(handler(ctx)))));
        SseResponse { head, body }
    }

    /// The response that forwards `topic`: first what the client missed
    /// since its `Last-Event-ID` (or the topic's reset event when that is
    /// no longer kept), then every event published from now on, until the
    /// stream ends.
    pub fn subscribe(self, topic: &SseTopic) -> SseResponse {
        let topic = topic.clone();
        self.respond(move |ctx| async move {
            ctx.subscribe(&topic).await;
            Ok(())
        })
    }

    /// The request's context as the middleware layers left it.
    pub fn context(&self) -> &Context {
        self.start.context()
    }

    /// The `Last-Event-ID` request header (`None` if absent or empty).
    pub fn last_event_id(&self) -> Option<&str> {
        self.start.last_event_id()
    }
}

/// A Server-Sent Events response made by [`SseRequest`]: `200 OK` with
/// `Content-Type: text/event-stream`, `Cache-Control: no-cache` and
/// `X-Accel-Buffering: no`, and the stream as body (a `retry:` field first
/// when [`SseConfig::retry`](crate::SseConfig::retry) is set). An axum
/// `IntoResponse` with the `axum` feature; [`into_http`](Self::into_http)
/// for hyper.
///
/// Do not put a compression layer in front of it: a compressor buffers
/// events.
#[derive(Debug)]
pub struct SseResponse {
    head: http::Response<()>,
    body: SseBody,
}

impl SseResponse {
    /// Builds a response from the head and the body of an accepted stream.
    pub(crate) fn new(head: http::Response<()>, body: SseBody) -> Self {
        SseResponse { head, body }
    }

    /// The HTTP response.
    ///
    /// ```
    /// # async fn demo(tidings: tidings_axum::Tidings) {
    /// use tidings_axum::SseRequest;
    ///
    /// let mut request = http::Request::get("/events").body(()).unwrap();
    /// let sse = SseRequest::from_request(&tidings, &mut request).await.unwrap();
    /// let response = sse.respond(|ctx| async move { ctx.send_event("hello", "world").await }).into_http();
    /// assert_eq!(response.headers()["content-type"], "text/event-stream");
    /// # }
    /// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    /// # rt.block_on(async {
    /// #     let tidings = tidings_axum::Tidings::new(tidings_axum::TidingsRouter::new(), Default::default(), tidings_tokio::Tokio);
    /// #     demo(tidings).await;
    /// # });
    /// ```
    pub fn into_http(self) -> http::Response<ResponseBody> {
        self.head.map(|()| ResponseBody::sse(self.body))
    }
}

impl From<SseResponse> for http::Response<ResponseBody> {
    fn from(response: SseResponse) -> Self {
        response.into_http()
    }
}
