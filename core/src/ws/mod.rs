//! The WebSocket connection state machine (RFC 6455 §5-§7), one per connection.
//!
//! [`Connection`] turns bytes from the peer into [`Event`]s and local requests
//! into bytes for the peer. It owns no socket and reads no clock: the caller
//! feeds it input, drains its output and tells it the time.
//!
//! ```
//! use std::time::Instant;
//! # use tidings_core::ws::{Config, Connection, Event, Message, Outgoing, Role};
//!
//! // `now` comes from the caller's clock (an adapter, a test's virtual clock).
//! fn exchange(now: Instant) {
//!     let mut client = Connection::new(Role::Client { mask_seed: [42; 32] }, Config::default(), now);
//!     let mut server = Connection::new(Role::Server, Config::default(), now);
//!
//!     client.send(Outgoing::Text("hello")).unwrap();
//!     let mut wire = Vec::new();
//!     let _ = client.poll_transmit(&mut wire);
//!     server.handle_input(now, &wire);
//!     match server.poll_event() {
//!         Some(Event::Message(Message::Text(text))) => assert_eq!(text, "hello"),
//!         other => panic!("unexpected {other:?}"),
//!     }
//! }
//! # exchange(<Instant>::now());
//! ```

mod config;
mod error;
mod event;
mod input;
mod large;
mod mask_keys;
mod message;
mod transmit;
mod utf8;

use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, BufMut, Bytes, BytesMut};

pub use config::{Config, Role};
pub use error::{ProtocolError, SendError};
pub use event::{CloseCause, CloseFrame, Closed, Event, TimeoutKind};
pub use input::InputBuffer;
pub use message::{Message, Outgoing, Utf8Bytes};
pub use transmit::SharedFrame;

use crate::close::CloseCode;
use crate::deflate::{Codec, DeflateParams, InflateError};
use crate::frame::{
    DecodeRules, FrameError, FrameHeader, MAX_CONTROL_PAYLOAD, MaskRule, OpCode, RSV1, apply_mask,
};
use large::{LARGE_FRAME, LargePayload};
use mask_keys::MaskKeys;
use transmit::{TxQueue, encode_frame, encode_header, for_each_fragment};
use utf8::Utf8Validator;

/// The most automatic pong replies kept waiting for `poll_transmit`; pings
/// beyond that are reported but not answered, so a peer that pings without
/// reading cannot grow the output buffer (RFC 6455 §5.5.3 allows answering
/// only the most recent ping).
const MAX_PENDING_PONGS: u8 = 16;

/// The smallest payload [`Connection::send_message`] queues without copying
/// it (below, a copy costs less than another buffer to write).
pub const ZERO_COPY_MIN: usize = 4 << 10;

/// The longest close reason in bytes: a control payload is at most 125
/// bytes, two of which are the code.
pub const MAX_CLOSE_REASON: usize = MAX_CONTROL_PAYLOAD - 2;

/// Where a connection is in its life (the states of RFC 6455 §4-§7, after the
/// opening handshake, which the [`handshake`](crate::handshake) module does).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// This endpoint sent a close frame and waits for the peer's.
    Closing,
    /// Both close frames were exchanged; a client waits for the server to
    /// close the transport (RFC 6455 §7.1.1). Servers skip this state.
    AwaitingEof,
    /// Over: the [`Event::Closed`] event says how.
    Closed,
}

/// One WebSocket connection's protocol state, for either role.
///
/// # Call order for an adapter
///
/// 1. Create it with [`Connection::new`] once the opening handshake is done,
///    and feed it the bytes that followed the handshake head, if any.
/// 2. Whenever bytes arrive, call [`handle_input`](Self::handle_input); at end
///    of stream, [`handle_eof`](Self::handle_eof).
/// 3. After each input, timeout or local call, drain
///    [`poll_event`](Self::poll_event) until it returns `None`, then write out
///    what [`poll_transmit`](Self::poll_transmit) gives.
/// 4. Sleep until [`poll_timeout`](Self::poll_timeout) (re-read it after every
///    call) and then call [`handle_timeout`](Self::handle_timeout); spurious
///    or early calls are harmless.
/// 5. After [`Event::Closed`], flush `poll_transmit` one last time and close
///    the transport.
///
/// Local requests are [`send`](Self::send) and [`close`](Self::close).
#[derive(Debug)]
pub struct Connection {
    /// Shared by every connection of a server (it never changes).
    config: Arc<Config>,
    state: State,
    /// The RSV bits a frame may carry (RSV1 once permessage-deflate is on)
    /// and the masking rule of the role: with the configuration's largest
    /// frame, the [`DecodeRules`] of every header (see
    /// [`decode_rules`](Self::decode_rules)). Kept as two bytes rather than
    /// the rules' 16 (their `u64` limit is the configuration's), in every
    /// connection's state.
    allowed_rsv: u8,
    mask_rule: MaskRule,
    /// `Some` for the client role (boxed: a server never has one).
    mask_keys: Option<Box<MaskKeys>>,
    /// Received bytes not yet consumed: the current frame's payload (its
    /// first `FrameInProgress::done` bytes already unmasked) and what follows.
    rx: BytesMut,
    /// The frame whose header has been read but whose payload is incomplete.
    frame: Option<FrameInProgress>,
    /// Whether the payload of the frame in progress belongs to a text
    /// message (UTF-8 is checked as it arrives). Set when a frame begins;
    /// here rather than in [`FrameInProgress`], where it would take 8
    /// bytes with padding, in every connection's state.
    frame_text: bool,
    /// A fragmented message being reassembled (boxed: most messages are
    /// not fragmented, and an idle connection has none).
    message: Option<Box<PartialMessage>>,
    utf8: Utf8Validator,
    /// permessage-deflate, when negotiated (see [`Connection::with_deflate`]).
    deflate: Option<Box<Deflate>>,
    /// Encoded frames waiting for `poll_transmit`: own and shared, in order.
    tx: TxQueue,
    /// At most [`MAX_PENDING_PONGS`].
    pending_pongs: u8,
    eof: bool,
    /// The latest data frame was received apart (see [`large`]) and no
    /// frame has begun since: the next one likely is large too (see
    /// [`expects_large_frame`](Self::expects_large_frame)).
    large_expected: bool,
    /// Whether this endpoint started the close handshake.
    closed_locally: bool,
    /// The close handshake's state, allocated when it starts (an open
    /// connection carries only the pointer).
    closing: Option<Box<Closing>>,
    /// The time of the latest input, for timers set by received frames
    /// (the pong wait runs from it: [`pong_deadline`](Self::pong_deadline)).
    last_input_at: Instant,
    next_ping: Option<Instant>,
    idle_deadline: Option<Instant>,
}

