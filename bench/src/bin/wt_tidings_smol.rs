//! tidings' WebTransport echo on smol, as the `wt_echo_smol` example
//! serves it. `wt_tidings_smol [ADDR]` (UDP).

use tidings_smol::webtransport::{self, Config};

fn main() {
    let addr = tidings_bench::wt_addr_arg();
    smol::block_on(async move {
        let server = webtransport::bind(addr, tidings_bench::wt_tidings_tls(), Config::default())
            .expect("bind");
        tidings_bench::wt_tidings_serve(server).await;
    });
}
