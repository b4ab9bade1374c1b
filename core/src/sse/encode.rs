//! The event encoder: turns an [`Event`] into `text/event-stream` bytes.

use std::time::Duration;

use bytes::Bytes;

use super::lines::split_lines;

/// A comment line and a blank line: send it on an idle stream so proxies and
/// clients see traffic. A client ignores it entirely.
///
/// It ends with a blank line, which is harmless between two whole events: the
/// blank line dispatches an empty event buffer, and that fires nothing.
pub const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// A reason an [`Event`] cannot be encoded. Each variant names the field and
/// the byte offset of the first offending character in that field's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The event name contains a CR or LF, which would end the `event:` line
    /// early and let the rest be read as another field.
    #[error("SSE event name contains a line break (CR or LF) at byte {at}")]
    LineBreakInEventName {
        /// Byte offset of the first CR or LF in the name.
        at: usize,
    },
    /// The id contains a CR or LF, which would end the `id:` line early.
    #[error("SSE event id contains a line break (CR or LF) at byte {at}")]
    LineBreakInId {
        /// Byte offset of the first CR or LF in the id.
        at: usize,
    },
    /// The id contains NUL (U+0000); a client ignores such an `id:` field, so
    /// the id would silently not be set.
    #[error("SSE event id contains NUL at byte {at}")]
    NulInId {
        /// Byte offset of the first NUL in the id.
        at: usize,
    },
}

/// One Server-Sent Event, built field by field and then encoded.
///
/// The builder methods never fail; [`Event::encode`] and [`Event::to_bytes`]
/// validate the whole event first (use [`Event::try_event`] and
/// [`Event::try_id`] to learn about a bad value earlier).
///
/// What each field produces on the wire (lines end with `\n`, every field is
/// written `name: value` with the space, so a value that starts with a space
/// survives the client's removal of one leading space):
///
/// | builder call | lines written | effect on a WHATWG client |
/// |---|---|---|
/// | [`comment`](Event::comment) | `: text` per line of text | ignored (CR, LF and CRLF in the text start a new comment line) |
/// | [`retry`](Event::retry) | `retry: <whole milliseconds>` | sets the reconnection delay |
/// | [`id`](Event::id) | `id: <id>` | sets the last event id, even if no event fires; `""` clears it |
/// | [`event`](Event::event) | `event: <name>` | the event type; `""` means `message` |
/// | [`data`](Event::data) | `data: <line>` per line of data | the event's data, line breaks read back as LF |
///
/// The lines appear in that order and the event ends with a blank line.
///
/// An event fires on the client only when [`data`](Event::data) was set.
/// `.data("")` writes one `data: ` line, so it fires with empty data (the
/// client's data buffer holds one LF, which is not empty). Without data, the
/// event still delivers its id, retry and comments: an id-only event moves the
/// client's last event id, a comment-only event is a keep-alive. An event with
/// nothing set encodes as a lone blank line, which fires nothing.
///
/// Data is split at CRLF, LF and lone CR (CRLF counts as one break), so the
/// client reads back the data with every line break turned into LF.
///
/// ```
/// # use tidings_core::sse::EncodeError;
/// use std::time::Duration;
/// # use tidings_core::sse::Event;
///
/// let event = Event::new()
///     .event("chat")
///     .id("42")
///     .data("hello\r\n world");
/// let mut out = Vec::new();
/// event.encode(&mut out)?;
/// assert_eq!(out, b"id: 42\nevent: chat\ndata: hello\ndata:  world\n\n");
///
/// let err = Event::new().id("a\nb").encode(&mut out).unwrap_err();
/// assert_eq!(err, EncodeError::LineBreakInId { at: 1 });
/// # Ok::<(), EncodeError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Event {
    comments: Vec<String>,
    retry: Option<Duration>,
    id: Option<String>,
    event: Option<String>,
    data: Option<String>,
}

