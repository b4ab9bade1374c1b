//! WebTransport echo server on smol: the `wt_echo` example of
//! tidings-tokio (path `/echo`, bidi, uni and datagram echo, a fresh
//! self-signed certificate; prints `listening on ADDR` and
//! `certificate sha256 HEX`).
//!
//! `cargo run --release -p tidings-smol --example wt_echo_smol -- [ADDR]`
//! (UDP, default `127.0.0.1:4433`).

#[path = "../../runtime-tokio/examples/common/wt_echo.rs"]
mod wt_echo;

use tidings_smol::webtransport::{self, Config};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (addr, tls, hash) = wt_echo::setup()?;
    smol::block_on(async move {
        let server =
            webtransport::bind(addr, tls, Config::default())?.route("/echo", wt_echo::echo);
        wt_echo::started(&server, &hash)?;
        server.run().await;
        Ok(())
    })
}
