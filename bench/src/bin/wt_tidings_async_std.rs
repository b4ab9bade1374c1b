//! tidings' WebTransport echo on async-std, as the `wt_echo_async_std`
//! example serves it. `wt_tidings_async_std [ADDR]` (UDP).

use tidings_async_std::webtransport::{self, Config};

fn main() {
    let addr = tidings_bench::wt_addr_arg();
    async_std::task::block_on(async move {
        let server = webtransport::bind(addr, tidings_bench::wt_tidings_tls(), Config::default())
            .expect("bind");
        tidings_bench::wt_tidings_serve(server).await;
    });
}