impl Event {
    /// An empty event; add fields with the builder methods.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the event type (`event:` line), replacing an earlier one.
    ///
    /// Must not contain CR or LF (checked when encoding). An empty name is read
    /// by clients as the default type, `message`.
    #[must_use]
    pub fn event(mut self, name: impl Into<String>) -> Self {
        self.event = Some(name.into());
        self
    }

    /// Like [`Event::event`], but checks the name now.
    ///
    /// # Errors
    /// [`EncodeError::LineBreakInEventName`] if the name contains CR or LF.
    pub fn try_event(self, name: impl Into<String>) -> Result<Self, EncodeError> {
        let name = name.into();
        check_event_name(&name)?;
        Ok(self.event(name))
    }

    /// Sets the data (one `data:` line per line of `text`), replacing earlier
    /// data. Any text is valid; see the type's documentation for how line
    /// breaks and the empty string are written.
    #[must_use]
    pub fn data(mut self, text: impl Into<String>) -> Self {
        self.data = Some(text.into());
        self
    }

    /// Sets the event id (`id:` line), replacing an earlier one.
    ///
    /// Must not contain CR, LF or NUL (checked when encoding). The client
    /// keeps the id as its last event id and sends it back in `Last-Event-ID`
    /// when it reconnects; an empty id clears it.
    #[must_use]
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Like [`Event::id`], but checks the id now.
    ///
    /// # Errors
    /// [`EncodeError::LineBreakInId`] or [`EncodeError::NulInId`].
    pub fn try_id(self, id: impl Into<String>) -> Result<Self, EncodeError> {
        let id = id.into();
        check_id(&id)?;
        Ok(self.id(id))
    }

    /// Sets the client's reconnection delay (`retry:` line), written in whole
    /// milliseconds (sub-millisecond parts are truncated, and delays beyond
    /// `u64::MAX` milliseconds are capped to it).
    #[must_use]
    pub fn retry(mut self, delay: Duration) -> Self {
        self.retry = Some(delay);
        self
    }

    /// Adds a comment; may be called several times. Comments are written
    /// first, one `: ` line per line of `text` (CRLF, LF and lone CR start a
    /// new comment line, so a comment can never turn into a field).
    #[must_use]
    pub fn comment(mut self, text: impl Into<String>) -> Self {
        self.comments.push(text.into());
        self
    }

    /// Checks every field, then appends the encoded event to `out`.
    ///
    /// # Errors
    /// An [`EncodeError`] for an invalid event name or id; `out` is then left
    /// untouched.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.validate()?;
        out.reserve(self.size_hint());
        for comment in &self.comments {
            for line in split_lines(comment) {
                write_line(out, b":", line);
            }
        }
        if let Some(delay) = self.retry {
            write_retry_line(out, delay);
        }
        if let Some(id) = &self.id {
            write_line(out, b"id:", id);
        }
        if let Some(name) = &self.event {
            write_line(out, b"event:", name);
        }
        if let Some(data) = &self.data {
            for line in split_lines(data) {
                write_line(out, b"data:", line);
            }
        }
        out.push(b'\n');
        Ok(())
    }

    /// Encodes the event into a new [`Bytes`], to be encoded once and shared
    /// with many recipients.
    ///
    /// # Errors
    /// As [`Event::encode`].
    pub fn to_bytes(&self) -> Result<Bytes, EncodeError> {
        let mut out = Vec::new();
        self.encode(&mut out)?;
        Ok(Bytes::from(out))
    }

    /// The id set with [`Event::id`], if any (not yet validated).
    pub fn id_value(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The event type set with [`Event::event`], if any (not yet validated).
    pub fn event_name(&self) -> Option<&str> {
        self.event.as_deref()
    }

    /// The data set with [`Event::data`] (or the framework's JSON helper), if any.
    pub fn data_value(&self) -> Option<&str> {
        self.data.as_deref()
    }

    /// The reconnection delay set with [`Event::retry`], if any.
    pub fn retry_value(&self) -> Option<Duration> {
        self.retry
    }

    /// The comments added with [`Event::comment`], in order.
    pub fn comments(&self) -> &[String] {
        &self.comments
    }

    fn validate(&self) -> Result<(), EncodeError> {
        if let Some(name) = &self.event {
            check_event_name(name)?;
        }
        if let Some(id) = &self.id {
            check_id(id)?;
        }
        Ok(())
    }

    /// An upper bound on the encoded length, used to reserve once.
    fn size_hint(&self) -> usize {
        // Each line costs its prefix ("data: " is the longest, 6 bytes) and a
        // LF; a text of n bytes splits into at most n + 1 lines.
        let text = |s: &str| s.len() + (s.len() + 1) * 7;
        let comments: usize = self.comments.iter().map(|c| text(c)).sum();
        let retry = if self.retry.is_some() { 28 } else { 0 };
        let id = self.id.as_deref().map_or(0, |s| s.len() + 5);
        let event = self.event.as_deref().map_or(0, |s| s.len() + 8);
        let data = self.data.as_deref().map_or(0, text);
        comments + retry + id + event + data + 1
    }
}

