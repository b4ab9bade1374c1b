//! `Connection::flush` waits for bytes the pump has taken but not yet
//! written: the pump writes without holding the connection's lock, so what
//! it is writing must be counted as in flight before the lock is released.

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use futures_util::io::{AsyncRead, AsyncWrite};
use tidings_framework::client::connect_over;
use tidings_framework::server::echo;
use tidings_tests::{
    ClientConfig, Connection, Router, ServerConfig, TestRuntime, all_runtimes, start_server,
};

all_runtimes!(flush_is_not_done_while_the_pump_writes);

/// Counts, for every write made once `conn` is set, whether a `flush` of
/// `conn` polled at that moment was already done (it must not be: the bytes
/// are being written).
struct Probe<T> {
    io: T,
    conn: Arc<Mutex<Option<Connection>>>,
    writes: Arc<AtomicUsize>,
    flushed_early: Arc<AtomicUsize>,
}

impl<T> Probe<T> {
    fn check(&self) {
        let conn = self.conn.lock().unwrap().clone();
        if let Some(conn) = conn {
            self.writes.fetch_add(1, Ordering::SeqCst);
            let flush = pin!(conn.flush());
            if flush
                .poll(&mut Context::from_waker(Waker::noop()))
                .is_ready()
            {
                self.flushed_early.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Probe<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Probe<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.check();
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.check();
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_close(cx)
    }
}

async fn flush_is_not_done_while_the_pump_writes<N: TestRuntime>() {
    let server = start_server::<N>(
        Router::new().websocket("/ws", echo),
        ServerConfig::default(),
    )
    .await;
    let stream = N::connect("127.0.0.1", server.addr.port()).await.unwrap();
    let addrs = N::addrs(&stream);
    let slot = Arc::new(Mutex::new(None));
    let writes = Arc::new(AtomicUsize::new(0));
    let flushed_early = Arc::new(AtomicUsize::new(0));
    let probe = Probe {
        io: stream,
        conn: slot.clone(),
        writes: writes.clone(),
        flushed_early: flushed_early.clone(),
    };
    let conn = connect_over(
        probe,
        &server.url("/ws"),
        ClientConfig::default(),
        N::default(),
        addrs,
    )
    .await
    .unwrap();
    *slot.lock().unwrap() = Some(conn.clone());
    for i in 0..20 {
        conn.write(format!("message {i}")).await.unwrap();
        assert_eq!(
            conn.read().await.unwrap().as_bytes(),
            format!("message {i}").as_bytes()
        );
    }
    conn.flush().await.unwrap();
    *slot.lock().unwrap() = None;
    assert!(
        writes.load(Ordering::SeqCst) >= 20,
        "the probe saw the writes"
    );
    assert_eq!(
        flushed_early.load(Ordering::SeqCst),
        0,
        "flush was done while bytes were being written"
    );
}
