//! The server of the real-browser test (`tests/browser/run.sh`): headless
//! Chromium loads the check page from here, the page runs its checks with the
//! browser's own `WebSocket` against the routes below and reports each result
//! back over the `/report` WebSocket. The server prints one line per result
//! and exits 0 only when the page said it was done, every check it requires
//! was reported, and none failed; it exits 1 on any failure, and by itself
//! after `--timeout` seconds (default 60) if the browser never finishes.
//!
//! `cargo run -p tidings-tokio --example browser_check -- [ADDR] [--timeout SECS] [--tls-cert CERT.pem --tls-key KEY.pem]`
//! (default `127.0.0.1:0`); prints `listening on ADDR` once bound. With the
//! TLS options everything is served over TLS (the page over `https://`, its
//! sockets on `wss://`) and the page must also report `page.https`.
//!
//! Routes:
//! - `GET /`: the check page (`page.html`, inline script, no external resources).
//! - WebSocket `/ws/echo`: echoes every message (text and binary) unchanged.
//!   The server speaks the subprotocol `tidings.browser-check`.
//! - WebSocket `/ws/push`: sends [`PUSH_TEXT`], then [`push_binary`], then
//!   [`push_large`] (a 300 KiB binary message), then closes with code 4000
//!   and [`PUSH_CLOSE_REASON`].
//! - WebSocket `/ws/client-close`: waits for the page to close it and records
//!   the server-side check `server.client-close` (code 1000, reason
//!   [`CLIENT_CLOSE_REASON`]).
//! - WebSocket `/report`: the page's results, one JSON text message each,
//!   `{"name": "...", "ok": true|false, "detail": "...", "info": false}`, and
//!   finally `{"done": true}`.
//! - SSE `/sse/basic`: the events of [`basic_events`] (multi-line data,
//!   CRLF and lone CR in data, unicode, a leading space, a custom event
//!   type, ids, empty data, an id-only event), then stays open until the page
//!   closes it.
//! - SSE `/sse/reconnect`: every stream starts with `retry: 300`
//!   ([`SSE_RETRY`], from [`SseConfig::retry`]). The first request gets
//!   events `1`..`3` (ids `1`..`3`), then the handler returns, which drops
//!   the stream. The browser reconnects with `Last-Event-ID`; the route
//!   records the server-side check `server.sse.last-event-id` (header must
//!   be `3`), resumes after that id (so a wrong id shows up as a duplicate or
//!   a gap on the page), up to event `5`, then sends an `end` event and stays
//!   open until the page closes it.
//!
//! Output lines: `PASS name`, `FAIL name: detail`, `INFO name: detail`
//! (informational results, never a failure), then a summary line.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use args::ServerTls;
use tidings_tokio::sse::Event as SseEvent;
use tidings_tokio::{
    CloseCode, Connection, Context, DeflateConfig, Error, Html, Router, Server, ServerConfig,
    SseConfig, SseContext, ws,
};
use tokio::sync::mpsc;

#[path = "../common/args.rs"]
mod args;
#[path = "../common/page_report.rs"]
mod page_report;

use page_report::{Events, Report, Verdict, report};

/// The check page.
const PAGE: &str = include_str!("page.html");

/// The subprotocol the server speaks (the page offers it after an unknown one).
const SUBPROTOCOL: &str = "tidings.browser-check";

/// The first message `/ws/push` sends: ASCII, Latin-1, CJK, and astral-plane
/// characters (surrogate pairs in JavaScript). The page holds the same string.
const PUSH_TEXT: &str = "server push: h\u{e9}llo \u{4e16}\u{754c} \u{1F600}\u{1D11E}";

/// The close code `/ws/push` ends with (application range 4000-4999).
const PUSH_CLOSE_CODE: u16 = 4000;

/// The close reason `/ws/push` ends with (non-ASCII on purpose).
const PUSH_CLOSE_REASON: &str = "push finished \u{2713}";

/// The reason the page closes `/ws/client-close` with (code 1000).
const CLIENT_CLOSE_REASON: &str = "page done";

/// Size of the large message `/ws/push` sends.
const PUSH_LARGE_LEN: usize = 300 * 1024;

