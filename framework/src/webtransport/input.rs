//! What a connection's driver reads: QUIC events and the sessions'
//! requests.

use bytes::Bytes;
use tidings_core::webtransport::{ConnectRequest, SessionId};

use super::error::Error;
use super::route::Admitted;

/// A session's request to the driver.
pub(super) enum Command {
    /// The header for a stream the session opened.
    Header {
        session: SessionId,
        id: u64,
        reply: async_channel::Sender<Result<Bytes, Error>>,
    },
    /// Send a datagram.
    Datagram {
        session: SessionId,
        payload: Bytes,
        reply: async_channel::Sender<Result<(), Error>>,
    },
    /// Close the session.
    Close {
        session: SessionId,
        code: u32,
        reason: String,
        reply: Option<async_channel::Sender<Result<(), Error>>>,
    },
}

/// What the driver reads.
pub(super) enum Input {
    /// A peer-opened unidirectional stream.
    Uni(quinn::RecvStream),
    /// A peer-opened bidirectional stream.
    Bi(quinn::SendStream, quinn::RecvStream),
    /// The next bytes of a stream the core owns (`fin`: its end).
    Chunk {
        recv: quinn::RecvStream,
        data: Bytes,
        fin: bool,
    },
    /// A stream the core owns was reset by the peer.
    Reset { id: u64, code: u64 },
    /// A datagram.
    Datagram(Bytes),
    /// A session's data stream is gone (both halves dropped).
    StreamClosed(u64),
    /// A session's request.
    Command(Command),
    /// A session request's verdict, from the task that ran it through the
    /// router and its middleware.
    Admission {
        session: SessionId,
        /// Boxed: every `Input` is as large as its largest variant, and the
        /// connection's bounded input queue allocates all its slots.
        request: Box<ConnectRequest>,
        verdict: Result<Box<Admitted>, http::StatusCode>,
    },
    /// The QUIC connection is over.
    Lost,
}
