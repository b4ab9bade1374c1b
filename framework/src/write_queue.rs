//! An ordered queue of byte chunks written to a transport with vectored
//! writes, without copying them: what both socket pumps (WebSocket and SSE)
//! write from.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;

use crate::deque::push_back_small;
use crate::runtime::Transport;

/// Buffers handed to one vectored write.
const MAX_SLICES: usize = 32;

/// Chunks waiting for the transport; the first may be partly written.
#[derive(Debug, Default)]
pub(crate) struct WriteQueue {
    chunks: VecDeque<Bytes>,
    /// Bytes of the first chunk already written.
    front_written: usize,
    /// Bytes not yet written, over all chunks.
    remaining: usize,
}

impl WriteQueue {
    pub(crate) fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.remaining += chunk.len();
            push_back_small(&mut self.chunks, chunk);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Chunks not completely written.
    pub(crate) fn len(&self) -> usize {
        self.chunks.len()
    }

    /// Bytes not yet written.
    pub(crate) fn remaining(&self) -> usize {
        self.remaining
    }

    /// Drops everything, written or not.
    pub(crate) fn clear(&mut self) {
        self.chunks.clear();
        self.front_written = 0;
        self.remaining = 0;
    }

    /// One (vectored) write of the queue's head. `Ready(Ok(done))` when bytes
    /// were written, with the number of chunks completed (and removed);
    /// `Ready(Err)` when the transport failed or accepted nothing (closed).
    pub(crate) fn poll_write<T: Transport>(
        &mut self,
        io: &mut T,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<usize>> {
        let written = match self.poll_write_head(io, cx) {
            Poll::Ready(Ok(0)) => return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into())),
            Poll::Ready(Ok(n)) => n,
            Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
            Poll::Pending => return Poll::Pending,
        };
        // Clamped so a transport that reports more than it was given cannot
        // push the counts past the queue.
        let mut left = written.min(self.remaining);
        self.remaining -= left;
        let mut done = 0;
        while let Some(front) = self.chunks.front() {
            let rest = front.len().saturating_sub(self.front_written);
            if left >= rest {
                left -= rest;
                self.front_written = 0;
                self.chunks.pop_front();
                done += 1;
            } else {
                self.front_written += left;
                break;
            }
        }
        Poll::Ready(Ok(done))
    }

    /// Writes the queue's head: one chunk (an echo, most writes) with a
    /// plain write, which costs the kernel less than a vectored one (no I/O
    /// vector to import) and needs no slice array; else up to
    /// [`MAX_SLICES`] chunks with one vectored write.
    fn poll_write_head<T: Transport>(
        &self,
        io: &mut T,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<usize>> {
        if self.chunks.len() == 1
            && let Some(single) = self.chunks.front()
        {
            let rest = single.get(self.front_written..).unwrap_or_default();
            return Pin::new(io).poll_write(cx, rest);
        }
        let mut slices = [IoSlice::new(&[]); MAX_SLICES];
        let mut count = 0;
        for (i, chunk) in self.chunks.iter().take(MAX_SLICES).enumerate() {
            let skip = if i == 0 { self.front_written } else { 0 };
            if let (Some(slot), Some(rest)) = (slices.get_mut(i), chunk.get(skip..)) {
                *slot = IoSlice::new(rest);
                count = i + 1;
            }
        }
        let slices = slices.get(..count).unwrap_or_default();
        Pin::new(io).poll_write_vectored(cx, slices)
    }
}
