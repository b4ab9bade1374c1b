//! The WebSocket test client.

use std::future::Future;
use std::panic::Location;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{DEFAULT_TIMEOUT, fail};
use crate::client::{ClientConfig, connect};
use crate::connection::Connection;
use crate::error::Error;
use crate::io_util::with_deadline;
use crate::runtime::Net;
use tidings_core::close::CloseCode;
use tidings_core::handshake::ClientHandshakeError;
use tidings_core::ws::Message;

/// A WebSocket client for tests: send, and expect what the server sends
/// next. Every `expect_*` waits at most [`timeout`](Self::timeout) and
/// panics with what arrived instead (another message, a close with its
/// code and reason, or nothing), naming the test line that set up the
/// expectation.
///
/// The methods that can panic are plain functions returning a future
/// (`.await` it), so that they record their caller's line:
/// `#[track_caller]` has no effect on an `async fn`.
pub struct WsClient<N: Net + Default> {
    conn: Connection,
    timeout: Duration,
    rt: N,
}

impl<N: Net + Default> std::fmt::Debug for WsClient<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsClient")
            .field("conn", &self.conn)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// What a read gave, for panic messages.
fn describe(result: &Result<Message, Error>) -> String {
    match result {
        Ok(Message::Text(text)) => format!("text {:?}", text.as_str()),
        Ok(Message::Binary(bytes)) => format!("binary {:?}", bytes.as_ref()),
        Err(Error::Closed(closed)) => {
            let frame = closed.received.as_ref().or(closed.sent.as_ref());
            let reason = frame.map_or("", |frame| frame.reason.as_str());
            format!("close {} {reason:?}", u16::from(closed.code()))
        }
        Err(error) => format!("error: {error}"),
    }
}

/// The status of a handshake the server refused, if that is what `error`
/// is.
pub(super) fn rejected_status(error: &Error) -> Option<u16> {
    match error {
        Error::Handshake(ClientHandshakeError::UnexpectedStatus { status }) => {
            Some(status.as_u16())
        }
        _ => None,
    }
}

impl<N: Net + Default> WsClient<N> {
    /// Connects to `url` with `config`: the client, or why the handshake
    /// failed (a refusal is [`Error::Handshake`] with
    /// `ClientHandshakeError::UnexpectedStatus`). Never panics.
    pub async fn try_connect(url: &str, config: ClientConfig) -> Result<Self, Error> {
        let conn = connect::<N>(url, config).await?;
        Ok(WsClient {
            conn,
            timeout: DEFAULT_TIMEOUT,
            rt: N::default(),
        })
    }

    /// Connects to `url`; panics if the handshake fails.
    #[track_caller]
    pub fn connect(url: &str, config: ClientConfig) -> impl Future<Output = Self> {
        let at = Location::caller();
        async move {
            match Self::try_connect(url, config).await {
                Ok(client) => client,
                Err(error) => fail(at, format!("WsClient: cannot connect to {url}: {error}")),
            }
        }
    }

    /// Sets how long each expectation waits.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The underlying connection.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Sends a text message; panics if the connection is closed.
    #[track_caller]
    pub fn send_text(&self, text: &str) -> impl Future<Output = ()> {
        let at = Location::caller();
        async move {
            if let Err(error) = self.conn.write(text).await {
                fail(at, format!("WsClient: cannot send text {text:?}: {error}"));
            }
        }
    }

    /// Sends a binary message; panics if the connection is closed.
    #[track_caller]
    pub fn send_binary(&self, bytes: &[u8]) -> impl Future<Output = ()> {
        let at = Location::caller();
        async move {
            if let Err(error) = self.conn.write_binary(bytes).await {
                fail(
                    at,
                    format!("WsClient: cannot send binary {bytes:?}: {error}"),
                );
            }
        }
    }

    /// Sends `value` as a JSON text message; panics if it cannot.
    #[track_caller]
    pub fn send_json<T: Serialize + ?Sized>(&self, value: &T) -> impl Future<Output = ()> {
        let at = Location::caller();
        async move {
            if let Err(error) = self.conn.write_json(value).await {
                fail(at, format!("WsClient: cannot send JSON: {error}"));
            }
        }
    }

    /// The next message, or the error that ended the connection; `None` if
    /// nothing arrived within the timeout.
    pub async fn next(&self) -> Option<Result<Message, Error>> {
        self.next_within(self.timeout).await
    }

    async fn next_within(&self, wait: Duration) -> Option<Result<Message, Error>> {
        let deadline = self.rt.now() + wait;
        with_deadline(&self.rt, deadline, self.conn.read())
            .await
            .ok()
    }

