//! The client side of the opening handshake (RFC 6455 §4.1).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::header::{
    CONNECTION, HOST, HeaderMap, HeaderName, HeaderValue, SEC_WEBSOCKET_ACCEPT,
    SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION,
    UPGRADE,
};
use http::{Method, Request, Response, StatusCode, Uri, Version};

use super::{WEBSOCKET_VERSION, accept_key, has_token, list_elements, single_value};
#[cfg(feature = "deflate")]
use crate::deflate;
use crate::deflate::{DeflateConfig, DeflateParams};
use crate::head::encode_request_head;

/// The scheme of a WebSocket URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scheme {
    /// `ws://`: plain TCP, default port 80.
    Ws,
    /// `wss://`: TLS over TCP, default port 443. The TLS layer is the
    /// adapter's (or the caller's) job; the handshake bytes are the same.
    Wss,
}

impl Scheme {
    /// 80 for `ws`, 443 for `wss`.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Ws => 80,
            Scheme::Wss => 443,
        }
    }

    /// Whether the connection must be wrapped in TLS.
    pub fn is_tls(self) -> bool {
        self == Scheme::Wss
    }
}

/// Where to connect, as read from a WebSocket URL.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Target {
    /// `ws` or `wss`.
    pub scheme: Scheme,
    /// The host name or IP address as written in the URL, without the square
    /// brackets around an IPv6 address (ready for name resolution).
    pub host: String,
    /// The port: the URL's, or the scheme's default.
    pub port: u16,
    /// The path and query sent as the request target, `/` at least.
    pub resource: String,
}

impl Target {
    /// The `Host` header value: the host (bracketed if IPv6) with `:port`
    /// unless the port is the scheme's default.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == self.scheme.default_port() {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// A client handshake configuration that cannot be used. Local misuse, not a
/// peer error: fix the URL or the settings.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientConfigError {
    /// The URL is not an absolute URL with a scheme and a host.
    #[error("not a valid absolute URL")]
    InvalidUrl,
    /// The scheme is neither `ws` nor `wss`.
    #[error("unsupported URL scheme {scheme:?}: expected ws or wss")]
    UnsupportedScheme {
        /// The scheme found.
        scheme: String,
    },
    /// The URL has an empty host.
    #[error("the URL has no host")]
    MissingHost,
    /// The URL's port is not a number from 0 to 65535.
    #[error("the URL's port is not valid")]
    InvalidPort,
    /// The URL carries credentials (`user:password@`), which the WebSocket
    /// handshake has no place for; send an `Authorization` header instead.
    #[error("credentials in a WebSocket URL are not supported; send an Authorization header")]
    UserInfo,
    /// The URL has a fragment (`#...`), which RFC 6455 §3 forbids.
    #[error("a WebSocket URL must not have a fragment")]
    Fragment,
    /// A subprotocol name is empty, repeated, or not an HTTP token.
    #[error("invalid or repeated subprotocol name {name:?}")]
    InvalidSubprotocol {
        /// The offending name.
        name: String,
    },
    /// An extra header would override one the handshake itself sets.
    #[error("the handshake sets the {name} header itself")]
    ReservedHeader {
        /// The header's name.
        name: HeaderName,
    },
}

