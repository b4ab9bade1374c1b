//! The server side of the opening handshake (RFC 6455 §4.2).

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::header::{
    ALLOW, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderMap, HeaderValue, ORIGIN,
    SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL,
    SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{Method, Request, Response, StatusCode, Version};

use super::{WEBSOCKET_VERSION, accept_key, has_token, list_elements, single_value};
#[cfg(feature = "deflate")]
use crate::deflate;
use crate::deflate::{DeflateConfig, DeflateParams};
use crate::head::encode_response_head;

/// Server-side handshake settings: which subprotocols to offer and which
/// origins to admit.
///
/// ```
/// use tidings_core::handshake::{OriginPolicy, ServerHandshake};
///
/// let server = ServerHandshake::default()
///     .with_subprotocols(["chat.v2", "chat.v1"])
///     .with_origin(OriginPolicy::AllowList(vec!["https://example.com".into()]));
/// # let _ = server;
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ServerHandshake {
    /// Subprotocols this server speaks, most preferred first. The first one the
    /// client also offered is chosen; if there is none in common, the
    /// connection is accepted without a subprotocol (the client decides
    /// whether that is acceptable). Compared case-sensitively (RFC 6455 §4.1).
    /// Default: empty.
    pub subprotocols: Vec<String>,
    /// Which `Origin` values are admitted. Default: [`OriginPolicy::AnyOrigin`].
    pub origin: OriginPolicy,
    /// permessage-deflate: accepted when offered if `Some`. Default `None`
    /// (every extension offer is declined).
    pub deflate: Option<DeflateConfig>,
}

/// A caller-supplied origin check: receives the `Origin` value (`None` when
/// absent) and returns whether to admit the request.
pub type OriginCheck = Arc<dyn Fn(Option<&str>) -> bool + Send + Sync>;

/// Which origins a server admits (RFC 6455 §4.2.2 and §10.2).
///
/// The `Origin` header protects against *browsers* being used to open
/// connections from foreign pages. Browsers always send it; other clients
/// usually do not, and could forge it anyway.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum OriginPolicy {
    /// Admit every request, with or without an `Origin` header. The default.
    #[default]
    AnyOrigin,
    /// Admit a request whose `Origin` equals one of these serializations
    /// (such as `https://example.com:8443`), compared ASCII case-insensitively
    /// and otherwise exactly (no trailing `/`, no path).
    ///
    /// A request *without* an `Origin` header is admitted: it does not come
    /// from a browser, and origin checks only defend against browsers. Use
    /// [`OriginPolicy::Custom`] to refuse such requests. A request with several
    /// `Origin` headers, or one that is not visible ASCII, is refused.
    AllowList(Vec<String>),
    /// Admit a request if the function returns `true`. It receives the
    /// `Origin` value, or `None` when the header is absent. A request with
    /// several `Origin` headers, or one that is not visible ASCII, is refused
    /// without calling the function.
    Custom(OriginCheck),
}

impl fmt::Debug for OriginPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OriginPolicy::AnyOrigin => f.write_str("AnyOrigin"),
            OriginPolicy::AllowList(list) => f.debug_tuple("AllowList").field(list).finish(),
            OriginPolicy::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

impl OriginPolicy {
    /// Whether a request with these headers is admitted.
    pub fn admits(&self, headers: &HeaderMap) -> bool {
        let custom = match self {
            OriginPolicy::AnyOrigin => return true,
            OriginPolicy::AllowList(_) => None,
            OriginPolicy::Custom(admit) => Some(admit),
        };
        let mut values = headers.get_all(ORIGIN).iter();
        let origin = match (values.next(), values.next()) {
            (None, _) => None,
            (Some(value), None) => match value.to_str() {
                Ok(origin) => Some(origin.trim()),
                Err(_) => return false,
            },
            (Some(_), Some(_)) => return false,
        };
        match (custom, self) {
            (Some(admit), _) => admit(origin),
            (None, OriginPolicy::AllowList(allowed)) => origin.is_none_or(|origin| {
                allowed
                    .iter()
                    .any(|allowed| allowed.eq_ignore_ascii_case(origin))
            }),
            (None, _) => true,
        }
    }
}

