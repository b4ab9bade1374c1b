//! What `connect` accepts: a URL (`&str`, `String`, [`Uri`]) or a whole
//! [`http::Request`] whose headers go into the opening handshake.

use http::{Method, Request, Uri};
use tidings_core::handshake::{ClientConfigError, ClientHandshake};

use crate::error::Error;

/// Something a WebSocket client can connect to: a URL, or a request with
/// headers (`Origin`, `Cookie`, `Authorization`, `Sec-WebSocket-Protocol`
/// for subprotocols, a `Host` override), as the `http` crate builds them.
///
/// ```
/// use tidings_framework::client::IntoClientRequest;
/// use tidings_framework::http::{HeaderValue, header};
///
/// let mut request = "wss://example.com/chat".into_client_request()?;
/// let headers = request.headers_mut();
/// headers.insert(header::ORIGIN, HeaderValue::from_static("https://example.com"));
/// headers.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("chat.v2, chat.v1"));
/// // `connect(request, config)` sends both.
/// # Ok::<(), tidings_framework::Error>(())
/// ```
///
/// The request's method must be `GET` and its URI absolute (`ws://` or
/// `wss://`). The handshake's own headers (`Upgrade`, `Connection`,
/// `Sec-WebSocket-Key`, `-Version`, `-Extensions`) are refused
/// ([`ClientConfigError::ReservedHeader`]); the client sets them.
pub trait IntoClientRequest {
    /// The request, or why this is not a usable WebSocket URL.
    fn into_client_request(self) -> Result<Request<()>, Error>;
}

impl IntoClientRequest for &str {
    fn into_client_request(self) -> Result<Request<()>, Error> {
        // The handshake's parser first: its errors are the precise ones
        // (fragment, credentials, scheme, port).
        ClientHandshake::new(self, [0; 16])?;
        let uri = Uri::try_from(self).map_err(|_| ClientConfigError::InvalidUrl)?;
        uri.into_client_request()
    }
}

impl IntoClientRequest for &String {
    fn into_client_request(self) -> Result<Request<()>, Error> {
        self.as_str().into_client_request()
    }
}

impl IntoClientRequest for String {
    fn into_client_request(self) -> Result<Request<()>, Error> {
        self.as_str().into_client_request()
    }
}

impl IntoClientRequest for Uri {
    fn into_client_request(self) -> Result<Request<()>, Error> {
        let mut request = Request::new(());
        *request.uri_mut() = self;
        Ok(request)
    }
}

impl IntoClientRequest for &Uri {
    fn into_client_request(self) -> Result<Request<()>, Error> {
        self.clone().into_client_request()
    }
}

impl IntoClientRequest for Request<()> {
    fn into_client_request(self) -> Result<Request<()>, Error> {
        if self.method() != Method::GET {
            return Err(Error::other(format!(
                "a WebSocket handshake is a GET request, not {}",
                self.method()
            )));
        }
        Ok(self)
    }
}