/// Why the server's response does not complete the handshake (RFC 6455 §4.1).
///
/// Every variant is a peer error whose remedy is the same: _Fail the WebSocket
/// Connection_, that is, close the TCP connection without sending a close frame
/// (no WebSocket connection exists yet).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientHandshakeError {
    /// The status is not 101 Switching Protocols (for example 403, or a 426
    /// naming the versions the server speaks).
    #[error("server answered {status} instead of 101 Switching Protocols")]
    UnexpectedStatus {
        /// The status the server sent.
        status: StatusCode,
    },
    /// `Upgrade` does not list `websocket`.
    #[error("response lacks Upgrade: websocket")]
    MissingUpgrade,
    /// `Connection` does not list `upgrade`.
    #[error("response lacks Connection: upgrade")]
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Accept` is missing, repeated or not the value for our key.
    #[error("missing or wrong Sec-WebSocket-Accept")]
    BadAccept,
    /// The server selected an extension, but none was offered.
    #[error("server selected an extension that was not offered")]
    UnexpectedExtensions,
    /// The server's `Sec-WebSocket-Extensions` does not parse, selects more
    /// than permessage-deflate, or has parameters that are unknown, repeated,
    /// invalid or not what the offer asked for (RFC 7692 §7.1).
    #[error("invalid Sec-WebSocket-Extensions in the response")]
    InvalidExtensions,
    /// The server selected a subprotocol that was not offered, or several.
    #[error("server selected a subprotocol that was not offered")]
    UnexpectedSubprotocol,
}

/// What the server agreed to.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Negotiated {
    /// The subprotocol the server chose, one of those offered, or `None`.
    pub subprotocol: Option<String>,
    /// The permessage-deflate parameters, when the server accepted the offer
    /// (pass them to [`ws::Connection::with_deflate`](crate::ws::Connection::with_deflate)).
    pub deflate: Option<DeflateParams>,
}

/// A client's opening handshake: the request to send and the check of the
/// response.
///
/// Call order: [`ClientHandshake::new`], connect to [`target`](Self::target)
/// (with TLS for `wss`), send [`encode`](Self::encode)'s bytes, read the
/// response head with [`crate::head::parse_response`], then
/// [`verify`](Self::verify) it; bytes after the head are the server's first
/// frames.
///
/// ```
/// use tidings_core::handshake::ClientHandshake;
///
/// let client = ClientHandshake::new("ws://example.com:8080/chat?room=1", [7; 16])
///     .unwrap()
///     .with_subprotocols(["chat.v1"])
///     .unwrap();
/// assert_eq!(client.target().port, 8080);
/// let req = client.request();
/// assert_eq!(req.uri(), "/chat?room=1");
/// assert_eq!(req.headers()["host"], "example.com:8080");
/// assert_eq!(req.headers()["sec-websocket-protocol"], "chat.v1");
/// ```
#[derive(Clone, Debug)]
pub struct ClientHandshake {
    target: Target,
    uri: Uri,
    key: HeaderValue,
    subprotocols: Vec<String>,
    headers: HeaderMap,
    deflate: Option<DeflateConfig>,
}

impl ClientHandshake {
    /// A handshake for `url` (`ws://host[:port][/path][?query]` or `wss://...`)
    /// with the 16-byte nonce `key`, which the caller must draw from a good
    /// random source, fresh for each connection (RFC 6455 §4.1).
    pub fn new(url: &str, key: [u8; 16]) -> Result<Self, ClientConfigError> {
        let target = parse_url(url)?;
        let uri =
            Uri::try_from(target.resource.as_str()).map_err(|_| ClientConfigError::InvalidUrl)?;
        // Standard base64 holds only A-Z, a-z, 0-9, '+', '/' and '=', all
        // valid header value bytes, so this cannot fail.
        let key =
            HeaderValue::try_from(STANDARD.encode(key)).expect("base64 is a valid header value");
        Ok(ClientHandshake {
            target,
            uri,
            key,
            subprotocols: Vec::new(),
            headers: HeaderMap::new(),
            deflate: None,
        })
    }

