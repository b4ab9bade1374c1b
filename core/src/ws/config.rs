//! Connection role and configuration.

use std::sync::Arc;
use std::time::Duration;

use crate::deflate::DeflateConfig;

/// Which end of the connection this is. The role decides masking (RFC 6455
/// §5.1) and who closes the TCP connection after the close handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// The server: expects masked frames, sends unmasked ones, and closes the
    /// transport first once the close handshake is done.
    Server,
    /// The client: sends masked frames, with keys derived from `mask_seed`
    /// (fill it from a cryptographically secure generator, e.g. the operating
    /// system's), and waits for the server to close the transport.
    Client {
        /// Seed for the masking key generator.
        mask_seed: [u8; 32],
    },
}

impl Role {
    /// Whether this is the client role.
    pub fn is_client(&self) -> bool {
        matches!(self, Role::Client { .. })
    }
}

/// Limits and timers of one WebSocket connection.
///
/// The defaults are safe for a server on the open internet (ping period
/// 54 s, pong wait 60 s). Fields can
/// be read directly and set with the chainable methods of the same name:
///
/// ```
/// use std::time::Duration;
/// # use tidings_core::ws::Config;
///
/// let config = Config::default().max_message_size(1 << 20).ping_period(Some(Duration::from_secs(20)));
/// assert_eq!(config.max_message_size, 1 << 20);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Largest payload of a single incoming frame, checked on the frame header
    /// before anything is buffered. Larger frames fail the connection with
    /// 1009. Default 16 MiB.
    pub max_frame_size: usize,
    /// Largest incoming message (the sum of its fragments), checked on each
    /// frame header. Larger messages fail the connection with 1009. Default
    /// 64 MiB.
    pub max_message_size: usize,
    /// Split outgoing data messages into frames of at most this many payload
    /// bytes. `None` (the default) sends each message as one frame.
    pub max_outgoing_frame_size: Option<usize>,
    /// Answer pings with pongs automatically. Default on. Pings are reported
    /// as events either way.
    pub auto_pong: bool,
    /// Send a keep-alive ping every this long while the connection is open.
    /// Default 54 s; `None` (or zero) disables keep-alive pings.
    pub ping_period: Option<Duration>,
    /// Fail the connection when nothing at all has been received from the
    /// peer for this long (any bytes count, a pong being the usual). Default
    /// 60 s; `None` (or zero) disables the check.
    pub pong_wait: Option<Duration>,
    /// How long to wait for the peer's part of the close handshake (its close
    /// frame; for a client, also the server closing the transport) before
    /// giving up. Default 5 s.
    pub close_timeout: Duration,
    /// Start the close handshake (1001, "idle timeout") when no data message
    /// has been received for this long. Pings and pongs do not count. Default
    /// `None` (no idle timeout; zero also disables it).
    pub idle_timeout: Option<Duration>,
    /// permessage-deflate (RFC 7692): what to offer (client) or accept
    /// (server), level and threshold. `None` (the default) disables it: a
    /// client offers nothing and a server declines every offer. See
    /// [`crate::deflate`] for the memory it costs per connection.
    pub deflate: Option<DeflateConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame_size: 16 << 20,
            max_message_size: 64 << 20,
            max_outgoing_frame_size: None,
            auto_pong: true,
            ping_period: Some(Duration::from_secs(54)),
            pong_wait: Some(Duration::from_secs(60)),
            close_timeout: Duration::from_secs(5),
            idle_timeout: None,
            deflate: None,
        }
    }
}

impl Config {
    /// Sets [`Config::max_frame_size`](#structfield.max_frame_size).
    #[must_use]
    pub fn max_frame_size(mut self, value: usize) -> Self {
        self.max_frame_size = value;
        self
    }

    /// Sets [`Config::max_message_size`](#structfield.max_message_size).
    #[must_use]
    pub fn max_message_size(mut self, value: usize) -> Self {
        self.max_message_size = value;
        self
    }

    /// Sets [`Config::max_outgoing_frame_size`](#structfield.max_outgoing_frame_size).
    #[must_use]
    pub fn max_outgoing_frame_size(mut self, value: Option<usize>) -> Self {
        self.max_outgoing_frame_size = value;
        self
    }

    /// Sets [`Config::auto_pong`](#structfield.auto_pong).
    #[must_use]
    pub fn auto_pong(mut self, value: bool) -> Self {
        self.auto_pong = value;
        self
    }

    /// Sets [`Config::ping_period`](#structfield.ping_period).
    #[must_use]
    pub fn ping_period(mut self, value: Option<Duration>) -> Self {
        self.ping_period = value;
        self
    }

    /// Sets [`Config::pong_wait`](#structfield.pong_wait).
    #[must_use]
    pub fn pong_wait(mut self, value: Option<Duration>) -> Self {
        self.pong_wait = value;
        self
    }

    /// Sets [`Config::close_timeout`](#structfield.close_timeout).
    #[must_use]
    pub fn close_timeout(mut self, value: Duration) -> Self {
        self.close_timeout = value;
        self
    }

    /// Sets [`Config::idle_timeout`](#structfield.idle_timeout).
    #[must_use]
    pub fn idle_timeout(mut self, value: Option<Duration>) -> Self {
        self.idle_timeout = value;
        self
    }

    /// Sets [`Config::deflate`](#structfield.deflate).
    #[must_use]
    pub fn deflate(mut self, value: Option<DeflateConfig>) -> Self {
        self.deflate = value;
        self
    }

    /// `config` with a zero `ping_period`, `pong_wait` or `idle_timeout`
    /// turned into `None` (disabled: a zero period would make the timer due
    /// forever). A shared configuration is copied only if a timer is zero.
    ///
    /// [`Connection::new`](super::Connection::new) applies this itself; a
    /// driver that shares one configuration between many connections calls
    /// it once, so no connection copies it.
    pub fn disable_zero_timers(mut config: Arc<Config>) -> Arc<Config> {
        let zero = |timer: Option<Duration>| timer.is_some_and(|duration| duration.is_zero());
        if [config.ping_period, config.pong_wait, config.idle_timeout]
            .into_iter()
            .any(zero)
        {
            let config = Arc::make_mut(&mut config);
            for timer in [
                &mut config.ping_period,
                &mut config.pong_wait,
                &mut config.idle_timeout,
            ] {
                if zero(*timer) {
                    *timer = None;
                }
            }
        }
        config
    }
}
