//! Running a route's middleware: every `before` in order, then, when the
//! request is over, the `after` of each one that ran, in reverse order.

use std::sync::Arc;
use std::time::Instant;

use http::StatusCode;

use super::{End, Middleware, Outcome};
use crate::io_util::with_deadline;
use crate::protocol::Protocol;
use crate::runtime::Runtime;
use crate::server::context::Context;
use crate::server::response::{IntoResponse, Response};
use crate::user_code::{CatchPanic, catch_panic};

/// Reads the runtime's clock.
pub(crate) type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// The middleware that passed a request, kept until the request is over so
/// their `after` hooks can run. Dropping it runs them with the outcome set
/// by [`finish`](Self::finish), or [`End::NotStarted`].
pub(crate) struct Chain {
    ran: Vec<Arc<dyn Middleware>>,
    /// The context as the middleware left it (empty when no middleware).
    ctx: Option<Context>,
    protocol: Protocol,
    started: Instant,
    clock: Clock,
    end: Option<End>,
}

impl Chain {
    /// Runs the `before` hooks of `layers` on `ctx`, one after the other,
    /// all of them by `deadline`. On a rejection (or a panic, answered 500,
    /// or the deadline, answered 503) the `after` hooks of those that ran
    /// are called at once and the response to send is returned.
    pub(crate) async fn start<R: Runtime>(
        layers: &[Arc<dyn Middleware>],
        ctx: &mut Context,
        protocol: Protocol,
        (rt, deadline): (&R, Instant),
        clock: Clock,
    ) -> Result<Chain, Response> {
        let mut chain = Chain {
            ran: Vec::with_capacity(layers.len()),
            ctx: None,
            protocol,
            started: ctx.now,
            clock,
            end: None,
        };
        for layer in layers {
            chain.ran.push(layer.clone());
            // Middleware is user code: a panic answers 500.
            let reborrowed = &mut *ctx;
            let verdict = match catch_panic(move || layer.before_async(reborrowed)) {
                Some(before) => with_deadline(rt, deadline, CatchPanic(before)).await,
                None => Ok(None),
            };
            let rejection = match verdict {
                Ok(Some(Ok(()))) => continue,
                Ok(Some(Err(rejection))) => rejection,
                Ok(None) => {
                    (StatusCode::INTERNAL_SERVER_ERROR, "middleware panicked").into_response()
                }
                Err(_elapsed) => {
                    tracing::warn!(
                        route = ctx.route.pattern.as_str(),
                        "middleware did not finish within the handshake timeout: 503"
                    );
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "middleware did not finish in time",
                    )
                        .into_response()
                }
            };
            chain.ctx = Some(ctx.clone());
            chain.end = Some(End::Rejected(rejection.status()));
            return Err(rejection);
        }
        if !chain.ran.is_empty() {
            chain.ctx = Some(ctx.clone());
        }
        Ok(chain)
    }

    /// Whether no middleware ran: dropping it then does nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.ctx.is_none()
    }

    /// Records how the request ended.
    pub(crate) fn finish(&mut self, end: End) {
        self.end = Some(end);
    }
}

impl Drop for Chain {
    fn drop(&mut self) {
        let Some(ctx) = self.ctx.take() else { return };
        let outcome = Outcome {
            protocol: self.protocol,
            duration: (self.clock)().saturating_duration_since(self.started),
            end: self.end.take().unwrap_or(End::NotStarted),
        };
        for layer in self.ran.iter().rev() {
            // A panic in an `after` hook is ignored: the request is over.
            let _ = catch_panic(|| layer.after(&ctx, &outcome));
        }
    }
}
