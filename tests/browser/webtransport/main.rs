//! The server of the WebTransport browser test
//! (`tests/browser/webtransport.sh`): headless Chromium loads the check page
//! from here over `http://127.0.0.1` (a secure context), and the page runs
//! its checks with the browser's own `WebTransport` and
//! `serverCertificateHashes` against
//!
//! - the `wt_echo` example of the runtime under test (`--echo-bin`), which
//!   this binary starts as a child process on `127.0.0.1:0` and reads the
//!   `listening on`, `certificate sha256` and `session closed:` lines of;
//! - its own WebTransport server on the runtime under test (`--runtime`),
//!   whose routes do what the echo does not: `/push` opens a bidirectional
//!   stream (the page answers on it, the server checks the answer), then a
//!   unidirectional one, then waits for the page's close code and reason;
//!   `/server-close` closes the session with a code and reason once the page
//!   sent a unidirectional stream.
//!
//! The page reports each result over the `/report` WebSocket as in the
//! `browser_check` example (`{"name", "ok", "detail", "info"}`, then
//! `{"done": true}`); the server's own checks join them. Output lines:
//! `PASS name`, `FAIL name: detail`, `INFO name: detail`, then
//! `wt_check: N passed, N failed, N informational`. Exit 0 only when the
//! page said it was done, every required check was reported, and none
//! failed; exit 1 on a failure or after `--timeout` seconds.
//!
//! `wt_check --runtime tokio|async-std|smol --echo-bin PATH [ADDR] [--timeout SECS]`
//! (HTTP on ADDR, default `127.0.0.1:0`); prints `listening on ADDR` once
//! the page can be loaded.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

use serde::Serialize;
use tidings_framework::webtransport::{self, Config, Session, SessionEnd, WebTransportServer};
use tidings_tokio::{Connection, Context, Html, Json, Router, Server};
use tokio::sync::mpsc;

#[path = "../../../runtime-tokio/examples/common/page_report.rs"]
mod page_report;

use page_report::{Events, Report, Verdict, report};

/// The check page.
const PAGE: &str = include_str!("page.html");

/// The page closes its echo session with this code and reason (page.html
/// holds the same); the echo example must print them.
const ECHO_CLOSE_CODE: u32 = 4001;
const ECHO_CLOSE_REASON: &str = "page done \u{2713}";
/// What `/push` sends on the bidirectional stream it opens, and what the
/// page answers on it (the prefix, then what it read).
const PUSH_BIDI_TEXT: &str = "server bidi \u{2713}";
const PUSH_REPLY_PREFIX: &str = "page reply to: ";
/// What `/push` sends on the unidirectional stream it opens.
const PUSH_UNI_TEXT: &str = "server uni \u{2713}";
/// The page closes `/push` with this code and reason.
const PUSH_CLOSE_CODE: u32 = 4002;
const PUSH_CLOSE_REASON: &str = "push done";
/// `/server-close` closes with this code and reason.
const SERVER_CLOSE_CODE: u32 = 4100;
const SERVER_CLOSE_REASON: &str = "server done \u{2713}";

/// Checks the page must report.
const REQUIRED_PAGE_CHECKS: &[&str] = &[
    "page.secure-context",
    "wt.ready",
    "wt.bidi.echo",
    "wt.uni.echo",
    "wt.datagram.echo",
    "wt.bidi.1MiB",
    "wt.close",
    "wt.push.ready",
    "wt.push.bidi",
    "wt.push.uni",
    "wt.server-close",
];

/// Checks the servers make: the echo example printed the page's close
/// code and reason; `/push` got the page's answer and its close code and
/// reason; `/server-close` closed.
const REQUIRED_SERVER_CHECKS: &[&str] = &[
    "server.echo.close",
    "server.push.bidi-reply",
    "server.push.close",
    "server.server-close",
];

/// What the page reads from `/config`: where the two WebTransport servers
/// are and their certificates' SHA-256 (hex).
#[derive(Clone, Debug, Serialize)]
struct PageConfig {
    echo_url: String,
    echo_hash: String,
    check_base: String,
    check_hash: String,
}

