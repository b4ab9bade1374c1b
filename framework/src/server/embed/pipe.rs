//! An in-memory byte pipe between an SSE stream's pump and the response
//! body the embedding server polls: the pump writes to it as to a socket
//! (so keep-alives, the slow-client timeout and shutdown work as on a
//! socket, in the stream's own task), the body takes what was written.
//!
//! The writer's side reads as a socket whose peer sends nothing: pending
//! until the body is dropped (the client went away), then end of stream.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};

/// A pipe holding at most `capacity` bytes (at least one).
pub(super) fn pipe(capacity: usize) -> (PipeWriter, PipeReader) {
    let shared = Arc::new(Shared {
        capacity: capacity.max(1),
        state: Mutex::new(State {
            buf: BytesMut::new(),
            writer_closed: false,
            reader_gone: false,
            writer: None,
            reader: None,
        }),
    });
    (PipeWriter(shared.clone()), PipeReader(shared))
}

struct Shared {
    capacity: usize,
    state: Mutex<State>,
}

struct State {
    buf: BytesMut,
    writer_closed: bool,
    reader_gone: bool,
    /// The writer's task, waiting for room or for the reader to go.
    writer: Option<Waker>,
    /// The reader's task, waiting for bytes or the end.
    reader: Option<Waker>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state whole.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn wake(waker: &mut Option<Waker>) {
    if let Some(waker) = waker.take() {
        waker.wake();
    }
}

fn register(slot: &mut Option<Waker>, waker: &Waker) {
    if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
        *slot = Some(waker.clone());
    }
}

/// The pump's end: a transport that accepts bytes while the pipe has room.
pub(super) struct PipeWriter(Arc<Shared>);

impl PipeWriter {
    /// Copies as much of `bufs` as fits; `Pending` when nothing fits.
    fn write(&self, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let mut state = self.0.lock();
        if state.reader_gone {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let room = self.0.capacity.saturating_sub(state.buf.len());
        let total: usize = bufs.iter().map(|buf| buf.len()).sum();
        if total == 0 {
            return Poll::Ready(Ok(0));
        }
        if room == 0 {
            register(&mut state.writer, cx.waker());
            return Poll::Pending;
        }
        let mut written = 0;
        for buf in bufs {
            let n = buf.len().min(room - written);
            state
                .buf
                .extend_from_slice(buf.get(..n).unwrap_or_default());
            written += n;
            if written == room {
                break;
            }
        }
        wake(&mut state.reader);
        Poll::Ready(Ok(written))
    }

    fn close(&self) {
        let mut state = self.0.lock();
        state.writer_closed = true;
        wake(&mut state.reader);
    }
}

impl futures_io::AsyncWrite for PipeWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.write(cx, &[io::IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.write(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.close();
        Poll::Ready(Ok(()))
    }
}

impl futures_io::AsyncRead for PipeWriter {
    /// Nothing ever arrives: pending until the reader is dropped, then the
    /// end of the stream.
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        _buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut state = self.0.lock();
        if state.reader_gone {
            return Poll::Ready(Ok(0));
        }
        register(&mut state.writer, cx.waker());
        Poll::Pending
    }
}

impl Drop for PipeWriter {
    fn drop(&mut self) {
        self.close();
    }
}

/// The body's end: yields what was written, in chunks, until the writer
/// has closed and everything was taken.
pub(super) struct PipeReader(Arc<Shared>);

impl PipeReader {
    /// The bytes written since the last call, or `None` once the writer is
    /// closed and nothing is left.
    pub(super) fn poll_chunk(&self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let mut state = self.0.lock();
        if !state.buf.is_empty() {
            let chunk = state.buf.split().freeze();
            wake(&mut state.writer);
            return Poll::Ready(Some(chunk));
        }
        if state.writer_closed {
            return Poll::Ready(None);
        }
        register(&mut state.reader, cx.waker());
        Poll::Pending
    }

    /// Whether the writer has closed and every byte was taken.
    pub(super) fn is_end(&self) -> bool {
        let state = self.0.lock();
        state.writer_closed && state.buf.is_empty()
    }

    /// Appends `bytes` at once, whatever the capacity (the first bytes of a
    /// stream, before its pump runs).
    pub(super) fn preload(&self, bytes: &[u8]) {
        self.0.lock().buf.extend_from_slice(bytes);
    }
}

impl Drop for PipeReader {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.reader_gone = true;
        state.buf.clear();
        wake(&mut state.writer);
    }
}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use futures_io::{AsyncRead, AsyncWrite};

    use super::*;

    fn cx() -> Context<'static> {
        Context::from_waker(Waker::noop())
    }

    #[test]
    fn bytes_flow_in_chunks_bounded_by_the_capacity() {
        let (mut writer, reader) = pipe(4);
        assert!(reader.poll_chunk(&mut cx()).is_pending());
        let written = Pin::new(&mut writer).poll_write(&mut cx(), b"abcdef");
        assert!(matches!(written, Poll::Ready(Ok(4))));
        assert!(
            Pin::new(&mut writer)
                .poll_write(&mut cx(), b"ef")
                .is_pending()
        );
        assert_eq!(
            reader.poll_chunk(&mut cx()),
            Poll::Ready(Some(Bytes::from("abcd")))
        );
        let slices = [io::IoSlice::new(b"e"), io::IoSlice::new(b"fgh")];
        let written = Pin::new(&mut writer).poll_write_vectored(&mut cx(), &slices);
        assert!(matches!(written, Poll::Ready(Ok(4))));
        assert!(Pin::new(&mut writer).poll_close(&mut cx()).is_ready());
        assert!(!reader.is_end());
        assert_eq!(
            reader.poll_chunk(&mut cx()),
            Poll::Ready(Some(Bytes::from("efgh")))
        );
        assert_eq!(reader.poll_chunk(&mut cx()), Poll::Ready(None));
        assert!(reader.is_end());
    }

    #[test]
    fn the_writer_reads_the_end_once_the_reader_is_gone() {
        let (mut writer, reader) = pipe(8);
        let mut buf = [0u8; 8];
        assert!(
            Pin::new(&mut writer)
                .poll_read(&mut cx(), &mut buf)
                .is_pending()
        );
        drop(reader);
        let read = Pin::new(&mut writer).poll_read(&mut cx(), &mut buf);
        assert!(matches!(read, Poll::Ready(Ok(0))));
        let written = Pin::new(&mut writer).poll_write(&mut cx(), b"x");
        assert!(matches!(written, Poll::Ready(Err(_))));
    }
}
