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
//! async-std itself runs on. Sockets are async-io sockets (async-std's
//! own), wrapped in [`Stream`], whose close shuts down the write half
//! (async-std's own close only flushes) and whose reads skip the failing
//! system call when the previous read drained the socket.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use async_io::Async;
use async_std::net::ToSocketAddrs;

use tidings_core::runtime::{Net, Runtime, Transport};

tidings_core::adapter_api!(AsyncStd);

/// The async-std runtime, for the core's async layer.
#[derive(Clone, Copy, Debug, Default)]
pub struct AsyncStd;

/// The future of [`Runtime::sleep_until`] on async-std: an [`async_io::Timer`]
/// that completes with `()` (see [`tidings_async_io::Sleep`]).
pub use tidings_async_io::Sleep;

/// A connected TCP stream (see [`tidings_async_io::TcpStream`]): its
/// `poll_close` shuts down the write half, so the peer sees the end of the
/// stream when a connection closes (async-std's own close only flushes), and
/// a read that drained the socket makes the next one wait for readiness
/// instead of failing first.
pub use tidings_async_io::TcpStream as Stream;

impl Runtime for AsyncStd {
    type Sleep = Sleep;

    fn sleep_until(&self, deadline: Instant) -> Sleep {
        Sleep::until(deadline)
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
    type Listener = Async<std::net::TcpListener>;

    async fn bind(addr: &str) -> io::Result<Self::Listener> {
        tidings_async_io::bind(addr.to_socket_addrs().await?)
    }

    fn listener_addr(listener: &Self::Listener) -> io::Result<SocketAddr> {
        listener.get_ref().local_addr()
    }

    async fn accept(listener: &Self::Listener) -> io::Result<(Stream, SocketAddr)> {
        tidings_async_io::accept(listener).await
    }

    async fn connect(host: &str, port: u16) -> io::Result<Stream> {
        tidings_async_io::connect((host, port).to_socket_addrs().await?).await
    }

    fn addrs(stream: &Stream) -> (Option<SocketAddr>, Option<SocketAddr>) {
        stream.addrs()
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
