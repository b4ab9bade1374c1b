//! Checks the tidings WebSocket client against any echo server (the interop
//! run points it at a Python `websockets` server): text, binary, empty,
//! large and fragmented messages, a ping, and the close handshake.
//!
//! `cargo run --release -p tidings-tokio --example client_check -- URL`
//! Prints one PASS/FAIL line per check; exits 0 only if all passed.

use std::process::ExitCode;

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

#[tokio::main]
async fn main() -> ExitCode {
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: client_check URL");
        return ExitCode::FAILURE;
    };
    // Messages over 16 KiB go out in 16 KiB fragments.
    let config = ClientConfig::default()
        .websocket(ws::Config::default().max_outgoing_frame_size(Some(16 << 10)));
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
