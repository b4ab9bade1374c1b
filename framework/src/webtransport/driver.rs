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
//!
//! The driver never waits on a write. What the core sends on a stream (its
//! control stream; responses and capsules on CONNECT streams) goes to a
//! writer task of that stream, in order, through an unbounded queue whose
//! entries are few and small (SETTINGS, GOAWAY, one response and a capsule
//! or two per session): a peer that does not read its side of these
//! streams stalls only their writer task, never the reading of the others.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, OnceLock};
use std::task::Poll;

use bytes::Bytes;
use futures_core::Stream;
use http::StatusCode;
use tidings_core::h3::ErrorCode;
use tidings_core::webtransport::{
    ConnectRequest, Connection, Event, SessionId, StreamRead, Transmit,
};

use super::Config;
use super::error::{Error, SessionEnd, varint};
use super::input::{Command, Input};
use super::outbox::Outbox;
use super::route::{self, Admitted, QuicRt};
use super::session::{CloseOnDrop, Link, Membership, Queues, Session};
use crate::hub::{ConnectionInfo, Registration};
use crate::protocol::Protocol;
use crate::server::Service;
use crate::server::middleware::{Chain, End};
use crate::user_code::CatchPanic;

/// The most bytes read from a stream the core owns at once.
const READ_CHUNK: usize = 16 * 1024;

/// What the connection tasks of one QUIC endpoint share.
pub(super) struct Shared {
    pub(super) service: Arc<Service>,
    pub(super) config: Config,
    pub(super) runtime: Arc<dyn quinn::Runtime>,
    /// QUIC connections being served.
    pub(super) connections: AtomicUsize,
    pub(super) local_addr: Option<SocketAddr>,
}

/// A session's sending ends, and what lives as long as it.
struct Slot {
    bi: super::queue::Sender<(quinn::SendStream, quinn::RecvStream, Bytes)>,
    uni: super::queue::Sender<(quinn::RecvStream, Bytes)>,
    datagrams: super::queue::Sender<Bytes>,
    /// Dropped (closing the session's `closed` channel) when it ends.
    _closed: async_channel::Sender<()>,
    end: Arc<OnceLock<SessionEnd>>,
    /// The middleware that ran: their `after` hooks run with the end
    /// (dropped before the registration: the hooks run before the hub's
    /// statistics say the session is over).
    chain: Option<Box<Chain>>,
    /// In the hub until the session ends.
    _registration: Registration,
}

impl Slot {
    fn end(mut self, end: SessionEnd) {
        if let Some(chain) = self.chain.as_mut() {
            chain.finish(End::SessionEnded(end.clone()));
        }
        let _ = self.end.set(end);
    }
}

/// A data stream between its header and its session taking it.
struct Parked {
    recv: quinn::RecvStream,
    send: Option<quinn::SendStream>,
    first: Bytes,
}

/// What a stream's writer task does, in order.
enum Write {
    Data(Bytes, bool),
    Reset(ErrorCode),
}

/// The send half of a stream the core writes on: idle, or handed to its
/// writer task.
enum Sender {
    Idle(quinn::SendStream),
    Writing(async_channel::Sender<Write>),
}

struct Driver {
    shared: Arc<Shared>,
    conn: quinn::Connection,
    core: Connection,
    inputs_tx: async_channel::Sender<Input>,
    streams_tx: async_channel::Sender<Input>,
    /// Send halves of bidirectional streams the core owns (CONNECT streams).
    sends: HashMap<u64, Sender>,
    parked: HashMap<u64, Parked>,
    sessions: HashMap<SessionId, Slot>,
    /// The writer task of this endpoint's control stream.
    control: Option<async_channel::Sender<Write>>,
    datagram: Vec<u8>,
}