/// Checks the page must report; a `done` without one of them fails, so a page
/// that silently skips checks cannot pass.
const REQUIRED_PAGE_CHECKS: &[&str] = &[
    "ws.connect",
    "ws.subprotocol",
    "ws.extensions",
    "ws.text.ascii",
    "ws.text.compressible",
    "ws.text.unicode",
    "ws.text.empty",
    "ws.binary.0",
    "ws.binary.125",
    "ws.binary.126",
    "ws.binary.65535",
    "ws.binary.65536",
    "ws.binary.blob",
    "ws.order",
    "ws.large.text-1MiB",
    "ws.large.binary-1MiB",
    "ws.push.text",
    "ws.push.binary",
    "ws.push.large",
    "ws.push.close-4000",
    "ws.client-close",
    "sse.connect",
    "sse.multiline",
    "sse.crlf",
    "sse.unicode",
    "sse.leading-space",
    "sse.event-type",
    "sse.ids",
    "sse.empty-data",
    "sse.retry",
    "sse.reconnect",
];

/// Checks the page must report when served over TLS (`--tls-cert`): it was
/// loaded over `https:` as a secure context (so its WebSockets are `wss://`
/// and its EventSources `https://`).
/// Over TLS the server offers HTTP/2 (ALPN `h2`) and the page also checks
/// ten EventSources at once and a WebSocket by extended CONNECT, which the
/// server reports (`server.h2.websocket`).
const REQUIRED_TLS_CHECKS: &[&str] = &["page.https", "page.h2.sse-10", "page.h2.ws-echo"];

/// The server's own checks over TLS.
const REQUIRED_TLS_SERVER_CHECKS: &[&str] = &["server.h2.websocket"];

/// Checks the server itself makes.
const REQUIRED_SERVER_CHECKS: &[&str] = &["server.client-close", "server.sse.last-event-id"];

/// The reconnection delay every SSE stream starts with (`retry: 300`); the
/// page checks the browser waits about that long after `/sse/reconnect`
/// drops its first stream.
const SSE_RETRY: Duration = Duration::from_millis(300);

/// Unicode data for `/sse/basic`: Latin-1, Greek, CJK, astral-plane
/// characters (4-byte UTF-8) and a combining mark. The page holds the same
/// string.
const SSE_UNICODE: &str = "h\u{e9}llo \u{3ba}\u{3cc}\u{3c3}\u{3bc}\u{3b5} \u{4e16}\u{754c} \u{1F600}\u{1F680}\u{10FFFF}\u{1D11E} e\u{301}";

/// How many events `/sse/reconnect` sends before dropping its first stream.
const RECONNECT_FIRST: u32 = 3;

/// How many numbered events `/sse/reconnect` sends in all.
const RECONNECT_LAST: u32 = 5;

/// The events of `/sse/basic`, in order; the page expects exactly these
/// (page.html, `sseChecks`).
fn basic_events() -> Vec<SseEvent> {
    vec![
        SseEvent::new()
            .id("1")
            .data("line one\nline two\nline three"),
        // One break, read back as LF (not two).
        SseEvent::new().id("2").data("crlf\r\nbreak"),
        SseEvent::new().id("3").data("cr\ronly"),
        SseEvent::new().id("4").data(SSE_UNICODE),
        // Written `data:   two spaces`: the client strips one space only.
        SseEvent::new().id("5").data("  two spaces"),
        // Reaches `addEventListener("custom-type")`, not `onmessage`.
        SseEvent::new()
            .id("6")
            .event("custom-type")
            .data("custom payload"),
        // `data: ` fires a message with empty data.
        SseEvent::new().id("7").data(""),
        // No data: fires nothing, but moves the last event id.
        SseEvent::new().id("8-no-data"),
        SseEvent::new().data("after id-only"),
        SseEvent::new().id("9").data("end"),
    ]
}

/// The bytes of the binary message `/ws/push` sends: every byte value once.
fn push_binary() -> Vec<u8> {
    (0..=255u8).collect()
}

/// The large message `/ws/push` sends; the page computes the same pattern.
fn push_large() -> Vec<u8> {
    (0..PUSH_LARGE_LEN)
        .map(|i| ((i * 7 + 3) % 251) as u8)
        .collect()
}

