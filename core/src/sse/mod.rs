//! Server-Sent Events (WHATWG HTML, "Server-sent events"): an event encoder
//! for servers and a WHATWG-exact, incremental decoder for clients and tests.
//!
//! - [`Event`] builds one event; [`Event::encode`] appends it to a buffer,
//!   [`Event::to_bytes`] encodes it once for many recipients. Names and ids
//!   that a client would misread are refused ([`EncodeError`]), data and
//!   comments of any text are split into lines so they read back exactly.
//! - [`KEEP_ALIVE`] and [`encode_retry`] are the two stand-alone writes a
//!   server makes besides events.
//! - [`Decoder`] reads an event stream as a browser's `EventSource` does,
//!   yielding [`DecodedEvent`]s, with memory bounded by [`Limits`].
//! - [`StreamSchedule`] says when a server stream's next keep-alive comment
//!   is due and when a blocked sender has timed out; [`Reconnect`] is a
//!   client's reconnection policy (delay, `retry:`, `Last-Event-ID`, when to
//!   give up). Both take `now` from the caller.
//!
//! ```
//! # use tidings_core::sse::{Decoder, Event};
//!
//! let bytes = Event::new().event("tick").id("7").data("one\ntwo").to_bytes()?;
//! let mut decoder = Decoder::new();
//! decoder.feed(&bytes).unwrap();
//! let event = decoder.poll_event().unwrap();
//! assert_eq!((&*event.event_type, &*event.data), ("tick", "one\ntwo"));
//! assert_eq!(decoder.last_event_id(), "7");
//! # Ok::<(), tidings_core::sse::EncodeError>(())
//! ```
//!
//! ## What this module does not do
//!
//! - No HTTP: the `Content-Type: text/event-stream` response head, the
//!   `Last-Event-ID` request header and the status checks of a reconnecting
//!   client belong to the caller. The decoder only keeps what reconnection
//!   needs: [`Decoder::last_event_id`] and [`Decoder::retry`].
//! - No timers: [`StreamSchedule`] and [`Reconnect`] say when keep-alives
//!   and reconnections are due; the caller sleeps until then.
//! - No compression or buffering: each encoded event is meant to be written
//!   and flushed as is.

mod decode;
mod encode;
mod lines;
mod reconnect;
mod schedule;

// Shares its reference model with the fuzz helpers (`crate::fuzzing`),
// which need the `deflate` feature.
#[cfg(all(test, feature = "deflate"))]
mod proptests;

pub use decode::{DecodeError, DecodedEvent, Decoder, Limits};
pub use encode::{EncodeError, Event, KEEP_ALIVE, encode_retry};
pub use reconnect::{Reconnect, ReconnectConfig, Retry};
pub use schedule::StreamSchedule;
