//! Readiness through async-io's own registration (platforms without epoll):
//! one event at a time, re-armed by each wait.

use std::fmt;
use std::io;
use std::net::TcpStream;
use std::task::{Context, Poll};

use async_io::Async;

use super::Direction;

/// Nothing to remember: async-io reports the events that come after the
/// wait is armed, and arming reports a socket that is already ready.
pub(crate) type Mark = ();

/// A socket registered with async-io's reactor.
pub(crate) struct Registration(Async<TcpStream>);

impl Registration {
    /// Registers `socket` (and makes it non-blocking).
    pub(crate) fn new(socket: TcpStream) -> io::Result<Self> {
        Async::new(socket).map(Registration)
    }

    /// The socket.
    pub(crate) fn get_ref(&self) -> &TcpStream {
        self.0.get_ref()
    }

    /// A mark to take before an attempt (none is needed here).
    pub(crate) fn mark(&self, _direction: Direction) -> Mark {}

    /// Ready when async-io reports the socket ready in `direction`; arms the
    /// registration (one system call) and registers the task's waker
    /// otherwise.
    pub(crate) fn poll_ready(
        &self,
        direction: Direction,
        _mark: Mark,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        match direction {
            Direction::Read => self.0.poll_readable(cx),
            Direction::Write => self.0.poll_writable(cx),
        }
    }
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Registration")
            .field(self.0.get_ref())
            .finish()
    }
}
