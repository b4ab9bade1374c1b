//! [`TcpStream`]: a socket that reads and writes first and waits for
//! readiness only when an attempt found it empty or full.

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use crate::registration::{Direction, Mark, Registration};

/// A connected TCP stream on the async-io reactor, with `TCP_NODELAY` set
/// by [`accept`](crate::accept) and [`connect`](crate::connect); a
/// `futures-io` stream whose [`poll_close`](futures_io::AsyncWrite::poll_close)
/// shuts down the write half, so the peer sees the end of the stream.
///
/// Reads and writes go to the socket first. A read that returned less than
/// asked for (or nothing: `EAGAIN`) is taken as proof that the socket is
/// empty, as tokio does: the next read waits for readiness instead of
/// failing first. A write that could not write everything waits likewise.
/// On Linux the wait costs no system call (see the crate's documentation).
#[derive(Debug)]
pub struct TcpStream {
    io: Registration,
    /// Set when the last read found the socket empty: the mark taken before
    /// it, to wait with before the next read.
    read_after: Option<Mark>,
    /// Set when the last write found the socket full, likewise.
    write_after: Option<Mark>,
}

impl TcpStream {
    /// Registers a connected socket with the reactor (and makes it
    /// non-blocking).
    pub fn new(socket: std::net::TcpStream) -> io::Result<Self> {
        Ok(TcpStream {
            io: Registration::new(socket)?,
            read_after: None,
            write_after: None,
        })
    }

    /// The socket.
    pub fn get_ref(&self) -> &std::net::TcpStream {
        self.io.get_ref()
    }

    /// The peer (remote) and local addresses, when known.
    pub fn addrs(&self) -> (Option<SocketAddr>, Option<SocketAddr>) {
        let socket = self.io.get_ref();
        (socket.peer_addr().ok(), socket.local_addr().ok())
    }

    /// Runs `attempt` (a read or write of up to `wanted` bytes) once the
    /// socket may be ready in `direction`: at once unless the last attempt
    /// found it empty or full, after an event otherwise.
    fn poll_attempt(
        &mut self,
        direction: Direction,
        wanted: usize,
        cx: &mut Context<'_>,
        mut attempt: impl FnMut(&std::net::TcpStream) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        let TcpStream {
            io,
            read_after,
            write_after,
        } = self;
        let after = match direction {
            Direction::Read => read_after,
            Direction::Write => write_after,
        };
        loop {
            if let Some(mark) = *after {
                ready!(io.poll_ready(direction, mark, cx))?;
                *after = None;
            }
            // Taken before the attempt: an event that comes after it, even
            // before the wait, ends the wait.
            let mark = io.mark(direction);
            match attempt(io.get_ref()) {
                Ok(n) => {
                    // A short read emptied the socket, a short write filled
                    // it (0 is the end of the stream, or nothing asked for).
                    if 0 < n && n < wanted {
                        *after = Some(mark);
                    }
                    return Poll::Ready(Ok(n));
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => *after = Some(mark),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
    }
}

impl futures_io::AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let wanted = buf.len();
        self.get_mut()
            .poll_attempt(Direction::Read, wanted, cx, |mut socket| socket.read(buf))
    }
}

impl futures_io::AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_attempt(Direction::Write, buf.len(), cx, |mut socket| {
                socket.write(buf)
            })
    }

    /// One system call for all the buffers (the trait's default would write
    /// the first one only).
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let wanted = bufs.iter().map(|buf| buf.len()).sum();
        self.get_mut()
            .poll_attempt(Direction::Write, wanted, cx, |mut socket| {
                socket.write_vectored(bufs)
            })
    }

    /// Nothing to do: a TCP socket buffers nothing in user space.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.io.get_ref().shutdown(Shutdown::Write))
    }
}

#[cfg(test)]
mod tests {
    use std::future::{Future, poll_fn};
    use std::io::{Read, Write};
    use std::pin::Pin;
    use std::task::{Context, Poll, Waker};
    use std::time::Duration;

    use async_io::{Async, Timer};
    use futures_io::{AsyncRead, AsyncWrite};

