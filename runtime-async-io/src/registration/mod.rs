//! How a [`TcpStream`](crate::TcpStream)'s socket learns that it may be read
//! or written again after it was found empty or full.
//!
//! On Linux (and Android) the socket is registered once, edge-triggered,
//! with an epoll instance of this crate's own that sits in async-io's
//! reactor ([`edge`]): waiting costs no system call. Elsewhere it is an
//! [`async_io::Async`] socket ([`oneshot`]): async-io registers interest in
//! one event at a time, so each wait re-arms the registration with a system
//! call. Both give the same [`Registration`] interface: take a [`Mark`]
//! before an attempt that may find the socket empty or full, then
//! [`poll_ready`](Registration::poll_ready) with it, which is ready once an
//! event came after the mark (so an event that comes between the attempt and
//! the wait is not lost).

/// A direction of readiness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Data to read (or the end of the stream, or an error).
    Read = 0,
    /// Room to write (or an error).
    Write = 1,
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod edge;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) use edge::{Mark, Registration};

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod oneshot;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) use oneshot::{Mark, Registration};
