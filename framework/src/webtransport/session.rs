//! A WebTransport session as its handler sees it, and its streams.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use tidings_core::webtransport::{ConnectRequest, SessionId, app_error_to_h3};

use super::error::{Error, SessionEnd, varint};
use super::input::{Command, Input};
use crate::hub::Hub;

/// The session's queues and end, shared by the driver (sending side) and
/// the [`Session`] (receiving side).
pub(super) struct Queues {
    pub(super) bi: async_channel::Receiver<(quinn::SendStream, quinn::RecvStream, Bytes)>,
    pub(super) uni: async_channel::Receiver<(quinn::RecvStream, Bytes)>,
    pub(super) datagrams: async_channel::Receiver<Bytes>,
    /// Never carries a value: closed by the driver when the session ends,
    /// after `end` is set.
    pub(super) closed: async_channel::Receiver<()>,
    pub(super) end: Arc<OnceLock<SessionEnd>>,
}

/// What acts on a session without owning its queues: the session itself,
/// and its outbox's delivery task.
#[derive(Clone)]
pub(super) struct Link {
    pub(super) id: SessionId,
    pub(super) conn: quinn::Connection,
    pub(super) inputs: async_channel::Sender<Input>,
    /// The driver's unbounded queue, for what must not be lost: the end of
    /// a stream or of the session (one entry per stream or session).
    pub(super) notices: async_channel::Sender<Input>,
    pub(super) runtime: Arc<dyn quinn::Runtime>,
}

impl Link {
    async fn command(&self, command: Command) -> Result<(), Error> {
        self.inputs
            .send(Input::Command(command))
            .await
            .map_err(|_| Error::SessionClosed)
    }

    /// Asks the driver to close the session, without waiting (a notice,
    /// never lost to a full queue).
    pub(super) fn close_now(&self, code: u32, reason: &str) {
        // Fails only when the driver is gone with the connection.
        let _ = self.notices.try_send(Input::Command(Command::Close {
            session: self.id,
            code,
            reason: reason.to_owned(),
            reply: None,
        }));
    }

    pub(super) async fn send_datagram(&self, payload: Bytes) -> Result<(), Error> {
        let (reply, answer) = async_channel::bounded(1);
        self.command(Command::Datagram {
            session: self.id,
            payload,
            reply,
        })
        .await?;
        answer.recv().await.map_err(|_| Error::SessionClosed)?
    }

    async fn write_header(&self, send: &mut quinn::SendStream) -> Result<(), Error> {
        let (reply, answer) = async_channel::bounded(1);
        self.command(Command::Header {
            session: self.id,
            id: send.id().into(),
            reply,
        })
        .await?;
        let header = answer.recv().await.map_err(|_| Error::SessionClosed)??;
        send.write_all(&header).await?;
        Ok(())
    }

    pub(super) async fn open_uni(&self) -> Result<SendStream, Error> {
        let mut send = self.conn.open_uni().await?;
        self.write_header(&mut send).await?;
        let guard = self.guard(send.id());
        Ok(SendStream::new(send, guard))
    }

    fn guard(&self, id: quinn::StreamId) -> Arc<StreamGuard> {
        Arc::new(StreamGuard {
            id: id.into(),
            notices: self.notices.clone(),
        })
    }
}

/// Closes the session (code 0) when the last holder is gone: the
/// [`Session`] and the task running its handler each hold one, so the
/// handler's error code goes out before this one.
pub(super) struct CloseOnDrop {
    pub(super) link: Link,
    pub(super) end: Arc<OnceLock<SessionEnd>>,
}

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        if self.end.get().is_none() {
            self.link.close_now(0, "");
        }
    }
}

/// What a session knows of the hub it is registered in.
pub(super) struct Membership {
    pub(super) hub: Arc<Hub>,
    pub(super) id: Arc<str>,
    pub(super) values: Arc<http::Extensions>,
}