    use super::*;

    /// How long a test waits for what must come before it calls it a hang.
    const HANG: Duration = Duration::from_secs(30);

    /// A plain socket and, connected to it, a [`TcpStream`].
    fn connected() -> (std::net::TcpStream, TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (socket, _) = listener.accept().unwrap();
        (peer, TcpStream::new(socket).unwrap())
    }

    /// Runs `poll` to completion on this thread; panics after [`HANG`].
    fn finish<T>(mut poll: impl FnMut(&mut Context<'_>) -> Poll<T>) -> T {
        let mut hang = Timer::after(HANG);
        async_io::block_on(poll_fn(|cx| {
            if let Poll::Ready(done) = poll(cx) {
                return Poll::Ready(done);
            }
            if Pin::new(&mut hang).poll(cx).is_ready() {
                panic!("nothing after {HANG:?}: a lost wake-up");
            }
            Poll::Pending
        }))
    }

    fn read(stream: &mut TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        finish(|cx| Pin::new(&mut *stream).poll_read(cx, buf))
    }

    /// Polls `stream` once with a waker that does nothing.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn read_once(stream: &mut TcpStream, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(stream).poll_read(&mut Context::from_waker(Waker::noop()), buf)
    }

    /// Waits (at most [`HANG`]) until `done`.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn wait_until(mut done: impl FnMut() -> bool) {
        let start = std::time::Instant::now();
        while !done() {
            assert!(start.elapsed() < HANG, "still not done after {HANG:?}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// A short read makes the next read wait; what arrives later (from
    /// another thread, while the reader waits) is still read, and so is the
    /// end of the stream.
    #[test]
    fn reads_after_a_short_read() {
        let (mut peer, mut stream) = connected();
        let mut buf = [0; 16];

        peer.write_all(b"ab").unwrap();
        assert_eq!(read(&mut stream, &mut buf).unwrap(), 2);
        assert!(stream.read_after.is_some());

        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            peer.write_all(b"cd").unwrap();
            peer
        });
        assert_eq!(read(&mut stream, &mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], b"cd");

        // The peer closes while the reader waits.
        let closer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            drop(writer.join().unwrap());
        });
        assert_eq!(read(&mut stream, &mut buf).unwrap(), 0);
        assert_eq!(read(&mut stream, &mut buf).unwrap(), 0);
        closer.join().unwrap();
    }

    /// A read that fills the buffer does not wait: the rest is read at once.
    #[test]
    fn a_full_read_reads_on() {
        let (mut peer, mut stream) = connected();
        let mut buf = [0; 4];

        peer.write_all(b"abcdef").unwrap();
        let mut got = Vec::new();
        while got.len() < 6 {
            let n = read(&mut stream, &mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
            assert!(n < 4 || stream.read_after.is_none());
        }
        assert_eq!(got, b"abcdef");
    }

    /// The event of data that arrives after a short read, and is collected
    /// by the reactor before the reader polls again, is not lost: the next
    /// poll reads the data. (Were the wait to start counting events only
    /// when the reader polls, this poll would wait for an event that
    /// already came, forever.)
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn an_event_between_a_short_read_and_the_wait_is_not_lost() {
        let (mut peer, mut stream) = connected();
        let mut buf = [0; 16];
        let counted = |stream: &TcpStream| stream.io.mark(Direction::Read);

        let before = counted(&stream);
        peer.write_all(b"ab").unwrap();
        wait_until(|| counted(&stream) != before);
        assert!(matches!(
            read_once(&mut stream, &mut buf),
            Poll::Ready(Ok(2))
        ));
        let mark = stream.read_after.expect("a short read waits next time");

        peer.write_all(b"cd").unwrap();
        // The reactor collects the event while nobody waits.
        wait_until(|| counted(&stream) != mark);
        assert!(matches!(
            read_once(&mut stream, &mut buf),
            Poll::Ready(Ok(2))
        ));
        assert_eq!(&buf[..2], b"cd");

        // With nothing more sent, the next read waits.
        assert!(read_once(&mut stream, &mut buf).is_pending());
    }

    /// Data and the end of the stream that come together (one event): the
    /// short read of the data is followed by the end at once, with no
    /// further event to wait for.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn the_end_that_came_with_the_data_is_read_after_it() {
        let (mut peer, mut stream) = connected();
        let mut buf = [0; 16];
        let before = stream.io.mark(Direction::Read);
        peer.write_all(b"ab").unwrap();
        peer.shutdown(std::net::Shutdown::Write).unwrap();
        // Both in before the reactor reports the socket (one edge, or two).
        std::thread::sleep(Duration::from_millis(20));
        wait_until(|| stream.io.mark(Direction::Read) != before);
        assert!(matches!(
            read_once(&mut stream, &mut buf),
            Poll::Ready(Ok(2))
        ));
        assert!(matches!(
            read_once(&mut stream, &mut buf),
            Poll::Ready(Ok(0))
        ));
    }

    /// A write that finds the socket full waits, and goes on when the peer
    /// has read.
    #[test]
    fn a_full_socket_is_written_once_the_peer_reads() {
        let (mut peer, mut stream) = connected();
        let chunk = vec![7u8; 64 << 10];

        // Fills the socket (and the peer's receive buffer) until a write
        // would block: the kernel's buffers are bounded.
        let mut sent = 0;
        loop {
            let mut cx = Context::from_waker(Waker::noop());
            match Pin::new(&mut stream).poll_write(&mut cx, &chunk) {
                Poll::Ready(Ok(n)) => sent += n,
                Poll::Ready(Err(error)) => panic!("write: {error}"),
                Poll::Pending => break,
            }
        }
        assert!(stream.write_after.is_some());

        let total = sent + chunk.len();
        let reader = std::thread::spawn(move || {
            let mut got = 0;
            let mut buf = vec![0; 64 << 10];
            while got < total {
                match peer.read(&mut buf).unwrap() {
                    0 => break,
                    n => got += n,
                }
            }
            got
        });
        let mut written = 0;
        while written < chunk.len() {
            written +=
                finish(|cx| Pin::new(&mut stream).poll_write(cx, &chunk[written..])).unwrap();
        }
        assert_eq!(reader.join().unwrap(), total);
    }

    /// [`accept`](crate::accept) and [`connect`](crate::connect) give
    /// streams that talk to each other both ways.
    #[test]
    fn accepted_and_connected_streams_echo() {
        let listener = Async::<std::net::TcpListener>::bind(([127, 0, 0, 1], 0)).unwrap();
        let addr = listener.get_ref().local_addr().unwrap();
        let (client, server) = async_io::block_on(futures_join(
            crate::connect([addr]),
            crate::accept(&listener),
        ));
        let (mut client, (mut server, _)) = (client.unwrap(), server.unwrap());
        let mut buf = [0; 8];
        finish(|cx| Pin::new(&mut client).poll_write(cx, b"ping")).unwrap();
        assert_eq!(read(&mut server, &mut buf).unwrap(), 4);
        finish(|cx| Pin::new(&mut server).poll_write(cx, &buf[..4])).unwrap();
        assert_eq!(read(&mut client, &mut buf).unwrap(), 4);
        assert_eq!(&buf[..4], b"ping");
        finish(|cx| Pin::new(&mut client).poll_close(cx)).unwrap();
        assert_eq!(read(&mut server, &mut buf).unwrap(), 0);
    }

    /// Both futures to completion, polled in turn.
    async fn futures_join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
        let (mut a, mut b) = (Box::pin(a), Box::pin(b));
        let (mut out_a, mut out_b) = (None, None);
        poll_fn(|cx| {
            if out_a.is_none() {
                if let Poll::Ready(out) = a.as_mut().poll(cx) {
                    out_a = Some(out);
                }
            }
            if out_b.is_none() {
                if let Poll::Ready(out) = b.as_mut().poll(cx) {
                    out_b = Some(out);
                }
            }
            if out_a.is_some() && out_b.is_some() {
                Poll::Ready((out_a.take().unwrap(), out_b.take().unwrap()))
            } else {
                Poll::Pending
            }
        })
        .await
    }
}
