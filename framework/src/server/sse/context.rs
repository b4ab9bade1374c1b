//! The handle an SSE handler writes events through, and how the hub sends
//! to the stream (its [`Recipient`] implementation).

use core::net::SocketAddr;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use http::HeaderMap;

use super::stream::{Offer, Outbox, SseEnd, closed_error};
use super::topic::{SseTopic, Subscription};
use crate::error::Error;
use crate::hub::{Delivery, Hub, OutboxLimits, Parcel, Recipient, SlowConsumer};
use crate::server::Context;
use tidings_core::close::CloseCode;
use tidings_core::sse::Event;

/// One client's event stream, as its handler sees it.
///
/// Cheap to clone; every clone writes to the same stream, so another task
/// may send too. Events are encoded when sent and queued (at most
/// [`SseConfig::buffer_size`](crate::server::SseConfig::buffer_size) of
/// them); the connection's task writes and flushes each at once.
///
/// Once the stream has ended — the client went away, it was too slow, the
/// server is shutting down — every send returns [`Error::Closed`] and
/// [`closed`](Self::closed) is ready; [`end_reason`](Self::end_reason) says
/// which.
///
/// ```
/// # use tidings_framework::Error;
/// # use tidings_framework::server::{Router, SseContext};
/// # use tidings_framework::sse::Event;
/// async fn greet(ctx: SseContext) -> Result<(), Error> {
///     let name = ctx.query("name").unwrap_or("stranger").to_owned();
///     ctx.send_event("greeting", format!("hello, {name}")).await?;
///     ctx.send(Event::new().event("bye").data("line one\nline two")).await?;
///     Ok(())
/// }
///
/// let router = Router::new().sse("/greet", greet);
/// # assert_eq!(router.len(), 1);
/// ```
#[derive(Clone)]
pub struct SseContext {
    inner: Arc<Inner>,
}

struct Inner {
    id: String,
    request: Context,
    last_event_id: Option<String>,
    outbox: Arc<Outbox>,
}

impl std::fmt::Debug for SseContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseContext")
            .field("id", &self.inner.id)
            .field("path", &self.inner.request.path())
            .field("last_event_id", &self.inner.last_event_id)
            .field("end", &self.end_reason())
            .finish()
    }
}

impl SseContext {
    pub(crate) fn new(id: String, request: Context, outbox: Arc<Outbox>) -> Self {
        // Browsers send the id back as it was received, so UTF-8 (not only
        // visible ASCII) is accepted; an empty header means no id.
        let last_event_id = request
            .headers()
            .get("last-event-id")
            .and_then(|value| std::str::from_utf8(value.as_bytes()).ok())
            .filter(|id| !id.is_empty())
            .map(str::to_owned);
        SseContext {
            inner: Arc::new(Inner {
                id,
                request,
                last_event_id,
                outbox,
            }),
        }
    }

    /// The stream as the hub's registry holds it (the same allocation as
    /// this handle's state: no copy of its values).
    pub(crate) fn recipient(&self) -> Arc<dyn Recipient> {
        self.inner.clone()
    }

    /// The stream's server-assigned id (`sse_1`, `sse_2`, …).
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The request that opened the stream (method, URI, route, …).
    pub fn request(&self) -> &Context {
        &self.inner.request
    }

    /// The `Last-Event-ID` request header: the id of the last event a
    /// reconnecting client received (`None` if absent or empty).
    pub fn last_event_id(&self) -> Option<&str> {
        self.inner.last_event_id.as_deref()
    }

