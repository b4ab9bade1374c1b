//! Proxies for the clients: HTTP `CONNECT` (with Basic credentials) and
//! SOCKS5 (with username/password, names resolved by the proxy), set
//! explicitly or read from the environment the way curl reads it.

use std::fmt;
use std::io;

use tidings_core::head::{HeadLimits, HeadReader};
use tidings_core::proxy::http_connect;
use tidings_core::proxy::socks5::{Socks5, Step};

use super::failure::DialError;
use super::proxy_error::ProxyError;
use crate::io_util::{read_some, write_all};
use crate::runtime::Transport;

/// The protocol spoken to a [`Proxy`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProxyKind {
    /// An HTTP proxy, asked for a tunnel with `CONNECT host:port` (for
    /// `ws://` and `http://` targets too, as browsers do).
    Http,
    /// A SOCKS5 proxy; the target's name is resolved by the proxy.
    Socks5,
}

/// One proxy server: its kind, address and optional credentials.
///
/// ```
/// # use tidings_framework::dial::{Proxy, ProxyKind};
/// let proxy = Proxy::parse("socks5h://alice:s%40cret@127.0.0.1:1080").unwrap();
/// assert_eq!(proxy.kind(), ProxyKind::Socks5);
/// assert_eq!((proxy.host(), proxy.port()), ("127.0.0.1", 1080));
/// // The password never shows in Debug output.
/// assert!(!format!("{proxy:?}").contains("cret"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    kind: ProxyKind,
    host: String,
    port: u16,
    credentials: Option<(String, String)>,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("kind", &self.kind)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .finish_non_exhaustive()
    }
}

impl Proxy {
    /// An HTTP `CONNECT` proxy at `host:port`.
    pub fn http(host: impl Into<String>, port: u16) -> Self {
        Proxy::new(ProxyKind::Http, host.into(), port)
    }

    /// A SOCKS5 proxy at `host:port`.
    pub fn socks5(host: impl Into<String>, port: u16) -> Self {
        Proxy::new(ProxyKind::Socks5, host.into(), port)
    }

    fn new(kind: ProxyKind, host: String, port: u16) -> Self {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        Proxy {
            kind,
            host,
            port,
            credentials: None,
        }
    }

    /// Adds credentials: Basic for HTTP (`Proxy-Authorization`),
    /// username/password (RFC 1929) for SOCKS5.
    #[must_use]
    pub fn credentials(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Some((user.into(), password.into()));
        self
    }

    /// Reads a proxy URL: `http://[user:password@]host[:port]` (port 80 by
    /// default; `https://` proxies are not supported), or `socks5://` /
    /// `socks5h://` (port 1080 by default; both let the proxy resolve
    /// names). Credentials may be percent-encoded. A URL without a scheme
    /// is taken as `http://`, as curl does.
    pub fn parse(url: &str) -> Result<Self, ProxyError> {
        let invalid = |reason| ProxyError::InvalidUrl { reason };
        let url = url.trim();
        let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
        let (kind, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "http" => (ProxyKind::Http, 80),
            "socks5" | "socks5h" => (ProxyKind::Socks5, 1080),
            "https" => return Err(invalid("https:// proxies are not supported")),
            _ => return Err(invalid("the scheme must be http, socks5 or socks5h")),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, authority),
        };
        let (host, port) = split_host_port(hostport, default_port)
            .ok_or(invalid("the host or port is not valid"))?;
        let mut proxy = Proxy::new(kind, host.to_owned(), port);
        if let Some(userinfo) = userinfo {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            proxy = proxy.credentials(percent_decode(user)?, percent_decode(password)?);
        }
        Ok(proxy)
    }

    /// HTTP or SOCKS5.
    pub fn kind(&self) -> ProxyKind {
        self.kind
    }

    /// The proxy's host (without brackets for IPv6).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// `host[:port]` with brackets around IPv6; `None` if empty or the port
/// is not a number.
fn split_host_port(hostport: &str, default_port: u16) -> Option<(&str, u16)> {
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        match after.strip_prefix(':') {
            Some(port) => (host, port.parse().ok()?),
            None if after.is_empty() => (host, default_port),
            None => return None,
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((host, port)) => (host, port.parse().ok()?),
            None => (hostport, default_port),
        }
    };
    (!host.is_empty()).then_some((host, port))
}

fn percent_decode(text: &str) -> Result<String, ProxyError> {
    let invalid = || ProxyError::InvalidUrl {
        reason: "the credentials are not valid percent-encoded UTF-8",
    };
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(byte) = bytes.next() {
        if byte == b'%' {
            let hex = [
                bytes.next().ok_or_else(invalid)?,
                bytes.next().ok_or_else(invalid)?,
            ];
            let hex = std::str::from_utf8(&hex).map_err(|_| invalid())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| invalid())?);
        } else {
            out.push(byte);
        }
    }
    String::from_utf8(out).map_err(|_| invalid())
}

