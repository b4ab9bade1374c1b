//! One QUIC connection's task: it owns the sans-IO
//! [`Connection`](tidings_core::webtransport::Connection), feeds it what
//! quinn delivers, carries out its transmits, and hands data streams and
//! datagrams to the sessions.
//!
//! Every source (accepting streams, reading a stream the core still owns,
//! datagrams, the sessions' commands) is a small task or a handle sending
//! into one of two queues the driver reads: `inputs` (bounded: datagrams
//! and session commands, so a fast peer or application waits) and `streams`
//! (unbounded, but each entry stands for an open QUIC stream, a chunk of
//! one whose reader waits for the driver, or the end of a stream or
//! session, so QUIC's stream limit bounds it).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::task::Poll;

use bytes::Bytes;
use futures_core::Stream;
use tidings_core::webtransport::{
    self as core_wt, Connection, Event, SessionId, StreamRead, Transmit,
};

use tidings_core::h3::ErrorCode;

use super::Shared;
use super::error::{Error, SessionEnd, varint};
use super::input::{Command, Input};
use super::session::{Queues, Session};

/// The most bytes read from a stream the core owns at once.
const READ_CHUNK: usize = 16 * 1024;

/// A session's sending ends.
struct Slot {
    bi: async_channel::Sender<(quinn::SendStream, quinn::RecvStream, Bytes)>,
    uni: async_channel::Sender<(quinn::RecvStream, Bytes)>,
    datagrams: async_channel::Sender<Bytes>,
    /// Dropped (closing the session's `closed` channel) when it ends.
    _closed: async_channel::Sender<()>,
    end: Arc<OnceLock<SessionEnd>>,
}

impl Slot {
    fn end(self, end: SessionEnd) {
        let _ = self.end.set(end);
    }
}

/// A data stream between its header and its session taking it.
struct Parked {
    recv: quinn::RecvStream,
    send: Option<quinn::SendStream>,
    first: Bytes,
}

struct Driver {
    shared: Arc<Shared>,
    conn: quinn::Connection,
    core: Connection,
    inputs_tx: async_channel::Sender<Input>,
    streams_tx: async_channel::Sender<Input>,
    /// Send halves of bidirectional streams the core owns (CONNECT streams).
    sends: HashMap<u64, quinn::SendStream>,
    parked: HashMap<u64, Parked>,
    sessions: HashMap<SessionId, Slot>,
    control: Option<quinn::SendStream>,
    datagram: Vec<u8>,
}