/// What only the close handshake and the end need.
#[derive(Debug, Default)]
struct Closing {
    sent: Option<CloseFrame>,
    received: Option<CloseFrame>,
    /// The terminal event, once the state is `Closed` and until it is polled.
    event: Option<Closed>,
    deadline: Option<Instant>,
}

#[derive(Debug)]
struct FrameInProgress {
    /// Its payload length is `len()`: checked to fit a `usize` (and the
    /// size limits) before the frame is begun.
    header: FrameHeader,
    /// How many payload bytes (at the start of `rx`, or of `large`) are
    /// unmasked and validated.
    done: usize,
    /// The payload of a large unfragmented data frame, received apart from
    /// `rx` (see [`large`]); `rx` then holds only what comes after it.
    large: Option<Box<LargePayload>>,
}

impl FrameInProgress {
    /// The payload length.
    fn len(&self) -> usize {
        usize::try_from(self.header.payload_len).unwrap_or(usize::MAX)
    }
}

#[derive(Debug)]
struct PartialMessage {
    text: bool,
    data: BytesMut,
    /// For a compressed message: what has been inflated so far (`data` then
    /// stays empty).
    inflated: Option<Vec<u8>>,
}

/// The permessage-deflate codec and a reused buffer for outgoing messages.
#[derive(Debug)]
struct Deflate {
    codec: Codec,
    scratch: Vec<u8>,
}

/// A compression buffer larger than this is freed after the message instead
/// of being kept for the next one.
const MAX_KEPT_SCRATCH: usize = 64 << 10;

/// What one step of the reader produced.
enum Step {
    Event(Event),
    /// A frame was consumed without producing an event (a fragment, a close).
    Continue,
    NeedMore,
}

impl Connection {
    /// A connection in the [`State::Open`] state, as after a successful
    /// opening handshake at `now`.
    ///
    /// A zero `ping_period`, `pong_wait` or `idle_timeout` is treated as
    /// `None` (disabled): a zero period would make the timer due forever.
    ///
    /// `config` may be an `Arc<Config>` shared by many connections (a
    /// server's): each connection then keeps only a pointer to it.
    pub fn new(role: Role, config: impl Into<Arc<Config>>, now: Instant) -> Self {
        let config = Config::disable_zero_timers(config.into());
        let (mask_keys, mask) = match role {
            Role::Server => (None, MaskRule::Required),
            Role::Client { mask_seed } => (
                Some(Box::new(MaskKeys::new(mask_seed))),
                MaskRule::Forbidden,
            ),
        };
        Connection {
            state: State::Open,
            allowed_rsv: 0,
            mask_rule: mask,
            mask_keys,
            rx: BytesMut::new(),
            frame: None,
            frame_text: false,
            message: None,
            utf8: Utf8Validator::default(),
            deflate: None,
            tx: TxQueue::default(),
            pending_pongs: 0,
            eof: false,
            large_expected: false,
            closed_locally: false,
            closing: None,
            last_input_at: now,
            next_ping: config.ping_period.map(|period| now + period),
            idle_deadline: config.idle_timeout.map(|idle| now + idle),
            config,
        }
    }

    /// Turns on permessage-deflate with the parameters the handshake agreed
    /// on ([`Accepted::deflate`](crate::handshake::Accepted::deflate) or
    /// [`Negotiated::deflate`](crate::handshake::Negotiated::deflate)); `None`
    /// leaves it off. Level and threshold come from
    /// [`Config::deflate`](Config#structfield.deflate) (its defaults if unset).
    ///
    /// Frames with RSV1 are then accepted as compressed messages, and data
    /// messages at or above the threshold are sent compressed.
    #[must_use]
    pub fn with_deflate(mut self, params: Option<DeflateParams>) -> Self {
        self.deflate = params.map(|params| {
            let config = self.config.deflate.clone().unwrap_or_default();
            let is_server = self.mask_keys.is_none();
            Box::new(Deflate {
                codec: Codec::new(params, &config, is_server),
                scratch: Vec::new(),
            })
        });
        self.allowed_rsv = if self.deflate.is_some() { RSV1 } else { 0 };
        self
    }

    /// The permessage-deflate parameters in force, if it was negotiated.
    pub fn deflate_params(&self) -> Option<&DeflateParams> {
        self.deflate.as_ref().map(|deflate| deflate.codec.params())
    }

    /// Whether a payload from a
    /// [`SharedCompressor`](crate::deflate::SharedCompressor) with this
    /// `window_bits` may be sent on this connection as a data frame with
    /// RSV1: permessage-deflate is on, this side resets its compressor after
    /// each message (no context takeover for its direction) and its window
    /// is at least that large.
    pub fn accepts_shared_compression(&self, window_bits: u8) -> bool {
        self.deflate
            .as_ref()
            .is_some_and(|deflate| deflate.codec.accepts_shared(window_bits))
    }

    /// The current state.
    #[inline]
    pub fn state(&self) -> State {
        self.state
    }

    /// The configuration this connection was created with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Bytes encoded and waiting for [`poll_transmit`](Self::poll_transmit):
    /// the outgoing queue (own and shared frames), for back-pressure decisions.
    #[inline]
    pub fn pending_transmit(&self) -> usize {
        self.tx.len()
    }

    /// [`SharedFrame`]s queued and not yet taken by
    /// [`poll_transmit`](Self::poll_transmit) or
    /// [`poll_transmit_chunk`](Self::poll_transmit_chunk).
    #[inline]
    pub fn pending_shared_frames(&self) -> usize {
        self.tx.shared_frames()
    }

    /// Drops every queued frame not yet taken for transmission, own and
    /// shared (what was taken already is the caller's to finish writing).
    ///
    /// For a slow-consumer policy: discard the backlog, then
    /// [`close`](Self::close) so the close frame is the next thing sent. A
    /// close frame queued before is dropped too, so call it while the state
    /// is [`State::Open`].
    pub fn discard_transmit(&mut self) {
        self.tx.clear();
        self.pending_pongs = 0;
    }

    /// Bytes received and not yet turned into events (a partial frame, or
    /// frames not yet polled).
    #[inline]
    pub fn pending_input(&self) -> usize {
        self.rx.len()
            + self
                .frame
                .as_ref()
                .and_then(|frame| frame.large.as_ref())
                .map_or(0, |large| large.received())
            + self.message.as_ref().map_or(0, |m| {
                m.data.len() + m.inflated.as_ref().map_or(0, Vec::len)
            })
    }

