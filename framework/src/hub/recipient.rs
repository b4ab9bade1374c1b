//! The hub's seam to the connections it sends to: the [`Recipient`] trait,
//! what the hub hands a recipient ([`Parcel`], [`OutboxLimits`]), and
//! nothing about who implements it.
//!
//! The hub owns this trait; a WebSocket connection's shared state
//! (`connection::shared`) and an SSE stream's context
//! (`server::sse::context`) implement it in their own modules. So the hub
//! never names a connection or server type, never locks a connection's
//! internals, and sits below both in the crate's module order.

use bytes::Bytes;
use tidings_core::close::CloseCode;

use super::broadcast::{Delivery, WsFrame};
use super::{Listing, SlowConsumer};

/// One connection as the hub sees it: something that takes an encoded
/// message without waiting, can be closed, and has per-connection values.
///
/// The hub keeps each as an `Arc<dyn Registered>` in its registry; a
/// broadcast makes one (virtual) [`offer`](Recipient::offer) call per
/// recipient. The per-message path of a connection (its pump and handler)
/// never goes through this trait.
pub(crate) trait Recipient: Send + Sync {
    /// Queues `parcel` without waiting. When the outbox would go over
    /// `limits`, applies `policy` instead: a WebSocket connection drops its
    /// backlog and closes with the policy's code, an SSE stream ends as too
    /// slow ([`Delivery::Dropped`]). A parcel of the other protocol is
    /// [`Delivery::Skipped`].
    fn offer(&self, parcel: Parcel<'_>, limits: &OutboxLimits, policy: &SlowConsumer) -> Delivery;

    /// Closes the connection after what is queued: a WebSocket with `code`
    /// and `reason`, an SSE stream just ends (it has no close code).
    fn close(&self, code: CloseCode, reason: &str);

    /// Calls `f` with the connection's values (set by middleware, or with
    /// `conn.set`).
    fn values(&self, f: &mut dyn FnMut(&http::Extensions));
}

/// A [`Recipient`] as the registry holds it: with what the hub knows about
/// it (its details, policy and broadcast encoding), in the same allocation.
/// A WebSocket connection's state is one; an SSE stream or WebTransport
/// session is wrapped in a [`WithListing`](super::WithListing).
pub(crate) trait Registered: Recipient {
    /// What the hub knows about it.
    fn listing(&self) -> &Listing;
}

/// One message as one recipient's protocol takes it.
pub(crate) enum Parcel<'a> {
    /// For a WebSocket connection: a shared frame, or the message for it to
    /// compress itself.
    WebSocket(WsFrame<'a>),
    /// For an SSE stream: the encoded event.
    Sse(&'a Bytes),
    /// For a WebTransport session: the message's bytes (sent as one
    /// datagram or on one unidirectional stream, as its route says).
    #[cfg_attr(not(feature = "webtransport"), allow(dead_code))]
    WebTransport(&'a Bytes),
}

/// The bounds of every outbox (from the server's configuration).
#[derive(Clone, Copy, Debug)]
pub(crate) struct OutboxLimits {
    /// Bytes queued per WebSocket or SSE client.
    pub(crate) bytes: usize,
    /// Shared messages queued per WebSocket client.
    pub(crate) messages: usize,
}
