//! The WebSocket test client.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::DEFAULT_TIMEOUT;
use crate::client::{ClientConfig, connect};
use crate::connection::Connection;
use crate::error::Error;
use crate::io_util::with_deadline;
use crate::runtime::Net;
use tidings_core::close::CloseCode;
use tidings_core::ws::Message;

/// A WebSocket client for tests: send, and expect what the server sends
/// next. Every `expect_*` waits at most [`timeout`](Self::timeout) and
/// panics with what arrived instead (another message, a close with its
/// code and reason, or nothing).
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

impl<N: Net + Default> WsClient<N> {
    /// Connects to `url`; panics if the handshake fails.
    pub async fn connect(url: &str, config: ClientConfig) -> Self {
        match connect::<N>(url, config).await {
            Ok(conn) => WsClient {
                conn,
                timeout: DEFAULT_TIMEOUT,
                rt: N::default(),
            },
            Err(error) => panic!("WsClient: cannot connect to {url}: {error}"),
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
    pub async fn send_text(&self, text: &str) {
        if let Err(error) = self.conn.write(text).await {
            panic!("WsClient: cannot send text {text:?}: {error}");
        }
    }

    /// Sends a binary message; panics if the connection is closed.
    pub async fn send_binary(&self, bytes: &[u8]) {
        if let Err(error) = self.conn.write_binary(bytes).await {
            panic!("WsClient: cannot send binary {bytes:?}: {error}");
        }
    }

    /// Sends `value` as a JSON text message; panics if it cannot.
    pub async fn send_json<T: Serialize + ?Sized>(&self, value: &T) {
        if let Err(error) = self.conn.write_json(value).await {
            panic!("WsClient: cannot send JSON: {error}");
        }
    }

    /// The next message, or the error that ended the connection; `None` if
    /// nothing arrived within the timeout.
    pub async fn next(&self) -> Option<Result<Message, Error>> {
        let deadline = self.rt.now() + self.timeout;
        with_deadline(&self.rt, deadline, self.conn.read())
            .await
            .ok()
    }

    /// The next message; panics if the connection ends or nothing arrives
    /// in time.
    pub async fn expect_message(&self) -> Message {
        match self.next().await {
            Some(Ok(message)) => message,
            Some(other) => panic!("expected a message, got {}", describe(&other)),
            None => panic!(
                "expected a message, nothing arrived within {:?}",
                self.timeout
            ),
        }
    }

    /// Expects a text message equal to `expected`.
    pub async fn expect_text(&self, expected: &str) {
        let got = self.next().await;
        match &got {
            Some(Ok(Message::Text(text))) if text.as_str() == expected => {}
            Some(other) => panic!("expected text {expected:?}, got {}", describe(other)),
            None => panic!(
                "expected text {expected:?}, nothing arrived within {:?}",
                self.timeout
            ),
        }
    }

    /// Expects a binary message equal to `expected`.
    pub async fn expect_binary(&self, expected: &[u8]) {
        let got = self.next().await;
        match &got {
            Some(Ok(Message::Binary(bytes))) if bytes.as_ref() == expected => {}
            Some(other) => panic!("expected binary {expected:?}, got {}", describe(other)),
            None => panic!(
                "expected binary {expected:?}, nothing arrived within {:?}",
                self.timeout
            ),
        }
    }

    /// Expects a text message holding JSON equal to `expected` (compared as
    /// JSON values: key order and spacing do not matter).
    pub async fn expect_json<T: Serialize + ?Sized>(&self, expected: &T) {
        let expected = match serde_json::to_value(expected) {
            Ok(value) => value,
            Err(error) => panic!("expect_json: the expected value is not JSON: {error}"),
        };
        let got = self.next().await;
        if let Some(Ok(Message::Text(text))) = &got {
            if serde_json::from_str::<serde_json::Value>(text.as_str()).ok()
                == Some(expected.clone())
            {
                return;
            }
        }
        match &got {
            Some(other) => panic!("expected JSON {expected}, got {}", describe(other)),
            None => panic!(
                "expected JSON {expected}, nothing arrived within {:?}",
                self.timeout
            ),
        }
    }

    /// Reads the next message as JSON of type `T`; panics otherwise.
    pub async fn read_json<T: DeserializeOwned>(&self) -> T {
        let got = self.next().await;
        if let Some(Ok(Message::Text(text))) = &got {
            match serde_json::from_str(text.as_str()) {
                Ok(value) => return value,
                Err(error) => panic!(
                    "expected JSON of {}, got text {:?}: {error}",
                    std::any::type_name::<T>(),
                    text.as_str()
                ),
            }
        }
        match &got {
            Some(other) => panic!("expected JSON, got {}", describe(other)),
            None => panic!("expected JSON, nothing arrived within {:?}", self.timeout),
        }
    }

    /// Expects the connection to close with `code` (the server's code, or
    /// ours if we closed first); messages still arriving before the close
    /// make it panic.
    pub async fn expect_close(&self, code: CloseCode) {
        let got = self.next().await;
        match &got {
            Some(Err(Error::Closed(closed))) if closed.code() == code => {}
            Some(other) => panic!(
                "expected close {}, got {}",
                u16::from(code),
                describe(other)
            ),
            None => panic!(
                "expected close {}, nothing arrived within {:?}",
                u16::from(code),
                self.timeout
            ),
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