fn router(events: Events) -> Router {
    let report_events = events.clone();
    let close_events = events.clone();
    let echo_events = events.clone();
    let h2_events = events.clone();
    let reconnect_events = events;
    let reconnects = Arc::new(AtomicUsize::new(0));
    Router::new()
        .get("/", |_ctx: Context| async { Html(page_report::page(PAGE)) })
        .websocket("/ws/echo", move |ctx: Context, conn: Connection| {
            // What the browser offered, for the record (not a check).
            let offered = ctx
                .header("sec-websocket-extensions")
                .unwrap_or("")
                .to_owned();
            let _ = echo_events.send(Report::info(
                "server.offered-extensions",
                format!("{offered:?}"),
            ));
            tidings_framework::server::echo(ctx, conn)
        })
        .websocket("/ws/push", push)
        .websocket(
            "/ws/client-close",
            move |_ctx: Context, conn: Connection| client_close(close_events.clone(), conn),
        )
        .websocket("/report", move |_ctx: Context, conn: Connection| {
            report(report_events.clone(), conn)
        })
        .sse("/sse/basic", sse_basic)
        .sse("/sse/h2", |ctx: SseContext| async move {
            let n = ctx.query("n").unwrap_or("?").to_owned();
            ctx.send(SseEvent::new().event("h2").data(format!("stream {n}")))
                .await?;
            ctx.closed().await;
            Ok(())
        })
        .websocket("/ws/h2", move |ctx: Context, conn: Connection| {
            let version = conn.http_version();
            let _ = h2_events.send(Report::check(
                "server.h2.websocket",
                version == tidings_framework::http::Version::HTTP_2,
                format!("the page's WebSocket arrived over {version:?}"),
            ));
            async move {
                conn.write(format!("{version:?}")).await?;
                tidings_framework::server::echo(ctx, conn).await
            }
        })
        .sse("/sse/reconnect", move |ctx: SseContext| {
            let connection = reconnects.fetch_add(1, Ordering::SeqCst);
            sse_reconnect(reconnect_events.clone(), connection, ctx)
        })
}

/// `/sse/basic`: the events of [`basic_events`], then waits for the page to
/// close the stream (returning would drop it and make the browser reconnect).
async fn sse_basic(ctx: SseContext) -> Result<(), Error> {
    for event in basic_events() {
        ctx.send(event).await?;
    }
    ctx.closed().await;
    Ok(())
}

/// `/sse/reconnect`, connection number `connection` (from 0): the first one
/// sends events 1..=[`RECONNECT_FIRST`] and drops the stream; a later one
/// records `server.sse.last-event-id`, sends the events after that id up to
/// [`RECONNECT_LAST`] and an `end` event, then waits for the page to close.
async fn sse_reconnect(events: Events, connection: usize, ctx: SseContext) -> Result<(), Error> {
    let numbered = |n: u32| SseEvent::new().id(n.to_string()).data(n.to_string());
    if connection == 0 {
        for n in 1..=RECONNECT_FIRST {
            ctx.send(numbered(n)).await?;
        }
        return Ok(());
    }
    let last = ctx.last_event_id().map(str::to_owned);
    let expected = RECONNECT_FIRST.to_string();
    let _ = events.send(Report::check(
        "server.sse.last-event-id",
        last.as_deref() == Some(expected.as_str()),
        format!("reconnection {connection}: Last-Event-ID {last:?}, expected {expected:?}"),
    ));
    // Resume after the id the browser says it has (all of them if none).
    let resume = last.and_then(|id| id.parse::<u32>().ok()).unwrap_or(0);
    for n in resume + 1..=RECONNECT_LAST {
        ctx.send(numbered(n)).await?;
    }
    ctx.send(SseEvent::new().event("end").data("end")).await?;
    ctx.closed().await;
    Ok(())
}

/// `/ws/push`: a unicode text message, a binary message, a large message,
/// then close 4000 with a reason.
async fn push(_ctx: Context, conn: Connection) -> Result<(), Error> {
    conn.write(PUSH_TEXT).await?;
    conn.write_binary(push_binary()).await?;
    conn.write_binary(push_large()).await?;
    conn.close_with(CloseCode(PUSH_CLOSE_CODE), PUSH_CLOSE_REASON)
        .await
}

