//! Extension negotiation: the `Sec-WebSocket-Extensions` grammar (RFC 6455
//! §9.1) and the permessage-deflate parameters (RFC 7692 §7.1).

use super::{DeflateConfig, DeflateParams, MAX_WINDOW_BITS, MIN_WINDOW_BITS, PERMESSAGE_DEFLATE};

/// One element of a `Sec-WebSocket-Extensions` list: a name and its
/// parameters in order, quoted values already unquoted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extension {
    /// The extension token, such as `permessage-deflate`.
    pub name: String,
    /// `(name, value)` pairs; `None` for a parameter without `=`.
    pub params: Vec<(String, Option<String>)>,
}

/// A `Sec-WebSocket-Extensions` value does not follow RFC 6455 §9.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed Sec-WebSocket-Extensions header at byte {at}")]
pub struct ExtensionParseError {
    /// Where in the offending header value parsing stopped.
    pub at: usize,
}

/// Parses every `Sec-WebSocket-Extensions` value (several header lines form
/// one list), in order:
///
/// ```text
/// extension-list = 1#extension
/// extension      = token *( OWS ";" OWS param )
/// param          = token [ OWS "=" OWS ( token / quoted-string ) ]
/// ```
///
/// A quoted value must be a token once unquoted (RFC 6455 §9.1). Empty list
/// elements are skipped.
///
/// ```
/// # use tidings_core::deflate::parse_extensions;
///
/// let list = parse_extensions([&b"permessage-deflate; client_max_window_bits, x-foo"[..],
///                              &b"permessage-deflate; server_max_window_bits=\"10\""[..]]).unwrap();
/// assert_eq!(list.len(), 3);
/// assert_eq!(list[2].params, [("server_max_window_bits".to_owned(), Some("10".to_owned()))]);
/// ```
pub fn parse_extensions<'a, I>(values: I) -> Result<Vec<Extension>, ExtensionParseError>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    let mut list = Vec::new();
    for value in values {
        let mut cursor = Cursor { s: value, at: 0 };
        cursor.list(&mut list)?;
    }
    Ok(list)
}

struct Cursor<'a> {
    s: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn error(&self) -> ExtensionParseError {
        ExtensionParseError { at: self.at }
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.at += 1;
        }
    }

    fn list(&mut self, out: &mut Vec<Extension>) -> Result<(), ExtensionParseError> {
        loop {
            self.skip_ows();
            match self.peek() {
                None => return Ok(()),
                Some(b',') => self.at += 1,
                Some(_) => out.push(self.extension()?),
            }
        }
    }

    fn extension(&mut self) -> Result<Extension, ExtensionParseError> {
        let name = self.token()?;
        let mut params = Vec::new();
        loop {
            self.skip_ows();
            match self.peek() {
                None => break,
                Some(b',') => {
                    self.at += 1;
                    break;
                }
                Some(b';') => {
                    self.at += 1;
                    self.skip_ows();
                    let param = self.token()?;
                    self.skip_ows();
                    let value = if self.peek() == Some(b'=') {
                        self.at += 1;
                        self.skip_ows();
                        Some(if self.peek() == Some(b'"') {
                            self.quoted()?
                        } else {
                            self.token()?
                        })
                    } else {
                        None
                    };
                    params.push((param, value));
                }
                Some(_) => return Err(self.error()),
            }
        }
        Ok(Extension { name, params })
    }

    fn token(&mut self) -> Result<String, ExtensionParseError> {
        let start = self.at;
        while self.peek().is_some_and(is_tchar) {
            self.at += 1;
        }
        // Token bytes are ASCII, so the slice is valid UTF-8.
        match std::str::from_utf8(self.s.get(start..self.at).unwrap_or_default()) {
            Ok(token) if !token.is_empty() => Ok(token.to_owned()),
            _ => Err(self.error()),
        }
    }

    /// A quoted-string whose content, unescaped, is a token.
    fn quoted(&mut self) -> Result<String, ExtensionParseError> {
        self.at += 1; // the opening quote
        let mut value = String::new();
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    break;
                }
                Some(b'\\') => {
                    self.at += 1;
                    match self.peek() {
                        Some(b) if is_tchar(b) => value.push(char::from(b)),
                        _ => return Err(self.error()),
                    }
                    self.at += 1;
                }
                Some(b) if is_tchar(b) => {
                    value.push(char::from(b));
                    self.at += 1;
                }
                _ => return Err(self.error()),
            }
        }
        if value.is_empty() {
            return Err(self.error());
        }
        Ok(value)
    }
}

/// An HTTP token character (RFC 9110 §5.6.2).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A window-bits value: `8` to `15`, no sign, no leading zero (RFC 7692 §7.1.2).
fn window_bits(value: &str) -> Option<u8> {
    if value.starts_with('0') || value.len() > 2 {
        return None;
    }
    value
        .parse::<u8>()
        .ok()
        .filter(|bits| (MIN_WINDOW_BITS..=MAX_WINDOW_BITS).contains(bits))
}

/// The permessage-deflate parameters of one offer or response, checked for
/// unknown names, repeats and bad values.
#[derive(Default)]
struct RawParams {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: present without a value (only valid in an offer).
    client_max_window_bits: Option<Option<u8>>,
}

