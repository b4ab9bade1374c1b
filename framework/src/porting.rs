//! # Porting from Forge
//!
//! tidings builds the streaming capabilities of the Forge framework (Go) in
//! Rust. This page puts each Forge API beside its tidings counterpart, so a
//! Forge user finds their way, and so the rest of the documentation need not
//! mention Forge. Every tidings name below is a link that rustdoc checks.
//!
//! Applications use the names through their runtime's adapter
//! (`tidings_tokio::Router`, `tidings_smol::Connection`, …), which re-exports
//! them; the links lead to their definitions in this crate.
//!
//! ## Routes and handlers
//!
//! | Forge | tidings |
//! |---|---|
//! | `router.WebSocket(path, func(ctx forge.Context, conn forge.Connection) error)` | [`Router::websocket`](crate::server::Router::websocket) with `async fn(Context, Connection) -> Result<(), Error>` ([`Context`](crate::server::Context), [`Connection`](crate::Connection), [`Error`](crate::Error)) |
//! | `router.SSE(path, func(ctx forge.Context) error)` | [`Router::sse`](crate::server::Router::sse) with `async fn(SseContext) -> Result<(), Error>` ([`SseContext`](crate::server::SseContext)) |
//! | `router.WebTransport(path, handler)` | not yet (WebTransport over HTTP/3 is planned) |
//! | `WebSocketOption`, `SSEOption` | [`RouteOptions`](crate::server::RouteOptions), given to [`Router::websocket_with`](crate::server::Router::websocket_with) / [`Router::sse_with`](crate::server::Router::sse_with) |
//! | path parameters (`/ws/chat/:room`), `ctx.Param("room")` | the same patterns; [`Context::param`](crate::server::Context::param), [`Context::query`](crate::server::Context::query) |
//! | "when the handler returns, the connection is closed" | the same: returning `Ok(())` closes with 1000, an error with 1011 |
//!
//! ## The connection
//!
//! | Forge | tidings |
//! |---|---|
//! | `conn.Read()`, `conn.ReadMessage()` | [`Connection::read`](crate::Connection::read), a [`Message`](crate::Message) (`Text` or `Binary`) |
//! | `conn.Write(msg)`, `conn.WriteMessage(forge.TextMessage, data)` | [`Connection::write`](crate::Connection::write), [`write_binary`](crate::Connection::write_binary), [`write_message`](crate::Connection::write_message) |
//! | `conn.ReadJSON(&v)`, `conn.WriteJSON(v)` | [`Connection::read_json`](crate::Connection::read_json), [`Connection::write_json`](crate::Connection::write_json) |
//! | `conn.Close()` | [`Connection::close`](crate::Connection::close), [`close_with`](crate::Connection::close_with) (code and reason) |
//! | `conn.ID()`, `conn.RemoteAddr()`, `conn.LocalAddr()` | [`Connection::id`](crate::Connection::id), [`remote_addr`](crate::Connection::remote_addr), [`local_addr`](crate::Connection::local_addr) |
//! | `conn.Context().Done()` | [`Connection::closed`](crate::Connection::closed) (a future), [`is_closed`](crate::Connection::is_closed) |
//! | `conn.Get("user_id").(string)` | typed values: middleware calls [`Context::set`](crate::server::Context::set), the handler [`Connection::get`](crate::Connection::get)`::<UserId>()` |
//! | `conn.Protocol()` | [`ConnectionHandle::protocol`](crate::hub::ConnectionHandle::protocol) |
//!
//! ## Server-Sent Events
//!
//! | Forge | tidings |
//! |---|---|
//! | `ctx.WriteSSE("update", data)` | [`SseContext::send_event`](crate::server::SseContext::send_event); JSON data: [`send_json`](crate::server::SseContext::send_json); ids, retry, comments: [`send`](crate::server::SseContext::send) with a [`sse::Event`](crate::sse::Event) |
//! | `ctx.SetHeader("Content-Type", "text/event-stream")`, `Cache-Control`, `Connection` | set by the server, with keep-alive comments ([`SseConfig::keep_alive`](crate::server::SseConfig::keep_alive)) |
//! | `ctx.Done()` | [`SseContext::closed`](crate::server::SseContext::closed) |
//! | replaying what a client missed | [`SseTopic`](crate::server::SseTopic) with `Last-Event-ID` ([`SseContext::subscribe`](crate::server::SseContext::subscribe)) |
//!
//! ## The streaming manager
//!
//! | Forge `StreamingManager` | tidings |
//! |---|---|
//! | `GetConnection(id)` | [`Hub::get_connection`](crate::hub::Hub::get_connection), a [`ConnectionHandle`](crate::hub::ConnectionHandle) (send, close, values) |
//! | `Broadcast(message, filter...)` | [`Hub::broadcast`](crate::hub::Hub::broadcast) with a [`Payload`](crate::hub::Payload) (encoded once) and a [`Filter`](crate::hub::Filter) (room, route, protocol, except, predicate) |
//! | `GetStats()` | [`Hub::stats`](crate::hub::Hub::stats), a [`Stats`](crate::hub::Stats) (serde-serializable) |
//! | a hand-written `ChatRoom` (map of connections, `Join`, `Leave`, `Broadcast`) | rooms in the hub: [`Connection::join`](crate::Connection::join), [`leave`](crate::Connection::leave) (left automatically at the end), [`Hub::members`](crate::hub::Hub::members), [`Filter::room`](crate::hub::Filter::room)`(r).`[`except`](crate::hub::Filter::except)`(id)` |
//!
//! ## Middleware
//!
//! | Forge | tidings |
//! |---|---|
//! | `streamingLoggingMiddleware` | [`Logging`](crate::server::Logging) (one `tracing` event per connection or rejection) |
//! | `streamingRateLimitMiddleware` | [`RateLimit`](crate::server::RateLimit) (per client IP; 429 with `Retry-After` before the upgrade) |
//! | authentication that sets `user_id` | [`Authenticator`](crate::server::Authenticator) registered with [`Router::authenticator`](crate::server::Router::authenticator), required per route with [`RouteOptions::auth`](crate::server::RouteOptions::auth) |
//! | `func(next forge.StreamingHandler) forge.StreamingHandler` | the [`Middleware`](crate::server::Middleware) trait, added with [`Router::layer`](crate::server::Router::layer); [`before_async`](crate::server::Middleware::before_async) when it awaits (a lookup before the upgrade), [`Context::response_headers_mut`](crate::server::Context::response_headers_mut) for headers on the 101 or the SSE 200 |
//!
//! ## Configuration
//!
//! | Forge | tidings |
//! |---|---|
//! | `WebSocketConfig.ReadBufferSize`, `WriteBufferSize` | [`ServerConfig::read_buffer_size`](crate::server::ServerConfig::read_buffer_size), [`write_buffer_size`](crate::server::ServerConfig::write_buffer_size) |
//! | `CheckOrigin` | [`ServerConfig::origin`](crate::server::ServerConfig::origin) |
//! | `HandshakeTimeout`, `MaxConnections` | [`ServerConfig::handshake_timeout`](crate::server::ServerConfig::handshake_timeout), [`max_connections`](crate::server::ServerConfig::max_connections) |
//! | `PingPeriod`, `PongWait`, `MaxMessageSize` | [`ws::Config::ping_period`](crate::ws::Config::ping_period), [`pong_wait`](crate::ws::Config::pong_wait), [`max_message_size`](crate::ws::Config::max_message_size), in [`ServerConfig::websocket`](crate::server::ServerConfig::websocket) |
//! | `SSEConfig.RetryInterval`, `MaxConnections`, `BufferSize` | [`SseConfig::retry`](crate::server::SseConfig::retry), [`max_connections`](crate::server::SseConfig::max_connections), [`buffer_size`](crate::server::SseConfig::buffer_size) |
//! | `WebTransportConfig` | not yet |
//!
//! ## Testing
//!
//! With the `testing` feature, `tidings_tokio::testing` (and the same module
//! of the other adapters; generic in `tidings_framework::testing`):
//!
//! | Forge | tidings |
//! |---|---|
//! | `forge.NewTestApp(...)`, `app.Router().WebSocket(...)` | `TestApp::start(router, config)`: the app on an ephemeral port of 127.0.0.1, stopped when dropped |
//! | `app.Test().WebSocket("/ws").Expect(t)`, `resp.ReceiveMessage().Equal("hello")` | `app.ws("/ws").await`, `client.expect_text("hello").await` |
//! | `app.Test().GET("/events").Expect(t)`, `resp.Status(200)`, `resp.Header(..).Equal(..)` | `app.sse("/events").await`, `events.expect_status(200)`, `expect_header(..)`, `expect_event(..)` |
