//! The echo handler (the `wt_echo` examples, the tests).

use std::sync::Arc;

use super::error::SessionEnd;
use super::session::{RecvStream, SendStream, Session};

/// The most bytes one unidirectional stream may carry to be echoed; a
/// longer one is stopped.
const MAX_UNI: usize = 16 << 20;

/// A handler that echoes everything: each bidirectional stream on itself,
/// each unidirectional stream (up to 16 MiB) on a new unidirectional
/// stream, each datagram as a datagram, until the session ends.
///
/// ```no_run
/// # fn doc(server: tidings_framework::webtransport::WebTransportServer) {
/// let server = server.route("/echo", tidings_framework::webtransport::echo);
/// # }
/// ```
pub async fn echo(session: Session) {
    echo_until_closed(Arc::new(session)).await;
}

/// The [`echo`] on a shared session; returns how the session ended.
pub async fn echo_until_closed(session: Arc<Session>) -> SessionEnd {
    let bidi = session.clone();
    session.spawn(async move {
        while let Ok((send, recv)) = bidi.accept_bi().await {
            bidi.spawn(echo_stream(send, recv));
        }
    });
    let uni = session.clone();
    session.spawn(async move {
        while let Ok(mut recv) = uni.accept_uni().await {
            let session = uni.clone();
            uni.spawn(async move {
                let Ok(data) = recv.read_to_end(MAX_UNI).await else {
                    return;
                };
                if let Ok(mut send) = session.open_uni().await {
                    let _ = send.write(data.into()).await;
                    let _ = send.finish();
                }
            });
        }
    });
    let datagrams = session.clone();
    session.spawn(async move {
        while let Ok(datagram) = datagrams.read_datagram().await {
            let _ = datagrams.send_datagram(datagram).await;
        }
    });
    session.closed().await
}

/// Echoes one bidirectional stream, up to 32 chunks (QUIC frames) a round:
/// one round with the connection for a large message, not one per frame.
async fn echo_stream(mut send: SendStream, mut recv: RecvStream) {
    let mut chunks: [bytes::Bytes; 32] = std::array::from_fn(|_| bytes::Bytes::new());
    while let Ok(Some(n)) = recv.read_chunks(&mut chunks).await {
        if send.write_all_chunks(&mut chunks[..n]).await.is_err() {
            return;
        }
    }
    let _ = send.finish();
}
