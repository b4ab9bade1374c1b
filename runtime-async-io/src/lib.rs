//! # tidings-async-io
//!
//! The TCP stream, listener, dialer and sleep of `tidings-async-std` and
//! `tidings-smol`, written once for both: their runtimes share the
//! [async-io] reactor.
//!
//! [`TcpStream`] reads and writes first and waits for readiness only when an
//! attempt found the socket empty or full; like tokio, it takes a read that
//! returned less than asked for as proof that the socket is empty, so the
//! next read waits instead of failing first (async-io's own socket would
//! make a `recv` system call that fails with `EAGAIN`).
//!
//! Waiting is where async-io costs more than tokio: async-io registers its
//! sources in oneshot mode and re-arms a registration with an `epoll_ctl`
//! system call each time a task waits, one per message for a server that
//! reads, answers and waits again. On Linux (and Android), tidings'
//! sockets are registered edge-triggered, once, with an epoll instance of
//! this crate's own, which is a single source in async-io's reactor: when
//! the reactor reports it, one `epoll_wait` collects the events of all its
//! sockets and wakes their tasks, and one `epoll_ctl` re-arms it, per turn
//! of the reactor rather than per message (as tokio's registrations, which
//! are edge-triggered too). Other platforms use async-io's registration.
//!
//! [async-io]: https://docs.rs/async-io

// No unsafe code (the policy of every tidings crate).
#![deny(unsafe_code)]

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use async_io::{Async, Timer};

mod registration;
mod signal;
mod stream;

pub use signal::shutdown_signal;
pub use stream::TcpStream;

/// A sleep on the reactor's timers: an [`async_io::Timer`] that completes
/// with `()`.
#[derive(Debug)]
pub struct Sleep(Timer);

impl Sleep {
    /// A sleep that completes at `deadline` (at once if it has passed).
    pub fn until(deadline: Instant) -> Self {
        Sleep(Timer::at(deadline))
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(drop)
    }
}

/// Binds a listener on the first of `addrs` that accepts (the last error
/// otherwise).
pub fn bind(addrs: impl IntoIterator<Item = SocketAddr>) -> io::Result<Async<TcpListener>> {
    let mut last_error = None;
    for addr in addrs {
        match Async::<TcpListener>::bind(addr) {
            Ok(listener) => return Ok(listener),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(no_addresses))
}

/// Accepts the next connection, with `TCP_NODELAY` set, and its peer
/// address.
pub async fn accept(listener: &Async<TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    // The plain socket: `TcpStream::new` registers it (async-io's own
    // `accept` would register it with its reactor first).
    let (socket, peer) = listener.read_with(|listener| listener.accept()).await?;
    socket.set_nodelay(true)?;
    Ok((TcpStream::new(socket)?, peer))
}

/// Connects to the first of `addrs` that answers (the last error
/// otherwise), with `TCP_NODELAY` set.
pub async fn connect(addrs: impl IntoIterator<Item = SocketAddr>) -> io::Result<TcpStream> {
    let mut last_error = None;
    for addr in addrs {
        match Async::<std::net::TcpStream>::connect(addr).await {
            Ok(stream) => {
                // Out of async-io's reactor (it only waited for the
                // connection), into the stream's registration.
                let socket = stream.into_inner()?;
                socket.set_nodelay(true)?;
                return TcpStream::new(socket);
            }
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(no_addresses))
}

fn no_addresses() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "could not resolve to any addresses",
    )
}