/// Runs one QUIC connection to its end.
pub(super) async fn run(shared: Arc<Shared>, conn: quinn::Connection) {
    let (inputs_tx, inputs) = async_channel::bounded(shared.config.queue);
    let (streams_tx, streams) = async_channel::unbounded();
    let (mut inputs, mut streams) = (Box::pin(inputs), Box::pin(streams));
    spawn_sources(&shared, &conn, &inputs_tx, &streams_tx);
    let mut driver = Driver {
        core: Connection::server(shared.config.core.clone()),
        shared,
        conn,
        inputs_tx,
        streams_tx,
        sends: HashMap::new(),
        parked: HashMap::new(),
        sessions: HashMap::new(),
        control: None,
        datagram: Vec::new(),
    };
    // Our SETTINGS go out at once.
    if !driver.flush().await {
        return;
    }
    loop {
        let next = std::future::poll_fn(|cx| {
            if let Poll::Ready(Some(input)) = streams.as_mut().poll_next(cx) {
                return Poll::Ready(Some(input));
            }
            match inputs.as_mut().poll_next(cx) {
                Poll::Ready(input) => Poll::Ready(input),
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
        // The driver holds senders of both queues: they never end.
        let Some(input) = next else { break };
        if !driver.handle(input) || !driver.flush().await {
            break;
        }
    }
    for (_, slot) in driver.sessions.drain() {
        slot.end(SessionEnd::ConnectionLost(
            driver
                .conn
                .close_reason()
                .map_or_else(|| "closed".into(), |e| e.to_string()),
        ));
    }
}

fn spawn_sources(
    shared: &Shared,
    conn: &quinn::Connection,
    inputs: &async_channel::Sender<Input>,
    streams: &async_channel::Sender<Input>,
) {
    let (c, tx) = (conn.clone(), streams.clone());
    shared.runtime.spawn(Box::pin(async move {
        loop {
            let input = match c.accept_uni().await {
                Ok(recv) => Input::Uni(recv),
                Err(_) => Input::Lost,
            };
            let lost = matches!(input, Input::Lost);
            if tx.send(input).await.is_err() || lost {
                break;
            }
        }
    }));
    let (c, tx) = (conn.clone(), streams.clone());
    shared.runtime.spawn(Box::pin(async move {
        while let Ok((send, recv)) = c.accept_bi().await {
            if tx.send(Input::Bi(send, recv)).await.is_err() {
                break;
            }
        }
    }));
    let (c, tx) = (conn.clone(), inputs.clone());
    shared.runtime.spawn(Box::pin(async move {
        while let Ok(datagram) = c.read_datagram().await {
            if tx.send(Input::Datagram(datagram)).await.is_err() {
                break;
            }
        }
    }));
}

impl Driver {
    /// Reads the next chunk of a stream the core owns, in a task of its own.
    fn read(&self, mut recv: quinn::RecvStream) {
        let tx = self.streams_tx.clone();
        self.shared.runtime.spawn(Box::pin(async move {
            let id: u64 = recv.id().into();
            let input = match recv.read_chunk(READ_CHUNK, true).await {
                Ok(Some(chunk)) => Input::Chunk {
                    recv,
                    data: chunk.bytes,
                    fin: false,
                },
                Ok(None) => Input::Chunk {
                    recv,
                    data: Bytes::new(),
                    fin: true,
                },
                Err(quinn::ReadError::Reset(code)) => Input::Reset {
                    id,
                    code: code.into_inner(),
                },
                // Connection lost (the accept task reports it) or the
                // stream stopped by us: nothing more to read.
                Err(_) => return,
            };
            let _ = tx.send(input).await;
        }));
    }

    /// Handles one input; false when the connection is over.
    fn handle(&mut self, input: Input) -> bool {
        match input {
            Input::Uni(recv) => self.read(recv),
            Input::Bi(send, recv) => {
                self.sends.insert(recv.id().into(), send);
                self.read(recv);
            }
            Input::Chunk { recv, data, fin } => {
                let id: u64 = recv.id().into();
                match self.core.handle_stream_data(id, &data, fin) {
                    StreamRead::Consumed => {
                        if !fin {
                            self.read(recv);
                        }
                    }
                    StreamRead::Payload { header_len, .. }
                    | StreamRead::Buffered { header_len } => {
                        // Delivered on Event::IncomingStream.
                        let send = self.sends.remove(&id);
                        let first = data.slice(header_len.min(data.len())..);
                        self.parked.insert(id, Parked { recv, send, first });
                    }
                    StreamRead::Discard => {
                        self.sends.remove(&id);
                    }
                }
            }
            Input::Reset { id, code } => {
                self.core.handle_stream_reset(id, ErrorCode(code));
            }
            Input::Datagram(datagram) => self.core.handle_datagram(datagram),
            Input::StreamClosed(id) => self.core.handle_stream_closed(id),
            Input::Command(command) => self.command(command),
            Input::Lost => return false,
        }
        true
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Header { session, id, reply } => {
                let header = self
                    .core
                    .open_stream(session, id)
                    .map(|h| Bytes::copy_from_slice(h.as_bytes()))
                    .map_err(Error::from);
                let _ = reply.try_send(header);
            }
            Command::Datagram {
                session,
                payload,
                reply,
            } => {
                let result = match self
                    .core
                    .send_datagram(session, &payload, &mut self.datagram)
                {
                    Ok(()) => self
                        .conn
                        .send_datagram(Bytes::copy_from_slice(&self.datagram))
                        .map_err(|e| Error::Datagram(e.to_string())),
                    Err(e) => Err(e.into()),
                };
                let _ = reply.try_send(result);
            }
            Command::Close {
                session,
                code,
                reason,
                reply,
            } => {
                let result = self.core.close_session(session, code, &reason);
                if result.is_ok() {
                    if let Some(slot) = self.sessions.remove(&session) {
                        slot.end(SessionEnd::Closed { code, reason });
                    }
                }
                if let Some(reply) = reply {
                    let _ = reply.try_send(result.map_err(Error::from));
                }
            }
        }
    }

    /// Handles the core's events and carries out its transmits; false when
    /// the connection is over.
    async fn flush(&mut self) -> bool {
        loop {
            let mut progress = false;
            while let Some(event) = self.core.poll_event() {
                progress = true;
                self.event(event);
            }
            while let Some(transmit) = self.core.poll_transmit() {
                progress = true;
                if !self.transmit(transmit).await {
                    return false;
                }
            }
            if !progress {
                return true;
            }
        }
    }

    fn event(&mut self, event: Event) {
        match event {
            Event::SessionRequest { session, request } => {
                let path = request.path.split('?').next().unwrap_or_default();
                let Some(handler) = self.shared.routes.get(path).cloned() else {
                    let _ = self.core.reject(session, 404);
                    return;
                };
                if self.core.accept(session).is_err() {
                    return;
                }
                let depth = self.shared.config.queue;
                let (bi_tx, bi) = async_channel::bounded(depth);
                let (uni_tx, uni) = async_channel::bounded(depth);
                let (dg_tx, datagrams) = async_channel::bounded(depth);
                let (closed_tx, closed) = async_channel::bounded(1);
                let end = Arc::new(OnceLock::new());
                self.sessions.insert(
                    session,
                    Slot {
                        bi: bi_tx,
                        uni: uni_tx,
                        datagrams: dg_tx,
                        _closed: closed_tx,
                        end: end.clone(),
                    },
                );
                let queues = Queues {
                    bi,
                    uni,
                    datagrams,
                    closed,
                    end,
                };
                let session = Session::new(
                    session,
                    self.conn.clone(),
                    request,
                    (self.inputs_tx.clone(), self.streams_tx.clone()),
                    queues,
                    self.shared.runtime.clone(),
                );
                self.shared.runtime.spawn(handler(session));
            }
            Event::IncomingStream {
                session,
                stream,
                bidi,
            } => {
                let Some(parked) = self.parked.remove(&stream.0) else {
                    return;
                };
                let Some(slot) = self.sessions.get(&session) else {
                    return;
                };
                // A full queue (the handler does not accept): the stream is
                // refused; dropping quinn's halves resets and stops it.
                let _ = match (bidi, parked.send) {
                    (true, Some(send)) => {
                        slot.bi.try_send((send, parked.recv, parked.first)).is_ok()
                    }
                    (_, _) => slot.uni.try_send((parked.recv, parked.first)).is_ok(),
                };
            }
            Event::Datagram { session, payload } => {
                if let Some(slot) = self.sessions.get(&session) {
                    // Dropped when the session's queue is full.
                    let _ = slot.datagrams.try_send(payload);
                }
            }
            Event::SessionClosed { session, end } => {
                if let Some(slot) = self.sessions.remove(&session) {
                    slot.end(match end {
                        core_wt::SessionEnd::Closed { code, reason } => {
                            SessionEnd::Closed { code, reason }
                        }
                        core_wt::SessionEnd::Reset(code) => SessionEnd::Reset(code.0),
                        core_wt::SessionEnd::Error(code) => SessionEnd::Error(code.0),
                        other => SessionEnd::ConnectionLost(format!("{other:?}")),
                    });
                }
            }
            // Draining sessions keep working until they close; the others
            // need nothing here (a protocol error comes with its
            // CloseConnection transmit).
            _ => {}
        }
    }

    /// Carries out one transmit; false after closing the connection.
    async fn transmit(&mut self, transmit: Transmit) -> bool {
        match transmit {
            Transmit::Control(bytes) => {
                if self.control.is_none() {
                    match self.conn.open_uni().await {
                        Ok(send) => self.control = Some(send),
                        Err(_) => return false,
                    }
                }
                if let Some(control) = &mut self.control {
                    if control.write_chunk(bytes).await.is_err() {
                        return false;
                    }
                }
            }
            Transmit::Stream { id, data, fin } => {
                if let Some(send) = self.sends.get_mut(&id) {
                    let ok = send.write_chunk(data).await.is_ok();
                    if fin || !ok {
                        if let Some(mut send) = self.sends.remove(&id) {
                            let _ = send.finish();
                        }
                    }
                }
            }
            Transmit::ResetStream { id, code } => {
                if let Some(mut send) = self.sends.remove(&id) {
                    let _ = send.reset(varint(code.0));
                }
                if let Some(parked) = self.parked.get_mut(&id) {
                    if let Some(mut send) = parked.send.take() {
                        let _ = send.reset(varint(code.0));
                    }
                }
            }
            Transmit::StopSending { id, code } => {
                if let Some(mut parked) = self.parked.remove(&id) {
                    let _ = parked.recv.stop(varint(code.0));
                    if let Some(send) = parked.send {
                        self.sends.insert(id, send);
                    }
                }
            }
            Transmit::CloseConnection { code, reason } => {
                self.conn.close(varint(code.0), reason.as_bytes());
                return false;
            }
        }
        true
    }
}
