//! What an async runtime must provide to drive tidings: the [`Runtime`] trait
//! (sleeping, spawning, the clock, randomness) and the [`Transport`] bound on
//! byte streams.
//!
//! The protocol modules ([`ws`](tidings_core::ws), [`handshake`](tidings_core::handshake),
//! [`sse`](tidings_core::sse), …) are sans-IO. The async layer on top of them
//! ([`connection`](crate::connection), [`server`](crate::server),
//! [`client`](crate::client)) is written once, against these two traits, and
//! the adapter crates (`tidings-tokio`, `tidings-async-std`, `tidings-smol`)
//! implement them. Nothing in this crate reads the clock, spawns or touches a
//! socket by itself.

use std::future::Future;
use std::time::Instant;

/// The runtime services the async layer needs. Adapters implement it on a
/// zero-sized type.
pub trait Runtime: Clone + Send + Sync + Unpin + 'static {
    /// The future returned by [`Runtime::sleep_until`].
    type Sleep: Future<Output = ()> + Send + 'static;

    /// A future that completes at `deadline` (at once if it has passed).
    fn sleep_until(&self, deadline: Instant) -> Self::Sleep;

    /// Runs `task` in the background.
    fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static;

    /// The current time (the adapters read the system's monotonic clock).
    fn now(&self) -> Instant;

    /// Fills `buf` with cryptographically secure random bytes (for handshake
    /// keys and masking-key seeds).
    fn fill_random(&self, buf: &mut [u8]);
}

/// A byte stream the async layer can run a connection over: any
/// `futures-io` reader and writer (async-std and smol streams directly;
/// tokio streams through the adapter's compatibility wrapper).
pub trait Transport:
    futures_io::AsyncRead + futures_io::AsyncWrite + Send + Unpin + 'static
{
}

impl<T> Transport for T where
    T: futures_io::AsyncRead + futures_io::AsyncWrite + Send + Unpin + 'static
{
}

/// TCP for a runtime: what [`Server`](crate::server::Server) and
/// [`connect`](crate::client::connect) need to listen and dial. Adapters
/// implement it next to [`Runtime`].
pub trait Net: Runtime {
    /// A connected TCP stream (wrapped as a `futures-io` stream if needed).
    type Stream: Transport;
    /// A bound TCP listener.
    type Listener: Send + Sync + 'static;

    /// Binds a listener on `addr` (`"host:port"`, resolved by the runtime).
    fn bind(addr: &str) -> impl Future<Output = std::io::Result<Self::Listener>> + Send;

    /// The address a listener is bound to.
    fn listener_addr(listener: &Self::Listener) -> std::io::Result<core::net::SocketAddr>;

    /// Accepts the next connection, with TCP_NODELAY set, and its peer address.
    fn accept(
        listener: &Self::Listener,
    ) -> impl Future<Output = std::io::Result<(Self::Stream, core::net::SocketAddr)>> + Send;

    /// Connects to `host:port` with TCP_NODELAY set.
    fn connect(host: &str, port: u16)
    -> impl Future<Output = std::io::Result<Self::Stream>> + Send;

    /// The peer (remote) and local addresses of a stream, when known.
    fn addrs(
        stream: &Self::Stream,
    ) -> (Option<core::net::SocketAddr>, Option<core::net::SocketAddr>);
}