struct Args {
    addr: String,
    runtime: String,
    echo_bin: String,
    timeout: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: "127.0.0.1:0".to_owned(),
        runtime: String::new(),
        echo_bin: String::new(),
        timeout: Duration::from_secs(60),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--runtime" => args.runtime = value("--runtime")?,
            "--echo-bin" => args.echo_bin = value("--echo-bin")?,
            "--timeout" => {
                let secs = value("--timeout")?;
                args.timeout =
                    Duration::from_secs(secs.parse().map_err(|_| "--timeout needs seconds")?);
            }
            other if other.starts_with('-') => return Err(format!("unknown option {other}")),
            other => args.addr = other.to_owned(),
        }
    }
    if !["tokio", "async-std", "smol"].contains(&args.runtime.as_str()) {
        return Err("--runtime must be tokio, async-std or smol".into());
    }
    if args.echo_bin.is_empty() {
        return Err("--echo-bin is required".into());
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(error) => {
            eprintln!("wt_check: {error}");
            eprintln!(
                "usage: wt_check --runtime tokio|async-std|smol --echo-bin PATH [ADDR] [--timeout SECS]"
            );
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("wt_check: {error}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let (events, mut received) = mpsc::unbounded_channel();

    // The echo example under test, on a free port.
    let (echo, echo_addr, echo_hash) = start_echo(&args.echo_bin, events.clone())?;
    let _ = events.send(Report::info(
        "echo",
        format!("{} on {echo_addr}", args.echo_bin),
    ));

    // wt_check's own WebTransport server, on the runtime under test.
    let (cert, key, check_hash) = certificate()?;
    let tls = webtransport::server_config(vec![cert], key)?;
    let routes = routes(events.clone());
    let (check_addr, closer) = serve_webtransport(&args.runtime, tls, routes).await?;
    let _ = events.send(Report::info(
        "check-server",
        format!("{} on {check_addr}", args.runtime),
    ));

    let config = PageConfig {
        echo_url: format!("https://{echo_addr}/echo"),
        echo_hash,
        check_base: format!("https://{check_addr}"),
        check_hash,
    };
    let report_events = events.clone();
    let router = Router::new()
        .get("/", |_ctx: Context| async { Html(page_report::page(PAGE)) })
        .get("/config", move |_ctx: Context| {
            let config = config.clone();
            async move { Json(config) }
        })
        .websocket("/report", move |_ctx: Context, conn: Connection| {
            report(report_events.clone(), conn)
        });
    let server = Server::bind(&args.addr, router).await?;
    println!("listening on {}", server.local_addr()?);
    tokio::spawn(server.run());

    let mut verdict = Verdict::new(
        REQUIRED_PAGE_CHECKS.to_vec(),
        REQUIRED_SERVER_CHECKS.to_vec(),
    );
    verdict.collect(&mut received, args.timeout).await;
    closer.close();
    drop(echo);
    Ok(verdict.finish("wt_check"))
}

/// The echo example's process, killed when dropped (also on an early
/// return or a panic).
struct EchoChild(Child);

impl Drop for EchoChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the echo example on `127.0.0.1:0`; returns it with its address
/// and certificate hash. Its later lines are printed (`echo: ...`), and
/// its `session closed:` line becomes the check `server.echo.close`.
fn start_echo(
    bin: &str,
    events: Events,
) -> Result<(EchoChild, SocketAddr, String), Box<dyn std::error::Error>> {
    let mut child = EchoChild(
        Command::new(bin)
            .arg("127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {bin}: {e}"))?,
    );
    let mut lines = BufReader::new(child.0.stdout.take().ok_or("no stdout")?).lines();
    let (mut addr, mut hash) = (None, None);
    while addr.is_none() || hash.is_none() {
        let line = lines
            .next()
            .ok_or("the echo exited before printing its address and hash")??;
        println!("echo: {line}");
        if let Some(rest) = line.strip_prefix("listening on ") {
            addr = Some(rest.trim().parse::<SocketAddr>()?);
        } else if let Some(rest) = line.strip_prefix("certificate sha256 ") {
            hash = Some(rest.trim().to_owned());
        }
    }
    let expected = format!(
        "session closed: {:?}",
        SessionEnd::Closed {
            code: ECHO_CLOSE_CODE,
            reason: ECHO_CLOSE_REASON.to_owned()
        }
    );
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            println!("echo: {line}");
            if line.starts_with("session closed:") {
                let ok = line == expected;
                let detail = format!("the echo printed {line:?}, expected {expected:?}");
                let _ = events.send(Report::check("server.echo.close", ok, detail));
            }
        }
    });
    Ok((child, addr.ok_or("no address")?, hash.ok_or("no hash")?))
}

/// The routes of wt_check's own WebTransport server.
fn routes(events: Events) -> impl FnOnce(WebTransportServer) -> WebTransportServer + Send {
    let push_events = events.clone();
    let close_events = events;
    move |server| {
        server
            .route("/push", move |session| push(push_events.clone(), session))
            .route("/server-close", move |session| {
                server_close(close_events.clone(), session)
            })
    }
}

