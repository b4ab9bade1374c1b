//! The incremental event-stream decoder: the WHATWG "interpreting an event
//! stream" algorithm, fed bytes in chunks of any size.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::mem;
use std::sync::Arc;
use std::time::Duration;

/// The UTF-8 byte order mark, stripped once from the start of a stream.
const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// Memory limits of a [`Decoder`], checked before a buffer grows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The most bytes one line may hold before its line break, as received
    /// (before UTF-8 decoding). Comment lines are exempt: they are skipped
    /// without being buffered. Default: 1 MiB.
    pub max_line_len: usize,
    /// The most bytes the data of one event may take, after UTF-8 decoding
    /// and counting the LF appended for each `data` line. Default: 16 MiB.
    pub max_data_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line_len: 1 << 20,
            max_data_len: 16 << 20,
        }
    }
}

impl Limits {
    /// These limits with [`Limits::max_line_len`] set to `bytes`.
    ///
    /// ```
    /// # use tidings_core::sse::{Decoder, Limits};
    /// let limits = Limits::default().with_max_line_len(64 << 10).with_max_data_len(1 << 20);
    /// let decoder = Decoder::with_limits(limits);
    /// ```
    #[must_use]
    pub const fn with_max_line_len(mut self, bytes: usize) -> Self {
        self.max_line_len = bytes;
        self
    }

    /// These limits with [`Limits::max_data_len`] set to `bytes`.
    #[must_use]
    pub const fn with_max_data_len(mut self, bytes: usize) -> Self {
        self.max_data_len = bytes;
        self
    }
}

/// A stream the [`Decoder`] refuses to read further because it would exceed a
/// [`Limits`] value.
///
/// The remedy is the same for every variant: close the connection. The
/// decoder stays failed (every later [`Decoder::feed`] returns the same error)
/// until [`Decoder::finish`] starts a new stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A line grew beyond [`Limits::max_line_len`] bytes before its line break.
    #[error("SSE line longer than {limit} bytes")]
    LineTooLong {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// The data of one event grew beyond [`Limits::max_data_len`] bytes.
    #[error("SSE event data larger than {limit} bytes")]
    DataTooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
}

/// One event as a WHATWG `EventSource` would fire it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedEvent {
    /// The event type: the last `event` field's value, or `message` when there
    /// was none or it was empty.
    pub event_type: String,
    /// The data: each `data` field's value followed by LF, without the final LF.
    pub data: String,
    /// The last event id when the event fired (set by the latest valid `id`
    /// field of the stream, not necessarily one in this event).
    pub last_event_id: String,
}

/// An event waiting in the queue; it shares the id with its neighbours so that
/// a long id followed by many tiny events costs its length once.
#[derive(Clone, Debug)]
struct Queued {
    /// Empty means `message`.
    event_type: String,
    data: String,
    last_event_id: Arc<str>,
}

/// Progress through the optional leading byte order mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bom {
    /// This many bytes of the BOM have been seen (0, 1 or 2), nothing else.
    Pending(usize),
    /// The BOM was stripped, or the stream did not start with one.
    Done,
}

