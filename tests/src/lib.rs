//! The harness of the cross-runtime integration tests (in `tests/`): one test
//! body, generic over the runtime, run on tokio, async-std and smol by
//! [`all_runtimes!`].
//!
//! - [`start_server`] binds a [`Server`] on `127.0.0.1:0` and runs it in the
//!   background on the runtime under test; the returned [`TestServer`] shuts
//!   it down when dropped.
//! - [`client`] connects the tidings client; [`RawClient`] speaks hand-made
//!   bytes over the runtime's own TCP stream.
//! - [`sleep`] and [`timeout`] use the runtime's timer; every test body is
//!   bounded by [`TEST_TIMEOUT`] so a hang fails instead of blocking CI.
//! - [`certs`] makes test certificates (a CA and leaves it signs); [`tls`]
//!   connects to a server over TLS with futures-rustls, and
//!   [`start_server_on`] starts one on plain TCP or TLS ([`Wire`]), so a
//!   battery of cases can run over either.
//! - [`tls_server`] fronts a router with a bare futures-rustls acceptor
//!   (not the server's own TLS), so the clients' tests do not rest on it.
//! - [`proxies`] starts real HTTP and SOCKS5 proxies (tinyproxy, danted).
//! - [`RedisServer`] runs a real `redis-server` on a free loopback port
//!   (with or without persistence); [`redis_nodes`] starts cluster nodes
//!   on it.
//! - [`aioquic`] runs the WebTransport tests' Python clients against a
//!   server on each runtime.
//! - [`channel`] (async-channel, runtime-agnostic) lets handlers report to
//!   the test.

// Unsafe code only with a reasoned allow: the one place is
// `CountingAllocator`'s `GlobalAlloc` impl (an allocator cannot be written
// without it).
#![deny(unsafe_code)]

pub mod aioquic;
pub mod certs;
mod counting_alloc;
pub mod h2;
mod log_capture;
pub mod proxies;
pub mod redis_nodes;
mod redis_server;
pub mod rooms;
mod tcp_proxy;
pub mod tls;
pub mod tls_server;

pub use counting_alloc::CountingAllocator;
pub use log_capture::{capture_logs, logged_events, logged_spans};
pub use redis_server::RedisServer;
pub use tcp_proxy::TcpProxy;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::time::{Duration, Instant};

use futures_util::future::{Either, select};
use futures_util::io::{AsyncReadExt, AsyncWriteExt};

pub use smol::channel;
pub use tidings_async_std::AsyncStd;
pub use tidings_framework::client::ClientConfig;
pub use tidings_framework::runtime::{Net, Runtime};
pub use tidings_framework::server::{Router, Server, ServerConfig, ServerHandle};
pub use tidings_framework::{Connection, Error, Message};
pub use tidings_smol::Smol;
pub use tidings_tokio::Tokio;

/// The bound on every test body.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(20);

/// A runtime the tests run on: TCP plus a default value.
pub trait TestRuntime: Net + Default {}

impl<N: Net + Default> TestRuntime for N {}

