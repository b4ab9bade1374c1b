//! The HTTP `CONNECT` tunnel (RFC 9110 §9.3.6): the request, and the check
//! of the proxy's response head (read it with
//! [`HeadReader::read_response`](crate::head::HeadReader::read_response)).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{Response, StatusCode};

/// The request that opens a tunnel to `host:port` (an IPv6 host is
/// bracketed), with `Proxy-Authorization: Basic` when `credentials`
/// (user, password) are given.
///
/// ```
/// # use tidings_core::proxy::http_connect::request;
/// let bytes = request("example.com", 443, Some(("user", "pass")));
/// assert_eq!(
///     String::from_utf8(bytes).unwrap(),
///     "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\
///      Proxy-Authorization: Basic dXNlcjpwYXNz\r\n\r\n"
/// );
/// ```
#[must_use]
pub fn request(host: &str, port: u16, credentials: Option<(&str, &str)>) -> Vec<u8> {
    let authority = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut out = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some((user, password)) = credentials {
        let token = STANDARD.encode(format!("{user}:{password}"));
        out.push_str("Proxy-Authorization: Basic ");
        out.push_str(&token);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// Why a proxy refused a `CONNECT`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// 407: the proxy wants (other) credentials.
    #[error("the proxy requires authentication (407 Proxy Authentication Required)")]
    AuthenticationRequired,
    /// Any other status outside 2xx (403: the target is not allowed, 502:
    /// the proxy could not reach it, …).
    #[error("the proxy refused the tunnel: {status}")]
    Refused {
        /// The status the proxy answered.
        status: StatusCode,
    },
}

/// Checks the proxy's response head: a 2xx status means the tunnel is open
/// and the bytes after the head belong to the target.
///
/// ```
/// # use tidings_core::proxy::http_connect::{check_response, ConnectError};
/// # use http::{Response, StatusCode};
/// let ok = Response::builder().status(200).body(()).unwrap();
/// assert_eq!(check_response(&ok), Ok(()));
/// let auth = Response::builder().status(407).body(()).unwrap();
/// assert_eq!(check_response(&auth), Err(ConnectError::AuthenticationRequired));
/// ```
pub fn check_response(response: &Response<()>) -> Result<(), ConnectError> {
    match response.status() {
        status if status.is_success() => Ok(()),
        StatusCode::PROXY_AUTHENTICATION_REQUIRED => Err(ConnectError::AuthenticationRequired),
        status => Err(ConnectError::Refused { status }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_targets_are_bracketed_once() {
        let plain = String::from_utf8(request("::1", 8443, None)).unwrap();
        assert!(plain.starts_with("CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n"));
        let bracketed = String::from_utf8(request("[::1]", 80, None)).unwrap();
        assert!(bracketed.starts_with("CONNECT [::1]:80 "));
    }

    #[test]
    fn statuses_outside_2xx_are_refusals() {
        for code in [301, 403, 502] {
            let response = Response::builder().status(code).body(()).unwrap();
            assert!(matches!(
                check_response(&response),
                Err(ConnectError::Refused { status }) if status.as_u16() == code
            ));
        }
    }
}
