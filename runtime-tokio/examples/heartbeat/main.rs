//! A live WebSocket at `/ws/live` that sends `{"type":"heartbeat","time":...}`
//! from a background task every PERIOD_MS until the connection closes (the
//! Forge "Using Context for Lifecycle" example). See `app.rs`.
//!
//! `cargo run --release -p tidings-tokio --example heartbeat -- [ADDR] [PERIOD_MS]`
//! (defaults `127.0.0.1:8082` and 5000 ms, the seed's 5 s ticker); prints
//! `listening on ADDR` once bound.

mod app;
#[path = "../common/rfc3339.rs"]
mod rfc3339;

use std::time::Duration;

use tidings_tokio::Server;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8082".to_owned());
    let period_ms = match args.next() {
        Some(ms) => ms.parse::<u64>().map_err(|error| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("PERIOD_MS {ms:?}: {error}"),
            )
        })?,
        None => 5_000,
    };
    if period_ms == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "PERIOD_MS must be at least 1",
        ));
    }
    let server = Server::bind(&addr, app::router(Duration::from_millis(period_ms))).await?;
    println!("listening on {}", server.local_addr()?);
    server.run().await;
    Ok(())
}
