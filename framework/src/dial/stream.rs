//! The stream a client reads and writes after dialing: plain TCP (possibly
//! through a proxy tunnel) or TLS over it.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

use crate::runtime::Transport;

/// A dialed connection: TCP as is, or wrapped in TLS.
pub(crate) enum ClientStream<S> {
    /// `ws://` and `http://`.
    Plain(S),
    /// `wss://` and `https://` (boxed: the TLS state is large).
    #[cfg(feature = "_tls")]
    Tls(Box<futures_rustls::client::TlsStream<S>>),
}

impl<S: Transport> AsyncRead for ClientStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Plain(io) => Pin::new(io).poll_read(cx, buf),
            #[cfg(feature = "_tls")]
            ClientStream::Tls(io) => Pin::new(io.as_mut()).poll_read(cx, buf),
        }
    }
}

impl<S: Transport> AsyncWrite for ClientStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Plain(io) => Pin::new(io).poll_write(cx, buf),
            #[cfg(feature = "_tls")]
            ClientStream::Tls(io) => Pin::new(io.as_mut()).poll_write(cx, buf),
        }
    }

    // Forwarded, not left to the default (which writes the first slice
    // only): the pump writes a message's chunks in one vectored call.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Plain(io) => Pin::new(io).poll_write_vectored(cx, bufs),
            #[cfg(feature = "_tls")]
            ClientStream::Tls(io) => Pin::new(io.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(io) => Pin::new(io).poll_flush(cx),
            #[cfg(feature = "_tls")]
            ClientStream::Tls(io) => Pin::new(io.as_mut()).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(io) => Pin::new(io).poll_close(cx),
            #[cfg(feature = "_tls")]
            ClientStream::Tls(io) => Pin::new(io.as_mut()).poll_close(cx),
        }
    }
}