    /// Offers these subprotocols, in order of preference (the server picks by
    /// its own preference). Each must be a non-empty HTTP token, and none may
    /// repeat.
    pub fn with_subprotocols<I, S>(mut self, subprotocols: I) -> Result<Self, ClientConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut list: Vec<String> = Vec::new();
        for name in subprotocols {
            let name = name.into();
            if !is_token(&name) || list.contains(&name) {
                return Err(ClientConfigError::InvalidSubprotocol { name });
            }
            list.push(name);
        }
        self.subprotocols = list;
        Ok(self)
    }

    /// Adds a header to the request, such as `Origin`, `Authorization` or
    /// `Cookie`. A `Host` header replaces the one derived from the URL. The
    /// headers the handshake sets itself (`Upgrade`, `Connection` and the
    /// `Sec-WebSocket-*` ones) are refused.
    pub fn with_header(
        mut self,
        name: HeaderName,
        value: HeaderValue,
    ) -> Result<Self, ClientConfigError> {
        let reserved = [
            UPGRADE,
            CONNECTION,
            SEC_WEBSOCKET_KEY,
            SEC_WEBSOCKET_VERSION,
            SEC_WEBSOCKET_PROTOCOL,
            SEC_WEBSOCKET_EXTENSIONS,
        ];
        if reserved.contains(&name) {
            return Err(ClientConfigError::ReservedHeader { name });
        }
        if name == HOST {
            self.headers.insert(name, value);
        } else {
            self.headers.append(name, value);
        }
        Ok(self)
    }

    /// Offers permessage-deflate with `config` (`None`, the default: offer
    /// no extension).
    ///
    /// Without the crate's `deflate` feature the setting is kept but has no
    /// effect: no extension is offered, as with `None` (and a response that
    /// selects one is [`UnexpectedExtensions`](ClientHandshakeError::UnexpectedExtensions)).
    pub fn with_deflate(mut self, config: Option<DeflateConfig>) -> Self {
        self.deflate = config;
        self
    }

    /// Where to connect.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The subprotocols offered, in order.
    pub fn subprotocols(&self) -> &[String] {
        &self.subprotocols
    }

    /// The upgrade request: `GET resource HTTP/1.1` with `Host`, `Upgrade:
    /// websocket`, `Connection: Upgrade`, `Sec-WebSocket-Key`,
    /// `Sec-WebSocket-Version: 13`, `Sec-WebSocket-Protocol` when subprotocols
    /// are offered, `Sec-WebSocket-Extensions` when permessage-deflate is,
    /// then the extra headers.
    pub fn request(&self) -> Request<()> {
        let mut req = Request::new(());
        *req.method_mut() = Method::GET;
        *req.uri_mut() = self.uri.clone();
        *req.version_mut() = Version::HTTP_11;
        let headers = req.headers_mut();
        if let Some(host) = self.headers.get(HOST) {
            headers.insert(HOST, host.clone());
        } else if let Ok(host) = HeaderValue::try_from(self.target.host_header()) {
            // The host came out of a parsed `Uri`, so it is always a valid
            // header value; were it not, the request would go without Host
            // and the server would answer 400.
            headers.insert(HOST, host);
        }
        headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(SEC_WEBSOCKET_KEY, self.key.clone());
        headers.insert(
            SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static(WEBSOCKET_VERSION),
        );
        if let Ok(offer) = HeaderValue::try_from(self.subprotocols.join(", ")) {
            // Tokens joined by ", " are always a valid value (checked in
            // `with_subprotocols`); an empty list sends nothing.
            if !offer.is_empty() {
                headers.insert(SEC_WEBSOCKET_PROTOCOL, offer);
            }
        }
        #[cfg(feature = "deflate")]
        if let Some(config) = &self.deflate {
            // Built from tokens, `;`, `=`, digits and spaces: always valid.
            if let Ok(offer) = HeaderValue::try_from(deflate::client_offer(config)) {
                headers.insert(SEC_WEBSOCKET_EXTENSIONS, offer);
            }
        }
        for (name, value) in &self.headers {
            if name != HOST {
                headers.append(name, value.clone());
            }
        }
        req
    }

    /// Writes [`request`](Self::request)'s head.
    pub fn encode(&self, out: &mut Vec<u8>) {
        encode_request_head(&self.request(), out);
    }

    /// Checks the server's response (RFC 6455 §4.1, in its order): status 101,
    /// `Upgrade: websocket`, `Connection: upgrade`, the exact
    /// `Sec-WebSocket-Accept` for our key, `Sec-WebSocket-Extensions` empty or
    /// a valid answer to our permessage-deflate offer, and at most one
    /// subprotocol, one that was offered.
    pub fn verify<B>(&self, resp: &Response<B>) -> Result<Negotiated, ClientHandshakeError> {
        let headers = resp.headers();
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            return Err(ClientHandshakeError::UnexpectedStatus {
                status: resp.status(),
            });
        }
        if !has_token(headers, &UPGRADE, "websocket") {
            return Err(ClientHandshakeError::MissingUpgrade);
        }
        if !has_token(headers, &CONNECTION, "upgrade") {
            return Err(ClientHandshakeError::MissingConnectionUpgrade);
        }
        let expected = accept_key(self.key.as_bytes());
        if single_value(headers, &SEC_WEBSOCKET_ACCEPT) != Some(expected.as_bytes()) {
            return Err(ClientHandshakeError::BadAccept);
        }
        let deflate = self.verify_extensions(headers)?;
        let mut chosen = list_elements(headers, &SEC_WEBSOCKET_PROTOCOL);
        let subprotocol = match (chosen.next(), chosen.next()) {
            (None, _) => None,
            (Some(name), None) => Some(
                self.subprotocols
                    .iter()
                    .find(|offered| offered.as_bytes() == name)
                    .cloned()
                    .ok_or(ClientHandshakeError::UnexpectedSubprotocol)?,
            ),
            (Some(_), Some(_)) => return Err(ClientHandshakeError::UnexpectedSubprotocol),
        };
        Ok(Negotiated {
            subprotocol,
            deflate,
        })
    }

    /// The permessage-deflate parameters the response selects, if any.
    fn verify_extensions(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<DeflateParams>, ClientHandshakeError> {
        #[cfg(feature = "deflate")]
        if let Some(config) = &self.deflate {
            let selected = deflate::parse_extensions(
                headers
                    .get_all(SEC_WEBSOCKET_EXTENSIONS)
                    .iter()
                    .map(HeaderValue::as_bytes),
            )
            .map_err(|_| ClientHandshakeError::InvalidExtensions)?;
            return deflate::verify_response(config, &selected)
                .map_err(|()| ClientHandshakeError::InvalidExtensions);
        }
        // Nothing offered (without the `deflate` feature, never anything):
        // the response must select nothing.
        match list_elements(headers, &SEC_WEBSOCKET_EXTENSIONS).next() {
            Some(_) => Err(ClientHandshakeError::UnexpectedExtensions),
            None => Ok(None),
        }
    }
}