/// Appends a stand-alone `retry:` hint (a `retry:` line and a blank line),
/// typically as the first bytes of a stream. The delay is written in whole
/// milliseconds.
///
/// ```
/// use std::time::Duration;
/// # use tidings_core::sse::encode_retry;
/// let mut out = Vec::new();
/// encode_retry(Duration::from_millis(2500), &mut out);
/// assert_eq!(out, b"retry: 2500\n\n");
/// ```
pub fn encode_retry(delay: Duration, out: &mut Vec<u8>) {
    write_retry_line(out, delay);
    out.push(b'\n');
}

/// Writes `retry: <ms>`, capped at `u64::MAX` milliseconds: clients ignore
/// larger values (Chromium parses the field as a `u64`).
fn write_retry_line(out: &mut Vec<u8>, delay: Duration) {
    let millis = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
    write_line(out, b"retry:", &millis.to_string());
}

/// Writes `prefix`, a space, `value` and a LF. The space is always written so
/// that a value starting with a space keeps it after the client removes one.
fn write_line(out: &mut Vec<u8>, prefix: &[u8], value: &str) {
    out.extend_from_slice(prefix);
    out.push(b' ');
    out.extend_from_slice(value.as_bytes());
    out.push(b'\n');
}

fn check_event_name(name: &str) -> Result<(), EncodeError> {
    match name.bytes().position(|b| b == b'\r' || b == b'\n') {
        Some(at) => Err(EncodeError::LineBreakInEventName { at }),
        None => Ok(()),
    }
}

