//! A real server, on each runtime, echoes messages that fit its read buffer
//! over a real socket without a heap allocation per message in steady state:
//! the whole path (socket pump, protocol, handler, write queue, runtime),
//! not only the sans-IO connection (`alloc_free_echo.rs`).
//!
//! A counting global allocator counts every allocation of the process while
//! counting is on. The client is a blocking `std` socket with pre-built
//! frames and a pre-sized buffer, so it allocates nothing itself; the count
//! is the server's (and its runtime's). Its own binary; the counters are
//! process-wide, so its two tests take turns (`SERIAL`).

use std::cell::Cell;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, mpsc};

use std::future::Future;
use std::pin::Pin;
use tidings_framework::server::{Router, ServerConfig};

use tidings_tests::{CountingAllocator, TestRuntime, blocking_upgrade, masked_frame, start_server};

/// A future run to completion by a runtime's `block_on`.
type Body = Pin<Box<dyn Future<Output = ()>>>;

/// One measured run: (all allocations, those in async-io's reactor).
type Run = fn() -> (u64, u64);

static COUNTING: AtomicBool = AtomicBool::new(false);
/// Also find out where each counted allocation comes from (slow: a
/// backtrace each), to leave out those of async-io's reactor.
static ATTRIBUTING: AtomicBool = AtomicBool::new(false);
static COUNT: AtomicU64 = AtomicU64::new(0);
/// Counted allocations made inside async-io's reactor (while attributing).
static REACTOR_COUNT: AtomicU64 = AtomicU64::new(0);
/// The first counted allocation made elsewhere (while attributing).
static FIRST_OTHER: Mutex<Option<String>> = Mutex::new(None);
/// Held by each test while it runs: the counters are shared.
static SERIAL: Mutex<()> = Mutex::new(());

thread_local! {
    /// Set while this thread renders a backtrace (which allocates itself).
    static ATTRIBUTING_HERE: Cell<bool> = const { Cell::new(false) };
}

fn count_one() {
    if !COUNTING.load(Ordering::Relaxed) {
        return;
    }
    if !ATTRIBUTING.load(Ordering::Relaxed) {
        COUNT.fetch_add(1, Ordering::Relaxed);
        return;
    }
    if ATTRIBUTING_HERE.try_with(|here| here.replace(true)) != Ok(false) {
        return;
    }
    COUNT.fetch_add(1, Ordering::Relaxed);
    let trace = format!("{:?}", std::backtrace::Backtrace::force_capture());
    // async-io's reactor allocates on its own on every turn while any timer
    // is registered (`BTreeMap::split_off` in `process_timers`) and when it
    // collects the wakers of ready sources (`drain_into`). With less debug
    // information (e.g. `debug = "line-tables-only"`) inlined frames show a
    // bare function name, so the reactor's source file counts too.
    if trace.contains("async_io::reactor::") || is_async_io_reactor_file(&trace) {
        REACTOR_COUNT.fetch_add(1, Ordering::Relaxed);
    } else if let Ok(mut first) = FIRST_OTHER.lock() {
        first.get_or_insert(trace);
    }
    let _ = ATTRIBUTING_HERE.try_with(|here| here.set(false));
}

/// Whether a frame of `trace` is in async-io's `src/reactor.rs`.
fn is_async_io_reactor_file(trace: &str) -> bool {
    trace.split("file: \"").skip(1).any(|rest| {
        let file = rest.split('"').next().unwrap_or_default();
        file.contains("/async-io-") && file.ends_with("/src/reactor.rs")
    })
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator {
    on_alloc: count_one,
};

/// Payload sizes up to what fits the default 4 KiB read buffer with its
/// header, across the 7- and 16-bit length forms.
const SIZES: [usize; 6] = [0, 16, 125, 126, 1000, 4000];

/// Echoes measured per runtime, after as many to warm up.
const ECHOES: usize = 3_000;

/// Allocations tolerated over all `ECHOES` (amortised zero per message): a
/// runtime may grow an internal table once in a while.
const TOLERATED: u64 = 10;

/// Starts an echo server on runtime `N` in a thread of its own (left
/// running until the test process exits) and returns its address.
fn serve_in_background<N: TestRuntime>(block_on: fn(Body)) -> SocketAddr {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        block_on(Box::pin(async move {
            let router = Router::new().websocket("/*path", tidings_framework::server::echo);
            let server = start_server::<N>(router, ServerConfig::default()).await;
            sender.send(server.addr).expect("send the address");
            // Keeps the server (dropping it shuts it down) without waking.
            std::future::pending::<()>().await;
            drop(server);
        }));
    });
    receiver.recv().expect("the server's address")
}