fn parse_url(url: &str) -> Result<Target, ClientConfigError> {
    if url.contains('#') {
        return Err(ClientConfigError::Fragment);
    }
    let uri = Uri::try_from(url).map_err(|_| ClientConfigError::InvalidUrl)?;
    let scheme = uri.scheme_str().ok_or(ClientConfigError::InvalidUrl)?;
    let scheme = if scheme.eq_ignore_ascii_case("ws") {
        Scheme::Ws
    } else if scheme.eq_ignore_ascii_case("wss") {
        Scheme::Wss
    } else {
        return Err(ClientConfigError::UnsupportedScheme {
            scheme: scheme.to_owned(),
        });
    };
    let authority = uri.authority().ok_or(ClientConfigError::InvalidUrl)?;
    if authority.as_str().contains('@') {
        return Err(ClientConfigError::UserInfo);
    }
    let host = authority.host();
    let port = match authority.as_str().strip_prefix(host) {
        // No port, or an empty one ("host:"), means the default (RFC 3986 §3.2.3).
        Some("" | ":") => scheme.default_port(),
        _ => authority.port_u16().ok_or(ClientConfigError::InvalidPort)?,
    };
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return Err(ClientConfigError::MissingHost);
    }
    let resource = match uri.path_and_query().map(|pq| pq.as_str()) {
        None | Some("") => "/".to_owned(),
        Some(pq) if pq.starts_with('/') => pq.to_owned(),
        Some(pq) => format!("/{pq}"),
    };
    Ok(Target {
        scheme,
        host: host.to_owned(),
        port,
        resource,
    })
}

/// Whether `name` is an HTTP token (RFC 9110 §5.6.2), as subprotocol names
/// must be (RFC 6455 §4.1).
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