impl RawParams {
    fn read(extension: &Extension) -> Option<RawParams> {
        let mut raw = RawParams::default();
        for (name, value) in &extension.params {
            let value = value.as_deref();
            match name.as_str() {
                "server_no_context_takeover" if !raw.server_no_context_takeover => {
                    raw.server_no_context_takeover = value.is_none().then_some(true)?;
                }
                "client_no_context_takeover" if !raw.client_no_context_takeover => {
                    raw.client_no_context_takeover = value.is_none().then_some(true)?;
                }
                "server_max_window_bits" if raw.server_max_window_bits.is_none() => {
                    raw.server_max_window_bits = Some(window_bits(value?)?);
                }
                "client_max_window_bits" if raw.client_max_window_bits.is_none() => {
                    raw.client_max_window_bits = Some(match value {
                        Some(value) => Some(window_bits(value)?),
                        None => None,
                    });
                }
                // Unknown, or a repeat of one seen already.
                _ => return None,
            }
        }
        Some(raw)
    }
}

/// The server's choice among the client's offers (RFC 7692 §5.1, §7.1): the
/// first permessage-deflate offer it can accept wins; offers with unknown,
/// repeated or invalid parameters are declined and the next one is tried.
/// Returns the agreed parameters and the response header value.
pub(crate) fn accept_offers(
    config: &DeflateConfig,
    offers: &[Extension],
) -> Option<(DeflateParams, String)> {
    offers
        .iter()
        .filter(|offer| offer.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE))
        .find_map(|offer| accept_offer(config, &RawParams::read(offer)?))
}

fn accept_offer(config: &DeflateConfig, offer: &RawParams) -> Option<(DeflateParams, String)> {
    let server_bits = offer
        .server_max_window_bits
        .unwrap_or(MAX_WINDOW_BITS)
        .min(config.server_max_window_bits);
    // Without `client_max_window_bits` in the offer, the client may use any
    // window and the response must not limit it (RFC 7692 §7.1.2.2).
    let client_bits = match offer.client_max_window_bits {
        None => MAX_WINDOW_BITS,
        Some(offered) => offered
            .unwrap_or(MAX_WINDOW_BITS)
            .min(config.client_max_window_bits),
    };
    let params = DeflateParams {
        server_no_context_takeover: offer.server_no_context_takeover
            || config.server_no_context_takeover,
        client_no_context_takeover: offer.client_no_context_takeover
            || config.client_no_context_takeover,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
    };
    let mut response = PERMESSAGE_DEFLATE.to_owned();
    if params.server_no_context_takeover {
        response.push_str("; server_no_context_takeover");
    }
    if params.client_no_context_takeover {
        response.push_str("; client_no_context_takeover");
    }
    if offer.server_max_window_bits.is_some() || server_bits < MAX_WINDOW_BITS {
        response.push_str(&format!("; server_max_window_bits={server_bits}"));
    }
    if offer.client_max_window_bits.is_some() && client_bits < MAX_WINDOW_BITS {
        response.push_str(&format!("; client_max_window_bits={client_bits}"));
    }
    Some((params, response))
}

/// The client's offer for `config`: one permessage-deflate offer with the
/// requested parameters, and `client_max_window_bits` always (with a value
/// when below 15), which tells the server this client can limit its window.
///
/// ```
/// # use tidings_core::deflate::{DeflateConfig, client_offer};
///
/// assert_eq!(client_offer(&DeflateConfig::default()), "permessage-deflate; client_max_window_bits");
/// ```
pub fn client_offer(config: &DeflateConfig) -> String {
    let mut offer = PERMESSAGE_DEFLATE.to_owned();
    if config.server_no_context_takeover {
        offer.push_str("; server_no_context_takeover");
    }
    if config.client_no_context_takeover {
        offer.push_str("; client_no_context_takeover");
    }
    if config.server_max_window_bits < MAX_WINDOW_BITS {
        offer.push_str(&format!(
            "; server_max_window_bits={}",
            config.server_max_window_bits
        ));
    }
    offer.push_str("; client_max_window_bits");
    if config.client_max_window_bits < MAX_WINDOW_BITS {
        offer.push_str(&format!("={}", config.client_max_window_bits));
    }
    offer
}

/// Checks the server's response to [`client_offer`]`(config)` (RFC 7692
/// §7.1): at most one extension, permessage-deflate, with valid parameters
/// that honour what the offer asked for. `Ok(None)`: the server declined.
/// `Err(())`: fail the connection.
pub(crate) fn verify_response(
    config: &DeflateConfig,
    response: &[Extension],
) -> Result<Option<DeflateParams>, ()> {
    let chosen = match response {
        [] => return Ok(None),
        [one] if one.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE) => one,
        _ => return Err(()),
    };
    let raw = RawParams::read(chosen).ok_or(())?;
    let client_bits = match raw.client_max_window_bits {
        None => config.client_max_window_bits,
        Some(Some(bits)) if bits <= config.client_max_window_bits => bits,
        // No value, or more than offered.
        Some(_) => return Err(()),
    };
    let server_bits = raw.server_max_window_bits.unwrap_or(MAX_WINDOW_BITS);
    if server_bits > config.server_max_window_bits
        || (config.server_no_context_takeover && !raw.server_no_context_takeover)
    {
        return Err(());
    }
    Ok(Some(DeflateParams {
        server_no_context_takeover: raw.server_no_context_takeover,
        client_no_context_takeover: raw.client_no_context_takeover
            || config.client_no_context_takeover,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
    }))
}
