//! A WebTransport session as its handler sees it, and its streams.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use tidings_core::webtransport::{ConnectRequest, SessionId, app_error_to_h3, h3_to_app_error};

use super::driver::{Command, Input};

/// Why a session ended, from [`Session::closed`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEnd {
    /// A CLOSE_WEBTRANSPORT_SESSION capsule (from the peer, or from
    /// [`Session::close`]), or the CONNECT stream's end (code 0, no reason).
    Closed {
        /// The application's error code.
        code: u32,
        /// The reason (UTF-8, at most 1024 bytes).
        reason: String,
    },
    /// The peer reset the CONNECT stream with this HTTP/3 error code.
    Reset(u64),
    /// The HTTP/3 layer ended the session with this error code (a protocol
    /// error, the connection closing).
    Error(u64),
    /// The QUIC connection is gone (closed by either side, idle timeout).
    ConnectionLost(String),
}

/// Errors of a session's operations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The session is over: see [`Session::closed`].
    #[error("the WebTransport session is closed")]
    SessionClosed,
    /// The peer reset the stream (RESET_STREAM) with this WebTransport
    /// application error code (`None`: a code outside the WebTransport range).
    #[error("stream reset by the peer (code {0:?})")]
    Reset(Option<u32>),
    /// The peer asked to stop sending (STOP_SENDING) with this code.
    #[error("stream stopped by the peer (code {0:?})")]
    Stopped(Option<u32>),
    /// The QUIC connection failed or was closed.
    #[error("QUIC connection: {0}")]
    Connection(#[from] quinn::ConnectionError),
    /// A datagram could not be sent (too large for the path, or the peer
    /// does not accept datagrams).
    #[error("datagram not sent: {0}")]
    Datagram(String),
    /// [`RecvStream::read_to_end`]: the stream is longer than the limit.
    #[error("stream longer than {0} bytes")]
    TooLong(usize),
    /// The HTTP/3 layer refused the operation (e.g. a close reason over
    /// 1024 bytes).
    #[error(transparent)]
    Send(#[from] tidings_core::webtransport::SendError),
}

impl From<quinn::ReadError> for Error {
    fn from(error: quinn::ReadError) -> Self {
        match error {
            quinn::ReadError::Reset(code) => Error::Reset(h3_to_app_error(code.into_inner())),
            quinn::ReadError::ConnectionLost(e) => Error::Connection(e),
            _ => Error::SessionClosed,
        }
    }
}

impl From<quinn::WriteError> for Error {
    fn from(error: quinn::WriteError) -> Self {
        match error {
            quinn::WriteError::Stopped(code) => Error::Stopped(h3_to_app_error(code.into_inner())),
            quinn::WriteError::ConnectionLost(e) => Error::Connection(e),
            _ => Error::SessionClosed,
        }
    }
}

impl From<quinn::ClosedStream> for Error {
    fn from(_: quinn::ClosedStream) -> Self {
        Error::SessionClosed
    }
}

impl From<Error> for io::Error {
    fn from(error: Error) -> Self {
        let kind = match error {
            Error::Reset(_) | Error::Stopped(_) => io::ErrorKind::ConnectionReset,
            _ => io::ErrorKind::BrokenPipe,
        };
        io::Error::new(kind, error)
    }
}

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

/// One WebTransport session, handed to the route's handler. Dropping it
/// closes the session (code 0) if it is still open.
pub struct Session {
    id: SessionId,
    conn: quinn::Connection,
    request: ConnectRequest,
    inputs: async_channel::Sender<Input>,
    queues: Queues,
    runtime: Arc<dyn quinn::Runtime>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("path", &self.request.path)
            .field("remote", &self.conn.remote_address())
            .finish_non_exhaustive()
    }
}

impl Session {
    pub(super) fn new(
        id: SessionId,
        conn: quinn::Connection,
        request: ConnectRequest,
        inputs: async_channel::Sender<Input>,
        queues: Queues,
        runtime: Arc<dyn quinn::Runtime>,
    ) -> Self {
        Session {
            id,
            conn,
            request,
            inputs,
            queues,
            runtime,
        }
    }

