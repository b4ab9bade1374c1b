//! The Server-Sent Events test client.

use core::net::SocketAddr;
use std::future::Future;
use std::panic::Location;
use std::time::Duration;

use http::{HeaderMap, StatusCode};

use super::http::get_head;
use super::{DEFAULT_TIMEOUT, fail};
use crate::io_util::{read_some, with_deadline};
use crate::runtime::Net;
use tidings_core::sse::{DecodedEvent, Decoder};

/// An SSE client for tests: one `GET` request, its response head, and the
/// body decoded as an event stream (WHATWG rules). Every expectation waits
/// at most [`timeout`](Self::timeout) and panics with what arrived instead,
/// naming the test line that set up the expectation.
///
/// The methods that can panic are plain functions (returning a future
/// where they wait: `.await` it), so that they record their caller's line:
/// `#[track_caller]` has no effect on an `async fn`.
pub struct SseClient<N: Net + Default> {
    stream: N::Stream,
    status: StatusCode,
    headers: HeaderMap,
    decoder: Decoder,
    ended: bool,
    timeout: Duration,
    rt: N,
}

impl<N: Net + Default> std::fmt::Debug for SseClient<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseClient")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

/// What the stream gave within a wait.
enum Next {
    Event(DecodedEvent),
    /// The server ended the stream.
    End,
    /// Nothing within the wait.
    Nothing,
    /// The stream breaks the decoder's limits.
    Broken(String),
}

impl<N: Net + Default> SseClient<N> {
    /// Connects to `addr`, sends `GET path` (with `Accept:
    /// text/event-stream` and `headers`, given as `(name, value)` pairs
    /// like [`TestApp::ws_with`](super::TestApp::ws_with)'s) and reads the
    /// response head, whatever its status.
    ///
    /// # Panics
    ///
    /// If the connection fails, or no complete response head arrives
    /// within [`DEFAULT_TIMEOUT`](super::DEFAULT_TIMEOUT).
    #[track_caller]
    pub fn open(
        addr: SocketAddr,
        path: &str,
        headers: &[(&str, &str)],
    ) -> impl Future<Output = Self> {
        let at = Location::caller();
        async move {
            let rt = N::default();
            let mut all = vec![("Accept", "text/event-stream")];
            all.extend_from_slice(headers);
            let (stream, response, body) = match get_head::<N>(&rt, addr, path, &all).await {
                Ok(head) => head,
                Err(error) => fail(at, format!("SseClient: {error}")),
            };
            let (parts, ()) = response.into_parts();
            let mut client = SseClient {
                stream,
                status: parts.status,
                headers: parts.headers,
                decoder: Decoder::new(),
                ended: false,
                timeout: DEFAULT_TIMEOUT,
                rt,
            };
            if let Err(error) = client.feed(&body) {
                fail(at, error);
            }
            client
        }
    }

    /// Sets how long each expectation waits.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The response status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The response headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// Expects the response status `status`.
    #[track_caller]
    pub fn expect_status(&self, status: u16) -> &Self {
        assert!(
            self.status.as_u16() == status,
            "expected status {status}, got {} (headers {:?})",
            self.status,
            self.headers
        );
        self
    }

    /// Expects header `name` with exactly `value`.
    #[track_caller]
    pub fn expect_header(&self, name: &str, value: &str) -> &Self {
        let got: Vec<&str> = self
            .headers
            .get_all(name)
            .iter()
            .map(|value| value.to_str().unwrap_or("<not visible ASCII>"))
            .collect();
        assert!(
            got.contains(&value),
            "expected header {name}: {value:?}, got {got:?}"
        );
        self
    }

    fn feed(&mut self, chunk: &[u8]) -> Result<(), String> {
        self.decoder.feed(chunk).map_err(|error| {
            format!("SseClient: the event stream breaks the decoder's limits: {error}")
        })
    }

