//! Checks the tidings WebSocket client against any echo server (the interop
//! run points it at a Python `websockets` server): text, binary, empty,
//! large and fragmented messages, a ping, and the close handshake.
//!
//! `cargo run --release -p tidings-tokio --example client_check -- URL [--ca CA.pem]`
//! Prints one PASS/FAIL line per check; exits 0 only if all passed. For a
//! `wss://` URL, `--ca` names the PEM file of the CA to trust (instead of
//! the default roots), e.g. the test CA the interop server writes.

use std::process::ExitCode;

#[cfg(any(feature = "ring", feature = "aws-lc-rs"))]
use tidings_tokio::tls;
use tidings_tokio::{ClientConfig, CloseCode, Connection, Message, connect_with, ws};

async fn echo_matches(conn: &Connection, sent: Message) -> Result<String, String> {
    conn.write_message(&sent)
        .await
        .map_err(|e| format!("send: {e}"))?;
    let got = conn.read().await.map_err(|e| format!("read: {e}"))?;
    if got == sent {
        Ok(format!("{} bytes", got.len()))
    } else {
        Err(format!(
            "sent {} bytes, got back {} bytes of another message",
            sent.len(),
            got.len()
        ))
    }
}

/// A TLS client configuration trusting the certificates of the PEM file
/// at `path` only.
#[cfg(any(feature = "ring", feature = "aws-lc-rs"))]
fn trusting(path: &str) -> Result<std::sync::Arc<tls::rustls::ClientConfig>, String> {
    use tls::rustls::pki_types::CertificateDer;
    use tls::rustls::pki_types::pem::PemObject;

    let mut roots = tls::rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| e.to_string())? {
        roots
            .add(cert.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    Ok(tls::client_config(roots))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (url, ca) = match args.as_slice() {
        [url] => (url.clone(), None),
        [url, flag, ca] if flag == "--ca" => (url.clone(), Some(ca.clone())),
        _ => {
            eprintln!("usage: client_check URL [--ca CA.pem]");
            return ExitCode::FAILURE;
        }
    };
    // Messages over 16 KiB go out in 16 KiB fragments.
    #[cfg_attr(not(any(feature = "ring", feature = "aws-lc-rs")), allow(unused_mut))]
    let mut config = ClientConfig::default()
        .websocket(ws::Config::default().max_outgoing_frame_size(Some(16 << 10)));
    if let Some(path) = ca {
        #[cfg(any(feature = "ring", feature = "aws-lc-rs"))]
        match trusting(&path) {
            Ok(tls) => config = config.tls(tls),
            Err(error) => {
                println!("FAIL reading the CA {path}: {error}");
                return ExitCode::FAILURE;
            }
        }
        #[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
        {
            println!("FAIL --ca {path}: this build has no TLS (features ring, aws-lc-rs)");
            return ExitCode::FAILURE;
        }
    }
    let conn = match connect_with(&url, config).await {
        Ok(conn) => conn,
        Err(error) => {
            println!("FAIL handshake: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("PASS handshake: {url}");

    let big_text: String = "tidings ✓ ".repeat(100_000);
    let cases: Vec<(&str, Message)> = vec![
        ("text ascii", Message::from("Hello, websockets!")),
        ("text unicode", Message::from("héllo wörld, 你好, ✓ 🦀")),
        ("text empty", Message::from("")),
        (
            "binary 256 bytes",
            Message::from((0..=255u8).collect::<Vec<u8>>()),
        ),
        ("binary empty", Message::from(Vec::new())),
        ("binary 65536 bytes", Message::from(vec![7u8; 65_536])),
        (
            "binary 1 MiB (fragmented)",
            Message::from(vec![0xA5u8; 1 << 20]),
        ),
        ("text ~1 MiB (fragmented)", Message::from(big_text)),
    ];
    let mut failed = 0;
    for (name, message) in cases {
        match echo_matches(&conn, message).await {
            Ok(detail) => println!("PASS {name}: {detail}"),
            Err(detail) => {
                println!("FAIL {name}: {detail}");
                failed += 1;
            }
        }
    }
    // A ping is answered by the server's stack; the connection must stay usable.
    let after_ping = match conn.ping("are you there").await {
        Ok(()) => echo_matches(&conn, Message::from("after ping")).await,
        Err(error) => Err(format!("ping: {error}")),
    };
    match after_ping {
        Ok(_) => println!("PASS ping, then text"),
        Err(detail) => {
            println!("FAIL ping, then text: {detail}");
            failed += 1;
        }
    }
    match conn
        .close_with(CloseCode::NORMAL, "tidings client done")
        .await
    {
        Ok(()) => match conn.close_info() {
            Some(closed) if closed.is_clean() && closed.code() == CloseCode::NORMAL => {
                println!("PASS close: server answered {}", closed.code());
            }
            other => {
                println!("FAIL close: {other:?}");
                failed += 1;
            }
        },
        Err(error) => {
            println!("FAIL close: {error}");
            failed += 1;
        }
    }
    println!("tidings client: {} failed", failed);
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
