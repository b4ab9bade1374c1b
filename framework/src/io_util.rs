//! Small async helpers over [`Transport`] and [`Runtime`], so the core needs
//! no futures utility crate: reading some bytes, writing all of them, and
//! racing a future against a deadline.

use std::future::{Future, poll_fn};
use std::io;
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::Instant;

use crate::runtime::{Runtime, Transport};

/// The deadline passed before the future completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Elapsed;

/// Runs `future` until it completes or `deadline` passes.
pub(crate) async fn with_deadline<R: Runtime, F: Future>(
    rt: &R,
    deadline: Instant,
    future: F,
) -> Result<F::Output, Elapsed> {
    let mut future = pin!(future);
    let mut sleep = pin!(rt.sleep_until(deadline));
    poll_fn(|cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        sleep.as_mut().poll(cx).map(|()| Err(Elapsed))
    })
    .await
}

/// Reads what is available (at least one byte, or 0 at end of stream) and
/// appends it to `buf`, reading at most `max` bytes.
pub(crate) async fn read_some<T: Transport>(
    io: &mut T,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<usize> {
    let start = buf.len();
    buf.resize(start + max.max(1), 0);
    let result = poll_fn(|cx| Pin::new(&mut *io).poll_read(cx, &mut buf[start..])).await;
    let n = *result.as_ref().unwrap_or(&0);
    buf.truncate(start + n);
    result
}

/// Writes all of `data` and flushes.
pub(crate) async fn write_all<T: Transport>(io: &mut T, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        let n = poll_fn(|cx| Pin::new(&mut *io).poll_write(cx, data)).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        data = data.get(n..).unwrap_or_default();
    }
    poll_fn(|cx| Pin::new(&mut *io).poll_flush(cx)).await
}

/// Closes the write side (and flushes) without waiting for the peer.
pub(crate) async fn close<T: Transport>(io: &mut T) {
    let _ = poll_fn(|cx| Pin::new(&mut *io).poll_close(cx)).await;
}