/// Generates, for each named generic test body `async fn name<N: TestRuntime>()`,
/// one `#[test]` per runtime: `tokio_rt::name`, `async_std_rt::name`,
/// `smol_rt::name`. Attributes before a name (e.g. `#[ignore = "why"]`) are
/// put on its three tests.
#[macro_export]
macro_rules! all_runtimes {
    ($($(#[$attr:meta])* $test:ident),+ $(,)?) => {
        mod tokio_rt {
            $(#[test]
            $(#[$attr])*
            fn $test() {
                $crate::run_tokio(super::$test::<$crate::Tokio>());
            })+
        }
        mod async_std_rt {
            $(#[test]
            $(#[$attr])*
            fn $test() {
                $crate::run_async_std(super::$test::<$crate::AsyncStd>());
            })+
        }
        mod smol_rt {
            $(#[test]
            $(#[$attr])*
            fn $test() {
                $crate::run_smol(super::$test::<$crate::Smol>());
            })+
        }
    };
}

/// Runs `body` on a multi-threaded tokio runtime (2 workers), bounded by
/// [`TEST_TIMEOUT`].
pub fn run_tokio(body: impl Future<Output = ()>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("build the tokio runtime");
    runtime.block_on(bounded::<Tokio>(Box::pin(body)));
}

/// Runs `body` with `async_std::task::block_on`, bounded by [`TEST_TIMEOUT`].
pub fn run_async_std(body: impl Future<Output = ()>) {
    async_std::task::block_on(bounded::<AsyncStd>(Box::pin(body)));
}

/// Runs `body` with `smol::block_on`, bounded by [`TEST_TIMEOUT`]; spawned
/// tasks run on smol's global executor threads.
pub fn run_smol(body: impl Future<Output = ()>) {
    smol::block_on(bounded::<Smol>(Box::pin(body)));
}

/// `body` under [`TEST_TIMEOUT`]. The callers box `body`: a test's future
/// lives on the heap, not on the stack of the thread that blocks on it
/// (async-std's test threads overflowed their 2 MiB in debug builds once
/// the TLS and cluster states were added to the server's futures).
async fn bounded<N: TestRuntime>(body: impl Future<Output = ()>) {
    if timeout::<N, _>(TEST_TIMEOUT, body).await.is_err() {
        panic!("test did not finish within {TEST_TIMEOUT:?}");
    }
}

/// Sleeps for `duration` on runtime `N`.
pub async fn sleep<N: TestRuntime>(duration: Duration) {
    let rt = N::default();
    rt.sleep_until(rt.now() + duration).await;
}

/// The time limit of [`timeout`] passed first.
#[derive(Debug, PartialEq, Eq)]
pub struct Elapsed;

/// Runs `future` for at most `duration` on runtime `N`.
pub async fn timeout<N: TestRuntime, F: Future>(
    duration: Duration,
    future: F,
) -> Result<F::Output, Elapsed> {
    match select(pin!(future), pin!(sleep::<N>(duration))).await {
        Either::Left((output, _)) => Ok(output),
        Either::Right(((), _)) => Err(Elapsed),
    }
}

/// A server running in the background for one test.
pub struct TestServer<N: TestRuntime> {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Its handle (shutdown, connection count).
    pub handle: ServerHandle<N>,
    /// For a server on [`Wire::Tls`]: its CA and a client configuration
    /// that trusts it.
    pub tls: Option<tls::TestTls>,
}

impl<N: TestRuntime> TestServer<N> {
    /// `ws://ADDR{path}` (`wss://` over TLS).
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls.is_some() { "wss" } else { "ws" };
        format!("{scheme}://{}{path}", self.addr)
    }

    /// A raw client connected to the server, over TLS if it serves TLS.
    pub async fn raw(&self) -> RawClient<N> {
        match &self.tls {
            None => RawClient::connect(self.addr).await,
            Some(tls) => RawClient::from_stream(tls::connect::<N>(self.addr, &tls.client).await),
        }
    }

    /// The tidings WebSocket client connected to `path` (over TLS if the
    /// server serves TLS: futures-rustls, then the client handshake over
    /// that stream).
    pub async fn ws(&self, path: &str, config: ClientConfig) -> Connection {
        match &self.tls {
            None => client::<N>(&self.url(path), config).await,
            Some(tls) => tls::ws::<N>(self.addr, path, &tls.client, config).await,
        }
    }
}

/// What a test server speaks: plain TCP, or TLS with a certificate of a
/// fresh test CA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire {
    /// HTTP and WebSocket over TCP.
    Plain,
    /// The same over TLS (`https://`, `wss://`).
    Tls,
}

impl<N: TestRuntime> Drop for TestServer<N> {
    fn drop(&mut self) {
        // Stops the accept loop and closes what is left, so nothing outlives
        // the test on the global executors of async-std and smol.
        self.handle.begin_shutdown();
    }
}

/// Binds `router` with `config` on `127.0.0.1:0` and runs the server on a
/// task of runtime `N`.
pub async fn start_server<N: TestRuntime>(router: Router, config: ServerConfig) -> TestServer<N> {
    start_server_on(Wire::Plain, router, config).await
}

/// [`start_server`] on `wire`: over TLS with a leaf for `127.0.0.1` of a
/// fresh test CA.
pub async fn start_server_on<N: TestRuntime>(
    wire: Wire,
    router: Router,
    config: ServerConfig,
) -> TestServer<N> {
    let (config, tls) = match wire {
        Wire::Plain => (config, None),
        Wire::Tls => {
            let tls = tls::TestTls::new();
            (config.tls(tls.server_tls()), Some(tls))
        }
    };
    let server = Server::<N>::bind_with("127.0.0.1:0", router, config)
        .await
        .expect("bind 127.0.0.1:0");
    let addr = server.local_addr().expect("the bound address");
    let handle = server.handle();
    N::default().spawn(server.run());
    TestServer { addr, handle, tls }
}

/// Connects the tidings client to `url` on runtime `N`.
pub async fn client<N: TestRuntime>(url: &str, config: ClientConfig) -> Connection {
    tidings_framework::client::connect::<N>(url, config)
        .await
        .unwrap_or_else(|error| panic!("connect to {url}: {error}"))
}

/// The `Closed` details of a result that must be [`Error::Closed`].
#[track_caller]
pub fn expect_closed<T: std::fmt::Debug>(
    result: Result<T, Error>,
) -> tidings_framework::ws::Closed {
    match result {
        Err(Error::Closed(closed)) => *closed,
        other => panic!("expected Error::Closed, got {other:?}"),
    }
}

/// A well-formed WebSocket upgrade request for `path`.
pub fn upgrade_request(path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// A blocking `std` socket to `addr`, with `TCP_NODELAY`, upgraded to a
/// WebSocket on `path` (the 101 head read, nothing after it): the clients of
/// the allocation-counting tests, which must allocate nothing themselves.
pub fn blocking_upgrade(addr: SocketAddr, path: &str) -> std::net::TcpStream {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream.set_nodelay(true).expect("TCP_NODELAY");
    stream
        .write_all(upgrade_request(path).as_bytes())
        .expect("send the upgrade request");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream
            .read_exact(&mut byte)
            .expect("read the response head");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101 "), "no 101: {head:?}");
    stream
}

/// A byte stream a [`RawClient`] speaks over: runtime `N`'s TCP stream, or a
/// TLS client stream over it.
pub trait RawStream:
    futures_util::io::AsyncRead + futures_util::io::AsyncWrite + Send + Unpin
{
}

impl<T: futures_util::io::AsyncRead + futures_util::io::AsyncWrite + Send + Unpin> RawStream for T {}

/// A client that writes and reads raw bytes, over runtime `N`'s TCP stream
/// or TLS over it ([`TestServer::raw`]).
pub struct RawClient<N: TestRuntime> {
    stream: Box<dyn RawStream>,
    /// Bytes read past the last complete head.
    pub buffered: Vec<u8>,
    runtime: std::marker::PhantomData<fn() -> N>,
}

impl<N: TestRuntime> RawClient<N> {
    /// Connects to `addr`.
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = N::connect(&addr.ip().to_string(), addr.port())
            .await
            .expect("raw TCP connect");
        Self::from_stream(stream)
    }

    /// Connects and completes a WebSocket handshake for `path` by hand.
    pub async fn upgrade(addr: SocketAddr, path: &str) -> Self {
        Self::connect(addr).await.upgraded(path).await
    }

    /// Completes a WebSocket handshake for `path` by hand on this
    /// connection.
    pub async fn upgraded(mut self, path: &str) -> Self {
        self.send(upgrade_request(path).as_bytes()).await;
        let head = self.read_head().await;
        assert!(
            head.starts_with("HTTP/1.1 101 "),
            "expected 101, got {head:?}"
        );
        self
    }

    /// Writes all of `bytes`.
    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("raw write");
        self.stream.flush().await.expect("raw flush");
    }

    /// Reads up to and including the blank line ending an HTTP head; keeps
    /// what follows in `buffered`.
    pub async fn read_head(&mut self) -> String {
        loop {
            if let Some(end) = find(&self.buffered, b"\r\n\r\n") {
                let rest = self.buffered.split_off(end + 4);
                let head = std::mem::replace(&mut self.buffered, rest);
                return String::from_utf8(head).expect("a UTF-8 head");
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).await.expect("raw read");
            assert!(n > 0, "EOF before a complete head: {:?}", self.buffered);
            self.buffered.extend_from_slice(&chunk[..n]);
        }
    }

    /// Reads once (at least one byte unless at EOF).
    pub async fn read_some(&mut self) -> Vec<u8> {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk).await.expect("raw read");
        assert!(n > 0, "unexpected EOF");
        chunk[..n].to_vec()
    }

    /// Reads until the server closes the stream (EOF or reset); returns
    /// everything read, `buffered` included.
    pub async fn read_to_end(&mut self) -> Vec<u8> {
        let mut all = std::mem::take(&mut self.buffered);
        let mut chunk = [0u8; 4096];
        loop {
            match self.stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return all,
                Ok(n) => all.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

/// A masked client frame (FIN set) with `opcode` and `payload` (< 126 bytes).
pub fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126, "short frames only");
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// The first line of an HTTP response.
pub fn status_line(response: &[u8]) -> &str {
    let text = std::str::from_utf8(response).unwrap_or("<not UTF-8>");
    text.split("\r\n").next().unwrap_or("")
}

/// Whether an HTTP head has header `name` with exactly `value`
/// (name case-insensitive).
pub fn has_header(head: &str, name: &str, value: &str) -> bool {
    head.split("\r\n").skip(1).any(|line| {
        line.split_once(':')
            .is_some_and(|(n, v)| n.trim().eq_ignore_ascii_case(name) && v.trim() == value)
    })
}

/// Polls `condition` every 10 ms until it holds or `limit` passes; returns
/// whether it held.
pub async fn wait_until<N: TestRuntime>(limit: Duration, condition: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while !condition() {
        if start.elapsed() > limit {
            return false;
        }
        sleep::<N>(Duration::from_millis(10)).await;
    }
    true
}

/// A `GET` request for an event stream at `path`, with `extra` headers
/// (e.g. `("Last-Event-ID", "3")`).
pub fn sse_request(path: &str, extra: &[(&str, &str)]) -> String {
    let mut request =
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n");
    for (name, value) in extra {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request
}

/// An SSE client over a [`RawClient`]: sends the request, checks nothing
/// by itself, and decodes the body with the core's WHATWG decoder while
/// keeping the raw body bytes for byte-level checks.
pub struct SseClient<N: TestRuntime> {
    /// The connection.
    pub raw: RawClient<N>,
    /// The response head.
    pub head: String,
    /// Every body byte read so far.
    pub body: Vec<u8>,
    /// The decoder the body is fed to.
    pub decoder: tidings_framework::sse::Decoder,
    eof: bool,
}

impl<N: TestRuntime> SseClient<N> {
    /// Connects, sends [`sse_request`] and reads the response head.
    pub async fn open(addr: SocketAddr, path: &str, extra: &[(&str, &str)]) -> Self {
        Self::open_on(RawClient::<N>::connect(addr).await, path, extra).await
    }

    /// [`open`](Self::open) on a connected client (e.g. over TLS).
    pub async fn open_on(mut raw: RawClient<N>, path: &str, extra: &[(&str, &str)]) -> Self {
        raw.send(sse_request(path, extra).as_bytes()).await;
        let head = raw.read_head().await;
        let mut client = SseClient {
            raw,
            head,
            body: Vec::new(),
            decoder: tidings_framework::sse::Decoder::new(),
            eof: false,
        };
        let rest = std::mem::take(&mut client.raw.buffered);
        client.take(&rest);
        client
    }

    fn take(&mut self, chunk: &[u8]) {
        self.body.extend_from_slice(chunk);
        self.decoder
            .feed(chunk)
            .expect("the stream stays within the decoder's limits");
    }

    /// Reads one chunk; returns false at end of stream (EOF or reset).
    pub async fn read_chunk(&mut self) -> bool {
        if self.eof {
            return false;
        }
        let mut chunk = [0u8; 4096];
        match self.raw.stream.read(&mut chunk).await {
            Ok(0) | Err(_) => {
                self.eof = true;
                self.decoder.finish();
                false
            }
            Ok(n) => {
                self.take(&chunk[..n]);
                true
            }
        }
    }

    /// The next event, or `None` once the stream has ended.
    pub async fn next_event(&mut self) -> Option<tidings_framework::sse::DecodedEvent> {
        loop {
            if let Some(event) = self.decoder.poll_event() {
                return Some(event);
            }
            if !self.read_chunk().await {
                return self.decoder.poll_event();
            }
        }
    }

    /// Every remaining event until the server ends the stream.
    pub async fn events_to_end(&mut self) -> Vec<tidings_framework::sse::DecodedEvent> {
        let mut events = Vec::new();
        while let Some(event) = self.next_event().await {
            events.push(event);
        }
        events
    }
}

impl<N: TestRuntime> RawClient<N> {
    /// Wraps an already-connected stream (e.g. one accepted by a raw test
    /// server, or a TLS stream).
    pub fn from_stream(stream: impl RawStream + 'static) -> Self {
        RawClient {
            stream: Box::new(stream),
            buffered: Vec::new(),
            runtime: std::marker::PhantomData,
        }
    }
}

/// A masked client frame with any payload length: `fin`, `opcode`, and the
/// 7-, 16- or 64-bit length form as the payload needs.
pub fn masked_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x5a, 0x13, 0xc4, 0x7e];
    let mut frame = vec![if fin { 0x80 } else { 0 } | opcode];
    match payload.len() {
        len @ 0..=125 => frame.push(0x80 | len as u8),
        len @ 126..=0xffff => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// One unmasked frame as a server sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFrame {
    /// FIN bit.
    pub fin: bool,
    /// Opcode (low 4 bits of the first byte).
    pub opcode: u8,
    /// Payload.
    pub payload: Vec<u8>,
}

impl ServerFrame {
    /// The status code of a close frame (`None` if not a close frame or
    /// without a code).
    pub fn close_code(&self) -> Option<u16> {
        match (self.opcode, self.payload.as_slice()) {
            (0x8, [high, low, ..]) => Some(u16::from_be_bytes([*high, *low])),
            _ => None,
        }
    }
}

/// Splits `bytes` into unmasked server frames; panics on a masked frame or
/// a truncated one (the server must send whole frames before closing).
pub fn server_frames(mut bytes: &[u8]) -> Vec<ServerFrame> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        assert!(bytes.len() >= 2, "truncated frame header: {bytes:?}");
        let (fin, opcode) = (bytes[0] & 0x80 != 0, bytes[0] & 0x0f);
        assert_eq!(bytes[1] & 0x80, 0, "server frames are not masked");
        let (len, header) = match bytes[1] & 0x7f {
            126 => (u16::from_be_bytes([bytes[2], bytes[3]]) as usize, 4),
            127 => {
                let mut len = [0u8; 8];
                len.copy_from_slice(&bytes[2..10]);
                (u64::from_be_bytes(len) as usize, 10)
            }
            len => (len as usize, 2),
        };
        assert!(bytes.len() >= header + len, "truncated frame: {bytes:?}");
        frames.push(ServerFrame {
            fin,
            opcode,
            payload: bytes[header..header + len].to_vec(),
        });
        bytes = &bytes[header + len..];
    }
    frames
}

/// The resident set size of this process (servers under test run in it), in
/// bytes, from `/proc/self/status`; 0 where that is unavailable.
pub fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<usize>()
                .ok()
        })
        .map_or(0, |kb| kb * 1024)
}
