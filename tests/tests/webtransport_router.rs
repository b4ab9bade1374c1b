//! WebTransport routes of the [`Router`], served beside a WebSocket route
//! by one [`Server`] (`Server::with_webtransport`), on tokio, async-std and
//! smol, with Python aioquic as the client
//! (tests/webtransport/wt_scenarios.py, scenario `router`):
//!
//! - middleware answers the CONNECT: no token and a wrong token 401 (the
//!   route's bearer [`Authenticator`]), a closure middleware 403; a path
//!   with no route 404, and a WebSocket route's path 404 too;
//! - the handler gets the path parameter, the query and the
//!   authenticator's value in its [`Context`] and session;
//! - the session is in the hub: a broadcast to its room and a send through
//!   `Hub::get_connection` reach it as one unidirectional stream per
//!   message; `send_message` / `receive_message` carry a message each way;
//!   `Hub::close_connection` closes it with its code and reason;
//! - a route with [`BroadcastMode::Datagrams`] gets its broadcast as a
//!   datagram;
//! - the statistics count the sessions and the refusals, and a router
//!   layer's `after` hook hears every CONNECT's end (the refusals, and how
//!   each session ended).
//!
//! Without aioquic the test is skipped (see [`tidings_tests::aioquic`]).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tidings_framework::close::CloseCode;
use tidings_framework::hub::{Filter, Payload};
use tidings_framework::server::middleware::{End, Middleware, Outcome};
use tidings_framework::server::{
    Authenticator, Context, IntoResponse, Response, RouteOptions, Router, echo,
};
use tidings_framework::webtransport::{BroadcastMode, Config, Error, Session};
use tidings_framework::{Protocol, http::StatusCode};
use tidings_tests::aioquic::{self, RUNTIMES, Tls, lines_of, python_or_skip, run_script};

/// A layer that records how each WebTransport request ended.
#[derive(Clone, Default)]
struct Ends(Arc<Mutex<Vec<String>>>);

impl Middleware for Ends {
    fn before(&self, _ctx: &mut Context) -> Result<(), Response> {
        Ok(())
    }

    fn after(&self, ctx: &Context, outcome: &Outcome) {
        assert_eq!(outcome.protocol, Protocol::WebTransport);
        let end = match &outcome.end {
            End::Rejected(status) => status.as_u16().to_string(),
            End::SessionEnded(end) => format!("{end:?}"),
            other => format!("{other:?}"),
        };
        let entry = format!("{} {end}", ctx.route().pattern);
        self.0.lock().expect("lock").push(entry);
    }
}

/// The authenticator's value.
#[derive(Clone, Debug)]
struct UserId(u32);

#[test]
fn webtransport_routes_on_every_runtime() {
    let tmp = env!("CARGO_TARGET_TMPDIR");
    let Some(python) = python_or_skip(tmp, "WebTransport router test") else {
        return;
    };
    for runtime in RUNTIMES {
        println!("--- {runtime}");
        let certs = Tls::new(tmp, &format!("router-{runtime}"));
        let ends = Ends::default();
        let served = aioquic::serve_router(
            runtime,
            router(ends.clone()),
            certs.server_config(),
            Config::default(),
        );
        let (port, hub) = (served.port, served.hub.clone());
        let args = [
            port.to_string(),
            certs.ca_pem.display().to_string(),
            "router".to_owned(),
        ];
        let output = run_script(&python, "wt_scenarios.py", &args);
        let lines = lines_of(&output);
        assert_eq!(
            lines,
            [
                "no token: 401",
                "wrong token: 401",
                "forbidden: 403",
                "no such route: 404",
                "websocket route: 404",
                "session established",
                "message: direct",
                "message: hello ann in blue as 7",
                "message: news for blue",
                "message: echo: ping",
                "closed by the hub: 4000 bye via hub",
                "datagram: datagrams news",
                "closed: 0 ",
            ],
            "on {runtime}"
        );
        // Both sessions end, and leave the hub.
        let deadline = Instant::now() + Duration::from_secs(5);
        while hub.stats().webtransport.active > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let stats = hub.stats();
        assert_eq!(stats.webtransport.total, 2, "on {runtime}: {stats:?}");
        assert_eq!(stats.webtransport.active, 0, "on {runtime}");
        assert_eq!(stats.routes["/rooms/:room"].total, 1);
        assert_eq!(stats.handshakes_rejected["401 Unauthorized"], 2);
        assert_eq!(stats.handshakes_rejected["403 Forbidden"], 1);
        assert_eq!(stats.handshakes_rejected["404 Not Found"], 2);
        assert!(hub.rooms().is_empty(), "the sessions left their rooms");
        let mut ends = ends.0.lock().expect("lock").clone();
        ends.sort();
        assert_eq!(
            ends,
            [
                "/datagrams Closed { code: 0, reason: \"\" }",
                "/forbidden 403",
                "/rooms/:room 401",
                "/rooms/:room 401",
                "/rooms/:room Closed { code: 4000, reason: \"bye via hub\" }",
            ],
            "the after hooks on {runtime}"
        );
        assert!(served.stop(), "the server stops on {runtime}");
    }
}

