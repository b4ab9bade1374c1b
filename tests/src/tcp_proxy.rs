//! A loopback TCP forwarder the test can cut: what a network partition (or
//! a crashed peer) looks like to both ends; or stall, one connection's
//! server-to-client bytes discarded while both sockets stay open: what a
//! wedged connection looks like (no error, nothing arrives); or lose one
//! connection's client-to-server bytes, then reset it: requests that never
//! reached the server on a connection that then broke. Plain threads, so it
//! works under any runtime.

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
    /// Per accepted connection, in order.
    forwarded: Arc<Mutex<Vec<Forwarded>>>,
}

/// One forwarded connection: its two sockets and what is discarded.
#[derive(Debug)]
struct Forwarded {
    /// Server-to-client bytes are discarded.
    to_client: Arc<AtomicBool>,
    /// Client-to-server bytes are discarded.
    to_server: Arc<AtomicBool>,
    sockets: Vec<TcpStream>,
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
        let forwarded = Arc::new(Mutex::new(Vec::new()));
        let (flag, kept, flags) = (cut.clone(), sockets.clone(), forwarded.clone());
        thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        if let Ok(server) = TcpStream::connect(("127.0.0.1", target)) {
                            let forwarded = Forwarded {
                                to_client: Arc::new(AtomicBool::new(false)),
                                to_server: Arc::new(AtomicBool::new(false)),
                                sockets: [client.try_clone(), server.try_clone()]
                                    .into_iter()
                                    .flatten()
                                    .collect(),
                            };
                            let flags_of =
                                (forwarded.to_server.clone(), forwarded.to_client.clone());
                            lock(&flags).push(forwarded);
                            forward(client, server, &kept, flags_of);
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
            forwarded,
        })
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        lock(&self.forwarded).len()
    }

    /// Wedges the `n`-th accepted connection (from 0): from now on what the
    /// server sends on it is read and discarded, and both sockets stay
    /// open, so the client sees neither data nor an error. Other
    /// connections, and new ones, are forwarded as before. Returns `false`
    /// when fewer than `n + 1` connections were accepted.
    pub fn stall(&self, n: usize) -> bool {
        lock(&self.forwarded)
            .get(n)
            .inspect(|link| link.to_client.store(true, Ordering::SeqCst))
            .is_some()
    }

    /// From now on, what the client sends on the `n`-th accepted
    /// connection is read and discarded (the server never gets it), both
    /// sockets open. Returns `false` when fewer than `n + 1` connections
    /// were accepted.
    pub fn lose_requests(&self, n: usize) -> bool {
        lock(&self.forwarded)
            .get(n)
            .inspect(|link| link.to_server.store(true, Ordering::SeqCst))
            .is_some()
    }

    /// Shuts the `n`-th accepted connection down (both sockets): the client
    /// sees its connection break; other and new connections are forwarded
    /// as before. Returns `false` when fewer than `n + 1` connections were
    /// accepted.
    pub fn reset(&self, n: usize) -> bool {
        lock(&self.forwarded)
            .get(n)
            .inspect(|link| {
                for socket in &link.sockets {
                    let _ = socket.shutdown(Shutdown::Both);
                }
            })
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
/// a direction's flag (`to_server`, `to_client`) is set, its bytes are
/// discarded instead.
fn forward(
    client: TcpStream,
    server: TcpStream,
    kept: &Mutex<Vec<TcpStream>>,
    (to_server, to_client): (Arc<AtomicBool>, Arc<AtomicBool>),
) {
    let pairs = [
        (client.try_clone(), server.try_clone(), to_server),
        (server.try_clone(), client.try_clone(), to_client),
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
                    if stall.load(Ordering::SeqCst) {
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
