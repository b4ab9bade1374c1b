//! A SOCKS5 client handshake (RFC 1928, `CONNECT` command only) with
//! no authentication or username/password (RFC 1929), driven by the
//! caller: [`Socks5::greeting`], then feed each reply to
//! [`Socks5::handle`] and write what it returns, until it says the tunnel
//! is open.
//!
//! The target goes to the proxy by name (address type DOMAINNAME) unless it
//! is an IP literal: the proxy resolves it ("remote DNS", what the
//! `socks5h://` scheme means elsewhere), so the client's own resolver never
//! sees the name.

use core::net::{Ipv4Addr, Ipv6Addr};

const VERSION: u8 = 5;
const NO_AUTH: u8 = 0;
const USER_PASS: u8 = 2;
const NO_ACCEPTABLE: u8 = 0xff;
const USER_PASS_VERSION: u8 = 1;
const CMD_CONNECT: u8 = 1;
const ATYP_V4: u8 = 1;
const ATYP_DOMAIN: u8 = 3;
const ATYP_V6: u8 = 4;

/// Why a SOCKS5 handshake failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Socks5Error {
    /// The host name is longer than 255 bytes, or a user name or password
    /// is empty or longer than 255 bytes.
    #[error("{0} does not fit in a SOCKS5 request (1 to 255 bytes)")]
    TooLong(&'static str),
    /// The proxy answered with bytes that are not SOCKS5.
    #[error("the proxy's reply is not SOCKS5")]
    Protocol,
    /// The proxy accepts none of the offered methods (it wants credentials
    /// when none were given, or another method).
    #[error("the SOCKS5 proxy accepts none of the offered authentication methods")]
    NoAcceptableMethod,
    /// The proxy rejected the username or password.
    #[error("the SOCKS5 proxy rejected the username or password")]
    AuthenticationFailed,
    /// The proxy could not or would not connect to the target.
    #[error("the SOCKS5 proxy could not connect: {}", reply_text(*.0))]
    Refused(u8),
}

/// The RFC 1928 §6 text of a reply code.
fn reply_text(code: u8) -> &'static str {
    match code {
        1 => "general SOCKS server failure",
        2 => "connection not allowed by ruleset",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "unassigned reply code",
    }
}

/// What to do after a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Write these bytes, then read and pass the next reply.
    Send(Vec<u8>),
    /// Read at least this many bytes in total for the current reply (it is
    /// not complete yet), then call again with all of them.
    NeedMore(usize),
    /// The tunnel is open; this many bytes of the input were the reply
    /// (what follows belongs to the target).
    Done(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Method,
    Auth,
    Connect,
    Done,
}

/// A SOCKS5 client handshake for one target.
///
/// ```
/// # use tidings_core::proxy::socks5::{Socks5, Step};
/// let mut socks = Socks5::new("example.com", 443, None).unwrap();
/// assert_eq!(socks.greeting(), vec![5, 1, 0]);
/// // The proxy picks "no authentication": the CONNECT request follows.
/// let Step::Send(request) = socks.handle(&[5, 0]).unwrap() else { panic!() };
/// assert_eq!(&request[..5], &[5, 1, 0, 3, 11]);
/// // Success, bound to 0.0.0.0:0.
/// assert_eq!(socks.handle(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).unwrap(), Step::Done(10));
/// ```
#[derive(Clone, Debug)]
pub struct Socks5 {
    host: String,
    port: u16,
    credentials: Option<(String, String)>,
    phase: Phase,
}

