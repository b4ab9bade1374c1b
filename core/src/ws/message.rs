//! Messages as received and as sent.

use std::fmt;
use std::ops::Deref;

use bytes::Bytes;

/// A complete data message received from the peer.
///
/// Payloads are reference-counted [`Bytes`]: an unfragmented message is handed
/// over without copying it out of the receive buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A text message; the core has validated it as UTF-8.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
}

impl Message {
    /// The payload bytes, whatever the type.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(text) => text.as_bytes(),
            Message::Binary(bytes) => bytes,
        }
    }

    /// The payload length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// The payload, shared.
    pub(crate) fn payload(&self) -> &Bytes {
        match self {
            Message::Text(text) => &text.0,
            Message::Binary(bytes) => bytes,
        }
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A message to send, borrowed from the caller (it is framed, and masked for
/// the client role, straight into the connection's output buffer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outgoing<'a> {
    /// A text message.
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
    /// A ping (payload at most 125 bytes).
    Ping(&'a [u8]),
    /// An unsolicited pong (payload at most 125 bytes); replies to pings are
    /// sent automatically unless [`Config::auto_pong`](super::Config::auto_pong) is off.
    Pong(&'a [u8]),
}

impl Outgoing<'_> {
    /// The payload's length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Outgoing::Text(text) => text.len(),
            Outgoing::Binary(payload) | Outgoing::Ping(payload) | Outgoing::Pong(payload) => {
                payload.len()
            }
        }
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<'a> From<&'a Message> for Outgoing<'a> {
    fn from(message: &'a Message) -> Self {
        match message {
            Message::Text(text) => Outgoing::Text(text),
            Message::Binary(bytes) => Outgoing::Binary(bytes),
        }
    }
}

/// Immutable, reference-counted bytes that are guaranteed to be valid UTF-8.
///
/// Derefs to `str`. Cloning is cheap (a reference count).
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Utf8Bytes(Bytes);

impl Utf8Bytes {
    /// Wraps a static string without copying it.
    pub const fn from_static(text: &'static str) -> Self {
        Utf8Bytes(Bytes::from_static(text.as_bytes()))
    }

    /// Wraps bytes after checking that they are valid UTF-8.
    pub fn try_from_bytes(bytes: Bytes) -> Result<Self, std::str::Utf8Error> {
        std::str::from_utf8(&bytes)?;
        Ok(Utf8Bytes(bytes))
    }

    /// Wraps bytes that the caller has already validated.
    pub(crate) fn from_validated(bytes: Bytes) -> Self {
        debug_assert!(std::str::from_utf8(&bytes).is_ok());
        Utf8Bytes(bytes)
    }

    /// The text.
    #[allow(
        unsafe_code,
        reason = "skips re-validating text the connection validated while it arrived: `as_str` is on every text message's path"
    )]
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor guarantees valid UTF-8: `from_static` and
        // the `From` impls take `str`/`String`, `try_from_bytes` validates, and
        // `from_validated` is only called by the connection on bytes its
        // incremental validator has accepted in full (including the final
        // check that no code point is left incomplete). `Bytes` is immutable.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }

    /// The underlying bytes.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl Deref for Utf8Bytes {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Utf8Bytes {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Utf8Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<String> for Utf8Bytes {
    fn from(text: String) -> Self {
        Utf8Bytes(Bytes::from(text))
    }
}

impl From<&str> for Utf8Bytes {
    fn from(text: &str) -> Self {
        Utf8Bytes(Bytes::copy_from_slice(text.as_bytes()))
    }
}

impl From<Utf8Bytes> for Bytes {
    fn from(text: Utf8Bytes) -> Self {
        text.0
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

/// Text messages as `Message::Text`.
impl From<&str> for Message {
    fn from(text: &str) -> Self {
        Message::Text(text.into())
    }
}

/// Text messages as `Message::Text`.
impl From<String> for Message {
    fn from(text: String) -> Self {
        Message::Text(text.into())
    }
}

/// Binary messages as `Message::Binary`.
impl From<Bytes> for Message {
    fn from(bytes: Bytes) -> Self {
        Message::Binary(bytes)
    }
}

/// Binary messages as `Message::Binary`.
impl From<Vec<u8>> for Message {
    fn from(bytes: Vec<u8>) -> Self {
        Message::Binary(bytes.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_bytes_constructors_keep_the_invariant() {
        assert_eq!(Utf8Bytes::from_static("héllo").as_str(), "héllo");
        assert_eq!(Utf8Bytes::from(String::from("€")).as_str(), "€");
        assert_eq!(&*Utf8Bytes::from("abc"), "abc");
        assert!(Utf8Bytes::try_from_bytes(Bytes::from_static(&[0xff])).is_err());
        let ok = Utf8Bytes::try_from_bytes(Bytes::from_static("ok".as_bytes())).unwrap();
        assert_eq!(ok, "ok");
        assert_eq!(format!("{ok:?} {ok}"), "\"ok\" ok");
    }
}
