//! # tidings-async-std
//!
//! tidings on the [async-std] runtime: a WebSocket server with a Forge-style
//! router, and a WebSocket client. Everything but binding, accepting,
//! connecting, sleeping and spawning lives in [`tidings_core`] and is
//! re-exported here.
//!
//! [async-std]: https://docs.rs/async-std
//!
//! ```no_run
//! use tidings_async_std::{Context, Connection, Error, Router, Server};
//!
//! async fn echo(_ctx: Context, conn: Connection) -> Result<(), Error> {
//!     loop {
//!         let message = conn.read().await?;
//!         conn.write_message(&message).await?;
//!     }
//! }
//!
//! fn main() -> std::io::Result<()> {
//!     async_std::task::block_on(async {
//!         let server = Server::bind("127.0.0.1:9001", Router::new().websocket("/ws", echo)).await?;
//!         println!("listening on {}", server.local_addr()?);
//!         server.run().await;
//!         Ok(())
//!     })
//! }
//! ```
//!
//! Connections run as tasks on async-std's global executor
//! (`async_std::task::spawn`); timers are [`async_io::Timer`]s, the reactor
//! async-std itself runs on. Accepted and dialed sockets are wrapped in
//! [`Stream`], whose close shuts down the write half (async-std's own close
//! only flushes).

use std::future::Future;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use async_io::Timer;
use async_std::io::{Read, Write};
use async_std::net::{TcpListener, TcpStream};

use tidings_core::runtime::{Net, Runtime, Transport};

tidings_core::adapter_api!(AsyncStd);

/// The async-std runtime, for the core's async layer.
#[derive(Clone, Copy, Debug, Default)]
pub struct AsyncStd;

/// The future of [`Runtime::sleep_until`] on async-std: an
/// [`async_io::Timer`] that completes with `()`.
#[derive(Debug)]
pub struct Sleep(Timer);

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(drop)
    }
}

/// An async-std TCP stream whose `poll_close` flushes and then shuts down
/// the write half, so the peer sees the end of the stream when a connection
/// closes. (async-std's `poll_close` only flushes: the peer would wait for
/// the socket to be dropped.)
#[derive(Debug)]
pub struct Stream(TcpStream);

impl Stream {
    /// The underlying async-std stream.
    pub fn get_ref(&self) -> &TcpStream {
        &self.0
    }
}

impl Read for Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl Write for Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    /// Forwarded, so that a vectored write is one system call (the trait's
    /// default would write the first buffer only).
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.0).poll_flush(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(self.0.shutdown(Shutdown::Write)),
            other => other,
        }
    }
}

impl Runtime for AsyncStd {
    type Sleep = Sleep;

    fn sleep_until(&self, deadline: Instant) -> Sleep {
        Sleep(Timer::at(deadline))
    }

    fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        // Dropping an async-std JoinHandle detaches the task.
        drop(async_std::task::spawn(task));
    }

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn fill_random(&self, buf: &mut [u8]) {
        // The OS generator failing leaves nothing secure to fall back on.
        if let Err(error) = getrandom::fill(buf) {
            panic!("the operating system's random generator failed: {error}");
        }
    }
}

impl Net for AsyncStd {
    type Stream = Stream;
    type Listener = TcpListener;

    async fn bind(addr: &str) -> io::Result<TcpListener> {
        TcpListener::bind(addr).await
    }

    fn listener_addr(listener: &TcpListener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    async fn accept(listener: &TcpListener) -> io::Result<(Stream, SocketAddr)> {
        let (stream, peer) = listener.accept().await?;
        stream.set_nodelay(true)?;
        Ok((Stream(stream), peer))
    }

    async fn connect(host: &str, port: u16) -> io::Result<Stream> {
        let stream = TcpStream::connect((host, port)).await?;
        stream.set_nodelay(true)?;
        Ok(Stream(stream))
    }

    fn addrs(stream: &Stream) -> (Option<SocketAddr>, Option<SocketAddr>) {
        (stream.0.peer_addr().ok(), stream.0.local_addr().ok())
    }
}

/// Performs the client handshake over an already-connected `futures-io`
/// stream (e.g. TLS). The connection's end calls the stream's `poll_close`,
/// which should shut the stream down (see [`Stream`]).
pub async fn connect_stream<S: Transport>(
    stream: S,
    url: &str,
    config: ClientConfig,
) -> Result<Connection, Error> {
    tidings_core::client::connect_over(stream, url, config, AsyncStd, (None, None)).await
}
