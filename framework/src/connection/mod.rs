//! The async [`Connection`] handle: what a WebSocket handler (or a client)
//! reads from and writes to.
//!
//! A connection is driven by a pump future (in the same task as the server's
//! handler) that moves bytes between the socket and the sans-IO
//! [`ws::Connection`]. The handle talks to it through
//! shared state, so it can be cloned and used from other tasks: one task reads
//! while others write (a heartbeat, a broadcast). Each write queues whole
//! frames under one lock, so concurrent writes never interleave frames.
//!
//! # Cancel safety
//!
//! Every async method is cancel safe: dropping its future before completion
//! loses nothing.
//!
//! - [`read`](Connection::read) / [`read_json`](Connection::read_json): a
//!   message is taken from the queue only in the poll that returns it.
//! - [`write`](Connection::write) and the other writes: a message is queued
//!   entirely in the poll that returns `Ready`, or not at all (a write waits
//!   only while the write buffer is full, before queuing).
//! - [`close`](Connection::close) / [`closed`](Connection::closed): the close
//!   frame is queued on the first poll; dropping the future afterwards does
//!   not undo it.

mod pump;
mod shared;

use core::net::SocketAddr;
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use serde::Serialize;
use serde::de::DeserializeOwned;

pub(crate) use pump::Pump;
use shared::Inner;
pub(crate) use shared::{BufferLimits, Clock, Info, Settings, Shared};

use crate::error::Error;
use crate::hub::Hub;
use tidings_core::close::CloseCode;
use tidings_core::ws::{self, Closed, Message, Outgoing};

/// A handle to one WebSocket connection. Cheap to clone; every clone refers
/// to the same connection.
///
/// When the last clone is dropped, a connection that is still open is closed
/// normally (1000), so a client that forgets to close does not leak its
/// socket and task. (A server handler's connection is closed when the
/// handler returns.)
pub struct Connection {
    /// Counted in `Shared::handles` (not the pump's or a `ClosedFuture`'s
    /// reference), so that the last clone's drop means the user can no
    /// longer reach the connection.
    shared: Arc<Shared>,
}

impl Clone for Connection {
    fn clone(&self) -> Self {
        self.shared.handles.fetch_add(1, Ordering::Relaxed);
        Connection {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // AcqRel: the last drop sees every other clone's use before closing.
        if self.shared.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.start_close(CloseCode::NORMAL, "");
        }
    }
}

impl Connection {
    /// The one handle family of `shared` (call once per connection).
    pub(crate) fn from_shared(shared: Arc<Shared>) -> Self {
        shared.handles.fetch_add(1, Ordering::Relaxed);
        Connection { shared }
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The connection's id, unique within the server (`ws_` followed by a
    /// counter), or `client_…` for a client connection.
    pub fn id(&self) -> &str {
        &self.shared().info.listing.info.id
    }

    /// The peer's address, when the transport has one.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.shared().info.listing.info.remote_addr
    }