fn check_id(id: &str) -> Result<(), EncodeError> {
    for (at, b) in id.bytes().enumerate() {
        match b {
            b'\r' | b'\n' => return Err(EncodeError::LineBreakInId { at }),
            0 => return Err(EncodeError::NulInId { at }),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(event: &Event) -> String {
        let mut out = Vec::new();
        event.encode(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn data_lines_split_at_crlf_lf_and_lone_cr_with_crlf_as_one_break() {
        let e = Event::new().data("a\r\nb\nc\rd");
        assert_eq!(enc(&e), "data: a\ndata: b\ndata: c\ndata: d\n\n");
        let e = Event::new().data("\r\r\n\n");
        assert_eq!(enc(&e), "data: \ndata: \ndata: \ndata: \n\n");
    }

    #[test]
    fn empty_data_writes_one_data_line() {
        assert_eq!(enc(&Event::new().data("")), "data: \n\n");
    }

    #[test]
    fn trailing_line_break_in_data_gives_an_empty_last_line() {
        assert_eq!(enc(&Event::new().data("x\n")), "data: x\ndata: \n\n");
    }

    #[test]
    fn leading_spaces_are_preserved_by_the_separator_space() {
        let e = Event::new().data("  two").event(" e").id(" 1");
        assert_eq!(enc(&e), "id:  1\nevent:  e\ndata:   two\n\n");
    }

    #[test]
    fn fields_are_written_in_a_fixed_order() {
        let e = Event::new()
            .data("d")
            .event("t")
            .id("7")
            .retry(Duration::from_millis(1500))
            .comment("c1")
            .comment("c2");
        assert_eq!(
            enc(&e),
            ": c1\n: c2\nretry: 1500\nid: 7\nevent: t\ndata: d\n\n"
        );
    }

    #[test]
    fn later_builder_calls_replace_earlier_ones_except_comments() {
        let e = Event::new().data("a").data("b").id("1").id("2");
        assert_eq!(enc(&e), "id: 2\ndata: b\n\n");
    }

    #[test]
    fn retry_is_written_in_whole_milliseconds() {
        let e = Event::new().retry(Duration::from_micros(2_999_999));
        assert_eq!(enc(&e), "retry: 2999\n\n");
        let e = Event::new().retry(Duration::ZERO);
        assert_eq!(enc(&e), "retry: 0\n\n");
        let e = Event::new().retry(Duration::MAX);
        assert_eq!(enc(&e), "retry: 18446744073709551615\n\n");
        let mut out = Vec::new();
        encode_retry(Duration::from_secs(3), &mut out);
        assert_eq!(out, b"retry: 3000\n\n");
    }

    #[test]
    fn comments_with_line_breaks_become_several_comment_lines() {
        let e = Event::new().comment("a\r\nb\rc\nd");
        assert_eq!(enc(&e), ": a\n: b\n: c\n: d\n\n");
        assert_eq!(enc(&Event::new().comment("")), ": \n\n");
    }

    #[test]
    fn id_only_and_empty_events() {
        assert_eq!(enc(&Event::new().id("")), "id: \n\n");
        assert_eq!(enc(&Event::new()), "\n");
    }

    #[test]
    fn bad_event_names_are_rejected_and_out_is_untouched() {
        for (name, at) in [("a\nb", 1), ("\r", 0), ("ab\r\n", 2)] {
            let mut out = b"prefix".to_vec();
            let err = Event::new().data("x").event(name).encode(&mut out);
            assert_eq!(err, Err(EncodeError::LineBreakInEventName { at }));
            assert_eq!(out, b"prefix");
        }
        // NUL is fine in an event name: the client keeps it.
        assert_eq!(enc(&Event::new().event("a\0b")), "event: a\0b\n\n");
    }

    #[test]
    fn bad_ids_are_rejected_and_out_is_untouched() {
        for (id, err) in [
            ("a\nb", EncodeError::LineBreakInId { at: 1 }),
            ("\rb", EncodeError::LineBreakInId { at: 0 }),
            ("ab\0", EncodeError::NulInId { at: 2 }),
        ] {
            let mut out = b"prefix".to_vec();
            // Valid comments and data come first in the output: nothing of
            // them may be written either.
            let e = Event::new().comment("c").data("x").id(id);
            assert_eq!(e.encode(&mut out), Err(err));
            assert_eq!(out, b"prefix");
            assert_eq!(e.to_bytes(), Err(err));
        }
    }

    #[test]
    fn try_builders_validate_early() {
        assert_eq!(
            Event::new().try_event("x\ny").unwrap_err(),
            EncodeError::LineBreakInEventName { at: 1 }
        );
        assert_eq!(
            Event::new().try_id("\0").unwrap_err(),
            EncodeError::NulInId { at: 0 }
        );
        let e = Event::new().try_event("t").unwrap().try_id("i").unwrap();
        assert_eq!(e, Event::new().event("t").id("i"));
    }

    #[test]
    fn to_bytes_matches_encode_and_size_hint_is_an_upper_bound() {
        let e = Event::new()
            .comment("\n\n\n")
            .retry(Duration::MAX)
            .id("i")
            .event("e")
            .data("\r\r\r\n\n");
        let bytes = e.to_bytes().unwrap();
        assert_eq!(&bytes[..], enc(&e).as_bytes());
        assert!(
            bytes.len() <= e.size_hint(),
            "{} > {}",
            bytes.len(),
            e.size_hint()
        );
    }
}
