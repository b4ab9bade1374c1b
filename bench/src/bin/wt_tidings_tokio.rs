//! tidings' WebTransport echo on tokio (`/echo`: bidi streams on
//! themselves, uni streams on new ones, datagrams), as the `wt_echo`
//! example serves it. `wt_tidings_tokio [ADDR]` (UDP).

use tidings_tokio::webtransport::{self, Config};

#[tokio::main]
async fn main() {
    let addr = tidings_bench::wt_addr_arg();
    let server =
        webtransport::bind(addr, tidings_bench::wt_tidings_tls(), Config::default()).expect("bind");
    tidings_bench::wt_tidings_serve(server).await;
}