/// Runs one QUIC connection to its end.
pub(super) async fn run(shared: Arc<Shared>, conn: quinn::Connection) {
    let (inputs_tx, inputs) = async_channel::bounded(shared.config.session_queue.max(1));
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
    if !driver.flush() {
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
        if !driver.handle(input) || !driver.flush() {
            break;
        }
    }
    let reason = driver
        .conn
        .close_reason()
        .map_or_else(|| "closed".into(), |e| e.to_string());
    for (_, slot) in driver.sessions.drain() {
        slot.end(SessionEnd::ConnectionLost(reason.clone()));
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

/// Writes what the driver hands over to one stream, in order, until told
/// to finish or reset it, or the stream fails.
async fn write_stream(
    mut send: Option<quinn::SendStream>,
    conn: quinn::Connection,
    writes: async_channel::Receiver<Write>,
) {
    if send.is_none() {
        // The control stream: opened by its first write.
        send = conn.open_uni().await.ok();
    }
    let Some(mut send) = send else { return };
    while let Ok(write) = writes.recv().await {
        match write {
            Write::Data(data, fin) => {
                if send.write_chunk(data).await.is_err() {
                    return;
                }
                if fin {
                    let _ = send.finish();
                    return;
                }
            }
            Write::Reset(code) => {
                let _ = send.reset(varint(code.0));
                return;
            }
        }
    }
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
                self.sends.insert(recv.id().into(), Sender::Idle(send));
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
                        let send = match self.sends.remove(&id) {
                            Some(Sender::Idle(send)) => Some(send),
                            _ => None,
                        };
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
            Input::Datagram(datagram) => {
                let before = self.core.datagrams_dropped();
                self.core.handle_datagram(datagram);
                let dropped = self.core.datagrams_dropped() - before;
                if dropped > 0 {
                    self.counters().datagrams_dropped(dropped);
                }
            }
            Input::StreamClosed(id) => self.core.handle_stream_closed(id),
            Input::Command(command) => self.command(command),
            Input::Admission {
                session,
                request,
                verdict,
            } => self.admission(session, *request, verdict),
            Input::Lost => return false,
        }
        true
    }

    fn counters(&self) -> &Arc<crate::hub::Counters> {
        self.shared.service.hub().counters()
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

    /// Handles the core's events and carries out its transmits, without
    /// waiting; false when the connection is over.
    fn flush(&mut self) -> bool {
        loop {
            let mut progress = false;
            while let Some(event) = self.core.poll_event() {
                progress = true;
                self.event(event);
            }
            while let Some(transmit) = self.core.poll_transmit() {
                progress = true;
                if !self.transmit(transmit) {
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
            Event::SessionRequest { session, request } => self.session_request(session, request),
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
                let queued = self
                    .sessions
                    .get(&session)
                    .is_some_and(|slot| slot.datagrams.try_send(payload).is_ok());
                if !queued {
                    // The session's queue is full (or it is gone).
                    self.counters().datagrams_dropped(1);
                }
            }
            Event::SessionClosed { session, end } => {
                if let Some(slot) = self.sessions.remove(&session) {
                    slot.end(end);
                }
            }
            // Draining sessions keep working until they close; the others
            // need nothing here (a protocol error comes with its
            // CloseConnection transmit).
            _ => {}
        }
    }

    /// Routes a session request through the router and its middleware in
    /// a task of its own (middleware may wait: the driver goes on reading);
    /// the verdict comes back as [`Input::Admission`].
    fn session_request(&mut self, session: SessionId, request: ConnectRequest) {
        let service = self.shared.service.clone();
        let rt = QuicRt(self.shared.runtime.clone());
        let addrs = (Some(self.conn.remote_address()), self.shared.local_addr);
        let notices = self.streams_tx.clone();
        self.shared.runtime.spawn(Box::pin(async move {
            let verdict = route::route_request(&service, &request, addrs, &rt)
                .await
                .map(Box::new);
            let _ = notices
                .send(Input::Admission {
                    session,
                    request: Box::new(request),
                    verdict,
                })
                .await;
        }));
    }

    /// Accepts a session that passed its middleware and starts its
    /// handler, or answers the CONNECT with the rejection.
    fn admission(
        &mut self,
        session: SessionId,
        request: ConnectRequest,
        verdict: Result<Box<Admitted>, StatusCode>,
    ) {
        let admitted = match verdict {
            Ok(admitted) => *admitted,
            Err(status) => {
                let status = Some(status.as_u16())
                    .filter(|s| (300..=599).contains(s))
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR.as_u16());
                let _ = self.core.reject(session, status);
                return;
            }
        };
        let service = &self.shared.service;
        let runtime = self.shared.runtime.clone();
        let clock = move || runtime.now();
        let addrs = (Some(self.conn.remote_address()), self.shared.local_addr);
        if self.core.accept(session).is_err() {
            return;
        }
        let depth = self.shared.config.session_queue.max(1);
        let (bi_tx, bi) = super::queue::bounded(depth);
        let (uni_tx, uni) = super::queue::bounded(depth);
        let (dg_tx, datagrams) = super::queue::bounded(depth);
        let (closed_tx, closed) = async_channel::bounded(1);
        let end = Arc::new(OnceLock::new());
        let link = Link {
            id: session,
            conn: self.conn.clone(),
            inputs: self.inputs_tx.clone(),
            notices: self.streams_tx.clone(),
            runtime: self.shared.runtime.clone(),
        };
        let hub = service.hub().clone();
        let id: Arc<str> = Arc::from(service.next_stream_id("wt"));
        let values = Arc::new(admitted.ctx.values.clone());
        let outbox = Outbox::start(
            link.clone(),
            admitted.mode,
            self.shared.config.core.max_datagram_size,
            hub.counters().clone(),
            values.clone(),
        );
        let registration = hub.register(
            ConnectionInfo {
                id: id.clone(),
                protocol: Protocol::WebTransport,
                route: admitted.route,
                remote_addr: addrs.0,
                started_at: clock(),
            },
            outbox,
            admitted.policy,
        );
        self.sessions.insert(
            session,
            Slot {
                bi: bi_tx,
                uni: uni_tx,
                datagrams: dg_tx,
                _closed: closed_tx,
                end: end.clone(),
                _registration: registration,
                chain: admitted.chain,
            },
        );
        let close = Arc::new(CloseOnDrop {
            link: link.clone(),
            end: end.clone(),
        });
        let session = Session::new(
            link.clone(),
            request,
            Queues {
                bi,
                uni,
                datagrams,
                closed,
                end,
            },
            Membership { hub, id, values },
            self.shared.config.max_message_size,
            close.clone(),
        );
        let handler = admitted.handler;
        let ctx = admitted.ctx;
        self.shared.runtime.spawn(Box::pin(async move {
            let outcome = match crate::user_code::catch_panic(|| handler.call(ctx, session)) {
                Some(future) => CatchPanic(future).await,
                None => None,
            };
            match outcome {
                Some(Ok(())) => {}
                Some(Err(error)) => {
                    let reason = error.to_string();
                    let cut = (0..=reason.len().min(1024))
                        .rev()
                        .find(|&n| reason.is_char_boundary(n))
                        .unwrap_or(0);
                    link.close_now(super::HANDLER_ERROR, &reason[..cut]);
                }
                None => link.close_now(super::HANDLER_ERROR, "handler panicked"),
            }
            // The session closes (code 0) now unless the handler left a
            // clone of it alive, or it is closed already.
            drop(close);
        }));
    }

    /// Hands `write` to stream `id`'s writer task (started on its first
    /// write); false if the stream is not one the core writes on.
    fn write(&mut self, id: u64, write: Write) -> bool {
        let sender = match self.sends.remove(&id) {
            Some(Sender::Writing(tx)) => tx,
            Some(Sender::Idle(send)) => {
                let (tx, rx) = async_channel::unbounded();
                let task = write_stream(Some(send), self.conn.clone(), rx);
                self.shared.runtime.spawn(Box::pin(task));
                tx
            }
            None => return false,
        };
        let last = matches!(write, Write::Data(_, true) | Write::Reset(_));
        let _ = sender.try_send(write);
        if !last {
            self.sends.insert(id, Sender::Writing(sender));
        }
        true
    }

    /// Carries out one transmit; false after closing the connection.
    fn transmit(&mut self, transmit: Transmit) -> bool {
        match transmit {
            Transmit::Control(bytes) => {
                let control = self.control.get_or_insert_with(|| {
                    let (tx, rx) = async_channel::unbounded();
                    let task = write_stream(None, self.conn.clone(), rx);
                    self.shared.runtime.spawn(Box::pin(task));
                    tx
                });
                let _ = control.try_send(Write::Data(bytes, false));
            }
            Transmit::Stream { id, data, fin } => {
                self.write(id, Write::Data(data, fin));
            }
            Transmit::ResetStream { id, code } => {
                if !self.write(id, Write::Reset(code)) {
                    if let Some(parked) = self.parked.get_mut(&id) {
                        if let Some(mut send) = parked.send.take() {
                            let _ = send.reset(varint(code.0));
                        }
                    }
                }
            }
            Transmit::StopSending { id, code } => {
                if let Some(mut parked) = self.parked.remove(&id) {
                    let _ = parked.recv.stop(varint(code.0));
                    if let Some(send) = parked.send {
                        self.sends.insert(id, Sender::Idle(send));
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