    /// Feeds bytes received from the peer. They are parsed lazily by
    /// [`poll_event`](Self::poll_event). Input after the close handshake is
    /// ignored (RFC 6455 §5.5.1: no data after close).
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) {
        if !self.accepts_input() || data.is_empty() {
            return;
        }
        let data = self.begin_large_frame(data);
        let taken = match self.large_payload() {
            Some(large) => large.extend(data),
            None => 0,
        };
        self.rx
            .extend_from_slice(data.get(taken..).unwrap_or_default());
        self.input_arrived(now);
    }

    /// Room for `len` bytes of input to be read into directly (see
    /// [`InputBuffer`]): at the end of the receive buffer, or after the
    /// received part of a large frame, in that frame's own buffer. For
    /// large frames this spares [`handle_input`](Self::handle_input)'s copy. Size it with
    /// [`input_wanted`](Self::input_wanted), which bounds how fast the
    /// buffer grows.
    pub fn input_buffer(&mut self, len: usize) -> InputBuffer<'_> {
        InputBuffer::new(self, len)
    }

    /// Whether the next input likely starts with the header of a large
    /// frame: the latest data frame was large (received apart from the
    /// receive buffer), nothing is buffered and no frame is in progress.
    /// Input read then through [`input_buffer`](Self::input_buffer) goes
    /// into a recycled buffer that becomes the frame's own if the frame is
    /// large (no copy of the payload's first bytes), or is copied into the
    /// receive buffer if not (as by [`handle_input`](Self::handle_input)).
    #[inline]
    pub fn expects_large_frame(&self) -> bool {
        self.large_expected && self.frame.is_none() && self.rx.is_empty() && self.accepts_input()
    }

    /// Input read into `payload`'s room (its first `read` bytes) while a
    /// large frame was expected and nothing was buffered: the frame it
    /// begins, in place, if that frame is large; else the bytes go into
    /// `rx` as [`handle_input`](Self::handle_input) would put them, and
    /// the buffer back to the pool.
    fn begin_in_place(&mut self, mut payload: Box<LargePayload>, read: usize) {
        if read == 0 {
            // Nothing arrived (the read would block): still expected.
            payload.recycle();
            return;
        }
        let data = payload.head(read);
        let begun = match FrameHeader::decode(data, &self.decode_rules()) {
            // Large counting what arrived too: a frame that arrived whole
            // is in its buffer already, and stays there.
            Ok(Some((header, header_len))) if self.is_large(&header, 0) => self
                .begin_frame(header)
                .ok()
                .map(|frame| (frame, header_len)),
            // Not large, incomplete or refused: parsed from `rx` as any
            // other input (a refused header is reported then).
            _ => None,
        };
        match begun {
            Some((mut frame, header_len)) => {
                let rest = payload.begin_in_place(header_len, frame.len(), read);
                self.rx.extend_from_slice(rest);
                frame.large = Some(payload);
                self.frame = Some(frame);
            }
            None => {
                self.large_expected = false;
                self.rx.extend_from_slice(data);
                payload.recycle();
            }
        }
    }

    /// Whether input is still taken (not after the close handshake: RFC
    /// 6455 §5.5.1, no data after close).
    fn accepts_input(&self) -> bool {
        matches!(self.state, State::Open | State::Closing)
    }

    /// What a received frame header is checked against.
    #[inline]
    fn decode_rules(&self) -> DecodeRules {
        DecodeRules {
            allowed_rsv: self.allowed_rsv,
            mask: self.mask_rule,
            max_payload: u64::try_from(self.config.max_frame_size).unwrap_or(u64::MAX),
        }
    }

    /// Input arrived at `now`: it proves the peer alive.
    fn input_arrived(&mut self, now: Instant) {
        self.last_input_at = now;
    }

    /// When the peer is given up for dead: the pong wait after its latest
    /// input (computed, not stored: input arrives far more often than the
    /// deadline is looked at).
    fn pong_deadline(&self) -> Option<Instant> {
        self.config.pong_wait.map(|wait| self.last_input_at + wait)
    }

    /// A size for the next read: the bytes the frame being received still
    /// lacks, if the receive buffer's allocation holds them already (it is
    /// taken back from delivered messages once they are dropped), else no
    /// more than the buffer's capacity (reading them at most doubles it, so
    /// a header announcing a large frame makes the buffer grow no faster
    /// than its bytes arrive); 0 between frames, unless a large frame is
    /// expected ([`expects_large_frame`](Self::expects_large_frame)): then
    /// the length of the recycled buffer it would be read into (it held a
    /// whole earlier frame, and needs no zeroing), so that the next frame
    /// can arrive in one read. Never allocates.
    #[inline]
    pub fn input_wanted(&mut self) -> usize {
        // Between frames with no large one expected (most calls): inlined
        // into the caller.
        if self.frame.is_none() && !self.large_expected {
            return 0;
        }
        self.input_wanted_in_frame()
    }

    /// [`input_wanted`](Self::input_wanted) within a frame, or when a large
    /// frame is expected.
    fn input_wanted_in_frame(&mut self) -> usize {
        let Some(frame) = &self.frame else {
            return if self.expects_large_frame() {
                large::pooled_len()
            } else {
                0
            };
        };
        if let Some(large) = &frame.large {
            // The same bound for a frame received apart: the room its
            // buffer has (a recycled buffer held a whole earlier frame),
            // else at most as much again as has arrived.
            return large.missing().min(large.spare().max(large.received()));
        }
        let missing = frame.len().saturating_sub(self.rx.len());
        if self.rx.try_reclaim(missing) {
            return missing;
        }
        missing.min(self.rx.capacity())
    }

    /// Reports that the peer closed its side of the transport. Frames already
    /// received are still delivered; then the connection ends (cleanly if the
    /// close handshake was done, else with [`CloseCause::Eof`]).
    pub fn handle_eof(&mut self, _now: Instant) {
        self.eof = true;
    }

    /// Fires the timers that are due at `now`: keep-alive ping, pong wait,
    /// idle timeout, close-handshake timeout. Calls before a deadline do
    /// nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due = |deadline: Option<Instant>| deadline.is_some_and(|at| at <= now);
        match self.state {
            State::Open => {
                if due(self.pong_deadline()) {
                    self.finish(CloseCause::Timeout(TimeoutKind::PongWait));
                } else if due(self.idle_deadline) {
                    self.start_close(now, CloseCode::GOING_AWAY, "idle timeout");
                } else if due(self.next_ping) {
                    self.write_frame(OpCode::Ping, true, &[]);
                    self.next_ping = self.config.ping_period.map(|period| now + period);
                }
            }
            State::Closing if due(self.close_deadline()) => {
                self.finish(CloseCause::Timeout(TimeoutKind::CloseHandshake));
            }
            State::AwaitingEof if due(self.close_deadline()) => {
                // The handshake itself completed; only the server's FIN is late.
                let cause = self.clean_cause();
                self.finish(cause);
            }
            _ => {}
        }
    }

    /// The earliest instant at which [`handle_timeout`](Self::handle_timeout)
    /// has work to do, or `None` when no timer is armed.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            // Pairwise, not through an iterator: the pump asks on every
            // poll, and this form costs a fraction of `flatten().min()`.
            State::Open => earliest(
                earliest(self.next_ping, self.pong_deadline()),
                self.idle_deadline,
            ),
            State::Closing | State::AwaitingEof => self.close_deadline(),
            State::Closed => None,
        }
    }

    /// Queues a data message or a ping/pong.
    ///
    /// Data messages are split into frames of at most
    /// [`Config::max_outgoing_frame_size`] bytes when that is set. Fails
    /// without queuing anything once the close handshake has started.
    pub fn send(&mut self, message: Outgoing<'_>) -> Result<(), SendError> {
        if self.state != State::Open {
            return Err(SendError::Closed);
        }
        match message {
            Outgoing::Text(text) => self.write_data(OpCode::Text, text.as_bytes()),
            Outgoing::Binary(bytes) => self.write_data(OpCode::Binary, bytes),
            Outgoing::Ping(payload) | Outgoing::Pong(payload)
                if payload.len() > MAX_CONTROL_PAYLOAD =>
            {
                return Err(SendError::ControlPayloadTooLong(payload.len()));
            }
            Outgoing::Ping(payload) => self.write_frame(OpCode::Ping, true, payload),
            Outgoing::Pong(payload) => self.write_frame(OpCode::Pong, true, payload),
        }
        Ok(())
    }

    /// Queues a message, as `send(Outgoing::from(message))` does; but for a
    /// server without compression, a payload of [`ZERO_COPY_MIN`] bytes or
    /// more going in one frame is queued as it is (its bytes shared, not
    /// copied): an echoed 64 KiB message is then never copied.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub fn send_message(&mut self, message: &Message) -> Result<(), SendError> {
        let payload = message.payload();
        let opcode = match message {
            Message::Text(_) => OpCode::Text,
            Message::Binary(_) => OpCode::Binary,
        };
        // A small message of an uncompressed connection (most echoes and
        // replies) goes straight to its frame, without the general path's calls.
        if self.state == State::Open
            && self.deflate.is_none()
            && self.write_small_frame(opcode, 0, payload)
        {
            return Ok(());
        }
        let one_frame = self
            .config
            .max_outgoing_frame_size
            .is_none_or(|max| max == 0 || max >= payload.len());
        if self.state != State::Open
            || self.mask_keys.is_some()
            || self.deflate.is_some()
            || payload.len() < ZERO_COPY_MIN
            || !one_frame
        {
            return self.send(Outgoing::from(message));
        }
        let header = FrameHeader {
            fin: true,
            rsv: 0,
            opcode,
            mask: None,
            payload_len: payload.len() as u64,
        };
        encode_header(&mut self.tx.staging, &header);
        self.tx.push_own(payload.clone());
        Ok(())
    }

    /// Queues a message encoded once for many connections (a broadcast),
    /// sharing its bytes: no copy.
    ///
    /// Server role only: a client must mask every frame with its own keys,
    /// so a pre-encoded frame cannot be shared; send the message with
    /// [`send`](Self::send) there.
    ///
    /// # Errors
    /// [`SendError::Closed`] once the close handshake has started;
    /// [`SendError::SharedFrameOnClient`] for the client role.
    pub fn send_shared(&mut self, frame: &SharedFrame) -> Result<(), SendError> {
        if self.state != State::Open {
            return Err(SendError::Closed);
        }
        if self.mask_keys.is_some() {
            return Err(SendError::SharedFrameOnClient);
        }
        self.tx.push_shared(frame);
        Ok(())
    }

    /// Starts the close handshake with `code` and `reason` at `now`: queues
    /// the close frame and arms the close timeout. No message can be sent
    /// afterwards; messages the peer sends before its close frame are still
    /// delivered.
    pub fn close(&mut self, now: Instant, code: CloseCode, reason: &str) -> Result<(), SendError> {
        if self.state != State::Open {
            return Err(SendError::Closed);
        }
        if !code.is_valid_on_wire() {
            return Err(SendError::InvalidCloseCode(code.0));
        }
        if reason.len() > MAX_CLOSE_REASON {
            return Err(SendError::CloseReasonTooLong(reason.len()));
        }
        self.start_close(now, code, reason);
        Ok(())
    }

    /// The next event, or `None` when more input (or a timeout) is needed.
    ///
    /// Parses buffered input as far as needed for one event: call it until it
    /// returns `None` after every input. Replies (pongs, the close reply) are
    /// queued for [`poll_transmit`](Self::poll_transmit) as frames are read.
    #[must_use]
    #[inline]
    pub fn poll_event(&mut self) -> Option<Event> {
        if !self.may_have_event() {
            // Nothing to parse and no end to report: the common call, once
            // per message, after the input has been taken. Inlined into the
            // caller, which then skips its handling of an event.
            return None;
        }
        if let Some(message) = self.read_whole_message() {
            return Some(Event::Message(message));
        }
        self.parse_event()
    }

    /// Whether [`poll_event`](Self::poll_event) may return an event: `false`
    /// when there is no input to parse and no end to report, so that a
    /// caller can skip its event handling (and the call) altogether.
    #[must_use]
    #[inline]
    pub fn may_have_event(&self) -> bool {
        !(self.rx.is_empty()
            && self.frame.is_none()
            && !self.eof
            && matches!(self.state, State::Open | State::Closing))
    }

    /// [`poll_event`](Self::poll_event) when there is input to parse or an
    /// end to report.
    fn parse_event(&mut self) -> Option<Event> {
        loop {
            match self.state {
                State::Closed => {
                    return self
                        .closing
                        .as_mut()
                        .and_then(|closing| closing.event.take())
                        .map(|closed| Event::Closed(Box::new(closed)));
                }
                State::AwaitingEof => {
                    if !self.eof {
                        return None;
                    }
                    let cause = self.clean_cause();
                    self.finish(cause);
                    continue;
                }
                State::Open | State::Closing => {}
            }
            match self.read_step() {
                Ok(Step::Event(event)) => return Some(event),
                Ok(Step::Continue) => {}
                Ok(Step::NeedMore) if self.eof => self.finish(CloseCause::Eof),
                Ok(Step::NeedMore) => return None,
                Err(error) => self.fail(error),
            }
        }
    }

    /// Copies the encoded output, in order, into `out` and returns how many
    /// bytes were added. Passing the same (drained) buffer back each time
    /// costs no allocation in steady state. To write shared frames without
    /// copying them, use [`poll_transmit_chunk`](Self::poll_transmit_chunk).
    #[must_use]
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        let n = self.tx.len();
        out.reserve(n);
        while let Some(chunk) = self.tx.pop_chunk() {
            out.extend_from_slice(&chunk);
        }
        self.pending_pongs = 0;
        n
    }

    /// The next piece of encoded output, in order, without copying: the
    /// connection's own frames as one chunk, or a [`SharedFrame`]'s bytes
    /// as they were queued. `None` when nothing is waiting.
    ///
    /// The own-frame chunks come from a reused buffer: once the caller drops
    /// a chunk (after writing it), its allocation serves the next frames.
    #[must_use]
    pub fn poll_transmit_chunk(&mut self) -> Option<Bytes> {
        let chunk = self.tx.pop_chunk();
        if self.tx.len() == 0 {
            self.pending_pongs = 0;
        }
        chunk
    }

    /// Takes the encoded output into `buf` without a reference count or a
    /// new allocation, when it is only the connection's own frames (no
    /// [`SharedFrame`] or payload queued apart) and `buf` is empty: the two
    /// buffers are swapped, so `buf`'s allocation (kept by the caller after
    /// writing, e.g. with [`BytesMut::clear`]) holds the next frames. Returns
    /// whether it took anything; if not, take the output with
    /// [`poll_transmit_chunk`](Self::poll_transmit_chunk).
    ///
    /// ```
    /// use std::time::Instant;
    /// use bytes::BytesMut;
    /// # use tidings_core::ws::{Config, Connection, Outgoing, Role};
    ///
    /// // `now` comes from the caller's clock.
    /// fn send_and_take(now: Instant) {
    ///     let mut server = Connection::new(Role::Server, Config::default(), now);
    ///     let mut out = BytesMut::new();
    ///     server.send(Outgoing::Text("hi")).unwrap();
    ///     assert!(server.poll_transmit_into(&mut out));
    ///     assert_eq!(&out[..], b"\x81\x02hi");
    ///     assert_eq!(server.pending_transmit(), 0);
    ///     out.clear(); // written: its allocation serves the next swap
    /// }
    /// # send_and_take(<Instant>::now());
    /// ```
    pub fn poll_transmit_into(&mut self, buf: &mut BytesMut) -> bool {
        if !self.tx.swap_staging(buf) {
            return false;
        }
        self.pending_pongs = 0;
        true
    }

    // ---- reading -------------------------------------------------------

    /// Reads as much of one frame as has arrived.
    fn read_step(&mut self) -> Result<Step, ProtocolError> {
        let mut frame = match self.frame.take() {
            Some(frame) => frame,
            None => match FrameHeader::decode(&self.rx, &self.decode_rules())? {
                Some((header, header_len)) => {
                    // `decode` returns a header only once all `header_len`
                    // bytes are in `rx` (it reads them with `get`).
                    self.rx.advance(header_len);
                    let mut frame = self.begin_frame(header)?;
                    self.receive_apart_if_large(&mut frame);
                    frame
                }
                None => return Ok(Step::NeedMore),
            },
        };
        // The payload bytes received since the last step: in the frame's
        // own buffer, or at the start of `rx`.
        let (piece, received) = match frame.large.as_deref_mut() {
            Some(large) => {
                let received = large.received();
                (large.received_from(frame.done), received)
            }
            None => {
                let available = self.rx.len().min(frame.len()).max(frame.done);
                // `frame.done <= available <= rx.len()`: never empty by mistake.
                let piece = self.rx.get_mut(frame.done..available);
                (piece.unwrap_or_default(), available)
            }
        };
        if let Some(key) = frame.header.mask {
            apply_mask(piece, key, frame.done);
        }
        if self.frame_text {
            self.utf8
                .feed(piece)
                .map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        frame.done = received;
        if frame.done < frame.len() {
            self.frame = Some(frame);
            return Ok(Step::NeedMore);
        }
        if let Some(large) = frame.large.take() {
            self.large_expected = true;
            // Only unfragmented, uncompressed data frames are received apart.
            return self.finish_message(frame.header.opcode == OpCode::Text, large.into_bytes());
        }
        let len = frame.len();
        self.complete_frame(frame.header, len)
    }

    /// Reads a message that is one whole frame already in `rx` (most
    /// messages): a final, uncompressed data frame, between frames, with no
    /// message in progress and within the size limit. In one go, what the
    /// general path ([`parse_event`](Self::parse_event): the header's
    /// checks, the received piece, `complete_frame`) does in steps for it,
    /// and without its event plumbing. `None`, with nothing consumed, for
    /// any other input (the general path then takes it); `None` after
    /// failing the connection for a text that is not UTF-8 (the general
    /// path then reports the end).
    fn read_whole_message(&mut self) -> Option<Message> {
        // The first byte shows FIN, the RSV bits and the opcode: only a
        // final, uncompressed text or binary frame is decoded here.
        let &[first, second, ..] = self.rx.as_ref() else {
            return None;
        };
        if first & 0xf0 != 0x80
            || !matches!(first & 0x0f, 0x1 | 0x2)
            || self.frame.is_some()
            || self.message.is_some()
            || !matches!(self.state, State::Open | State::Closing)
        {
            return None;
        }
        // The rest of the header, as `FrameHeader::decode` reads it for
        // such a frame; anything it could refuse (the masking rule broken,
        // a length over a limit, a 64-bit length) is left to it.
        let (len, mut header_len) = match second & 0x7f {
            126 => (
                usize::from(u16::from_be_bytes(self.rx.get(2..4)?.try_into().ok()?)),
                4,
            ),
            127 => return None,
            len => (usize::from(len), 2),
        };
        let masked = second & 0x80 != 0;
        let mask = match (self.mask_rule, masked) {
            (MaskRule::Required, false) | (MaskRule::Forbidden, true) => return None,
            (_, true) => {
                let key: [u8; 4] = self.rx.get(header_len..header_len + 4)?.try_into().ok()?;
                header_len += 4;
                Some(key)
            }
            (_, false) => None,
        };
        if len > self.config.max_frame_size
            || len > self.config.max_message_size
            || self.rx.len() - header_len < len
        {
            return None;
        }
        let text = first & 0x0f == 0x1;
        let payload = self
            .rx
            .get_mut(header_len..header_len + len)
            .unwrap_or_default();
        if let Some(key) = mask {
            apply_mask(payload, key, 0);
        }
        if text && self.utf8.feed(payload).is_err() {
            self.fail(ProtocolError::InvalidUtf8);
            return None;
        }
        // The frame split off whole, its header then skipped in the shared
        // bytes (a pointer moved), rather than advanced past in `rx`.
        let mut payload = self.rx.split_to(header_len + len).freeze();
        payload.advance(header_len);
        match self.finish_data(text, payload) {
            Ok(message) => Some(message),
            Err(error) => {
                self.fail(error);
                None
            }
        }
    }

    /// Moves a new frame's payload out of `rx` into a [`LargePayload`] if
    /// it is an unfragmented, uncompressed data frame with at least
    /// [`LARGE_FRAME`] bytes still to arrive (the header's checks passed:
    /// no message is in progress).
    fn receive_apart_if_large(&mut self, frame: &mut FrameInProgress) {
        if self.is_large(&frame.header, self.rx.len()) {
            let mut large = LargePayload::new(frame.len());
            // `rx` holds less than the payload: all of it belongs to it.
            let taken = large.extend(&self.rx);
            self.rx.advance(taken);
            frame.large = Some(large);
        }
    }

    /// Begins the frame whose header starts `data` when the frame is large
    /// (see [`receive_apart_if_large`](Self::receive_apart_if_large)) and
    /// nothing is buffered before it, so that its payload goes straight into
    /// its own buffer instead of through `rx`: the bytes after the header,
    /// or `data` as it is when the frame is not begun here. A header the
    /// checks refuse is left in `data`, to be reported when it is parsed in
    /// turn, as any other.
    fn begin_large_frame<'d>(&mut self, data: &'d [u8]) -> &'d [u8] {
        // A payload length of 126 or 127 announces an extended length: the
        // only frames that can be large. A cheap test of the announced
        // length first spares the others (and 126's under `LARGE_FRAME`,
        // e.g. 512 bytes) a second header decode.
        let announced = match data.get(1).map(|b1| b1 & 0x7f) {
            Some(126) => data
                .get(2..4)
                .and_then(|len| <[u8; 2]>::try_from(len).ok())
                .map_or(0, |len| usize::from(u16::from_be_bytes(len))),
            Some(127) => usize::MAX,
            _ => 0,
        };
        if announced < LARGE_FRAME || self.frame.is_some() || !self.rx.is_empty() {
            return data;
        }
        let Ok(Some((header, header_len))) = FrameHeader::decode(data, &self.decode_rules()) else {
            return data;
        };
        let rest = data.get(header_len..).unwrap_or_default();
        if !self.is_large(&header, rest.len()) {
            return data;
        }
        let Ok(mut frame) = self.begin_frame(header) else {
            return data;
        };
        frame.large = Some(LargePayload::new(frame.len()));
        self.frame = Some(frame);
        rest
    }

    /// Whether a frame with `header`, `received` bytes of whose payload
    /// have arrived, is received apart from `rx`: an unfragmented,
    /// uncompressed data frame with at least [`LARGE_FRAME`] bytes still to
    /// arrive.
    fn is_large(&self, header: &FrameHeader, received: usize) -> bool {
        header.fin
            && matches!(header.opcode, OpCode::Text | OpCode::Binary)
            && !self.is_compressed(header)
            && usize::try_from(header.payload_len)
                .unwrap_or(usize::MAX)
                .saturating_sub(received)
                >= LARGE_FRAME
    }

    /// The payload of the large frame being received, if any.
    fn large_payload(&mut self) -> Option<&mut LargePayload> {
        self.frame.as_mut()?.large.as_deref_mut()
    }

    /// Checks a new frame against the message in progress and the size limits.
    fn begin_frame(&mut self, header: FrameHeader) -> Result<FrameInProgress, ProtocolError> {
        let max = self.config.max_message_size;
        let too_large = |size: u64| ProtocolError::MessageTooLarge { size, max };
        // Bounded by `max_frame_size` (a usize) through the decode rules.
        let len = usize::try_from(header.payload_len).map_err(|_| too_large(header.payload_len))?;
        // RSV1 (permessage-deflate) may only mark the first frame of a data
        // message (RFC 7692 §6.1); the decode rules refuse it unless negotiated.
        if header.rsv & RSV1 != 0 && !matches!(header.opcode, OpCode::Text | OpCode::Binary) {
            return Err(FrameError::ReservedBits(header.rsv).into());
        }
        let text = match header.opcode {
            OpCode::Continuation => {
                let message = self
                    .message
                    .as_ref()
                    .ok_or(ProtocolError::UnexpectedContinuation)?;
                let size = message.data.len().saturating_add(len);
                if size > max {
                    return Err(too_large(size as u64));
                }
                message.text
            }
            OpCode::Text | OpCode::Binary => {
                if self.message.is_some() {
                    return Err(ProtocolError::ExpectedContinuation);
                }
                if len > max {
                    return Err(too_large(header.payload_len));
                }
                header.opcode == OpCode::Text
            }
            OpCode::Close | OpCode::Ping | OpCode::Pong => false,
        };
        // A compressed payload is validated once inflated.
        self.frame_text = text && !self.is_compressed(&header);
        Ok(FrameInProgress {
            header,
            done: 0,
            large: None,
        })
    }

    /// Whether a data frame belongs to a compressed message.
    fn is_compressed(&self, header: &FrameHeader) -> bool {
        match header.opcode {
            OpCode::Text | OpCode::Binary => header.rsv & RSV1 != 0,
            OpCode::Continuation => self
                .message
                .as_ref()
                .is_some_and(|message| message.inflated.is_some()),
            OpCode::Close | OpCode::Ping | OpCode::Pong => false,
        }
    }

    /// Acts on a frame whose payload (unmasked) is the first `len` bytes of `rx`.
    ///
    /// `len <= rx.len()` holds: the only caller passes `frame.len()` once
    /// `frame.done == frame.len()`, and `frame.done` is at most `rx.len()`; so
    /// the `rx[..len]` slices below cannot fail.
    fn complete_frame(&mut self, header: FrameHeader, len: usize) -> Result<Step, ProtocolError> {
        if self.is_compressed(&header) {
            return self.complete_compressed_frame(header, len);
        }
        match header.opcode {
            OpCode::Text | OpCode::Binary if header.fin => {
                // An unfragmented message: hand the receive buffer's bytes over as they are.
                let payload = self.rx.split_to(len);
                self.finish_message(header.opcode == OpCode::Text, payload.freeze())
            }
            OpCode::Text | OpCode::Binary => {
                let mut data = BytesMut::with_capacity(len);
                data.extend_from_slice(&self.rx[..len]);
                self.rx.advance(len);
                self.message = Some(Box::new(PartialMessage {
                    text: header.opcode == OpCode::Text,
                    data,
                    inflated: None,
                }));
                Ok(Step::Continue)
            }
            OpCode::Continuation => {
                let Some(message) = self.message.as_mut() else {
                    // begin_frame refused continuations without a message.
                    return Err(ProtocolError::UnexpectedContinuation);
                };
                message.data.extend_from_slice(&self.rx[..len]);
                self.rx.advance(len);
                match (header.fin, self.message.take()) {
                    (true, Some(message)) => {
                        let PartialMessage { text, data, .. } = *message;
                        self.finish_message(text, data.freeze())
                    }
                    (_, message) => {
                        self.message = message;
                        Ok(Step::Continue)
                    }
                }
            }
            OpCode::Ping => {
                let payload = self.rx.split_to(len).freeze();
                if self.config.auto_pong
                    && self.state == State::Open
                    && self.pending_pongs < MAX_PENDING_PONGS
                {
                    self.write_frame(OpCode::Pong, true, &payload);
                    self.pending_pongs += 1;
                }
                Ok(Step::Event(Event::Ping(payload)))
            }
            OpCode::Pong => Ok(Step::Event(Event::Pong(self.rx.split_to(len).freeze()))),
            OpCode::Close => {
                let payload = self.rx.split_to(len);
                self.receive_close(&payload)?;
                Ok(Step::Continue)
            }
        }
    }

    /// Inflates a frame of a compressed message (its payload is the first
    /// `len` bytes of `rx`) onto the message, checking the inflated size
    /// against the limit and the inflated text as UTF-8 as it grows.
    fn complete_compressed_frame(
        &mut self,
        header: FrameHeader,
        len: usize,
    ) -> Result<Step, ProtocolError> {
        let (text, mut inflated) = match header.opcode {
            OpCode::Continuation => match self.message.take().map(|message| *message) {
                Some(PartialMessage {
                    text,
                    inflated: Some(inflated),
                    ..
                }) => (text, inflated),
                _ => return Err(ProtocolError::UnexpectedContinuation),
            },
            opcode => (opcode == OpCode::Text, Vec::new()),
        };
        // `with_deflate` allows RSV1 only together with a codec.
        let deflate = self
            .deflate
            .as_mut()
            .ok_or(FrameError::ReservedBits(header.rsv))?;
        let max = self.config.max_message_size;
        let before = inflated.len();
        // In bounds: the caller's invariant `len <= rx.len()`.
        deflate
            .codec
            .inflate(&self.rx[..len], header.fin, &mut inflated, max)
            .map_err(|error| match error {
                InflateError::TooLarge { size } => ProtocolError::MessageTooLarge {
                    size: size as u64,
                    max,
                },
                InflateError::Corrupt => ProtocolError::InvalidCompressedData,
            })?;
        self.rx.advance(len);
        if text {
            self.utf8
                .feed(inflated.get(before..).unwrap_or_default())
                .map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        if header.fin {
            return self.finish_message(text, Bytes::from(inflated));
        }
        self.message = Some(Box::new(PartialMessage {
            text,
            data: BytesMut::new(),
            inflated: Some(inflated),
        }));
        Ok(Step::Continue)
    }

    fn finish_message(&mut self, text: bool, data: Bytes) -> Result<Step, ProtocolError> {
        let message = self.finish_data(text, data)?;
        Ok(Step::Event(Event::Message(message)))
    }

    /// The message of `data` (UTF-8 text already fed to the validator),
    /// once its last frame is in; the idle timeout starts over.
    fn finish_data(&mut self, text: bool, data: Bytes) -> Result<Message, ProtocolError> {
        let message = if text {
            self.utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
            Message::Text(Utf8Bytes::from_validated(data))
        } else {
            Message::Binary(data)
        };
        self.idle_deadline = self
            .config
            .idle_timeout
            .map(|idle| self.last_input_at + idle);
        Ok(message)
    }

    /// Handles the peer's close frame (RFC 6455 §5.5.1, §7.4).
    fn receive_close(&mut self, payload: &[u8]) -> Result<(), ProtocolError> {
        let received = match payload {
            [] => CloseFrame {
                code: CloseCode::NO_STATUS,
                reason: String::new(),
            },
            [_] => return Err(ProtocolError::CloseFrameTooShort),
            [hi, lo, reason @ ..] => {
                let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
                if !code.is_valid_on_wire() {
                    return Err(ProtocolError::InvalidCloseCode(code.0));
                }
                let reason =
                    std::str::from_utf8(reason).map_err(|_| ProtocolError::InvalidCloseReason)?;
                CloseFrame {
                    code,
                    reason: reason.to_owned(),
                }
            }
        };
        if self.state == State::Open {
            // Echo the peer's code; answer an empty close with an empty close.
            let code = (received.code != CloseCode::NO_STATUS).then_some(received.code);
            self.write_close_frame(code, "");
        }
        self.closing_mut().received = Some(received);
        self.message = None;
        self.utf8.reset();
        if self.mask_keys.is_some() {
            // A client waits for the server to close the transport.
            self.state = State::AwaitingEof;
            self.rx.clear();
            self.closing_mut().deadline = Some(self.last_input_at + self.config.close_timeout);
        } else {
            let cause = self.clean_cause();
            self.finish(cause);
        }
        Ok(())
    }

    // ---- writing -------------------------------------------------------

    /// Writes a data message, compressed when permessage-deflate is on and
    /// the message reaches the threshold.
    fn write_data(&mut self, opcode: OpCode, payload: &[u8]) {
        if let Some(deflate) = self.deflate.as_mut() {
            let mut compressed = std::mem::take(&mut deflate.scratch);
            if deflate.codec.compress(payload, &mut compressed) {
                self.write_message(opcode, RSV1, &compressed);
            } else {
                self.write_message(opcode, 0, payload);
            }
            if compressed.capacity() <= MAX_KEPT_SCRATCH {
                compressed.clear();
                if let Some(deflate) = self.deflate.as_mut() {
                    deflate.scratch = compressed;
                }
            }
            return;
        }
        self.write_message(opcode, 0, payload);
    }

    /// Writes a data message; `rsv` goes on its first frame only.
    fn write_message(&mut self, opcode: OpCode, rsv: u8, payload: &[u8]) {
        if self.write_small_frame(opcode, rsv, payload) {
            return;
        }
        let max_frame = self.config.max_outgoing_frame_size;
        for_each_fragment(
            opcode,
            rsv,
            payload,
            max_frame,
            |opcode, rsv, fin, chunk| {
                self.write_frame_rsv(opcode, rsv, fin, chunk);
            },
        );
    }

    /// Writes a data message of less than [`ZERO_COPY_MIN`] bytes as one
    /// unmasked frame (most server messages), its header written directly
    /// as `FrameHeader::encode` would; `false` (nothing written) for any
    /// other message.
    #[inline(always)]
    fn write_small_frame(&mut self, opcode: OpCode, rsv: u8, payload: &[u8]) -> bool {
        let len = payload.len();
        if len >= ZERO_COPY_MIN
            || self.mask_keys.is_some()
            || !self
                .config
                .max_outgoing_frame_size
                .is_none_or(|max| max == 0 || max >= len)
        {
            return false;
        }
        let first = 0x80 | ((rsv & 0b111) << 4) | opcode.as_u8();
        let staging = &mut self.tx.staging;
        // Below ZERO_COPY_MIN: the length fits 16 bits.
        let [high, low] = u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes();
        if len <= 125 {
            staging.reserve(2 + len);
            staging.put_slice(&[first, low]);
        } else {
            staging.reserve(4 + len);
            staging.put_slice(&[first, 126, high, low]);
        }
        staging.put_slice(payload);
        true
    }

    /// Appends one frame without RSV bits, masked for the client role.
    fn write_frame(&mut self, opcode: OpCode, fin: bool, payload: &[u8]) {
        self.write_frame_rsv(opcode, 0, fin, payload);
    }

    /// Appends one frame, masked for the client role.
    fn write_frame_rsv(&mut self, opcode: OpCode, rsv: u8, fin: bool, payload: &[u8]) {
        let mask = self.mask_keys.as_deref_mut().map(MaskKeys::next_key);
        encode_frame(&mut self.tx.staging, opcode, rsv, fin, mask, payload);
    }

    /// Appends a close frame; `None` sends one without a status code.
    fn write_close_frame(&mut self, code: Option<CloseCode>, reason: &str) {
        let mut payload = [0u8; MAX_CONTROL_PAYLOAD];
        let len = match code {
            Some(code) => {
                let reason = truncate_to_char_boundary(reason, MAX_CLOSE_REASON);
                payload[..2].copy_from_slice(&code.0.to_be_bytes());
                payload[2..2 + reason.len()].copy_from_slice(reason.as_bytes());
                2 + reason.len()
            }
            None => 0,
        };
        self.write_frame(OpCode::Close, true, &payload[..len]);
        self.closing_mut().sent = Some(CloseFrame {
            code: code.unwrap_or(CloseCode::NO_STATUS),
            reason: truncate_to_char_boundary(reason, MAX_CLOSE_REASON).to_owned(),
        });
    }

    // ---- closing -------------------------------------------------------

    fn start_close(&mut self, now: Instant, code: CloseCode, reason: &str) {
        self.write_close_frame(Some(code), reason);
        self.closed_locally = true;
        self.state = State::Closing;
        self.closing_mut().deadline = Some(now + self.config.close_timeout);
    }

    /// The close handshake's state, allocated on first use.
    fn closing_mut(&mut self) -> &mut Closing {
        self.closing.get_or_insert_with(Box::default)
    }

    /// When the close handshake times out, once it has started.
    fn close_deadline(&self) -> Option<Instant> {
        self.closing.as_ref().and_then(|closing| closing.deadline)
    }

    /// Fails the connection (RFC 6455 §7.1.7): sends a close frame with the
    /// error's code unless one was sent already, and stops reading.
    fn fail(&mut self, error: ProtocolError) {
        if self.state == State::Open {
            let reason = error.to_string();
            self.write_close_frame(Some(error.close_code()), &reason);
        }
        self.finish(CloseCause::ProtocolViolation(error));
    }

    fn clean_cause(&self) -> CloseCause {
        if self.closed_locally {
            CloseCause::LocalClose
        } else {
            CloseCause::PeerClose
        }
    }

    /// Enters `Closed` and prepares the terminal event; drops buffered input.
    fn finish(&mut self, cause: CloseCause) {
        self.state = State::Closed;
        self.rx = BytesMut::new();
        self.frame = None;
        self.message = None;
        self.utf8.reset();
        let closing = self.closing_mut();
        closing.event = Some(Closed {
            cause,
            sent: closing.sent.clone(),
            received: closing.received.clone(),
        });
    }
}