/// An incremental `text/event-stream` decoder, exact to the WHATWG rules.
///
/// Call order: [`feed`](Decoder::feed) each chunk as it arrives, then call
/// [`poll_event`](Decoder::poll_event) until it returns `None`; at the end of
/// the stream call [`finish`](Decoder::finish) (and poll once more, for events
/// completed by the last chunk if not yet polled). Chunk boundaries never
/// matter: the same bytes give the same events however they are split.
///
/// What it implements, line by line of the WHATWG algorithm:
///
/// - bytes are decoded as UTF-8, each invalid sequence becoming U+FFFD exactly
///   as [`String::from_utf8_lossy`] would on the whole stream (a character
///   split across chunks is decoded whole);
/// - one leading BOM is stripped, even when split across chunks;
/// - lines end at CRLF, LF or a lone CR; a CR ending one chunk and a LF
///   starting the next are one line break;
/// - a blank line dispatches the event, a line starting with `:` is a comment;
/// - a field's name is the text before the first `:`, its value the text after
///   it minus one leading space (a tab is kept); a line without `:` is a field
///   with an empty value; names are case-sensitive, unknown names are ignored;
/// - `event` sets the type, `data` appends its value and a LF, `id` sets the
///   last event id unless the value contains NUL, `retry` sets the reconnection
///   delay if the value is all ASCII digits;
/// - dispatch: the last event id is updated even if nothing fires; empty data
///   fires nothing; otherwise one trailing LF is dropped and the type defaults
///   to `message`;
/// - an event not closed by a blank line when the stream ends is discarded.
///
/// Choices where the specification is silent: an empty `retry` value and one
/// too large for a `u64` of milliseconds are ignored (Chromium ignores the
/// second but resets its default delay on the first).
///
/// Memory: the line being read (at most [`Limits::max_line_len`] bytes;
/// comment lines are not buffered), the event being built (its data at most
/// [`Limits::max_data_len`] bytes), and the queued events, which hold the
/// text their own bytes carried (an id is shared, not copied, between them).
/// Poll after each feed to keep the queue short.
///
/// The decoder parses eagerly: [`feed`](Decoder::feed) processes every
/// complete line and queues the events, so [`last_event_id`](Decoder::last_event_id)
/// and [`retry`](Decoder::retry) reflect all bytes fed, even when queued events
/// have not been polled yet.
///
/// ```
/// # use tidings_core::sse::Decoder;
///
/// let mut decoder = Decoder::new();
/// decoder.feed(b"id: 1\nevent: greet\ndata: hello\r")?;
/// decoder.feed(b"\ndata:  world\n\n: comment\ndata: lost")?;
/// decoder.finish();
/// let event = decoder.poll_event().unwrap();
/// assert_eq!(event.event_type, "greet");
/// assert_eq!(event.data, "hello\n world");
/// assert_eq!(event.last_event_id, "1");
/// assert_eq!(decoder.poll_event(), None); // "data: lost" was never completed
/// # Ok::<(), tidings_core::sse::DecodeError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Decoder {
    limits: Limits,
    bom: Bom,
    /// The previous byte was a CR that ended a line: a LF now is skipped.
    after_cr: bool,
    /// The bytes of the current line so far (not for comment lines).
    line: Vec<u8>,
    /// The current line is a comment: its bytes are skipped.
    in_comment: bool,
    /// The WHATWG data buffer.
    data: String,
    /// The WHATWG event type buffer.
    event_type: String,
    /// The WHATWG last event ID buffer.
    id_buffer: String,
    /// `id_buffer` was set since the last dispatch.
    id_dirty: bool,
    /// The last event ID string, as of the last dispatch.
    last_event_id: Arc<str>,
    retry: Option<Duration>,
    queue: VecDeque<Queued>,
    error: Option<DecodeError>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder with the default [`Limits`].
    pub fn new() -> Self {
        Self::with_limits(Limits::default())
    }

    /// A decoder with the given limits.
    pub fn with_limits(limits: Limits) -> Self {
        Decoder {
            limits,
            bom: Bom::Pending(0),
            after_cr: false,
            line: Vec::new(),
            in_comment: false,
            data: String::new(),
            event_type: String::new(),
            id_buffer: String::new(),
            id_dirty: false,
            last_event_id: Arc::from(""),
            retry: None,
            queue: VecDeque::new(),
            error: None,
        }
    }

    /// Processes the next chunk of the stream, queueing every event it
    /// completes.
    ///
    /// # Errors
    /// A [`DecodeError`] when the stream exceeds the limits. Events completed
    /// before the offending line are still queued; the rest of the chunk and
    /// every later chunk are ignored until [`Decoder::finish`].
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), DecodeError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let result = self.feed_inner(chunk);
        if let Err(error) = result {
            self.error = Some(error);
        }
        result
    }

    /// The next event, in stream order.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<DecodedEvent> {
        let queued = self.queue.pop_front()?;
        let event_type = if queued.event_type.is_empty() {
            String::from("message")
        } else {
            queued.event_type
        };
        Some(DecodedEvent {
            event_type,
            data: queued.data,
            last_event_id: String::from(&*queued.last_event_id),
        })
    }

    /// Ends the current stream: the event in progress, if any, is discarded
    /// (queued events stay available) and a failure is cleared.
    ///
    /// The decoder can then be fed the next stream, such as the response to a
    /// reconnection: its BOM is stripped again, and the last event id and
    /// reconnection delay carry over, as in a browser's `EventSource`.
    pub fn finish(&mut self) {
        self.bom = Bom::Pending(0);
        self.after_cr = false;
        self.line.clear();
        self.in_comment = false;
        self.data.clear();
        self.event_type.clear();
        self.id_buffer.clear();
        self.id_buffer.push_str(&self.last_event_id);
        self.id_dirty = false;
        self.error = None;
    }

    /// The last event id as of the latest dispatch (blank line), whether or
    /// not an event fired: the value a client sends in `Last-Event-ID` when
    /// it reconnects (if not empty). An `id` field in an unfinished event does
    /// not count yet.
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// The reconnection delay set by the latest valid `retry` field, if any.
    /// It takes effect as soon as its line is complete, even inside an
    /// unfinished event.
    pub fn retry(&self) -> Option<Duration> {
        self.retry
    }

    fn feed_inner(&mut self, mut chunk: &[u8]) -> Result<(), DecodeError> {
        if let Bom::Pending(mut matched) = self.bom {
            loop {
                let Some((&byte, rest)) = chunk.split_first() else {
                    self.bom = Bom::Pending(matched);
                    return Ok(());
                };
                if BOM.get(matched) == Some(&byte) {
                    matched += 1;
                    chunk = rest;
                    if matched == BOM.len() {
                        self.bom = Bom::Done;
                        break;
                    }
                } else {
                    // Not a BOM after all: the bytes held back are content.
                    self.bom = Bom::Done;
                    self.parse(BOM.get(..matched).unwrap_or_default())?;
                    break;
                }
            }
        }
        self.parse(chunk)
    }

    /// Splits `input` into lines, continuing the line left open by the
    /// previous chunk.
    fn parse(&mut self, mut input: &[u8]) -> Result<(), DecodeError> {
        while let Some((&first, rest)) = input.split_first() {
            if mem::take(&mut self.after_cr) && first == b'\n' {
                input = rest;
                continue;
            }
            match input.iter().position(|&b| b == b'\r' || b == b'\n') {
                Some(end) => {
                    let (line, rest) = input.split_at(end);
                    // `rest` starts with the CR or LF found at `end`.
                    self.after_cr = rest.first() == Some(&b'\r');
                    self.end_line(line)?;
                    input = rest.get(1..).unwrap_or_default();
                }
                None => {
                    self.continue_line(input)?;
                    break;
                }
            }
        }
        Ok(())
    }

    /// Adds `part` to the current line, which does not end in this chunk.
    fn continue_line(&mut self, part: &[u8]) -> Result<(), DecodeError> {
        if self.in_comment {
            return Ok(());
        }
        if self.line.is_empty() && part.first() == Some(&b':') {
            self.in_comment = true;
            return Ok(());
        }
        self.check_line_len(self.line.len().saturating_add(part.len()))?;
        self.line.extend_from_slice(part);
        Ok(())
    }

    /// Ends the current line with `part`, its last bytes before the break.
    fn end_line(&mut self, part: &[u8]) -> Result<(), DecodeError> {
        if mem::take(&mut self.in_comment) {
            return Ok(());
        }
        if self.line.is_empty() {
            // The whole line is in this chunk: no copy needed.
            if part.first() == Some(&b':') {
                return Ok(());
            }
            self.check_line_len(part.len())?;
            return self.process_line(part);
        }
        self.check_line_len(self.line.len().saturating_add(part.len()))?;
        let mut line = mem::take(&mut self.line);
        line.extend_from_slice(part);
        let result = self.process_line(&line);
        line.clear();
        self.line = line;
        result
    }

    fn check_line_len(&self, len: usize) -> Result<(), DecodeError> {
        if len > self.limits.max_line_len {
            return Err(DecodeError::LineTooLong {
                limit: self.limits.max_line_len,
            });
        }
        Ok(())
    }

    /// Applies one complete line (without its line break).
    fn process_line(&mut self, line: &[u8]) -> Result<(), DecodeError> {
        let Some((&first, _)) = line.split_first() else {
            self.dispatch();
            return Ok(());
        };
        if first == b':' {
            return Ok(());
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let (name, rest) = line.split_at(colon);
                let value = rest.get(1..).unwrap_or_default();
                (name, value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        // Comparing bytes is comparing decoded names: an invalid sequence
        // decodes to U+FFFD, which none of these names contains.
        match name {
            b"event" => {
                self.event_type.clear();
                self.event_type.push_str(&decode_lossy(value));
            }
            b"data" => {
                let value = decode_lossy(value);
                let len = self
                    .data
                    .len()
                    .saturating_add(value.len())
                    .saturating_add(1);
                if len > self.limits.max_data_len {
                    return Err(DecodeError::DataTooLarge {
                        limit: self.limits.max_data_len,
                    });
                }
                self.data.push_str(&value);
                self.data.push('\n');
            }
            // Decoding never produces U+0000 from other bytes, so a NUL in the
            // decoded value is a NUL byte here.
            b"id" if !value.contains(&0) => {
                self.id_buffer.clear();
                self.id_buffer.push_str(&decode_lossy(value));
                self.id_dirty = true;
            }
            b"retry" => {
                if let Some(millis) = parse_digits(value) {
                    self.retry = Some(Duration::from_millis(millis));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// A blank line: the WHATWG "dispatch the event" steps.
    fn dispatch(&mut self) {
        if mem::take(&mut self.id_dirty) {
            self.last_event_id = Arc::from(self.id_buffer.as_str());
        }
        if self.data.is_empty() {
            self.event_type.clear();
            return;
        }
        let mut data = mem::take(&mut self.data);
        if data.ends_with('\n') {
            data.pop();
        }
        self.queue.push_back(Queued {
            event_type: mem::take(&mut self.event_type),
            data,
            last_event_id: Arc::clone(&self.last_event_id),
        });
    }
}

/// UTF-8 decoding with U+FFFD for invalid sequences. Splitting a stream at
/// ASCII bytes (line breaks, `:`, space) and decoding the pieces gives the
/// same text as decoding it whole, because an ASCII byte never belongs to a
/// multi-byte sequence nor to an invalid one.
fn decode_lossy(bytes: &[u8]) -> Cow<'_, str> {
    match simdutf8::basic::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// A non-empty string of ASCII digits as a number; `None` for anything else,
/// including values too large for a `u64`.
fn parse_digits(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |acc, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

#[cfg(test)]
mod tests;
