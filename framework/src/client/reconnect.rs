//! A WebSocket client that reconnects by itself: exponential backoff with
//! full jitter (the core's [`Backoff`]), a maximum delay, a hook after each
//! reconnection, and rules for when to stop instead.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::RangeInclusive;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, StatusCode};
use tidings_core::backoff::Backoff;
use tidings_core::handshake::ClientHandshakeError;
use tidings_core::ws::CloseCause;

use super::{ClientConfig, IntoClientRequest, connect};
use crate::connection::Connection;
use crate::error::Error;
use crate::runtime::Net;
use tidings_core::Message;

/// When a [`Reconnecting`] client gives up instead of reconnecting.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopRule {
    /// The server closed the connection with a code in this range (4000 to
    /// 4999, the application's codes, say "do not come back" by default).
    CloseCodes(RangeInclusive<u16>),
    /// The server refused the opening handshake with this status (401 and
    /// 403 by default: reconnecting with the same credentials cannot help).
    HandshakeStatus(StatusCode),
}

/// [`Reconnecting`] settings.
///
/// ```
/// use std::time::Duration;
/// # use tidings_framework::client::{ReconnectingConfig, StopRule};
/// let config = ReconnectingConfig::default()
///     .initial_delay(Duration::from_millis(200))
///     .max_delay(Duration::from_secs(10))
///     .max_attempts(Some(20))
///     .stop_rule(StopRule::CloseCodes(1008..=1008));
/// assert_eq!(config.stop_rules.len(), 4);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ReconnectingConfig {
    /// The settings of each connection.
    pub client: ClientConfig,
    /// The ceiling of the first reconnection delay; attempt `n` waits a
    /// random delay from zero to `initial_delay × 2ⁿ` ("full jitter", so
    /// that clients dropped together do not return together). Default
    /// 500 ms.
    pub initial_delay: Duration,
    /// The largest ceiling. Default 30 s.
    pub max_delay: Duration,
    /// How many reconnection attempts in a row may fail before the client
    /// gives up and returns the last error. `None` (the default): never.
    pub max_attempts: Option<u32>,
    /// When to stop instead of reconnecting. Default: close codes 4000 to
    /// 4999, handshake statuses 401 and 403. The client also stops after a
    /// local close ([`Connection::close`]) and on errors that cannot heal
    /// (a bad URL, a refused TLS certificate, a proxy refusing credentials).
    pub stop_rules: Vec<StopRule>,
}

impl Default for ReconnectingConfig {
    fn default() -> Self {
        ReconnectingConfig {
            client: ClientConfig::default(),
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_attempts: None,
            stop_rules: vec![
                StopRule::CloseCodes(4000..=4999),
                StopRule::HandshakeStatus(StatusCode::UNAUTHORIZED),
                StopRule::HandshakeStatus(StatusCode::FORBIDDEN),
            ],
        }
    }
}

impl ReconnectingConfig {
    /// Sets [`ReconnectingConfig::client`](#structfield.client).
    #[must_use]
    pub fn client(mut self, config: ClientConfig) -> Self {
        self.client = config;
        self
    }

    /// Sets [`ReconnectingConfig::initial_delay`](#structfield.initial_delay).
    #[must_use]
    pub fn initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// Sets [`ReconnectingConfig::max_delay`](#structfield.max_delay).
    #[must_use]
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Sets [`ReconnectingConfig::max_attempts`](#structfield.max_attempts).
    #[must_use]
    pub fn max_attempts(mut self, attempts: Option<u32>) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// Adds a stop rule.
    #[must_use]
    pub fn stop_rule(mut self, rule: StopRule) -> Self {
        self.stop_rules.push(rule);
        self
    }

    /// Removes every stop rule (the client still stops after a local close
    /// and on errors that cannot heal).
    #[must_use]
    pub fn no_stop_rules(mut self) -> Self {
        self.stop_rules.clear();
        self
    }
}

type HookFuture = Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;
type Hook = Arc<dyn Fn(Connection) -> HookFuture + Send + Sync>;

/// A WebSocket client on runtime `N` that reconnects when the connection
/// drops. [`read`](Reconnecting::read) reads messages across
/// reconnections; writes go through [`connection`](Reconnecting::connection)
/// (a write while disconnected fails; the next `read` reconnects).
///
/// ```no_run
/// # async fn demo<N: tidings_framework::runtime::Net + Default>() -> Result<(), tidings_framework::Error> {
/// use tidings_framework::client::{Reconnecting, ReconnectingConfig};
///
/// let mut client = Reconnecting::<N>::connect("wss://example.com/feed", ReconnectingConfig::default())
///     .await?
///     // After each reconnection: join the rooms again.
///     .on_reconnect(|conn| async move { conn.write(r#"{"join":"prices"}"#).await });
/// client.connection().write(r#"{"join":"prices"}"#).await?;
/// loop {
///     let message = client.read().await?; // Err only when the client gives up
///     println!("{message:?} (reconnected {} times)", client.reconnects());
/// }
/// # }
/// ```
pub struct Reconnecting<N> {
    request: Request<()>,
    config: ReconnectingConfig,
    connection: Connection,
    hook: Option<Hook>,
    reconnects: u64,
    runtime: PhantomData<fn() -> N>,
}

impl<N> fmt::Debug for Reconnecting<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reconnecting")
            .field("uri", self.request.uri())
            .field("connection", &self.connection.id())
            .field("reconnects", &self.reconnects)
            .finish_non_exhaustive()
    }
}