/// The earlier of two optional instants (`None` is "never").
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// The longest prefix of `reason` that fits a close frame
/// ([`MAX_CLOSE_REASON`] bytes), cut on a char boundary.
///
/// ```
/// # use tidings_core::ws::fit_close_reason;
/// let long = "é".repeat(100); // 200 bytes
/// let reason = fit_close_reason(&long);
/// assert_eq!(reason.len(), 122);
/// ```
pub fn fit_close_reason(reason: &str) -> &str {
    truncate_to_char_boundary(reason, MAX_CLOSE_REASON)
}

/// The longest prefix of `text` of at most `max` bytes that ends on a char boundary.
fn truncate_to_char_boundary(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let end = (0..=max)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    &text[..end]
}

#[cfg(test)]
mod size_tests {
    use super::{Connection, FrameInProgress};

    /// Every open connection holds a `Connection` for its whole life (a
    /// server's, inside its shared state: see the framework's
    /// `per_connection_state_stays_small`). The frame in progress has no
    /// padding to spare (its text flag lives in the connection's), and the
    /// outgoing queue's chunk list is boxed (see `TxQueue`) and the decode
    /// rules are two bytes (their limit is the configuration's).
    #[test]
    fn connection_state_stays_small() {
        let sizes = (
            size_of::<Option<FrameInProgress>>(),
            size_of::<Connection>(),
        );
        assert!(
            sizes.0 <= 32,
            "Option<FrameInProgress> is {} bytes",
            sizes.0
        );
        assert!(sizes.1 <= 208, "ws::Connection is {} bytes", sizes.1);
    }
}
