//! [`HyperIo`]: a byte stream seen through the other family of IO traits,
//! hyper 1's (`hyper::rt::Read`/`Write`) or futures-io's, both ways.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::rt::{Read, ReadBuf, ReadBufCursor, Write};

/// Adapts a byte stream between hyper 1's IO traits and futures-io's, in
/// whichever direction it implements:
///
/// - a hyper stream (say [`hyper::upgrade::Upgraded`]) becomes a
///   futures-io stream, which tidings runs connections over (the crate
///   does this itself after an upgrade);
/// - a futures-io stream (a smol or async-std `TcpStream`) becomes a hyper
///   stream, to serve hyper on those runtimes without another crate.
///
/// ```
/// # async fn demo() -> std::io::Result<()> {
/// use tidings_axum::HyperIo;
///
/// // hyper's HTTP/1 server on a smol socket:
/// let listener = smol::net::TcpListener::bind("127.0.0.1:0").await?;
/// # let addr = listener.local_addr()?;
/// # let _client = smol::net::TcpStream::connect(addr).await?;
/// let (socket, _peer) = listener.accept().await?;
/// let io = HyperIo::new(socket);
/// // hyper::server::conn::http1::Builder::new().serve_connection(io, service).with_upgrades()
/// # let _ = io.into_inner();
/// # Ok(()) }
/// # smol::block_on(demo()).unwrap();
/// ```
#[derive(Debug)]
pub struct HyperIo<T> {
    inner: T,
}

impl<T> HyperIo<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> Self {
        HyperIo { inner }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// Unwraps the stream.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

/// The most bytes read per call from a futures-io stream on hyper's behalf
/// (through a buffer on the stack: hyper's buffer may be uninitialized).
const BRIDGE_READ: usize = 8 << 10;

impl<T: Read + Unpin> futures_io::AsyncRead for HyperIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut read = ReadBuf::new(buf);
        match Pin::new(&mut self.inner).poll_read(cx, read.unfilled()) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(read.filled().len())),
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: Write + Unpin> futures_io::AsyncWrite for HyperIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<T: futures_io::AsyncRead + Unpin> Read for HyperIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let mut scratch = [0u8; BRIDGE_READ];
        let len = buf.remaining().min(BRIDGE_READ);
        let scratch = scratch.get_mut(..len).unwrap_or_default();
        match Pin::new(&mut self.inner).poll_read(cx, scratch) {
            Poll::Ready(Ok(n)) => {
                buf.put_slice(scratch.get(..n).unwrap_or_default());
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: futures_io::AsyncWrite + Unpin> Write for HyperIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}
