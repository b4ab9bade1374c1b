//! Runs the tidings WebSocket client through the Autobahn TestSuite's
//! fuzzingserver: every case's messages are echoed back until the server
//! closes. It offers permessage-deflate (cases 12.* and 13.*).
//!
//! `cargo run --release -p tidings-tokio --example autobahn_client -- [URL] [AGENT]`
//! (defaults `ws://127.0.0.1:9001`, `tidings-tokio`). `tests/autobahn/run.sh`
//! starts the fuzzingserver and runs this.

use tidings_tokio::{ClientConfig, DeflateConfig, Error, connect, connect_with};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "ws://127.0.0.1:9001".to_owned());
    let agent = args.next().unwrap_or_else(|| "tidings-tokio".to_owned());

    let counter = connect(&format!("{url}/getCaseCount")).await?;
    let count: u32 = counter
        .read()
        .await?
        .as_bytes()
        .escape_ascii()
        .to_string()
        .parse()
        .map_err(|error| Error::other(format!("bad case count: {error}")))?;
    counter.closed().await;
    println!("running {count} cases as {agent}");

    let config = ClientConfig::default().websocket(
        ClientConfig::default()
            .websocket
            .deflate(Some(DeflateConfig::default())),
    );
    for case in 1..=count {
        let case_url = format!("{url}/runCase?case={case}&agent={agent}");
        let conn = match connect_with(&case_url, config.clone()).await {
            Ok(conn) => conn,
            Err(error) => {
                eprintln!("case {case}: connect failed: {error}");
                continue;
            }
        };
        while let Ok(message) = conn.read().await {
            if conn.write_message(&message).await.is_err() {
                break;
            }
        }
        conn.closed().await;
    }

    let reports = connect(&format!("{url}/updateReports?agent={agent}")).await?;
    reports.closed().await;
    println!("reports updated for {agent}");
    Ok(())
}
