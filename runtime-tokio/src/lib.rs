//! # tidings-tokio
//!
//! tidings on the [tokio] runtime: a WebSocket server with a Forge-style
//! router, and a WebSocket client. Everything but binding, accepting,
//! connecting, sleeping and spawning lives in [`tidings_core`] and is
//! re-exported here.
//!
//! ```no_run
//! use tidings_tokio::{Context, Connection, Error, Router, Server};
//!
//! async fn echo(_ctx: Context, conn: Connection) -> Result<(), Error> {
//!     loop {
//!         let message = conn.read().await?;
//!         conn.write_message(&message).await?;
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let server = Server::bind("127.0.0.1:9001", Router::new().websocket("/ws", echo)).await?;
//!     println!("listening on {}", server.local_addr()?);
//!     server.run().await;
//!     Ok(())
//! }
//! ```
//!
//! Requires a tokio runtime with the time and net drivers enabled (as
//! `#[tokio::main]` gives).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::compat::TokioAsyncReadCompatExt;

use tidings_core::runtime::{Net, Runtime};

mod stream;

pub use stream::TokioStream;

tidings_core::adapter_api!(Tokio);

/// The tokio runtime, for the core's async layer.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tokio;

impl Runtime for Tokio {
    type Sleep = tokio::time::Sleep;

    fn sleep_until(&self, deadline: Instant) -> Self::Sleep {
        tokio::time::sleep_until(deadline.into())
    }

    fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(tokio::spawn(task));
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

impl Net for Tokio {
    type Stream = TokioStream;
    type Listener = TcpListener;

    async fn bind(addr: &str) -> io::Result<TcpListener> {
        TcpListener::bind(addr).await
    }

    fn listener_addr(listener: &TcpListener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    async fn accept(listener: &TcpListener) -> io::Result<(Self::Stream, SocketAddr)> {
        let (stream, peer) = listener.accept().await?;
        stream.set_nodelay(true)?;
        Ok((TokioStream::new(stream), peer))
    }

    async fn connect(host: &str, port: u16) -> io::Result<Self::Stream> {
        let stream = TcpStream::connect((host, port)).await?;
        stream.set_nodelay(true)?;
        Ok(TokioStream::new(stream))
    }

    fn addrs(stream: &Self::Stream) -> (Option<SocketAddr>, Option<SocketAddr>) {
        (
            stream.get_ref().peer_addr().ok(),
            stream.get_ref().local_addr().ok(),
        )
    }
}

/// Performs the client handshake over an already-connected tokio stream
/// (e.g. TLS).
pub async fn connect_stream<S>(
    stream: S,
    url: &str,
    config: ClientConfig,
) -> Result<Connection, Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    tidings_core::client::connect_over(stream.compat(), url, config, Tokio, (None, None)).await
}
