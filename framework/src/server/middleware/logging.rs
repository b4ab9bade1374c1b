//! The logging middleware: one `tracing` event per request once it is over.

use super::{End, Middleware, Outcome};
use crate::server::SseEnd;
use crate::server::context::Context;

/// Emits one `tracing` event (target `tidings::access`, level INFO; WARN for
/// rejections, unclean WebSocket closes, SSE clients dropped as too slow or
/// after a handler panic, and streams that never started) when a request is over, with the fields
/// `protocol` (`websocket`, `sse`, `http`), `route` (the pattern), `path`,
/// `name`,
/// `summary` and `tags` (the route options), `remote` (the client's
/// address), `duration_ms`, and the end: `status` (a rejection or a plain
/// response), `close_code` and `close_reason` (WebSocket), `sse_end` (SSE),
/// or `not_started`.
///
/// Put it first ([`Router::layer`](crate::server::Router::layer)) so it also
/// sees the rejections of the middleware after it (rate limiting, 401s).
/// Nothing is printed unless the application installs a `tracing`
/// subscriber.
///
/// ```
/// # use tidings_framework::server::{Logging, Router, echo};
/// let router = Router::new().layer(Logging::new()).websocket("/ws", echo);
/// # assert_eq!(router.len(), 1);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Logging {
    _private: (),
}

impl Logging {
    /// The logging middleware.
    pub fn new() -> Self {
        Logging::default()
    }
}

/// The target of the events, for filtering (`RUST_LOG=tidings::access=info`).
pub const ACCESS_TARGET: &str = "tidings::access";

impl Middleware for Logging {
    fn after(&self, ctx: &Context, outcome: &Outcome) {
        let route = ctx.route();
        let remote = ctx
            .remote_addr()
            .map_or_else(|| "-".to_owned(), |addr| addr.to_string());
        let protocol = outcome.protocol.as_str();
        let name = route.name.as_deref().unwrap_or("");
        let summary = route.summary.as_deref().unwrap_or("");
        let tags = route.tags.join(",");
        let duration_ms = u64::try_from(outcome.duration.as_millis()).unwrap_or(u64::MAX);
        let pattern = route.pattern.as_str();
        macro_rules! event {
            ($level:ident, $message:literal, $($field:tt)*) => {
                tracing::$level!(
                    target: ACCESS_TARGET,
                    protocol,
                    route = pattern,
                    path = ctx.path(),
                    name,
                    summary,
                    tags = tags.as_str(),
                    remote = remote.as_str(),
                    duration_ms,
                    $($field)*
                    $message
                )
            };
        }
        match &outcome.end {
            End::Rejected(status) => {
                event!(warn, "request rejected", status = status.as_u16(),)
            }
            End::Responded(status) => {
                event!(info, "request answered", status = status.as_u16(),)
            }
            End::Closed(closed) => {
                let close_code = u16::from(closed.code());
                let close_reason = closed
                    .received
                    .as_ref()
                    .or(closed.sent.as_ref())
                    .map_or("", |frame| frame.reason.as_str());
                let cause = format!("{:?}", closed.cause);
                if closed.is_clean() {
                    event!(
                        info,
                        "connection closed",
                        close_code,
                        close_reason,
                        cause = cause.as_str(),
                    )
                } else {
                    event!(
                        warn,
                        "connection closed",
                        close_code,
                        close_reason,
                        cause = cause.as_str(),
                    )
                }
            }
            End::SseEnded(end) => {
                let sse_end = format!("{end:?}");
                if matches!(end, SseEnd::TooSlow | SseEnd::HandlerPanicked) {
                    event!(warn, "stream ended", sse_end = sse_end.as_str(),)
                } else {
                    event!(info, "stream ended", sse_end = sse_end.as_str(),)
                }
            }
            #[cfg(feature = "webtransport")]
            End::SessionEnded(end) => {
                let session_end = format!("{end:?}");
                event!(info, "session ended", session_end = session_end.as_str(),)
            }
            End::NotStarted => event!(warn, "stream not started", not_started = true,),
        }
    }
}