    /// The local address, when the transport has one.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.shared().info.local_addr
    }

    /// The subprotocol negotiated in the handshake, if any.
    pub fn subprotocol(&self) -> Option<&str> {
        self.shared()
            .info
            .subprotocol
            .as_deref()
            .map(|name| &**name)
    }

    /// Waits for the next message.
    ///
    /// Returns [`Error::Closed`] once the connection has closed and every
    /// message received before the close has been read. With several clones
    /// reading at once, each message goes to one of them. Cancel safe.
    ///
    /// (A plain function returning the poll function's future, not an
    /// `async fn` that would await it: the future is then one pointer,
    /// where a handler waiting in it keeps it for as long as it waits.)
    pub fn read(&self) -> impl Future<Output = Result<Message, Error>> + Send + '_ {
        poll_fn(|cx| self.poll_read(cx))
    }

    /// Reads the next message (text or binary) and deserializes it from JSON.
    /// Cancel safe.
    pub async fn read_json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let message = self.read().await?;
        Ok(serde_json::from_slice(message.as_bytes())?)
    }

    /// Queues a text message. Waits only while the write buffer is full.
    /// Cancel safe.
    pub async fn write(&self, text: impl AsRef<str>) -> Result<(), Error> {
        let text = text.as_ref();
        poll_fn(|cx| self.poll_send(cx, |inner| inner.send(Outgoing::Text(text)))).await
    }

    /// Queues a binary message. Waits only while the write buffer is full.
    /// Cancel safe.
    pub async fn write_binary(&self, bytes: impl AsRef<[u8]>) -> Result<(), Error> {
        let bytes = bytes.as_ref();
        poll_fn(|cx| self.poll_send(cx, |inner| inner.send(Outgoing::Binary(bytes)))).await
    }

    /// Serializes `value` as JSON and queues it as a text message. Cancel safe.
    pub async fn write_json<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), Error> {
        let text = serde_json::to_string(value)?;
        self.write(text).await
    }

    /// Queues a message of either type (e.g. one just read, to echo it).
    /// Cancel safe. (Named so that `SinkExt::send` stays callable.)
    /// (A plain function, as [`read`](Self::read): its future is two pointers.)
    pub fn write_message<'a>(
        &'a self,
        message: &'a Message,
    ) -> impl Future<Output = Result<(), Error>> + Send + 'a {
        poll_fn(move |cx| self.poll_send(cx, |inner| inner.send_message(message)))
    }

    /// Queues a ping (payload at most 125 bytes). Cancel safe.
    pub async fn ping(&self, payload: impl AsRef<[u8]>) -> Result<(), Error> {
        let payload = payload.as_ref();
        poll_fn(|cx| self.poll_send(cx, |inner| inner.send(Outgoing::Ping(payload)))).await
    }

    /// Waits until everything queued so far has been handed to the transport.
    pub async fn flush(&self) -> Result<(), Error> {
        poll_fn(|cx| self.poll_flush(cx)).await
    }

    /// Closes the connection normally (1000) and waits for the close
    /// handshake to finish (bounded by the close timeout). Messages queued
    /// before are sent first. Cancel safe.
    pub async fn close(&self) -> Result<(), Error> {
        self.close_with(CloseCode::NORMAL, "").await
    }

    /// Closes the connection with `code` and `reason` (at most 123 bytes) and
    /// waits for the close handshake to finish. Closing an already closing
    /// connection just waits. Cancel safe.
    pub async fn close_with(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        {
            let mut inner = self.shared().lock();
            match inner.ws.close(self.shared().now(), code, reason) {
                Ok(()) => inner.wake_pump(),
                Err(ws::SendError::Closed) => {}
                Err(error) => return Err(error.into()),
            }
        }
        self.closed().await;
        Ok(())
    }

    /// A future that completes when the connection has closed: use it to
    /// stop background tasks.
    pub fn closed(&self) -> ClosedFuture {
        ClosedFuture {
            shared: self.shared().clone(),
        }
    }

    /// Whether the connection has closed.
    pub fn is_closed(&self) -> bool {
        self.shared().lock().closed.is_some()
    }

    /// How the connection ended, once it has.
    pub fn close_info(&self) -> Option<Closed> {
        self.shared().lock().closed.as_deref().cloned()
    }

    /// Stores a typed per-connection value (replacing one of the same type),
    /// e.g. a user id attached by authentication middleware.
    pub fn set<T: Clone + Send + Sync + 'static>(&self, value: T) {
        self.shared().set_value(value);
    }

    /// A clone of the stored value of type `T`, if any.
    pub fn get<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.shared().value::<T>()
    }

    /// The server's [`Hub`] (rooms, broadcast, statistics); `None` for a
    /// client connection.
    pub fn hub(&self) -> Option<&Arc<Hub>> {
        self.shared().settings.hub.as_ref()
    }

    /// Joins `room` (see [`Hub::join`]). Returns `false` if already in it,
    /// or for a client connection (which has no hub). The connection
    /// leaves all its rooms when it ends.
    pub fn join(&self, room: &str) -> bool {
        self.hub().is_some_and(|hub| hub.join(self.id(), room))
    }

    /// Leaves `room`. Returns `false` if it was not in it.
    pub fn leave(&self, room: &str) -> bool {
        self.hub().is_some_and(|hub| hub.leave(self.id(), room))
    }

    /// The rooms this connection is in, sorted.
    pub fn rooms(&self) -> Vec<String> {
        self.hub()
            .map(|hub| hub.rooms_of(self.id()))
            .unwrap_or_default()
    }

    /// Starts the close handshake if the connection is still open.
    pub(crate) fn start_close(&self, code: CloseCode, reason: &str) {
        self.shared().start_close(code, reason);
    }

    pub(crate) fn set_values(&self, values: http::Extensions) {
        self.shared().extend_values(values);
    }

    /// Polls for the next message (see [`read`](Self::read)).
    pub fn poll_read(&self, cx: &mut Context<'_>) -> Poll<Result<Message, Error>> {
        let mut inner = self.shared().lock();
        let was_full = inner.unread_bytes() >= self.shared().limits().inbox_bytes;
        // Parse the next message from input the pump has already read.
        if inner.drain_events_for(Some(cx.waker())) && inner.ws.pending_transmit() > 0 {
            // Parsing may have queued a pong or a close reply.
            inner.wake_pump_from(cx.waker());
        }
        if let Some(message) = inner.inbox.take() {
            if was_full {
                // The pump stopped reading the transport; let it resume.
                inner.wake_pump();
            }
            return Poll::Ready(Ok(message));
        }
        if let Some(closed) = &inner.closed {
            return Poll::Ready(Err(Error::Closed(closed.clone())));
        }
        inner.set_reader_waker(cx.waker());
        if was_full {
            inner.wake_pump();
        }
        Poll::Pending
    }

    /// Queues `message` if the write buffer has room, else waits for room.
    fn poll_send(
        &self,
        cx: &mut Context<'_>,
        send: impl FnOnce(&mut Inner) -> Result<(), ws::SendError>,
    ) -> Poll<Result<(), Error>> {
        let mut inner = self.shared().lock();
        if let Some(closed) = &inner.closed {
            return Poll::Ready(Err(Error::Closed(closed.clone())));
        }
        if !inner.has_write_capacity(self.shared().limits().write_buffer_size) {
            inner.add_waiter(cx.waker());
            return Poll::Pending;
        }
        let result = send(&mut inner);
        inner.wake_pump_from(cx.waker());
        Poll::Ready(result.map_err(Error::from))
    }

    fn poll_write_capacity(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut inner = self.shared().lock();
        if let Some(closed) = &inner.closed {
            return Poll::Ready(Err(Error::Closed(closed.clone())));
        }
        if inner.has_write_capacity(self.shared().limits().write_buffer_size) {
            return Poll::Ready(Ok(()));
        }
        inner.add_waiter(cx.waker());
        Poll::Pending
    }

    fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut inner = self.shared().lock();
        if inner.ws.pending_transmit() == 0 && inner.in_flight == 0 {
            return Poll::Ready(Ok(()));
        }
        if inner.finished {
            let closed = inner.closed.clone();
            return Poll::Ready(Err(closed.map_or_else(
                || Error::Io(std::io::ErrorKind::BrokenPipe.into()),
                Error::Closed,
            )));
        }
        inner.add_waiter(cx.waker());
        inner.wake_pump();
        Poll::Pending
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.shared().info.listing.info.id)
            .field("remote_addr", &self.shared().info.listing.info.remote_addr)
            .finish_non_exhaustive()
    }
}