    /// A path parameter, e.g. `param("room")` for `/events/:room`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.inner.request.param(name)
    }

    /// The first value of a query parameter, percent-decoded.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.inner.request.query(name)
    }

    /// A request header as text (`None` if absent or not visible ASCII).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.inner.request.header(name)
    }

    /// All request headers.
    pub fn headers(&self) -> &HeaderMap {
        self.inner.request.headers()
    }

    /// The client's address.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.inner.request.remote_addr()
    }

    /// The server's address the client connected to.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.inner.request.local_addr()
    }

    /// A value attached by middleware with [`Context::set`].
    pub fn get<T: Clone + Send + Sync + 'static>(&self) -> Option<&T> {
        self.inner.request.get::<T>()
    }

    /// Encodes `event` and queues it for the client.
    ///
    /// Completes as soon as the event is queued. When the queue is full it
    /// waits for room; if the client takes nothing for
    /// [`SseConfig::send_timeout`](crate::server::SseConfig::send_timeout),
    /// it is disconnected as too slow.
    ///
    /// # Errors
    /// [`Error::Closed`] once the stream has ended (see
    /// [`end_reason`](Self::end_reason)); [`Error::Other`] wrapping an
    /// [`EncodeError`](tidings_core::sse::EncodeError) for an event name or id with
    /// a line break (or a NUL in an id) — the stream stays open then.
    pub async fn send(&self, event: Event) -> Result<(), Error> {
        let bytes = event.to_bytes().map_err(Error::other)?;
        self.send_encoded(bytes).await
    }

    /// Sends an event of type `name` with `data`; for JSON data see
    /// [`send_json`](Self::send_json).
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub async fn send_event(&self, name: &str, data: impl Into<String>) -> Result<(), Error> {
        self.send(Event::new().event(name).data(data)).await
    }

    /// Sends an event of type `name` whose data is `value` as compact JSON
    /// (one `data:` line: compact JSON never contains a raw line break).
    ///
    /// # Errors
    /// [`Error::Json`] when `value` cannot be serialized (nothing is sent
    /// then); otherwise as [`send`](Self::send).
    pub async fn send_json<T: serde::Serialize + ?Sized>(
        &self,
        name: &str,
        value: &T,
    ) -> Result<(), Error> {
        self.send_event(name, serde_json::to_string(value)?).await
    }

    /// Queues an already encoded event (from [`Event::to_bytes`]), so one
    /// encoding can be shared by many clients. The bytes must be whole
    /// events; they are written as they are.
    ///
    /// # Errors
    /// [`Error::Closed`] once the stream has ended.
    pub async fn send_encoded(&self, bytes: Bytes) -> Result<(), Error> {
        poll_fn(|cx| self.inner.outbox.poll_push(cx, &bytes))
            .await
            .map_err(|_| closed_error())?;
        self.hub().counters().sent(bytes.len());
        Ok(())
    }

    /// The server's [`Hub`]: connections, rooms, broadcast, statistics.
    pub fn hub(&self) -> &Arc<Hub> {
        self.inner.request.hub()
    }

    /// Joins `room` (see [`Hub::join`]); broadcasts to the room reach this
    /// client as events. Returns `false` if already in it. The stream
    /// leaves all its rooms when it ends.
    pub fn join(&self, room: &str) -> bool {
        self.hub().join(self.id(), room)
    }

    /// Leaves `room`. Returns `false` if it was not in it.
    pub fn leave(&self, room: &str) -> bool {
        self.hub().leave(self.id(), room)
    }

    /// The rooms this stream is in, sorted.
    pub fn rooms(&self) -> Vec<String> {
        self.hub().rooms_of(self.id())
    }

    /// A future that completes when the stream ends: at once when the
    /// client closes its connection (the server reads the socket all the
    /// time, so it notices without waiting for the next event), when the
    /// client is disconnected as too slow, or at server shutdown.
    pub fn closed(&self) -> SseClosed {
        SseClosed {
            outbox: self.inner.outbox.clone(),
        }
    }

    /// Whether the stream has ended.
    pub fn is_closed(&self) -> bool {
        self.inner.outbox.end_reason().is_some()
    }

    /// Why the stream ended, or `None` while it is open.
    pub fn end_reason(&self) -> Option<SseEnd> {
        self.inner.outbox.end_reason()
    }

    /// Polls for the end of the stream (the poll form of [`closed`](Self::closed)).
    pub fn poll_closed(&self, cx: &mut TaskContext<'_>) -> Poll<SseEnd> {
        self.inner.outbox.poll_end(cx)
    }

    /// Forwards `topic` to this client until the stream ends: first what the
    /// client missed since its [`last_event_id`](Self::last_event_id) (or a
    /// reset event, see [`SseTopic`]), then every event published from now
    /// on. Shorthand for
    /// `ctx.forward(topic.subscribe(ctx.last_event_id()))`.
    pub async fn subscribe(&self, topic: &SseTopic) {
        self.forward(topic.subscribe(self.last_event_id())).await;
    }

    /// Forwards a subscription taken earlier (e.g. before sending a
    /// snapshot, so no event between the snapshot and the subscription is
    /// lost) until the stream ends.
    pub async fn forward(&self, mut subscription: Subscription) {
        loop {
            // The next event if there is one (queuing it fails once the
            // stream has ended); the end is looked at only while waiting.
            let next = poll_fn(|cx| match subscription.poll_next_bytes(cx) {
                Poll::Ready(bytes) => Poll::Ready(Some(bytes)),
                Poll::Pending => self.poll_closed(cx).map(|_| None),
            })
            .await;
            let Some(bytes) = next else { return };
            if self.send_encoded(bytes).await.is_err() {
                return;
            }
        }
    }
}

/// How the hub reaches an SSE stream: broadcasts and hub sends are queued
/// in its outbox (never waiting) or end it as too slow; a close ends it
/// after its queued events.
impl Recipient for Inner {
    fn offer(&self, parcel: Parcel<'_>, limits: &OutboxLimits, _policy: &SlowConsumer) -> Delivery {
        // SSE has no close code: the policy's only remedy is the disconnect.
        let Parcel::Sse(bytes) = parcel else {
            return Delivery::Skipped;
        };
        match self.outbox.offer(bytes, limits.bytes) {
            Offer::Queued => Delivery::Queued,
            Offer::Overflow => Delivery::Dropped,
            Offer::Ended => Delivery::Closed,
        }
    }

    fn close(&self, _code: CloseCode, _reason: &str) {
        self.outbox.end(SseEnd::ClosedByServer);
    }

    fn values(&self, f: &mut dyn FnMut(&http::Extensions)) {
        f(&self.request.values);
    }
}

/// The future of [`SseContext::closed`]: completes with the reason the
/// stream ended.
#[derive(Debug)]
pub struct SseClosed {
    outbox: Arc<Outbox>,
}

impl Future for SseClosed {
    type Output = SseEnd;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<SseEnd> {
        self.outbox.poll_end(cx)
    }
}