/// A blocking client that echoes pre-built frames and checks the replies.
struct Client {
    stream: TcpStream,
    frames: Vec<(Vec<u8>, Vec<u8>)>,
    reply: Vec<u8>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Self {
        let stream = blocking_upgrade(addr, "/echo");
        // Text and binary frames of every size, and the server frames
        // expected back (unmasked, same opcode and payload).
        let mut frames = Vec::new();
        for size in SIZES {
            for opcode in [0x1u8, 0x2] {
                let payload: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
                let mut expected = vec![0x80 | opcode];
                if size < 126 {
                    expected.push(size as u8);
                } else {
                    expected.push(126);
                    expected.extend_from_slice(&(size as u16).to_be_bytes());
                }
                expected.extend_from_slice(&payload);
                frames.push((masked_frame(true, opcode, &payload), expected));
            }
        }
        let reply = vec![0; 4 + SIZES[SIZES.len() - 1]];
        Client {
            stream,
            frames,
            reply,
        }
    }

    /// Sends the `i`-th frame (cycling) and checks its echo.
    fn echo(&mut self, i: usize) {
        let (frame, expected) = &self.frames[i % self.frames.len()];
        self.stream.write_all(frame).expect("send a frame");
        let reply = &mut self.reply[..expected.len()];
        self.stream.read_exact(reply).expect("read the echo");
        assert!(reply == expected.as_slice(), "echo {i} differs");
    }
}

/// Allocations made while `echoes` messages are echoed by a warmed-up
/// server on runtime `N`: all of them, and those of async-io's reactor
/// (when `attribute` is set).
fn allocations_per_run<N: TestRuntime>(
    block_on: fn(Body),
    echoes: usize,
    attribute: bool,
) -> (u64, u64) {
    let addr = serve_in_background::<N>(block_on);
    let mut client = Client::connect(addr);
    for i in 0..ECHOES {
        client.echo(i);
    }
    COUNT.store(0, Ordering::SeqCst);
    REACTOR_COUNT.store(0, Ordering::SeqCst);
    ATTRIBUTING.store(attribute, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    for i in 0..echoes {
        client.echo(i);
    }
    COUNTING.store(false, Ordering::SeqCst);
    ATTRIBUTING.store(false, Ordering::SeqCst);
    (
        COUNT.load(Ordering::SeqCst),
        REACTOR_COUNT.load(Ordering::SeqCst),
    )
}

/// On tokio, nothing at all is allocated per message.
#[test]
fn tokio_echo_server_allocates_nothing_per_message_in_steady_state() {
    let _turn = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let (allocations, _) = allocations_per_run::<tidings_tests::Tokio>(
        |body| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("build the tokio runtime")
                .block_on(body)
        },
        ECHOES,
        false,
    );
    println!("tokio: {allocations} allocations over {ECHOES} echoes");
    assert!(
        allocations <= TOLERATED,
        "tokio: {allocations} allocations over {ECHOES} echoes"
    );
}

/// On async-std and smol, every allocation per message is async-io's
/// reactor's own (see `count_one`); none is tidings'.
#[test]
fn async_io_echo_servers_allocate_nothing_of_their_own_per_message() {
    let _turn = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    const ATTRIBUTED_ECHOES: usize = 300;
    let runs: [(&str, Run); 2] = [
        ("async-std", || {
            allocations_per_run::<tidings_tests::AsyncStd>(
                async_std::task::block_on,
                ATTRIBUTED_ECHOES,
                true,
            )
        }),
        ("smol", || {
            allocations_per_run::<tidings_tests::Smol>(smol::block_on, ATTRIBUTED_ECHOES, true)
        }),
    ];
    for (name, run) in runs {
        let (allocations, reactor) = run();
        println!(
            "{name}: {allocations} allocations over {ATTRIBUTED_ECHOES} echoes, \
             {reactor} of them in async-io's reactor"
        );
        let first = FIRST_OTHER
            .lock()
            .map(|first| first.clone())
            .unwrap_or_default();
        assert!(
            allocations - reactor <= TOLERATED,
            "{name}: {} allocations outside async-io's reactor over {ATTRIBUTED_ECHOES} echoes; the first:\n{}",
            allocations - reactor,
            first.unwrap_or_default()
        );
    }
}