/// The future of [`Connection::closed`]: completes when the connection has
/// closed.
#[derive(Debug)]
pub struct ClosedFuture {
    shared: Arc<Shared>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("id", &self.info.listing.info.id)
            .finish_non_exhaustive()
    }
}

impl Future for ClosedFuture {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut inner = self.shared.lock();
        if inner.closed.is_some() {
            return Poll::Ready(());
        }
        inner.add_waiter(cx.waker());
        Poll::Pending
    }
}

/// Yields each message until the connection closes, then ends. A close that
/// was not clean ends the stream too; [`Connection::close_info`] tells how it
/// ended. Errors other than the close are yielded as `Err`.
impl futures_core::Stream for Connection {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.poll_read(cx) {
            Poll::Ready(Err(Error::Closed(_))) => Poll::Ready(None),
            Poll::Ready(result) => Poll::Ready(Some(result)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Sends messages; `poll_ready` waits for room in the write buffer,
/// `poll_flush` until the queue has been written, `poll_close` starts the
/// close handshake (1000) and waits for its end.
impl futures_sink::Sink<Message> for Connection {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.poll_write_capacity(cx)
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        let mut inner = self.shared().lock();
        if let Some(closed) = &inner.closed {
            return Err(Error::Closed(closed.clone()));
        }
        let result = inner.send_message(&message);
        inner.wake_pump();
        result.map_err(Error::from)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Connection::poll_flush(&self, cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.start_close(CloseCode::NORMAL, "");
        let mut inner = self.shared().lock();
        if inner.closed.is_some() {
            return Poll::Ready(Ok(()));
        }
        inner.add_waiter(cx.waker());
        Poll::Pending
    }
}