/// Which proxy, if any, a client uses for each target.
///
/// Set one proxy for everything with [`ProxyConfig::all`], or read the
/// environment with [`ProxyConfig::from_env`] (opt-in: a client uses no
/// proxy unless given a `ProxyConfig`). Hosts listed with
/// [`no_proxy`](ProxyConfig::no_proxy) are reached directly.
///
/// ```
/// # use tidings_framework::dial::{Proxy, ProxyConfig};
/// let config = ProxyConfig::all(Proxy::http("127.0.0.1", 3128)).no_proxy("localhost,.internal");
/// assert!(config.for_target("example.com", true).is_some());
/// assert!(config.for_target("api.internal", true).is_none());
/// assert!(config.for_target("localhost", false).is_none());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyConfig {
    /// For `wss://` and `https://` targets.
    tls: Option<Proxy>,
    /// For `ws://` and `http://` targets.
    plain: Option<Proxy>,
    /// Lowercase host names, domain suffixes (leading dot kept off) or IP
    /// addresses reached without a proxy; `*` for all.
    no_proxy: Vec<String>,
}

impl ProxyConfig {
    /// `proxy` for every target (TLS or not).
    pub fn all(proxy: Proxy) -> Self {
        ProxyConfig {
            tls: Some(proxy.clone()),
            plain: Some(proxy),
            no_proxy: Vec::new(),
        }
    }

    /// The proxies of the environment, as curl reads them:
    ///
    /// | targets | variables, first set wins |
    /// |---|---|
    /// | `wss://`, `https://` | `https_proxy`, `HTTPS_PROXY`, `all_proxy`, `ALL_PROXY` |
    /// | `ws://`, `http://` | `http_proxy` (lowercase only: `HTTP_PROXY` can be set by a CGI request header, "httpoxy"), `all_proxy`, `ALL_PROXY` |
    /// | exceptions | `no_proxy`, `NO_PROXY`: comma-separated host names (a name matches itself and its subdomains; a leading dot is allowed), IP addresses, or `*` for all |
    ///
    /// Empty variables count as unset. No variable set: no proxy.
    ///
    /// # Errors
    /// A variable that holds an invalid proxy URL.
    pub fn from_env() -> Result<Self, ProxyError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) with the variables read by `lookup`
    /// (for tests, or a configuration file mapped to the same names).
    ///
    /// ```
    /// # use tidings_framework::dial::{ProxyConfig, ProxyKind};
    /// let vars = [("HTTPS_PROXY", "http://proxy:3128"), ("ALL_PROXY", "socks5h://proxy:1080"), ("NO_PROXY", "localhost")];
    /// let config = ProxyConfig::from_lookup(|name| {
    ///     vars.iter().find(|(key, _)| *key == name).map(|(_, value)| value.to_string())
    /// }).unwrap();
    /// assert_eq!(config.for_target("example.com", true).unwrap().kind(), ProxyKind::Http);
    /// assert_eq!(config.for_target("example.com", false).unwrap().kind(), ProxyKind::Socks5);
    /// assert!(config.for_target("localhost", true).is_none());
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ProxyError> {
        let first = |names: &[&str]| {
            names
                .iter()
                .find_map(|name| lookup(name).filter(|value| !value.trim().is_empty()))
        };
        let all = first(&["all_proxy", "ALL_PROXY"]);
        let tls = first(&["https_proxy", "HTTPS_PROXY"]).or_else(|| all.clone());
        let plain = first(&["http_proxy"]).or(all);
        let config = ProxyConfig {
            tls: tls.as_deref().map(Proxy::parse).transpose()?,
            plain: plain.as_deref().map(Proxy::parse).transpose()?,
            no_proxy: Vec::new(),
        };
        Ok(match first(&["no_proxy", "NO_PROXY"]) {
            Some(list) => config.no_proxy(&list),
            None => config,
        })
    }

    /// Adds hosts reached without a proxy: a comma-separated list as in
    /// `NO_PROXY` (see [`from_env`](Self::from_env)).
    #[must_use]
    pub fn no_proxy(mut self, list: &str) -> Self {
        self.no_proxy.extend(
            list.split(',')
                .map(|entry| entry.trim().trim_start_matches('.').to_ascii_lowercase())
                .map(|entry| {
                    entry
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_owned()
                })
                .filter(|entry| !entry.is_empty()),
        );
        self
    }

    /// The proxy for `host` (a `wss://` / `https://` target when `tls`), or
    /// `None` to connect directly.
    pub fn for_target(&self, host: &str, tls: bool) -> Option<&Proxy> {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let excluded = self.no_proxy.iter().any(|entry| {
            entry == "*"
                || *entry == host
                || host
                    .strip_suffix(entry.as_str())
                    .is_some_and(|head| head.ends_with('.'))
        });
        if excluded {
            return None;
        }
        if tls {
            self.tls.as_ref()
        } else {
            self.plain.as_ref()
        }
    }
}

