//! # tidings-async-io
//!
//! The TCP stream, listener, dialer and sleep of `tidings-async-std` and
//! `tidings-smol`, written once for both: their runtimes share the
//! [async-io] reactor.
//!
//! [`TcpStream`] is an [`async_io::Async`] socket that remembers when a read
//! drained the socket. async-io keeps no readiness of its own: a read that
//! finds no data costs a failed `recv` system call before the task waits.
//! Like tokio, [`TcpStream`] takes a read that returned less than asked for
//! as proof that the socket is empty, and waits for readiness at once the
//! next time it is read.
//!
//! [async-io]: https://docs.rs/async-io

// No unsafe code (the policy of every tidings crate).
#![deny(unsafe_code)]

use std::future::Future;
use std::io::{self, IoSlice, Read};
use std::net::{Shutdown, SocketAddr, TcpListener};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use async_io::{Async, Timer};

mod signal;

pub use signal::shutdown_signal;

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

/// A connected TCP stream on the async-io reactor, with `TCP_NODELAY` set
/// by [`accept`] and [`connect`]; a `futures-io` stream whose
/// [`poll_close`](futures_io::AsyncWrite::poll_close) flushes and then shuts
/// down the write half, so the peer sees the end of the stream.
#[derive(Debug)]
pub struct TcpStream {
    inner: Async<std::net::TcpStream>,
    /// The last read returned less than asked for (the socket was empty
    /// then): the next read waits for readiness before trying.
    drained: bool,
}

impl TcpStream {
    /// Wraps a socket registered with the reactor.
    pub fn new(inner: Async<std::net::TcpStream>) -> Self {
        TcpStream {
            inner,
            drained: false,
        }
    }

    /// The socket.
    pub fn get_ref(&self) -> &Async<std::net::TcpStream> {
        &self.inner
    }

    /// The peer (remote) and local addresses, when known.
    pub fn addrs(&self) -> (Option<SocketAddr>, Option<SocketAddr>) {
        let socket = self.inner.get_ref();
        (socket.peer_addr().ok(), socket.local_addr().ok())
    }
}

impl futures_io::AsyncRead for TcpStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            if self.drained {
                // Registers the task's waker (once per waker) until the
                // reactor reports data.
                ready!(self.inner.poll_readable(cx))?;
                self.drained = false;
            }
            match self.inner.get_ref().read(buf) {
                Ok(n) => {
                    // A short read emptied the socket (0 is the end of the
                    // stream: reading again returns it at once).
                    self.drained = 0 < n && n < buf.len();
                    return Poll::Ready(Ok(n));
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => self.drained = true,
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
    }
}

impl futures_io::AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &self.inner).poll_write(cx, buf)
    }

    /// Forwarded, so that a vectored write is one system call (the trait's
    /// default would write the first buffer only).
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &self.inner).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &self.inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(Pin::new(&mut &self.inner).poll_flush(cx))?;
        Poll::Ready(self.inner.get_ref().shutdown(Shutdown::Write))
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
    let (stream, peer) = listener.accept().await?;
    stream.get_ref().set_nodelay(true)?;
    Ok((TcpStream::new(stream), peer))
}

/// Connects to the first of `addrs` that answers (the last error
/// otherwise), with `TCP_NODELAY` set.
pub async fn connect(addrs: impl IntoIterator<Item = SocketAddr>) -> io::Result<TcpStream> {
    let mut last_error = None;
    for addr in addrs {
        match Async::<std::net::TcpStream>::connect(addr).await {
            Ok(stream) => {
                stream.get_ref().set_nodelay(true)?;
                return Ok(TcpStream::new(stream));
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

#[cfg(test)]
mod tests {
    use std::future::poll_fn;
    use std::io::Write;
    use std::pin::Pin;

    use futures_io::AsyncRead;

    use super::*;

    /// A plain socket and, connected to it, a [`TcpStream`].
    fn connected() -> (std::net::TcpStream, TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (socket, _) = listener.accept().unwrap();
        (peer, TcpStream::new(Async::new(socket).unwrap()))
    }

    fn read(stream: &mut TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        async_io::block_on(poll_fn(|cx| Pin::new(&mut *stream).poll_read(cx, buf)))
    }

    /// A short read marks the socket drained; what arrives later (from
    /// another thread, while the reader waits) is still read, and so is the
    /// end of the stream.
    #[test]
    fn reads_after_a_short_read() {
        let (mut peer, mut stream) = connected();
        let mut buf = [0; 16];

        peer.write_all(b"ab").unwrap();
        assert_eq!(read(&mut stream, &mut buf).unwrap(), 2);
        assert!(stream.drained);

        let writer = std::thread::spawn(move || {
            peer.write_all(b"cd").unwrap();
            peer
        });
        assert_eq!(read(&mut stream, &mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], b"cd");

        drop(writer.join().unwrap());
        assert_eq!(read(&mut stream, &mut buf).unwrap(), 0);
        assert_eq!(read(&mut stream, &mut buf).unwrap(), 0);
    }

    /// A read that fills the buffer leaves the stream undrained: the rest
    /// is read without waiting for readiness.
    #[test]
    fn a_full_read_reads_on() {
        let (mut peer, mut stream) = connected();
        let mut buf = [0; 4];

        peer.write_all(b"abcdef").unwrap();
        let mut got = Vec::new();
        while got.len() < 6 {
            let n = read(&mut stream, &mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"abcdef");
    }
}
