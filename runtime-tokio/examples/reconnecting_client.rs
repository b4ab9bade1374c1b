//! A client that stays connected: prints every message from `URL`,
//! reconnects with exponential backoff and full jitter when the connection
//! drops (up to 5 s between attempts), and sends its subscription again
//! after each reconnection. It stops on close codes 4000-4999 or a 401 or
//! 403 handshake (Ctrl-C ends it any time).
//!
//! `cargo run -p tidings-tokio --example reconnecting_client -- ws://127.0.0.1:8080/ws/chat/lobby`
//!
//! Try it against the chat example, then stop and restart the chat server:
//! the client logs the drop, comes back, and re-joins.

use std::process::ExitCode;
use std::time::Duration;

use tidings_tokio::{Reconnecting, ReconnectingConfig};

const SUBSCRIBE: &str = r#"{"hello":"reconnecting_client"}"#;

#[tokio::main]
async fn main() -> ExitCode {
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: reconnecting_client URL");
        return ExitCode::FAILURE;
    };
    let config = ReconnectingConfig::default()
        .initial_delay(Duration::from_millis(250))
        .max_delay(Duration::from_secs(5));
    let mut client = match Reconnecting::connect(url.as_str(), config).await {
        Ok(client) => client.on_reconnect(|conn| async move {
            println!("reconnected as {}: subscribing again", conn.id());
            conn.write(SUBSCRIBE).await
        }),
        Err(error) => {
            eprintln!("cannot connect to {url}: {error}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(error) = client.connection().write(SUBSCRIBE).await {
        eprintln!("cannot subscribe: {error}");
        return ExitCode::FAILURE;
    }
    println!("connected to {url}");
    loop {
        match client.read().await {
            Ok(message) => println!("{}", String::from_utf8_lossy(message.as_bytes())),
            Err(error) => {
                eprintln!(
                    "stopped after {} reconnections: {error}",
                    client.reconnects()
                );
                return ExitCode::FAILURE;
            }
        }
    }
}