/// `/push`: a bidirectional stream with [`PUSH_BIDI_TEXT`] (the page's
/// answer checked), then a unidirectional one with [`PUSH_UNI_TEXT`], then
/// the page's close code and reason checked.
async fn push(events: Events, session: Session) {
    let answer = async {
        let (mut send, mut recv) = session.open_bi().await?;
        send.write_all(PUSH_BIDI_TEXT.as_bytes()).await?;
        send.finish()?;
        let answer = recv.read_to_end(4096).await?;
        Ok::<_, webtransport::Error>(String::from_utf8_lossy(&answer).into_owned())
    }
    .await;
    let expected = format!("{PUSH_REPLY_PREFIX}{PUSH_BIDI_TEXT}");
    let (ok, detail) = match answer {
        Ok(answer) => (
            answer == expected,
            format!(
                "the page answered {answer:?} on the server's bidi stream, expected {expected:?}"
            ),
        ),
        Err(error) => (false, format!("bidi stream failed: {error}")),
    };
    let _ = events.send(Report::check("server.push.bidi-reply", ok, detail));
    let uni = async {
        let mut send = session.open_uni().await?;
        send.write_all(PUSH_UNI_TEXT.as_bytes()).await?;
        send.finish()
    }
    .await;
    if let Err(error) = uni {
        let _ = events.send(Report::check(
            "server.push.uni",
            false,
            format!("uni stream failed: {error}"),
        ));
    }
    let end = session.closed().await;
    let expected = SessionEnd::Closed {
        code: PUSH_CLOSE_CODE,
        reason: PUSH_CLOSE_REASON.to_owned(),
    };
    let detail = format!("the server saw {end:?}, expected {expected:?}");
    let _ = events.send(Report::check("server.push.close", end == expected, detail));
}

/// `/server-close`: once the page sent a unidirectional stream, closes the
/// session with [`SERVER_CLOSE_CODE`] and [`SERVER_CLOSE_REASON`].
async fn server_close(events: Events, session: Session) {
    let closed = async {
        let mut recv = session.accept_uni().await?;
        recv.read_to_end(1024).await?;
        session.close(SERVER_CLOSE_CODE, SERVER_CLOSE_REASON).await
    }
    .await;
    let detail = format!("close({SERVER_CLOSE_CODE}, {SERVER_CLOSE_REASON:?}): {closed:?}");
    let _ = events.send(Report::check("server.server-close", closed.is_ok(), detail));
}

/// Binds the WebTransport server on `127.0.0.1:0` on `runtime` (quinn
/// wraps the socket in that runtime's reactor) and runs it there: on this
/// tokio runtime, or on a thread of its own for async-std and smol.
async fn serve_webtransport(
    runtime: &str,
    tls: tidings_framework::tls::rustls::ServerConfig,
    routes: impl FnOnce(WebTransportServer) -> WebTransportServer + Send + 'static,
) -> Result<(SocketAddr, webtransport::Closer), Box<dyn std::error::Error>> {
    let addr = SocketAddr::from(([127, 0, 0, 1], 0));
    let config = Config::default();
    let server = match runtime {
        "tokio" => routes(tidings_tokio::webtransport::bind(addr, tls, config)?),
        "async-std" => routes(tidings_async_std::webtransport::bind(addr, tls, config)?),
        _ => routes(tidings_smol::webtransport::bind(addr, tls, config)?),
    };
    let bound = (server.local_addr()?, server.closer());
    match runtime {
        "tokio" => drop(tokio::spawn(server.run())),
        "async-std" => drop(std::thread::spawn(|| {
            async_std::task::block_on(server.run())
        })),
        _ => drop(std::thread::spawn(|| smol::block_on(server.run()))),
    }
    Ok(bound)
}

/// A fresh self-signed ECDSA P-256 certificate for `127.0.0.1` valid from
/// yesterday for 11 days (`serverCertificateHashes` takes less than 14),
/// its key, and its SHA-256 in hex.
#[allow(clippy::type_complexity)]
fn certificate() -> Result<
    (
        rustls_pki_types::CertificateDer<'static>,
        rustls_pki_types::PrivateKeyDer<'static>,
        String,
    ),
    Box<dyn std::error::Error>,
> {
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(10);
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let cert = params.self_signed(&key)?;
    let hash = ring::digest::digest(&ring::digest::SHA256, cert.der())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let key = rustls_pki_types::PrivatePkcs8KeyDer::from(key.serialize_der());
    Ok((cert.der().clone(), key.into(), hash))
}
