//! The stop signal of a draining server on the async-io reactor.

use std::future::Future;
use std::io;

use async_signal::{Signal, Signals};

/// A future that completes on the process's first SIGTERM or SIGINT
/// (Ctrl-C), for `Server::run_until` (on Windows: Ctrl-C). The handlers are
/// installed by this call, so a signal that comes before the future is
/// first polled is not missed; from then on these signals no longer end
/// the process by themselves.
///
/// # Errors
/// When the handlers cannot be installed.
pub fn shutdown_signal() -> io::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    let signals = Signals::new([Signal::Term, Signal::Int])?;
    #[cfg(not(unix))]
    let signals = Signals::new([Signal::Int])?;
    Ok(async move {
        let mut signals = signals;
        let _ = std::future::poll_fn(|cx| {
            futures_core::Stream::poll_next(std::pin::Pin::new(&mut signals), cx)
        })
        .await;
    })
}