impl Socks5 {
    /// A handshake to `host:port`, with username/password `credentials`
    /// if given (then only that method is offered).
    pub fn new(
        host: &str,
        port: u16,
        credentials: Option<(&str, &str)>,
    ) -> Result<Self, Socks5Error> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.parse::<Ipv6Addr>().is_err()
            && host.parse::<Ipv4Addr>().is_err()
            && !(1..=255).contains(&host.len())
        {
            return Err(Socks5Error::TooLong("the host name"));
        }
        if let Some((user, password)) = credentials {
            if !(1..=255).contains(&user.len()) {
                return Err(Socks5Error::TooLong("the user name"));
            }
            if !(1..=255).contains(&password.len()) {
                return Err(Socks5Error::TooLong("the password"));
            }
        }
        Ok(Socks5 {
            host: host.to_owned(),
            port,
            credentials: credentials.map(|(u, p)| (u.to_owned(), p.to_owned())),
            phase: Phase::Method,
        })
    }

    /// The first bytes to send: the methods offered.
    #[must_use]
    pub fn greeting(&self) -> Vec<u8> {
        let method = if self.credentials.is_some() {
            USER_PASS
        } else {
            NO_AUTH
        };
        vec![VERSION, 1, method]
    }

    /// Handles the proxy's reply so far (`input` from the start of the
    /// current reply).
    pub fn handle(&mut self, input: &[u8]) -> Result<Step, Socks5Error> {
        match self.phase {
            Phase::Method => {
                let Some(&[version, method]) = input.get(..2) else {
                    return Ok(Step::NeedMore(2));
                };
                if version != VERSION {
                    return Err(Socks5Error::Protocol);
                }
                match (method, &self.credentials) {
                    (NO_AUTH, None) => {
                        self.phase = Phase::Connect;
                        Ok(Step::Send(self.connect_request()))
                    }
                    (USER_PASS, Some((user, password))) => {
                        self.phase = Phase::Auth;
                        let mut out = vec![USER_PASS_VERSION];
                        // Lengths checked in `new`: 1 to 255.
                        out.push(user.len() as u8);
                        out.extend_from_slice(user.as_bytes());
                        out.push(password.len() as u8);
                        out.extend_from_slice(password.as_bytes());
                        Ok(Step::Send(out))
                    }
                    (NO_ACCEPTABLE, _) => Err(Socks5Error::NoAcceptableMethod),
                    _ => Err(Socks5Error::Protocol),
                }
            }
            Phase::Auth => {
                let Some(&[version, status]) = input.get(..2) else {
                    return Ok(Step::NeedMore(2));
                };
                if version != USER_PASS_VERSION {
                    return Err(Socks5Error::Protocol);
                }
                if status != 0 {
                    return Err(Socks5Error::AuthenticationFailed);
                }
                self.phase = Phase::Connect;
                Ok(Step::Send(self.connect_request()))
            }
            Phase::Connect => {
                let Some(&[version, reply, _reserved, atyp]) = input.get(..4) else {
                    return Ok(Step::NeedMore(4));
                };
                if version != VERSION {
                    return Err(Socks5Error::Protocol);
                }
                if reply != 0 {
                    return Err(Socks5Error::Refused(reply));
                }
                let address = match atyp {
                    ATYP_V4 => 4,
                    ATYP_V6 => 16,
                    ATYP_DOMAIN => match input.get(4) {
                        Some(&len) => 1 + usize::from(len),
                        None => return Ok(Step::NeedMore(5)),
                    },
                    _ => return Err(Socks5Error::Protocol),
                };
                let total = 4 + address + 2;
                if input.len() < total {
                    return Ok(Step::NeedMore(total));
                }
                self.phase = Phase::Done;
                Ok(Step::Done(total))
            }
            Phase::Done => Ok(Step::Done(0)),
        }
    }

    fn connect_request(&self) -> Vec<u8> {
        let mut out = vec![VERSION, CMD_CONNECT, 0];
        if let Ok(ip) = self.host.parse::<Ipv4Addr>() {
            out.push(ATYP_V4);
            out.extend_from_slice(&ip.octets());
        } else if let Ok(ip) = self.host.parse::<Ipv6Addr>() {
            out.push(ATYP_V6);
            out.extend_from_slice(&ip.octets());
        } else {
            out.push(ATYP_DOMAIN);
            // Length checked in `new`: 1 to 255.
            out.push(self.host.len() as u8);
            out.extend_from_slice(self.host.as_bytes());
        }
        out.extend_from_slice(&self.port.to_be_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_password_then_connect_by_ip() {
        let mut socks = Socks5::new("127.0.0.1", 8080, Some(("alice", "pw"))).unwrap();
        assert_eq!(socks.greeting(), [5, 1, 2]);
        assert_eq!(
            socks.handle(&[5, 2]).unwrap(),
            Step::Send(b"\x01\x05alice\x02pw".to_vec())
        );
        assert_eq!(socks.handle(&[1]).unwrap(), Step::NeedMore(2));
        let Step::Send(request) = socks.handle(&[1, 0]).unwrap() else {
            panic!("expected the CONNECT request")
        };
        assert_eq!(request, [5, 1, 0, 1, 127, 0, 0, 1, 0x1f, 0x90]);
        // A reply with a domain-name bound address arrives in pieces.
        let reply = [5, 0, 0, 3, 3, b'a', b'b', b'c', 0, 80, b'x'];
        assert_eq!(socks.handle(&reply[..4]).unwrap(), Step::NeedMore(5));
        assert_eq!(socks.handle(&reply[..5]).unwrap(), Step::NeedMore(10));
        assert_eq!(socks.handle(&reply).unwrap(), Step::Done(10));
    }

    #[test]
    fn failures_name_their_cause() {
        let mut socks = Socks5::new("::1", 1, Some(("u", "p"))).unwrap();
        assert_eq!(
            socks.handle(&[5, 0xff]),
            Err(Socks5Error::NoAcceptableMethod)
        );
        let mut socks = Socks5::new("h", 1, Some(("u", "p"))).unwrap();
        socks.handle(&[5, 2]).unwrap();
        assert_eq!(
            socks.handle(&[1, 1]),
            Err(Socks5Error::AuthenticationFailed)
        );
        let mut socks = Socks5::new("h", 1, None).unwrap();
        socks.handle(&[5, 0]).unwrap();
        let error = socks.handle(&[5, 5, 0, 1]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the SOCKS5 proxy could not connect: connection refused"
        );
        assert_eq!(
            Socks5::new("h", 1, None).unwrap().handle(&[4, 0]),
            Err(Socks5Error::Protocol)
        );
        assert!(Socks5::new(&"x".repeat(256), 1, None).is_err());
        assert!(Socks5::new("h", 1, Some(("", "p"))).is_err());
    }

    proptest::proptest! {
        /// Hostile replies never panic, a request for more bytes always
        /// asks for more than were given, and `Done` never claims more
        /// than the input.
        #[test]
        fn any_reply_is_handled(
            auth in proptest::bool::ANY,
            replies in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..300), 1..4),
        ) {
            let credentials = auth.then_some(("user", "password"));
            let mut socks = Socks5::new("example.com", 443, credentials).unwrap();
            for reply in &replies {
                match socks.handle(reply) {
                    Ok(Step::NeedMore(n)) => proptest::prop_assert!(n > reply.len()),
                    Ok(Step::Done(n)) => proptest::prop_assert!(n <= reply.len()),
                    Ok(Step::Send(_)) | Err(_) => {}
                }
            }
        }
    }

    #[test]
    fn ipv6_targets_go_as_addresses() {
        let mut socks = Socks5::new("[::1]", 443, None).unwrap();
        let Step::Send(request) = socks.handle(&[5, 0]).unwrap() else {
            panic!("expected the CONNECT request")
        };
        assert_eq!(request.len(), 4 + 16 + 2);
        assert_eq!(request[3], 4);
    }
}
