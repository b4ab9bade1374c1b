//! Shared pieces of the benchmark servers: bind, print the address, accept
//! with TCP_NODELAY.

use std::future::Future;

use tokio::net::{TcpListener, TcpStream};

/// The address to bind: the first command-line argument, as for the tidings
/// examples (default `127.0.0.1:9001`).
pub fn addr_arg() -> String {
    std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".to_owned())
}

/// Binds `addr`, prints `listening on ADDR` (the examples' contract) and runs
/// `handle` on its own task for every accepted socket, with TCP_NODELAY set.
pub async fn serve<F, Fut>(addr: &str, handle: F) -> std::io::Result<()>
where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind(addr).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            // EMFILE and friends: keep serving the connections we have.
            Err(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(handle(stream));
    }
}

/// The message every broadcast server sends: 128 bytes ending in the marker
/// `~END` that `loadgen broadcast` counts.
pub fn broadcast_message() -> String {
    let mut text = "x".repeat(124);
    text.push_str("~END");
    text
}