impl<N: Net + Default> Reconnecting<N> {
    /// Connects a first time. This first connection is not retried: its
    /// error is returned, so a wrong URL shows at once.
    pub async fn connect(
        request: impl IntoClientRequest,
        config: ReconnectingConfig,
    ) -> Result<Self, Error> {
        let request = request.into_client_request()?;
        let connection = Box::pin(connect::<N>(request.clone(), config.client.clone())).await?;
        Ok(Reconnecting {
            request,
            config,
            connection,
            hook: None,
            reconnects: 0,
            runtime: PhantomData,
        })
    }

    /// Runs `hook` with the new connection after each reconnection (not
    /// after the first connection), before `read` returns its messages:
    /// re-join rooms, re-subscribe, authenticate again. A hook error counts
    /// as a failed attempt.
    #[must_use]
    pub fn on_reconnect<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Connection) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        self.hook = Some(Arc::new(move |conn| Box::pin(hook(conn))));
        self
    }

    /// The current connection (replaced at each reconnection).
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// Successful reconnections so far.
    pub fn reconnects(&self) -> u64 {
        self.reconnects
    }

    /// The next message, reconnecting as often as needed.
    ///
    /// Cancel-safe for messages (none is lost when the future is dropped);
    /// a reconnection in progress is abandoned and starts over, from the
    /// first backoff step, at the next call.
    ///
    /// # Errors
    /// The error that ended the client: a stop rule matched, a local close,
    /// an error that cannot heal, or
    /// [`max_attempts`](ReconnectingConfig::max_attempts) failures in a
    /// row. After it, each call tries to reconnect again from scratch.
    pub async fn read(&mut self) -> Result<Message, Error> {
        loop {
            match self.connection.read().await {
                Ok(message) => return Ok(message),
                // Boxed: the dialing and handshake futures are large, and
                // `read` is awaited in loops on small stacks.
                Err(error) => Box::pin(self.reconnect(error)).await?,
            }
        }
    }

    /// Reconnects after `error` unless a rule says to stop.
    async fn reconnect(&mut self, error: Error) -> Result<(), Error> {
        if self.stops(&error) {
            return Err(error);
        }
        let rt = N::default();
        let backoff = Backoff::new(self.config.initial_delay, self.config.max_delay);
        let mut attempt = 0u32;
        loop {
            let mut random = [0u8; 8];
            rt.fill_random(&mut random);
            let delay = backoff.full_jitter(attempt, u64::from_le_bytes(random));
            rt.sleep_until(rt.now() + delay).await;
            let result = match connect::<N>(self.request.clone(), self.config.client.clone()).await
            {
                Ok(connection) => match &self.hook {
                    Some(hook) => hook(connection.clone()).await.map(|()| connection),
                    None => Ok(connection),
                },
                Err(error) => Err(error),
            };
            match result {
                Ok(connection) => {
                    self.connection = connection;
                    self.reconnects += 1;
                    return Ok(());
                }
                Err(error) if self.stops(&error) => return Err(error),
                Err(error) => {
                    attempt = attempt.saturating_add(1);
                    if self.config.max_attempts.is_some_and(|max| attempt >= max) {
                        return Err(error);
                    }
                }
            }
        }
    }

    /// Whether `error` ends the client.
    fn stops(&self, error: &Error) -> bool {
        match error {
            Error::Closed(closed) => {
                if matches!(closed.cause, CloseCause::LocalClose) {
                    return true;
                }
                let code = closed.received.as_ref().map(|frame| u16::from(frame.code));
                self.config.stop_rules.iter().any(|rule| {
                    matches!((rule, code), (StopRule::CloseCodes(range), Some(code)) if range.contains(&code))
                })
            }
            Error::Handshake(ClientHandshakeError::UnexpectedStatus { status }) => self
                .config
                .stop_rules
                .contains(&StopRule::HandshakeStatus(*status)),
            Error::Url(_) | Error::Tls(_) => true,
            Error::Proxy(error) => !error.is_transient(),
            _ => false,
        }
    }
}
