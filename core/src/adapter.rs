//! The public API every adapter crate exports, generated once by
//! [`adapter_api!`](crate::adapter_api) so the three adapters cannot drift
//! apart or repeat each other.

/// Emits an adapter crate's public API for runtime type `$rt` (which
/// implements [`Net`](crate::runtime::Net) and `Default`): the re-exports of
/// the user-facing types, `Server` and `ServerHandle` aliases, and `connect`
/// / `connect_with`; for Server-Sent Events, the `EventSource` alias and
/// `connect_events` / `connect_events_with`.
#[macro_export]
macro_rules! adapter_api {
    ($rt:ty) => {
        pub use $crate::client::ClientConfig;
        pub use $crate::close::CloseCode;
        pub use $crate::deflate::DeflateConfig;
        pub use $crate::http::StatusCode;
        pub use $crate::server::{
            Authenticator, Context, Html, IntoResponse, Json, Logging, Middleware, RateLimit,
            Response, RouteOptions, Router, ServerConfig, Sse, SseConfig, SseContext, SseTopic,
        };
        pub use $crate::{Connection, Error, Message, Utf8Bytes, deflate, hub, sse, ws};

        /// A WebSocket server on this runtime: bind, then `run` (see
        /// [`tidings_core::server::Server`]).
        pub type Server = $crate::server::Server<$rt>;

        /// Controls a running [`Server`]: graceful shutdown, connection count,
        /// serving extra streams.
        pub type ServerHandle = $crate::server::ServerHandle<$rt>;

        /// Connects to a `ws://` URL with the default client configuration
        /// and performs the opening handshake.
        pub async fn connect(url: &str) -> Result<Connection, Error> {
            $crate::client::connect::<$rt>(url, ClientConfig::default()).await
        }

        /// Connects to a `ws://` URL with `config`.
        pub async fn connect_with(url: &str, config: ClientConfig) -> Result<Connection, Error> {
            $crate::client::connect::<$rt>(url, config).await
        }

        /// The runtime this adapter drives tidings with.
        #[doc(hidden)]
        pub type AdapterRuntime = $rt;

        /// Test helpers on this runtime (see [`tidings_core::testing`]): an
        /// app on an ephemeral port, WebSocket and SSE test clients with
        /// expectations, and an AsyncAPI document check.
        pub mod testing {
            pub use $crate::testing::{DEFAULT_TIMEOUT, asyncapi_problems};

            /// An app served on `127.0.0.1` at an ephemeral port, stopped
            /// when dropped (see [`tidings_core::testing::TestApp`]).
            pub type TestApp = $crate::testing::TestApp<super::AdapterRuntime>;

            /// A WebSocket test client (see [`tidings_core::testing::WsClient`]).
            pub type WsClient = $crate::testing::WsClient<super::AdapterRuntime>;

            /// A Server-Sent Events test client (see
            /// [`tidings_core::testing::SseClient`]).
            pub type SseClient = $crate::testing::SseClient<super::AdapterRuntime>;
        }

        pub use $crate::event_source::{EventSourceConfig, EventSourceError};
        pub use $crate::sse::DecodedEvent;

        /// A Server-Sent Events client on this runtime (see
        /// [`tidings_core::event_source`]): `EventSource::connect(url, config)`,
        /// then `next().await` or use it as a `Stream`.
        pub type EventSource = $crate::event_source::EventSource<$rt>;

        /// Connects a Server-Sent Events client to an `http://` URL with the
        /// default configuration (reconnects forever, 3 s delay until the
        /// server sends `retry:`).
        pub async fn connect_events(url: &str) -> Result<EventSource, EventSourceError> {
            EventSource::connect(url, EventSourceConfig::default()).await
        }

        /// Connects a Server-Sent Events client to an `http://` URL with
        /// `config`.
        pub async fn connect_events_with(
            url: &str,
            config: EventSourceConfig,
        ) -> Result<EventSource, EventSourceError> {
            EventSource::connect(url, config).await
        }
    };
}
