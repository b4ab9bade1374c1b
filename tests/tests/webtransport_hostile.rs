//! Hostile HTTP/3 peers against the WebTransport server on tokio,
//! async-std and smol: raw bytes from Python aioquic's QUIC layer
//! (tests/webtransport/wt_scenarios.py, scenario `hostile`), each case on
//! a QUIC connection of its own, each answered with its HTTP/3 error code
//! (RFC 9114 §8.1, RFC 9220, draft-ietf-webtrans-http3), and the server
//! still serving a good client afterwards:
//!
//! | case | answer |
//! |---|---|
//! | a request stream ending inside a frame | connection closed H3_FRAME_ERROR (0x106) |
//! | a second SETTINGS frame | H3_FRAME_UNEXPECTED (0x105) |
//! | a setting twice in one SETTINGS | H3_SETTINGS_ERROR (0x109) |
//! | a second control stream | H3_STREAM_CREATION_ERROR (0x103) |
//! | the control stream closed | H3_CLOSED_CRITICAL_STREAM (0x104) |
//! | DATA on the control stream | H3_FRAME_UNEXPECTED (0x105) |
//! | an HTTP/2-only frame type (PING) | H3_FRAME_UNEXPECTED (0x105) |
//! | headers over SETTINGS_MAX_FIELD_SECTION_SIZE | 431 |
//! | CONNECT without `:authority` | request stream reset H3_MESSAGE_ERROR (0x10e) |
//! | CONNECT with `:protocol websocket` | 501 |
//! | a second CONNECT on one connection (1 session per connection) | 200, then 429 |
//! | a stream for a session whose CONNECT comes later and fails (404) | buffered, then stopped with WEBTRANSPORT_BUFFERED_STREAM_REJECTED (0x3994bd84) |
//!
//! Without aioquic the test is skipped (see [`tidings_tests::aioquic`]).

use tidings_framework::server::{Context, Router};
use tidings_framework::webtransport::{self, Config, Session};
use tidings_tests::aioquic::{self, RUNTIMES, Tls, lines_of, python_or_skip, run_script};

#[test]
fn hostile_peers_on_every_runtime() {
    let tmp = env!("CARGO_TARGET_TMPDIR");
    let Some(python) = python_or_skip(tmp, "WebTransport hostile test") else {
        return;
    };
    for runtime in RUNTIMES {
        println!("--- {runtime}");
        let certs = Tls::new(tmp, &format!("hostile-{runtime}"));
        let router =
            Router::new().webtransport("/echo", |_ctx: Context, session: Session| async move {
                webtransport::echo(session).await;
                Ok(())
            });
        let served =
            aioquic::serve_router(runtime, router, certs.server_config(), Config::default());
        let args = [
            served.port.to_string(),
            certs.ca_pem.display().to_string(),
            "hostile".to_owned(),
        ];
        let output = run_script(&python, "wt_scenarios.py", &args);
        assert_eq!(
            lines_of(&output),
            [
                "truncated frame: connection closed 0x106",
                "duplicate SETTINGS: connection closed 0x105",
                "duplicate setting id: connection closed 0x109",
                "second control stream: connection closed 0x103",
                "control stream closed: connection closed 0x104",
                "DATA on the control stream: connection closed 0x105",
                "HTTP/2 PING frame type: connection closed 0x105",
                "oversized headers: status 431",
                "CONNECT without :authority: stream reset 0x10e",
                "CONNECT with :protocol websocket: status 501",
                "second CONNECT on one connection: first 200, second status 429",
                "stream for an unknown session: CONNECT 404, early stream stopped 0x3994bd84",
                "good client after them: still there?",
            ],
            "on {runtime}"
        );
        let stats = served.hub.stats();
        assert_eq!(
            stats.webtransport.total, 2,
            "the good sessions, on {runtime}"
        );
        assert!(served.stop(), "the server stops on {runtime}");
    }
}
