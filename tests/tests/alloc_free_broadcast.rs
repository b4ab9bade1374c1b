//! A broadcast allocates per broadcast (the recipient list, the encoded
//! frame), never per recipient: the per-recipient path (the hub's offer,
//! the connection's queue, its pump writing the shared frame) allocates
//! nothing in steady state, on a real server over real sockets.
//!
//! A counting global allocator counts every allocation of the process while
//! counting is on. The clients are blocking `std` sockets reading into
//! pre-sized buffers, so they allocate nothing themselves; the broadcasts'
//! payloads and filters are built before counting starts. Its own binary:
//! the counters are process-wide.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;

use tidings_framework::hub::{Filter, Hub, Payload};
use tidings_framework::server::{Router, ServerConfig};

use tidings_tests::{CountingAllocator, blocking_upgrade, start_server};

static COUNTING: AtomicBool = AtomicBool::new(false);
static COUNT: AtomicU64 = AtomicU64::new(0);

fn count_one() {
    if COUNTING.load(Ordering::Relaxed) {
        COUNT.fetch_add(1, Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator {
    on_alloc: count_one,
};

/// Broadcasts measured per run, after as many to warm up.
const BROADCASTS: usize = 200;

/// The text broadcast, and the unmasked frame a client receives for it.
const TEXT: &str = "hello, everyone";

/// Recipients of the larger run.
const MANY: usize = 32;

/// Allocations tolerated over a run with `MANY` recipients beyond those of
/// the run with one: one per 100 deliveries. The runtime allocates now and
/// then on its own (seen: 40 over 6,400 deliveries in one run of many,
/// under load); one allocation per recipient would be 6,200.
const TOLERATED: u64 = (BROADCASTS * MANY / 100) as u64;

/// Measured runs of each kind; the fewest allocations count (the runtime's
/// occasional own allocations rarely recur in every run).
const RUNS: usize = 3;

/// Starts a tokio server whose WebSocket handler reads until the end (in a
/// thread of its own, left running), and returns its address and hub.
fn serve_in_background() -> (SocketAddr, Arc<Hub>) {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("build the tokio runtime")
            .block_on(async move {
                let router = Router::new()
                    .websocket("/one", read_to_the_end)
                    .websocket("/many", read_to_the_end);
                let server =
                    start_server::<tidings_tests::Tokio>(router, ServerConfig::default()).await;
                sender
                    .send((server.addr, server.handle.hub().clone()))
                    .expect("send the address");
                std::future::pending::<()>().await;
                drop(server);
            });
    });
    receiver.recv().expect("the server's address")
}

/// The WebSocket handler: joins the room `all`, reads until the end.
async fn read_to_the_end(
    _ctx: tidings_framework::server::Context,
    conn: tidings_framework::Connection,
) -> Result<(), tidings_framework::Error> {
    conn.join("all");
    while conn.read().await.is_ok() {}
    Ok(())
}

/// Broadcasts `BROADCASTS` texts to every client and has each client read
/// them all (checking their bytes); returns the allocations made meanwhile
/// when `count` is set.
fn broadcast_round(
    hub: &Arc<Hub>,
    filter: &Filter,
    clients: &mut [TcpStream],
    expected: &[u8],
    count: bool,
) -> u64 {
    // Built before counting: the payload and filter are the caller's.
    let mut messages: Vec<(Payload, Filter)> = (0..BROADCASTS)
        .map(|_| (Payload::text(TEXT), filter.clone()))
        .collect();
    let mut buf = vec![0u8; expected.len()];
    COUNT.store(0, Ordering::SeqCst);
    COUNTING.store(count, Ordering::SeqCst);
    for (payload, filter) in messages.drain(..) {
        let report = hub.broadcast(payload, filter);
        assert_eq!(report.delivered, clients.len(), "every client gets it");
    }
    for client in clients.iter_mut() {
        client.read_exact(&mut buf).expect("read the broadcasts");
        assert!(buf == expected, "the broadcasts arrive whole and in order");
    }
    COUNTING.store(false, Ordering::SeqCst);
    COUNT.load(Ordering::SeqCst)
}

/// The allocations of `BROADCASTS` broadcasts to `MANY` clients are those
/// of as many broadcasts to one client: nothing per recipient.
#[test]
fn tokio_broadcast_allocates_nothing_per_recipient() {
    let (addr, hub) = serve_in_background();
    let mut frame = vec![0x81, TEXT.len() as u8];
    frame.extend_from_slice(TEXT.as_bytes());
    let expected: Vec<u8> = frame.repeat(BROADCASTS);

    let mut clients = vec![blocking_upgrade(addr, "/one")];
    clients.extend((1..MANY).map(|_| blocking_upgrade(addr, "/many")));
    // In the room once the handler runs: wait for all of them.
    while hub.members("all").len() < MANY {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let one = Filter::all().route("/one");
    // The room's members (the path that looks a room up).
    let all = Filter::room("all");
    // Warm-up: every queue and buffer reaches its steady size.
    broadcast_round(&hub, &one, &mut clients[..1], &expected, false);
    broadcast_round(&hub, &all, &mut clients, &expected, false);

    let to_one = (0..RUNS)
        .map(|_| broadcast_round(&hub, &one, &mut clients[..1], &expected, true))
        .min()
        .unwrap_or_default();
    let to_many = (0..RUNS)
        .map(|_| broadcast_round(&hub, &all, &mut clients, &expected, true))
        .min()
        .unwrap_or_default();
    println!(
        "tokio: over {BROADCASTS} broadcasts, {to_one} allocations with 1 recipient, \
         {to_many} with {MANY} ({:.4} per recipient beyond the first)",
        to_many.saturating_sub(to_one) as f64 / (BROADCASTS * (MANY - 1)) as f64
    );
    assert!(
        to_many <= to_one + TOLERATED,
        "{to_many} allocations over {BROADCASTS} broadcasts to {MANY} recipients, \
         {to_one} to one: the difference is allocated per recipient"
    );
}