/// The test's routes: a WebSocket route, and WebTransport routes with
/// authentication, a rejecting middleware, and datagram broadcasts.
// A middleware's rejection is a whole Response, by the framework's design.
#[allow(clippy::result_large_err)]
fn router(ends: Ends) -> Router {
    let forbid = |_ctx: &mut Context| -> Result<(), Response> {
        Err((StatusCode::FORBIDDEN, "members only").into_response())
    };
    Router::new()
        .layer(ends)
        .authenticator(
            "bearer",
            Authenticator::bearer(|token| (token == "secret").then_some(UserId(7))),
        )
        .websocket("/ws", echo)
        .webtransport_with("/rooms/:room", room, RouteOptions::new().auth("bearer"))
        .webtransport_with("/forbidden", room, RouteOptions::new().middleware(forbid))
        .webtransport_with(
            "/datagrams",
            datagrams,
            RouteOptions::new()
                .auth("bearer")
                .broadcast_mode(BroadcastMode::Datagrams),
        )
}

/// `/rooms/:room`: greets with what the context says, joins the room,
/// broadcasts to it and sends to itself through the hub; answers each
/// message, until asked to be closed through the hub.
async fn room(ctx: Context, session: Session) -> Result<(), Error> {
    let room = ctx.param("room").unwrap_or("?").to_owned();
    let user = ctx.query("user").unwrap_or("?").to_owned();
    let who = session.get::<UserId>().map_or(0, |user| user.0);
    session
        .send_message(format!("hello {user} in {room} as {who}"))
        .await?;
    assert!(session.join(&room));
    let hub = ctx.hub();
    let report = hub.broadcast(
        Payload::text(format!("news for {room}")),
        Filter::room(&room),
    );
    assert_eq!(report.delivered, 1);
    let handle = hub.get_connection(session.id()).expect("in the hub");
    assert_eq!(handle.protocol(), Protocol::WebTransport);
    assert_eq!(handle.get::<UserId>().map(|u| u.0), Some(7));
    handle.send_text("direct");
    loop {
        let message = session.receive_message().await?;
        if &message[..] == b"close me" {
            assert!(hub.close_connection(session.id(), CloseCode::from(4000), "bye via hub"));
            session.closed().await;
            return Ok(());
        }
        let text = String::from_utf8_lossy(&message).into_owned();
        session.send_message(format!("echo: {text}")).await?;
    }
}

/// `/datagrams`: joins a room and broadcasts to it (a datagram for this
/// route's sessions), then waits for a message and returns (closing the
/// session with code 0).
async fn datagrams(ctx: Context, session: Session) -> Result<(), Error> {
    session.join("dg");
    ctx.hub()
        .broadcast(Payload::text("datagrams news"), Filter::room("dg"));
    session.receive_message().await?;
    Ok(())
}