/// One WebTransport session, handed to the route's handler. Dropping it
/// closes the session (code 0) if it is still open and its handler is
/// over.
///
/// Incoming unidirectional streams are taken either as streams
/// ([`accept_uni`](Self::accept_uni)) or as messages
/// ([`receive_message`](Self::receive_message)): both take the next one
/// from the same queue.
pub struct Session {
    link: Link,
    request: ConnectRequest,
    queues: Queues,
    membership: Membership,
    max_message_size: usize,
    _close: Arc<CloseOnDrop>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.membership.id)
            .field("path", &self.request.path)
            .field("remote", &self.link.conn.remote_address())
            .finish_non_exhaustive()
    }
}

impl Session {
    pub(super) fn new(
        link: Link,
        request: ConnectRequest,
        queues: Queues,
        membership: Membership,
        max_message_size: usize,
        close: Arc<CloseOnDrop>,
    ) -> Self {
        Session {
            link,
            request,
            queues,
            membership,
            max_message_size,
            _close: close,
        }
    }

    /// Runs `task` on the server's runtime.
    pub(super) fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.link.runtime.spawn(Box::pin(task));
    }

    /// The session's id in the hub (`wt_N`, or `{node}.wt_N` on a node of
    /// a cluster).
    pub fn id(&self) -> &str {
        &self.membership.id
    }

    /// The server's hub: connections, rooms, broadcast, statistics.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.membership.hub
    }

    /// Puts the session in `room` (see [`Hub::join`]); it leaves every
    /// room when it ends.
    pub fn join(&self, room: &str) -> bool {
        self.membership.hub.join(&self.membership.id, room)
    }

    /// Takes the session out of `room`.
    pub fn leave(&self, room: &str) -> bool {
        self.membership.hub.leave(&self.membership.id, room)
    }

    /// A clone of the value of type `T` that middleware attached to the
    /// request's [`Context`](crate::server::Context) (e.g. the user an
    /// [`Authenticator`](crate::server::Authenticator) found).
    pub fn get<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.membership.values.get::<T>().cloned()
    }

    /// The extended CONNECT request that opened the session (path, origin,
    /// headers).
    pub fn request(&self) -> &ConnectRequest {
        &self.request
    }

    /// The peer's UDP address.
    pub fn remote_address(&self) -> std::net::SocketAddr {
        self.link.conn.remote_address()
    }

    /// The QUIC connection's statistics (bytes and packets in and out,
    /// path), e.g. to watch how much a peer has sent.
    pub fn quic_stats(&self) -> quinn::ConnectionStats {
        self.link.conn.stats()
    }

    /// The next bidirectional stream the peer opened for this session.
    /// Fails with [`Error::SessionClosed`] once the session is over and
    /// every stream that arrived before has been taken.
    pub async fn accept_bi(&self) -> Result<(SendStream, RecvStream), Error> {
        let (send, recv, first) = self
            .queues
            .bi
            .recv()
            .await
            .map_err(|_| Error::SessionClosed)?;
        let guard = self.link.guard(recv.id());
        Ok((
            SendStream::new(send, guard.clone()),
            RecvStream::new(recv, first, guard),
        ))
    }

    /// The next unidirectional stream the peer opened for this session
    /// (the same queue as [`receive_message`](Self::receive_message)'s).
    pub async fn accept_uni(&self) -> Result<RecvStream, Error> {
        let (recv, first) = self
            .queues
            .uni
            .recv()
            .await
            .map_err(|_| Error::SessionClosed)?;
        let guard = self.link.guard(recv.id());
        Ok(RecvStream::new(recv, first, guard))
    }

    /// Opens a bidirectional stream (waits while the peer's stream limit
    /// is reached).
    pub async fn open_bi(&self) -> Result<(SendStream, RecvStream), Error> {
        let (mut send, recv) = self.link.conn.open_bi().await?;
        self.link.write_header(&mut send).await?;
        let guard = self.link.guard(send.id());
        Ok((
            SendStream::new(send, guard.clone()),
            RecvStream::new(recv, Bytes::new(), guard),
        ))
    }

    /// Opens a unidirectional stream (waits while the peer's stream limit
    /// is reached).
    pub async fn open_uni(&self) -> Result<SendStream, Error> {
        self.link.open_uni().await
    }

    /// Sends one message: a new unidirectional stream carrying `message`
    /// whole, then finished. Waits while the peer's stream limit is
    /// reached, and while QUIC flow control holds the bytes back. The
    /// peer reads it as one stream to its end (what
    /// [`receive_message`](Self::receive_message) does).
    pub async fn send_message(&self, message: impl Into<Bytes>) -> Result<(), Error> {
        let mut send = self.open_uni().await?;
        send.write(message.into()).await?;
        send.finish()
    }

    /// Receives one message: the next unidirectional stream the peer
    /// opened, read to its end. Fails with [`Error::TooLong`] (the stream
    /// is stopped) when it is longer than
    /// [`Config::max_message_size`](super::Config::max_message_size),
    /// with [`Error::Reset`] when the peer abandons it, and with
    /// [`Error::SessionClosed`] once the session is over.
    ///
    /// It takes streams from the same queue as
    /// [`accept_uni`](Self::accept_uni): a session that calls both gets
    /// each stream in one or the other, whichever asks first.
    pub async fn receive_message(&self) -> Result<Bytes, Error> {
        let mut recv = self.accept_uni().await?;
        recv.read_to_end(self.max_message_size)
            .await
            .map(Bytes::from)
    }

    /// Sends a datagram (unreliable, unordered). Fails if it does not fit
    /// in one QUIC datagram or the peer does not accept datagrams.
    pub async fn send_datagram(&self, payload: Bytes) -> Result<(), Error> {
        self.link.send_datagram(payload).await
    }

    /// The next datagram from the peer. Datagrams that arrive while the
    /// session's queue is full are dropped (and counted in
    /// [`Stats::webtransport_datagrams_dropped`](crate::hub::Stats::webtransport_datagrams_dropped)).
    pub async fn read_datagram(&self) -> Result<Bytes, Error> {
        self.queues
            .datagrams
            .recv()
            .await
            .map_err(|_| Error::SessionClosed)
    }

    /// Closes the session: a CLOSE_WEBTRANSPORT_SESSION capsule with `code`
    /// and `reason` (at most 1024 bytes), then the end of the CONNECT
    /// stream; the session's streams are reset.
    pub async fn close(&self, code: u32, reason: &str) -> Result<(), Error> {
        let (reply, answer) = async_channel::bounded(1);
        self.link
            .command(Command::Close {
                session: self.link.id,
                code,
                reason: reason.to_owned(),
                reply: Some(reply),
            })
            .await?;
        answer.recv().await.map_err(|_| Error::SessionClosed)?
    }

    /// Waits for the session's end and says how it ended.
    pub async fn closed(&self) -> SessionEnd {
        // The channel never carries a value: this returns when it closes.
        let _ = self.queues.closed.recv().await;
        self.queues
            .end
            .get()
            .cloned()
            .unwrap_or_else(|| SessionEnd::ConnectionLost("the connection task ended".into()))
    }
}

