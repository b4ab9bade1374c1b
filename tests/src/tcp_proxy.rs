//! A loopback TCP forwarder the test can cut: what a network partition (or
//! a crashed peer) looks like to both ends; or stall, one connection's
//! server-to-client bytes discarded while both sockets stay open: what a
//! wedged connection looks like (no error, nothing arrives). Plain threads,
//! so it works under any runtime.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// Forwards `127.0.0.1:port()` to a target port until [`cut`](Self::cut)
/// (or drop): then every forwarded connection is shut down and new ones
/// are refused. [`stall`](Self::stall) wedges one connection instead.
#[derive(Debug)]
pub struct TcpProxy {
    port: u16,
    cut: Arc<AtomicBool>,
    sockets: Arc<Mutex<Vec<TcpStream>>>,
    /// Per accepted connection, in order: whether its server-to-client
    /// bytes are discarded.
    stalled: Arc<Mutex<Vec<Arc<AtomicBool>>>>,
}

impl TcpProxy {
    /// Starts forwarding a free loopback port to `127.0.0.1:target`.
    ///
    /// # Errors
    /// When no loopback port can be bound.
    pub fn start(target: u16) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let cut = Arc::new(AtomicBool::new(false));
        let sockets = Arc::new(Mutex::new(Vec::new()));
        let stalled = Arc::new(Mutex::new(Vec::new()));
        let (flag, kept, flags) = (cut.clone(), sockets.clone(), stalled.clone());
        thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        if let Ok(server) = TcpStream::connect(("127.0.0.1", target)) {
                            let stall = Arc::new(AtomicBool::new(false));
                            lock(&flags).push(stall.clone());
                            forward(client, server, &kept, stall);
                        }
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Ok(TcpProxy {
            port,
            cut,
            sockets,
            stalled,
        })
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        lock(&self.stalled).len()
    }

    /// Wedges the `n`-th accepted connection (from 0): from now on what the
    /// server sends on it is read and discarded, and both sockets stay
    /// open, so the client sees neither data nor an error. Other
    /// connections, and new ones, are forwarded as before. Returns `false`
    /// when fewer than `n + 1` connections were accepted.
    pub fn stall(&self, n: usize) -> bool {
        lock(&self.stalled)
            .get(n)
            .inspect(|flag| flag.store(true, Ordering::SeqCst))
            .is_some()
    }

    /// The port to connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Shuts every forwarded connection down and refuses new ones.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        let sockets = std::mem::take(&mut *lock(&self.sockets));
        for socket in sockets {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Copies both ways on two threads; each ends when its reader ends. While
/// `stall` is set, the server's bytes are discarded instead.
fn forward(
    client: TcpStream,
    server: TcpStream,
    kept: &Mutex<Vec<TcpStream>>,
    stall: Arc<AtomicBool>,
) {
    let pairs = [
        (client.try_clone(), server.try_clone(), None),
        (server.try_clone(), client.try_clone(), Some(stall)),
    ];
    {
        let mut kept = lock(kept);
        kept.push(client);
        kept.push(server);
    }
    for (from, to, stall) in pairs {
        if let (Ok(mut from), Ok(mut to)) = (from, to) {
            thread::spawn(move || {
                let mut buf = [0u8; 16 << 10];
                while let Ok(n) = from.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if stall.as_ref().is_some_and(|s| s.load(Ordering::SeqCst)) {
                        continue;
                    }
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = to.shutdown(Shutdown::Both);
            });
        }
    }
}