/// `/ws/client-close`: waits for the page to close the connection and records
/// whether the server saw close code 1000 with the expected reason.
async fn client_close(events: Events, conn: Connection) -> Result<(), Error> {
    let (ok, detail) = match conn.read().await {
        Ok(message) => (
            false,
            format!("unexpected message of {} bytes", message.len()),
        ),
        Err(Error::Closed(closed)) => {
            let received = closed
                .received
                .as_ref()
                .map(|frame| (frame.code.0, frame.reason.clone()));
            (
                received == Some((1000, CLIENT_CLOSE_REASON.to_owned())),
                format!(
                    "cause {:?}, received close frame {received:?} \
                     (expected code 1000, reason {CLIENT_CLOSE_REASON:?})",
                    closed.cause
                ),
            )
        }
        Err(error) => (false, format!("read failed: {error}")),
    };
    let _ = events.send(Report::check("server.client-close", ok, detail));
    Ok(())
}

/// Arguments: `[ADDR] [--timeout SECS] [--tls-cert CERT.pem --tls-key KEY.pem]`.
fn parse_args() -> Result<(String, Duration, Option<ServerTls>), String> {
    let mut addr = "127.0.0.1:0".to_owned();
    let mut timeout = Duration::from_secs(60);
    let (args, tls) =
        args::take_tls(std::env::args().skip(1)).map_err(|error| error.to_string())?;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--timeout" {
            let secs = args
                .next()
                .and_then(|value| value.parse::<u64>().ok())
                .ok_or("--timeout needs a number of seconds")?;
            timeout = Duration::from_secs(secs);
        } else if arg.starts_with('-') {
            return Err(format!("unknown option {arg}"));
        } else {
            addr = arg;
        }
    }
    Ok((addr, timeout, tls))
}

#[tokio::main]
async fn main() -> ExitCode {
    let (addr, timeout, tls) = match parse_args() {
        Ok(args) => args,
        Err(error) => {
            eprintln!("browser_check: {error}");
            eprintln!(
                "usage: browser_check [ADDR] [--timeout SECS] [--tls-cert CERT.pem --tls-key KEY.pem]"
            );
            return ExitCode::from(2);
        }
    };
    let over_tls = tls.is_some();
    let (events, mut received) = mpsc::unbounded_channel();
    let config = ServerConfig::default()
        .websocket(ws::Config::default().deflate(Some(DeflateConfig::default())))
        .subprotocols(vec![SUBPROTOCOL.to_owned()])
        .sse(SseConfig::default().retry(Some(SSE_RETRY)));
    let config = args::with_tls(config, tls);
    let server = match Server::bind_with(&addr, router(events), config).await {
        Ok(server) => server,
        Err(error) => {
            eprintln!("browser_check: cannot bind {addr}: {error}");
            return ExitCode::from(2);
        }
    };
    match server.local_addr() {
        Ok(local) => println!("listening on {local}"),
        Err(error) => {
            eprintln!("browser_check: no local address: {error}");
            return ExitCode::from(2);
        }
    }
    let handle = server.handle();
    tokio::spawn(server.run());

    let mut page_checks = REQUIRED_PAGE_CHECKS.to_vec();
    if over_tls {
        page_checks.extend(REQUIRED_TLS_CHECKS);
    }
    let mut server_checks = REQUIRED_SERVER_CHECKS.to_vec();
    if over_tls {
        server_checks.extend(REQUIRED_TLS_SERVER_CHECKS);
    }
    let mut verdict = Verdict::new(page_checks, server_checks);
    verdict.collect(&mut received, timeout).await;
    if over_tls {
        let stats = handle.hub().stats();
        println!(
            "INFO server.tls: {} TLS handshakes, {} failed ({:?})",
            stats.tls_handshakes,
            stats.tls_handshake_failures.total(),
            stats.tls_handshake_failures
        );
        println!(
            "INFO server.http2: {} HTTP/2 connections, {} streams",
            stats.http2_connections, stats.http2_streams
        );
    }
    verdict.finish("browser_check")
}