/// Tells the driver when both halves of a data stream are gone, so the
/// session's stream count (bounded by the core's `max_streams_per_session`)
/// goes down.
#[derive(Debug)]
pub(super) struct StreamGuard {
    id: u64,
    notices: async_channel::Sender<Input>,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let _ = self.notices.try_send(Input::StreamClosed(self.id));
    }
}

/// The sending half of a WebTransport stream. Also a futures-io
/// [`AsyncWrite`](futures_io::AsyncWrite).
#[derive(Debug)]
pub struct SendStream {
    inner: quinn::SendStream,
    _guard: Arc<StreamGuard>,
}

impl SendStream {
    fn new(inner: quinn::SendStream, guard: Arc<StreamGuard>) -> Self {
        SendStream {
            inner,
            _guard: guard,
        }
    }

    /// Writes `data` entirely (no copy: the bytes are queued as they are).
    pub async fn write(&mut self, data: Bytes) -> Result<(), Error> {
        self.inner.write_chunk(data).await?;
        Ok(())
    }

    /// Writes all of `chunks`, as many at once as the stream takes (one
    /// round with the connection for several chunks; each is moved out,
    /// without a copy).
    pub async fn write_all_chunks(&mut self, chunks: &mut [Bytes]) -> Result<(), Error> {
        self.inner.write_all_chunks(chunks).await?;
        Ok(())
    }

