//! The Server-Sent Events test client.

use core::net::SocketAddr;
use std::time::Duration;

use http::{HeaderMap, StatusCode};

use super::DEFAULT_TIMEOUT;
use super::http::get_head;
use crate::io_util::{read_some, with_deadline};
use crate::runtime::Net;
use tidings_core::sse::{DecodedEvent, Decoder};

/// An SSE client for tests: one `GET` request, its response head, and the
/// body decoded as an event stream (WHATWG rules). Every expectation waits
/// at most [`timeout`](Self::timeout) and panics with what arrived instead.
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

impl<N: Net + Default> SseClient<N> {
    /// Connects to `addr`, sends `GET path` (with `Accept:
    /// text/event-stream` and `headers`) and reads the response head.
    ///
    /// # Panics
    ///
    /// If the connection fails, or no complete response head arrives
    /// within [`DEFAULT_TIMEOUT`](super::DEFAULT_TIMEOUT).
    pub async fn open(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Self {
        let rt = N::default();
        let mut all = vec![("Accept", "text/event-stream")];
        all.extend_from_slice(headers);
        let (stream, response, body) = get_head::<N>(&rt, addr, path, &all).await;
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
        client.feed(&body);
        client
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

    fn feed(&mut self, chunk: &[u8]) {
        if let Err(error) = self.decoder.feed(chunk) {
            panic!("SseClient: the event stream breaks the decoder's limits: {error}");
        }
    }

    /// The next event, `None` once the stream has ended, or `Err(())` if
    /// nothing arrived within the timeout.
    pub async fn try_next_event(&mut self) -> Result<Option<DecodedEvent>, ()> {
        let deadline = self.rt.now() + self.timeout;
        loop {
            if let Some(event) = self.decoder.poll_event() {
                return Ok(Some(event));
            }
            if self.ended {
                return Ok(None);
            }
            let mut buf = Vec::new();
            match with_deadline(
                &self.rt,
                deadline,
                read_some(&mut self.stream, &mut buf, 4096),
            )
            .await
            {
                Err(_) => return Err(()),
                Ok(Ok(n)) if n > 0 => self.feed(&buf),
                Ok(_) => {
                    self.ended = true;
                    self.decoder.finish();
                }
            }
        }
    }

    /// The next event; panics if the stream ends or nothing arrives in time.
    pub async fn next_event(&mut self) -> DecodedEvent {
        match self.try_next_event().await {
            Ok(Some(event)) => event,
            Ok(None) => panic!("expected an event, the stream ended"),
            Err(()) => panic!(
                "expected an event, nothing arrived within {:?}",
                self.timeout
            ),
        }
    }

    /// Expects the next event to have type `event_type` and data `data`.
    pub async fn expect_event(&mut self, event_type: &str, data: &str) {
        let event = self.next_event().await;
        assert!(
            event.event_type == event_type && event.data == data,
            "expected event {event_type:?} with data {data:?}, got {event:?}"
        );
    }

    /// Expects the server to end the stream with no further event.
    pub async fn expect_end(&mut self) {
        match self.try_next_event().await {
            Ok(None) => {}
            Ok(Some(event)) => panic!("expected the end of the stream, got {event:?}"),
            Err(()) => panic!(
                "expected the end of the stream, still open after {:?}",
                self.timeout
            ),
        }
    }
}