impl ServerHandshake {
    /// Sets the subprotocols this server speaks, most preferred first.
    pub fn with_subprotocols<I, S>(mut self, subprotocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.subprotocols = subprotocols.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the origin policy.
    pub fn with_origin(mut self, origin: OriginPolicy) -> Self {
        self.origin = origin;
        self
    }

    /// Accepts permessage-deflate offers with `config` (`None`: decline them).
    ///
    /// Without the crate's `deflate` feature the setting is kept but has no
    /// effect: every offer is declined, as with `None`.
    pub fn with_deflate(mut self, config: Option<DeflateConfig>) -> Self {
        self.deflate = config;
        self
    }

    /// The permessage-deflate response to the request's offers: the first
    /// acceptable offer wins; offers with unknown, repeated or invalid
    /// parameters are declined, and so is a header that does not parse.
    #[cfg(feature = "deflate")]
    fn negotiate_deflate(&self, headers: &HeaderMap) -> Option<(DeflateParams, HeaderValue)> {
        let config = self.deflate.as_ref()?;
        let offers = deflate::parse_extensions(
            headers
                .get_all(SEC_WEBSOCKET_EXTENSIONS)
                .iter()
                .map(HeaderValue::as_bytes),
        )
        .ok()?;
        let (params, response) = deflate::accept_offers(config, &offers)?;
        // Built from tokens, `;`, `=`, digits and spaces: always valid.
        let response = HeaderValue::try_from(response).ok()?;
        Some((params, response))
    }

    /// Without the `deflate` feature every offer is declined.
    #[cfg(not(feature = "deflate"))]
    fn negotiate_deflate(&self, _headers: &HeaderMap) -> Option<(DeflateParams, HeaderValue)> {
        None
    }

    /// Checks an upgrade request (RFC 6455 §4.2.1) and returns the `101`
    /// response to send, or the reason to refuse it.
    ///
    /// The checks run in this order and the first failure is returned:
    /// method `GET`; HTTP/1.1 or later; exactly one `Host`; `Upgrade` lists
    /// `websocket`; `Connection` lists `upgrade`; `Sec-WebSocket-Version` is
    /// `13`; exactly one `Sec-WebSocket-Key`, the base64 of 16 bytes; the
    /// origin policy. See [`RejectReason`] for the status of each.
    ///
    /// The request target is not looked at (routing is the caller's job).
    /// Extensions: permessage-deflate when [`deflate`](Self::deflate) is set
    /// and offered (and the crate's `deflate` feature is on); every other
    /// offer is ignored.
    pub fn accept<B>(&self, req: &Request<B>) -> Result<Accepted, Rejection> {
        self.accept_offering(req, &self.subprotocols)
    }

    /// [`accept`](Self::accept) with `subprotocols` (most preferred first)
    /// in place of [`subprotocols`](Self::subprotocols): for a server whose
    /// routes speak different subprotocols, the list of the route the
    /// request was routed to.
    ///
    /// ```
    /// use tidings_core::handshake::ServerHandshake;
    ///
    /// let request = http::Request::get("/chat")
    ///     .header("host", "example.com")
    ///     .header("upgrade", "websocket")
    ///     .header("connection", "Upgrade")
    ///     .header("sec-websocket-version", "13")
    ///     .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
    ///     .header("sec-websocket-protocol", "v1.chat, v2.chat")
    ///     .body(())
    ///     .unwrap();
    /// let server = ServerHandshake::default().with_subprotocols(["v1.chat"]);
    /// let accepted = server.accept_offering(&request, &["v2.chat".to_owned()]).unwrap();
    /// assert_eq!(accepted.subprotocol.as_deref(), Some("v2.chat"));
    /// ```
    pub fn accept_offering<B>(
        &self,
        req: &Request<B>,
        subprotocols: &[String],
    ) -> Result<Accepted, Rejection> {
        let headers = req.headers();
        if req.method() != Method::GET {
            return Err(RejectReason::MethodNotAllowed.into());
        }
        if req.version() < Version::HTTP_11 {
            return Err(RejectReason::HttpVersionTooOld.into());
        }
        if single_value(headers, &HOST).is_none() {
            return Err(RejectReason::BadHost.into());
        }
        if !has_token(headers, &UPGRADE, "websocket") {
            return Err(RejectReason::NotAnUpgrade.into());
        }
        if !has_token(headers, &CONNECTION, "upgrade") {
            return Err(RejectReason::MissingConnectionUpgrade.into());
        }
        if single_value(headers, &SEC_WEBSOCKET_VERSION) != Some(WEBSOCKET_VERSION.as_bytes()) {
            return Err(RejectReason::UnsupportedVersion.into());
        }
        let key = single_value(headers, &SEC_WEBSOCKET_KEY)
            .filter(|key| is_valid_key(key))
            .ok_or(RejectReason::BadKey)?;
        if !self.origin.admits(headers) {
            return Err(RejectReason::OriginNotAllowed.into());
        }

        let chosen = subprotocols.iter().find_map(|ours| {
            let offered = list_elements(headers, &SEC_WEBSOCKET_PROTOCOL)
                .any(|theirs| theirs == ours.as_bytes());
            let value = HeaderValue::from_str(ours).ok().filter(|_| offered)?;
            Some((ours.clone(), value))
        });

        let mut response = Response::new(());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let out = response.headers_mut();
        out.insert(UPGRADE, HeaderValue::from_static("websocket"));
        out.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        out.insert(SEC_WEBSOCKET_ACCEPT, accept_value(key));
        let subprotocol = chosen.map(|(name, value)| {
            out.insert(SEC_WEBSOCKET_PROTOCOL, value);
            name
        });
        let deflate = self.negotiate_deflate(headers).map(|(params, value)| {
            out.insert(SEC_WEBSOCKET_EXTENSIONS, value);
            params
        });
        Ok(Accepted {
            response,
            subprotocol,
            deflate,
        })
    }
}

/// Whether a `Sec-WebSocket-Key` value is the base64 of exactly 16 bytes.
fn is_valid_key(key: &[u8]) -> bool {
    // 16 bytes encode to exactly 24 characters; checking the length first
    // also bounds the decoding buffer.
    key.len() == 24 && STANDARD.decode(key).is_ok_and(|nonce| nonce.len() == 16)
}

fn accept_value(key: &[u8]) -> HeaderValue {
    // accept_key returns standard base64, which only holds A-Z, a-z, 0-9, '+',
    // '/' and '=', all valid header value bytes, so this cannot fail.
    HeaderValue::from_str(&accept_key(key)).expect("base64 is a valid header value")
}

/// A handshake the server accepted.
#[derive(Debug)]
#[non_exhaustive]
pub struct Accepted {
    /// The `101 Switching Protocols` response: `Upgrade: websocket`,
    /// `Connection: Upgrade`, `Sec-WebSocket-Accept` and, when one was chosen,
    /// `Sec-WebSocket-Protocol`. Headers may be added before encoding (such
    /// as `Set-Cookie`); the handshake headers must be left as they are.
    pub response: Response<()>,
    /// The chosen subprotocol, if any.
    pub subprotocol: Option<String>,
    /// The permessage-deflate parameters, when an offer was accepted (pass
    /// them to [`ws::Connection::with_deflate`](crate::ws::Connection::with_deflate)).
    pub deflate: Option<DeflateParams>,
}

impl Accepted {
    /// Writes the response head. After it, both sides speak WebSocket.
    pub fn encode(&self, out: &mut Vec<u8>) {
        encode_response_head(&self.response, out);
    }
}

/// Why an upgrade request was refused, with the status to answer.
///
/// None of these ever leads to a `101`; after sending the [`Rejection`]
/// response the server closes the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectReason {
    /// The method is not `GET`. 405 Method Not Allowed, with `Allow: GET`.
    MethodNotAllowed,
    /// The request is HTTP/1.0 (or older). 400 Bad Request: RFC 6455 requires
    /// HTTP/1.1, but 505 would be wrong because 505 is about the *major*
    /// version (RFC 9110 §15.6.6) and this server does speak HTTP/1.
    HttpVersionTooOld,
    /// `Host` is missing or repeated. 400 Bad Request (RFC 9112 §3.2).
    BadHost,
    /// `Upgrade` does not list `websocket`. 426 Upgrade Required, with
    /// `Upgrade: websocket` and `Sec-WebSocket-Version: 13`, telling a plain
    /// HTTP client what this resource expects (RFC 9110 §15.5.22).
    NotAnUpgrade,
    /// `Connection` does not list `upgrade`. 400 Bad Request.
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Version` is missing, repeated or not `13`. 426 Upgrade
    /// Required, with `Sec-WebSocket-Version: 13` (RFC 6455 §4.4) and
    /// `Upgrade: websocket`.
    UnsupportedVersion,
    /// `Sec-WebSocket-Key` is missing, repeated, or not the base64 of exactly
    /// 16 bytes. 400 Bad Request.
    BadKey,
    /// The origin policy refused the request's `Origin`. 403 Forbidden.
    OriginNotAllowed,
}

impl RejectReason {
    /// The HTTP status to answer with.
    pub fn status(self) -> StatusCode {
        match self {
            RejectReason::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            RejectReason::NotAnUpgrade | RejectReason::UnsupportedVersion => {
                StatusCode::UPGRADE_REQUIRED
            }
            RejectReason::OriginNotAllowed => StatusCode::FORBIDDEN,
            RejectReason::HttpVersionTooOld
            | RejectReason::BadHost
            | RejectReason::MissingConnectionUpgrade
            | RejectReason::BadKey => StatusCode::BAD_REQUEST,
        }
    }

    /// A short human-readable explanation, used as the response body.
    pub fn text(self) -> &'static str {
        match self {
            RejectReason::MethodNotAllowed => "WebSocket handshake requires GET",
            RejectReason::HttpVersionTooOld => "WebSocket handshake requires HTTP/1.1 or later",
            RejectReason::BadHost => "missing or repeated Host header",
            RejectReason::NotAnUpgrade => "this resource requires Upgrade: websocket",
            RejectReason::MissingConnectionUpgrade => "Connection header must list upgrade",
            RejectReason::UnsupportedVersion => {
                "unsupported Sec-WebSocket-Version; this server speaks 13"
            }
            RejectReason::BadKey => "missing, repeated or malformed Sec-WebSocket-Key",
            RejectReason::OriginNotAllowed => "origin not allowed",
        }
    }
}

/// A refused handshake: the reason and the complete HTTP response for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("WebSocket handshake rejected ({}): {}", .kind.status(), .kind.text())]
pub struct Rejection {
    kind: RejectReason,
}

impl From<RejectReason> for Rejection {
    fn from(kind: RejectReason) -> Self {
        Rejection { kind }
    }
}

impl Rejection {
    /// Why the handshake was refused.
    pub fn kind(&self) -> RejectReason {
        self.kind
    }

    /// The HTTP status to answer with (never 101).
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// A short human-readable explanation, used as the response body.
    pub fn reason(&self) -> &'static str {
        self.kind.text()
    }

    /// The headers this status requires besides the standard ones: `Allow:
    /// GET` for 405; `Upgrade: websocket` and `Sec-WebSocket-Version: 13` for
    /// 426. Empty otherwise.
    pub fn extra_headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        match self.kind.status() {
            StatusCode::METHOD_NOT_ALLOWED => {
                headers.insert(ALLOW, HeaderValue::from_static("GET"));
            }
            StatusCode::UPGRADE_REQUIRED => {
                headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
                headers.insert(
                    SEC_WEBSOCKET_VERSION,
                    HeaderValue::from_static(WEBSOCKET_VERSION),
                );
            }
            _ => {}
        }
        headers
    }

    /// The complete response: the status, [`extra_headers`](Self::extra_headers),
    /// `Connection: close` (`Connection: upgrade, close` when `Upgrade` is
    /// sent, as RFC 9110 §7.8 requires), `Content-Type: text/plain;
    /// charset=utf-8`, `Content-Length`, and [`reason`](Self::reason) as body.
    pub fn response(&self) -> Response<String> {
        let mut headers = self.extra_headers();
        let connection = if headers.contains_key(UPGRADE) {
            "upgrade, close"
        } else {
            "close"
        };
        headers.insert(CONNECTION, HeaderValue::from_static(connection));
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        headers.insert(CONTENT_LENGTH, HeaderValue::from(self.reason().len()));
        let mut response = Response::new(self.reason().to_owned());
        *response.status_mut() = self.status();
        *response.headers_mut() = headers;
        response
    }

    /// Writes [`response`](Self::response), head and body, as HTTP/1.1.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let (parts, body) = self.response().into_parts();
        encode_response_head(&Response::from_parts(parts, ()), out);
        out.extend_from_slice(body.as_bytes());
    }
}
