//! Running user code (handlers, middleware) inside the server's tasks: the
//! boxed future a handler returns ([`BoxFuture`]), and catching a panic in
//! it ([`catch_panic`], [`drop_quietly`], [`CatchPanic`]) so that one
//! handler's panic ends only its own connection.
//!
//! A leaf: it uses no other module of the crate, so the router, the
//! middleware chain, the SSE stream and the per-connection task all take
//! these from below.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Runs `f`, returning `None` if it panicked.
///
/// Used around user code only (middleware; handlers' construction, each
/// `poll`, their drop), so that a panic ends its own connection — 1011, an
/// ended SSE stream, or a 500 — and not the task, the accept loop or the
/// process. The panic is logged as a `tracing` error event with its message
/// (the panic hook still runs as usual).
///
/// Why asserting unwind safety is sound: after a caught panic the handler
/// future is dropped and never polled again, so its own possibly broken
/// state is never observed. What outlives it is the state it shares with
/// the server — the connection's or the SSE stream's state — and that sits
/// behind mutexes that do not poison (the connection's is parking_lot's)
/// or whose `lock` ignores poisoning, and is only changed by
/// library code that leaves it consistent between statements (a handler
/// cannot panic in the middle of one of those updates: user code never runs
/// while the lock is held).
#[inline]
pub(crate) fn catch_panic<T>(f: impl FnOnce() -> T) -> Option<T> {
    match std::panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(value) => Some(value),
        Err(payload) => {
            log_panic(payload.as_ref());
            None
        }
    }
}

/// Logs a panic caught in user code (out of line: the caller's happy path
/// stays small).
#[cold]
fn log_panic(payload: &(dyn Any + Send)) {
    tracing::error!(
        panic = panic_message(payload),
        "user code panicked; its connection is ended (1011, an ended SSE stream or a 500) and the server goes on"
    );
}

/// The text of a panic: `panic!` payloads are a `&str` or a `String`.
fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(a panic payload that is not a string)")
}

/// Drops `value`, ignoring a panic in its destructor (a handler future
/// whose locals panic on drop).
pub(crate) fn drop_quietly<T>(value: T) {
    let _ = catch_panic(move || drop(value));
}

/// A future that resolves to `None` if polling `F` panicked.
pub(crate) struct CatchPanic<F>(pub(crate) F);

impl<F: Future + Unpin> Future for CatchPanic<F> {
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match catch_panic(|| Pin::new(&mut self.0).poll(cx)) {
            Some(Poll::Ready(output)) => Poll::Ready(Some(output)),
            Some(Poll::Pending) => Poll::Pending,
            None => Poll::Ready(None),
        }
    }
}