    /// Fails at `at`: `expected` did not come, `got` did (or nothing within
    /// the timeout).
    fn unexpected(
        &self,
        at: &Location<'_>,
        expected: impl std::fmt::Display,
        got: &Option<Result<Message, Error>>,
    ) -> ! {
        match got {
            Some(other) => fail(at, format!("expected {expected}, got {}", describe(other))),
            None => fail(
                at,
                format!(
                    "expected {expected}, nothing arrived within {:?}",
                    self.timeout
                ),
            ),
        }
    }

    /// The next message; panics if the connection ends or nothing arrives
    /// in time.
    #[track_caller]
    pub fn expect_message(&self) -> impl Future<Output = Message> {
        let at = Location::caller();
        async move {
            match self.next().await {
                Some(Ok(message)) => message,
                got => self.unexpected(at, "a message", &got),
            }
        }
    }

    /// Expects a text message equal to `expected`.
    #[track_caller]
    pub fn expect_text(&self, expected: &str) -> impl Future<Output = ()> {
        let at = Location::caller();
        async move {
            let got = self.next().await;
            if !matches!(&got, Some(Ok(Message::Text(text))) if text.as_str() == expected) {
                self.unexpected(at, format_args!("text {expected:?}"), &got);
            }
        }
    }

    /// Expects a binary message equal to `expected`.
    #[track_caller]
    pub fn expect_binary(&self, expected: &[u8]) -> impl Future<Output = ()> {
        let at = Location::caller();
        async move {
            let got = self.next().await;
            if !matches!(&got, Some(Ok(Message::Binary(bytes))) if bytes.as_ref() == expected) {
                self.unexpected(at, format_args!("binary {expected:?}"), &got);
            }
        }
    }

    /// Expects a text message holding JSON equal to `expected` (compared as
    /// JSON values: key order and spacing do not matter).
    #[track_caller]
    pub fn expect_json<T: Serialize + ?Sized>(&self, expected: &T) -> impl Future<Output = ()> {
        let at = Location::caller();
        let expected = serde_json::to_value(expected);
        async move {
            let expected = match expected {
                Ok(value) => value,
                Err(error) => fail(
                    at,
                    format!("expect_json: the expected value is not JSON: {error}"),
                ),
            };
            let got = self.next().await;
            let equal = |text: &str| {
                serde_json::from_str::<serde_json::Value>(text)
                    .ok()
                    .as_ref()
                    == Some(&expected)
            };
            if !matches!(&got, Some(Ok(Message::Text(text))) if equal(text.as_str())) {
                self.unexpected(at, format_args!("JSON {expected}"), &got);
            }
        }
    }

    /// Reads the next message as JSON of type `T`; panics otherwise.
    #[track_caller]
    pub fn read_json<T: DeserializeOwned>(&self) -> impl Future<Output = T> {
        let at = Location::caller();
        async move {
            let got = self.next().await;
            let Some(Ok(Message::Text(text))) = &got else {
                self.unexpected(at, "JSON", &got);
            };
            match serde_json::from_str(text.as_str()) {
                Ok(value) => value,
                Err(error) => fail(
                    at,
                    format!(
                        "expected JSON of {}, got text {:?}: {error}",
                        std::any::type_name::<T>(),
                        text.as_str()
                    ),
                ),
            }
        }
    }

    /// Expects the connection to close with `code` (the server's code, or
    /// ours if we closed first); messages still arriving before the close
    /// make it panic.
    #[track_caller]
    pub fn expect_close(&self, code: CloseCode) -> impl Future<Output = ()> {
        let at = Location::caller();
        async move {
            let got = self.next().await;
            if !matches!(&got, Some(Err(Error::Closed(closed))) if closed.code() == code) {
                self.unexpected(at, format_args!("close {}", u16::from(code)), &got);
            }
        }
    }

    /// Expects nothing for `wait`: no message and no close. Panics with
    /// what arrived instead. (It waits the whole `wait`, whatever the
    /// client's timeout.)
    #[track_caller]
    pub fn expect_silence(&self, wait: Duration) -> impl Future<Output = ()> {
        let at = Location::caller();
        async move {
            if let Some(got) = self.next_within(wait).await {
                fail(
                    at,
                    format!("expected nothing for {wait:?}, got {}", describe(&got)),
                );
            }
        }
    }

    /// Closes with 1000 and waits (at most the timeout) for the close
    /// handshake to finish.
    pub async fn close(&self) {
        let _ = self.conn.close().await;
        let deadline = self.rt.now() + self.timeout;
        let _ = with_deadline(&self.rt, deadline, self.conn.closed()).await;
    }
}
