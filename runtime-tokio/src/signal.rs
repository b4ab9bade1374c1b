//! The stop signal of a draining server on tokio.

use std::future::Future;
use std::io;

/// A future that completes on the process's first SIGTERM or SIGINT
/// (Ctrl-C), for [`Server::run_until`](crate::Server) (on other platforms
/// than Unix: Ctrl-C). The handlers are installed by this call (inside a
/// tokio runtime), so a signal that comes before the future is first
/// polled is not missed; from then on these signals no longer end the
/// process by themselves.
///
/// ```no_run
/// # async fn demo(server: tidings_tokio::Server) -> std::io::Result<()> {
/// use std::time::Duration;
/// let drained = server.run_until(tidings_tokio::shutdown_signal()?, Duration::from_secs(10)).await;
/// # let _ = drained; Ok(()) }
/// ```
///
/// # Errors
/// When the handlers cannot be installed.
#[cfg(unix)]
pub fn shutdown_signal() -> io::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

/// A future that completes on Ctrl-C (see the Unix version).
///
/// # Errors
/// Never on this platform (the handler is installed when first polled).
#[cfg(not(unix))]
pub fn shutdown_signal() -> io::Result<impl Future<Output = ()> + Send + 'static> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