    /// Runs `task` on the server's runtime.
    pub(super) fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.runtime.spawn(Box::pin(task));
    }

    /// The extended CONNECT request that opened the session (path, origin,
    /// headers).
    pub fn request(&self) -> &ConnectRequest {
        &self.request
    }

    /// The peer's UDP address.
    pub fn remote_address(&self) -> std::net::SocketAddr {
        self.conn.remote_address()
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
        let guard = self.guard(recv.id());
        Ok((
            SendStream::new(send, guard.clone()),
            RecvStream::new(recv, first, guard),
        ))
    }

    /// The next unidirectional stream the peer opened for this session.
    pub async fn accept_uni(&self) -> Result<RecvStream, Error> {
        let (recv, first) = self
            .queues
            .uni
            .recv()
            .await
            .map_err(|_| Error::SessionClosed)?;
        let guard = self.guard(recv.id());
        Ok(RecvStream::new(recv, first, guard))
    }

    /// Opens a bidirectional stream (waits while the peer's stream limit
    /// is reached).
    pub async fn open_bi(&self) -> Result<(SendStream, RecvStream), Error> {
        let (mut send, recv) = self.conn.open_bi().await?;
        self.write_header(&mut send).await?;
        let guard = self.guard(send.id());
        Ok((
            SendStream::new(send, guard.clone()),
            RecvStream::new(recv, Bytes::new(), guard),
        ))
    }

    /// Opens a unidirectional stream (waits while the peer's stream limit
    /// is reached).
    pub async fn open_uni(&self) -> Result<SendStream, Error> {
        let mut send = self.conn.open_uni().await?;
        self.write_header(&mut send).await?;
        let guard = self.guard(send.id());
        Ok(SendStream::new(send, guard))
    }

    /// Sends a datagram (unreliable, unordered). Fails if it does not fit
    /// in one QUIC datagram or the peer does not accept datagrams.
    pub async fn send_datagram(&self, payload: Bytes) -> Result<(), Error> {
        let (reply, answer) = async_channel::bounded(1);
        self.command(Command::Datagram {
            session: self.id,
            payload,
            reply,
        })
        .await?;
        answer.recv().await.map_err(|_| Error::SessionClosed)?
    }

    /// The next datagram from the peer. Datagrams that arrive while the
    /// session's queue is full are dropped.
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
        self.command(Command::Close {
            session: self.id,
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

    async fn command(&self, command: Command) -> Result<(), Error> {
        self.inputs
            .send(Input::Command(command))
            .await
            .map_err(|_| Error::SessionClosed)
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

    fn guard(&self, id: quinn::StreamId) -> Arc<StreamGuard> {
        Arc::new(StreamGuard {
            id: id.into(),
            inputs: self.inputs.clone(),
        })
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.queues.end.get().is_none() {
            // Best effort: the driver also ends the session when the
            // connection goes.
            let _ = self.inputs.try_send(Input::Command(Command::Close {
                session: self.id,
                code: 0,
                reason: String::new(),
                reply: None,
            }));
        }
    }
}

/// Tells the driver when both halves of a data stream are gone, so the
/// session's stream count (bounded by the core's `max_streams_per_session`)
/// goes down.
pub(super) struct StreamGuard {
    id: u64,
    inputs: async_channel::Sender<Input>,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let _ = self.inputs.try_send(Input::StreamClosed(self.id));
    }
}

/// The sending half of a WebTransport stream. Also a futures-io
/// [`AsyncWrite`](futures_io::AsyncWrite).
pub struct SendStream {
    inner: quinn::SendStream,
    _guard: Arc<StreamGuard>,
}

impl std::fmt::Debug for SendStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendStream")
            .field("id", &self.inner.id())
            .finish()
    }
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
pub struct RecvStream {
    inner: quinn::RecvStream,
    /// Payload that arrived with the stream header.
    first: Bytes,
    _guard: Arc<StreamGuard>,
}

impl std::fmt::Debug for RecvStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvStream")
            .field("id", &self.inner.id())
            .finish()
    }
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

/// A QUIC variable-length integer from an HTTP/3 code (codes the core
/// produces always fit; a larger one saturates).
pub(super) fn varint(code: u64) -> quinn::VarInt {
    quinn::VarInt::from_u64(code).unwrap_or(quinn::VarInt::MAX)
}