    /// The next event, the end of the stream, or nothing within `wait`.
    async fn next_within(&mut self, wait: Duration) -> Next {
        let deadline = self.rt.now() + wait;
        loop {
            if let Some(event) = self.decoder.poll_event() {
                return Next::Event(event);
            }
            if self.ended {
                return Next::End;
            }
            let mut buf = Vec::new();
            match with_deadline(
                &self.rt,
                deadline,
                read_some(&mut self.stream, &mut buf, 4096),
            )
            .await
            {
                Err(_) => return Next::Nothing,
                Ok(Ok(n)) if n > 0 => {
                    if let Err(error) = self.feed(&buf) {
                        return Next::Broken(error);
                    }
                }
                Ok(_) => {
                    self.ended = true;
                    self.decoder.finish();
                }
            }
        }
    }

    /// The next event, `None` once the stream has ended, or `Err(())` if
    /// nothing arrived within the timeout.
    ///
    /// # Panics
    ///
    /// If the event stream breaks the decoder's limits.
    #[track_caller]
    pub fn try_next_event(&mut self) -> impl Future<Output = Result<Option<DecodedEvent>, ()>> {
        let at = Location::caller();
        async move {
            match self.next_within(self.timeout).await {
                Next::Event(event) => Ok(Some(event)),
                Next::End => Ok(None),
                Next::Nothing => Err(()),
                Next::Broken(error) => fail(at, error),
            }
        }
    }

    /// The next event; panics if the stream ends or nothing arrives in time.
    #[track_caller]
    pub fn next_event(&mut self) -> impl Future<Output = DecodedEvent> {
        let at = Location::caller();
        async move {
            match self.next_within(self.timeout).await {
                Next::Event(event) => event,
                Next::End => fail(at, "expected an event, the stream ended"),
                Next::Nothing => fail(
                    at,
                    format!(
                        "expected an event, nothing arrived within {:?}",
                        self.timeout
                    ),
                ),
                Next::Broken(error) => fail(at, error),
            }
        }
    }

    /// Expects the next event to have type `event_type` and data `data`.
    #[track_caller]
    pub fn expect_event(&mut self, event_type: &str, data: &str) -> impl Future<Output = ()> {
        let at = Location::caller();
        async move {
            let expected = format!("expected event {event_type:?} with data {data:?}");
            match self.next_within(self.timeout).await {
                Next::Event(event) if event.event_type == event_type && event.data == data => {}
                Next::Event(event) => fail(at, format!("{expected}, got {event:?}")),
                Next::End => fail(at, format!("{expected}, the stream ended")),
                Next::Nothing => fail(
                    at,
                    format!("{expected}, nothing arrived within {:?}", self.timeout),
                ),
                Next::Broken(error) => fail(at, error),
            }
        }
    }

    /// Expects the server to end the stream with no further event.
    #[track_caller]
    pub fn expect_end(&mut self) -> impl Future<Output = ()> {
        let at = Location::caller();
        async move {
            match self.next_within(self.timeout).await {
                Next::End => {}
                Next::Event(event) => {
                    fail(at, format!("expected the end of the stream, got {event:?}"));
                }
                Next::Nothing => fail(
                    at,
                    format!(
                        "expected the end of the stream, still open after {:?}",
                        self.timeout
                    ),
                ),
                Next::Broken(error) => fail(at, error),
            }
        }
    }

    /// Expects nothing for `wait`: no event, and the stream still open.
    /// Panics with what arrived instead. (It waits the whole `wait`,
    /// whatever the client's timeout.)
    #[track_caller]
    pub fn expect_silence(&mut self, wait: Duration) -> impl Future<Output = ()> {
        let at = Location::caller();
        async move {
            match self.next_within(wait).await {
                Next::Nothing => {}
                Next::Event(event) => {
                    fail(at, format!("expected nothing for {wait:?}, got {event:?}"));
                }
                Next::End => fail(
                    at,
                    format!("expected nothing for {wait:?}, the stream ended"),
                ),
                Next::Broken(error) => fail(at, error),
            }
        }
    }
}