/// Opens a tunnel through `proxy` (already connected as `io`) to
/// `host:port`.
pub(crate) async fn tunnel<T: Transport>(
    mut io: T,
    proxy: &Proxy,
    host: &str,
    port: u16,
) -> Result<T, DialError> {
    let name = format!("{}:{}", proxy.host, proxy.port);
    let credentials = proxy
        .credentials
        .as_ref()
        .map(|(user, password)| (user.as_str(), password.as_str()));
    match proxy.kind {
        ProxyKind::Http => {
            write_all(&mut io, &http_connect::request(host, port, credentials)).await?;
            let mut reader = HeadReader::new(HeadLimits::default());
            let mut buf = Vec::with_capacity(256);
            loop {
                let parsed = reader
                    .read_response(&buf)
                    .map_err(|error| ProxyError::Head {
                        proxy: name.clone(),
                        error,
                    })?;
                if let Some((response, n)) = parsed {
                    http_connect::check_response(&response).map_err(|error| {
                        ProxyError::Connect {
                            proxy: name.clone(),
                            error,
                        }
                    })?;
                    if buf.len() > n {
                        return Err(ProxyError::UnexpectedBytes { proxy: name }.into());
                    }
                    return Ok(io);
                }
                if read_some(&mut io, &mut buf, 1024).await? == 0 {
                    return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
                }
            }
        }
        ProxyKind::Socks5 => {
            let socks_error = |error| ProxyError::Socks5 {
                proxy: name.clone(),
                error,
            };
            let mut socks = Socks5::new(host, port, credentials).map_err(socks_error)?;
            write_all(&mut io, &socks.greeting()).await?;
            let mut buf = Vec::with_capacity(32);
            loop {
                match socks.handle(&buf).map_err(socks_error)? {
                    Step::Send(bytes) => {
                        buf.clear();
                        write_all(&mut io, &bytes).await?;
                    }
                    Step::NeedMore(total) => {
                        // Exactly the reply: what follows is the target's.
                        let missing = total.saturating_sub(buf.len()).max(1);
                        if read_some(&mut io, &mut buf, missing).await? == 0 {
                            return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
                        }
                    }
                    Step::Done(_) => return Ok(io),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> ProxyConfig {
        ProxyConfig::from_lookup(|name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
        .unwrap()
    }

    #[test]
    fn urls_with_and_without_scheme_port_and_credentials() {
        let proxy = Proxy::parse("proxy.test").unwrap();
        assert_eq!(
            (proxy.kind(), proxy.host(), proxy.port()),
            (ProxyKind::Http, "proxy.test", 80)
        );
        let proxy = Proxy::parse("http://u%3Ax:p%40ss@[::1]:3128/").unwrap();
        assert_eq!((proxy.host(), proxy.port()), ("::1", 3128));
        assert_eq!(
            proxy.credentials,
            Some(("u:x".to_owned(), "p@ss".to_owned()))
        );
        assert!(Proxy::parse("https://p:1").is_err());
        assert!(Proxy::parse("ftp://p:1").is_err());
        assert!(Proxy::parse("http://p:port").is_err());
        assert!(Proxy::parse("http://:1").is_err());
        assert!(Proxy::parse("http://u:%zz@p").is_err());
    }

    #[test]
    fn environment_precedence_lowercase_first_and_no_uppercase_http_proxy() {
        let c = config(&[
            ("https_proxy", "http://lower:1"),
            ("HTTPS_PROXY", "http://upper:2"),
            ("HTTP_PROXY", "http://cgi:3"),
        ]);
        assert_eq!(c.for_target("x", true).unwrap().host(), "lower");
        assert!(c.for_target("x", false).is_none(), "HTTP_PROXY is ignored");
        let c = config(&[("ALL_PROXY", "socks5://all:9"), ("https_proxy", " ")]);
        assert_eq!(c.for_target("x", true).unwrap().host(), "all");
        assert_eq!(c.for_target("x", false).unwrap().host(), "all");
        assert_eq!(config(&[]), ProxyConfig::default());
    }

    #[test]
    fn no_proxy_matches_names_subdomains_ips_and_star() {
        let c = config(&[
            ("all_proxy", "http://p:1"),
            ("no_proxy", "example.com, .corp.test,127.0.0.1,[::1]"),
        ]);
        for direct in [
            "example.com",
            "www.example.com",
            "EXAMPLE.COM.",
            "a.corp.test",
            "127.0.0.1",
            "::1",
        ] {
            assert!(c.for_target(direct, true).is_none(), "{direct}");
        }
        for proxied in ["badexample.com", "corp.tester", "127.0.0.10"] {
            assert!(c.for_target(proxied, true).is_some(), "{proxied}");
        }
        let star = config(&[("all_proxy", "http://p:1"), ("NO_PROXY", "*")]);
        assert!(star.for_target("anything", false).is_none());
    }
}