    /// Writes all of `data`.
    pub async fn write_all(&mut self, data: &[u8]) -> Result<(), Error> {
        self.inner.write_all(data).await?;
        Ok(())
    }

    /// Ends the stream (FIN) after what was written.
    pub fn finish(&mut self) -> Result<(), Error> {
        self.inner.finish()?;
        Ok(())
    }

    /// Abandons the stream with a WebTransport application error code.
    pub fn reset(&mut self, code: u32) -> Result<(), Error> {
        self.inner.reset(varint(app_error_to_h3(code)))?;
        Ok(())
    }
}

impl futures_io::AsyncWrite for SendStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        futures_io::AsyncWrite::poll_write(Pin::new(&mut self.inner), cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_io::AsyncWrite::poll_flush(Pin::new(&mut self.inner), cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_io::AsyncWrite::poll_close(Pin::new(&mut self.inner), cx)
    }
}

/// The receiving half of a WebTransport stream. Also a futures-io
/// [`AsyncRead`](futures_io::AsyncRead).
#[derive(Debug)]
pub struct RecvStream {
    inner: quinn::RecvStream,
    /// Payload that arrived with the stream header.
    first: Bytes,
    _guard: Arc<StreamGuard>,
}

impl RecvStream {
    fn new(inner: quinn::RecvStream, first: Bytes, guard: Arc<StreamGuard>) -> Self {
        RecvStream {
            inner,
            first,
            _guard: guard,
        }
    }

    /// The next bytes of the stream as they arrived (no copy), or `None`
    /// at its end.
    pub async fn read(&mut self) -> Result<Option<Bytes>, Error> {
        if !self.first.is_empty() {
            return Ok(Some(std::mem::take(&mut self.first)));
        }
        Ok(self
            .inner
            .read_chunk(usize::MAX, true)
            .await?
            .map(|chunk| chunk.bytes))
    }

    /// Reads the next chunks into `chunks` (as many as have arrived, at
    /// most `chunks.len()`, at least one): how many, or `None` at the end
    /// of the stream. Several chunks in one round with the connection, for
    /// streams that carry more than a packet at a time (see
    /// [`SendStream::write_all_chunks`]).
    pub async fn read_chunks(&mut self, chunks: &mut [Bytes]) -> Result<Option<usize>, Error> {
        if !self.first.is_empty() && !chunks.is_empty() {
            chunks[0] = std::mem::take(&mut self.first);
            return Ok(Some(1));
        }
        Ok(self.inner.read_chunks(chunks).await?)
    }

    /// Reads to the end of the stream; fails if the peer resets it, or
    /// with [`Error::TooLong`] if more than `limit` bytes arrive (the
    /// stream is then stopped with code 0).
    pub async fn read_to_end(&mut self, limit: usize) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        while let Some(chunk) = self.read().await? {
            if out.len() + chunk.len() > limit {
                self.stop(0)?;
                return Err(Error::TooLong(limit));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// Asks the peer to stop sending, with a WebTransport application
    /// error code.
    pub fn stop(&mut self, code: u32) -> Result<(), Error> {
        self.inner.stop(varint(app_error_to_h3(code)))?;
        Ok(())
    }
}

impl futures_io::AsyncRead for RecvStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if !self.first.is_empty() {
            let n = buf.len().min(self.first.len());
            let head = self.first.split_to(n);
            buf[..n].copy_from_slice(&head);
            return Poll::Ready(Ok(n));
        }
        futures_io::AsyncRead::poll_read(Pin::new(&mut self.inner), cx, buf)
    }
}
