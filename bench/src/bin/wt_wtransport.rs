//! The same WebTransport echo on wtransport (tokio), written as its own
//! examples do: one task per connection selecting over accept_bi,
//! accept_uni and receive_datagram; each bidi stream echoed on itself by a
//! task of its own (read into a 64 KiB buffer, write_all), each uni stream
//! read to its end and echoed on a new uni stream, each datagram sent back.
//! Any path is accepted. `wt_wtransport [ADDR]` (UDP).

use wtransport::endpoint::IncomingSession;
use wtransport::{Connection, Endpoint, Identity, RecvStream, SendStream, ServerConfig};

/// The most bytes a uni stream may carry to be echoed (as tidings' echo).
const MAX_UNI: usize = 16 << 20;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let identity = Identity::self_signed(["localhost", "127.0.0.1"]).expect("self-signed identity");
    let config = ServerConfig::builder()
        .with_bind_address(tidings_bench::wt_addr_arg())
        .with_identity(identity)
        .build();
    let server = Endpoint::server(config)?;
    println!("listening on {}", server.local_addr()?);
    loop {
        let incoming = server.accept().await;
        tokio::spawn(session(incoming));
    }
}

async fn session(incoming: IncomingSession) {
    let Ok(request) = incoming.await else { return };
    let Ok(connection) = request.accept().await else {
        return;
    };
    loop {
        tokio::select! {
            stream = connection.accept_bi() => {
                let Ok((send, recv)) = stream else { return };
                tokio::spawn(echo_bi(send, recv));
            }
            stream = connection.accept_uni() => {
                let Ok(recv) = stream else { return };
                tokio::spawn(echo_uni(connection.clone(), recv));
            }
            datagram = connection.receive_datagram() => {
                let Ok(datagram) = datagram else { return };
                let _ = connection.send_datagram(datagram.payload());
            }
        }
    }
}

async fn echo_bi(mut send: SendStream, mut recv: RecvStream) {
    let mut buf = vec![0; 64 << 10];
    while let Ok(Some(n)) = recv.read(&mut buf).await {
        if send.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
    let _ = send.finish().await;
}

async fn echo_uni(connection: Connection, mut recv: RecvStream) {
    let mut data = Vec::new();
    let mut buf = vec![0; 64 << 10];
    while let Ok(Some(n)) = recv.read(&mut buf).await {
        if data.len() + n > MAX_UNI {
            return;
        }
        data.extend_from_slice(&buf[..n]);
    }
    let Ok(opening) = connection.open_uni().await else {
        return;
    };
    let Ok(mut send) = opening.await else { return };
    if send.write_all(&data).await.is_ok() {
        let _ = send.finish().await;
    }
}
