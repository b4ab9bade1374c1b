//! Route path patterns (`/ws/chat/:room`, `/files/*rest`, or in axum 0.8's
//! syntax `/ws/chat/{room}`, `/files/{*rest}`) and query strings
//! (`a=1&b=two%20words`), for the router: pure functions over `&str`.
//!
//! - [`Pattern`] is parsed once, when a route is registered, and
//!   [`Pattern::matches`] tries it against a request path, returning the
//!   percent-decoded [`Params`].
//! - [`Query`] parses an `application/x-www-form-urlencoded` query string.
//!
//! ```
//! use tidings_core::route::{Pattern, Query};
//!
//! let pattern = Pattern::parse("/ws/chat/:room")?;
//! let params = pattern.matches("/ws/chat/caf%C3%A9").unwrap();
//! assert_eq!(params.get("room"), Some("café"));
//! assert!(pattern.matches("/ws/chat/").is_none());
//!
//! let query = Query::parse("token=a%2Bb&name=two+words");
//! assert_eq!(query.get("token"), Some("a+b"));
//! assert_eq!(query.get("name"), Some("two words"));
//! # Ok::<(), tidings_core::route::PatternError>(())
//! ```
//!
//! ## The rules
//!
//! - **Segments.** A pattern is `/` followed by segments separated by `/`. A
//!   segment is a literal, `:name` or `{name}` (exactly one non-empty path
//!   segment) or `*name` or `{*name}` (the rest of the path, possibly empty,
//!   slashes included; only as the last segment). Names are made of
//!   `[A-Za-z0-9_]`. The two syntaxes mean the same and may be mixed; a
//!   `{…}` capture is a whole segment (`/{id}.json` is refused, as is any
//!   literal holding `{` or `}`: a brace in a path is sent percent-encoded,
//!   `%7B` and `%7D`, so write it that way), and a pattern the parser cannot
//!   read is an error, never a literal that silently matches nothing.
//! - **Trailing slash: strict**, as in axum and matchit. `/a` and `/a/` are
//!   different paths; a pattern matches only the form it is written in
//!   (register both if both should be served). `/files/*rest` matches
//!   `/files/` (with `rest` empty) but not `/files`.
//! - **Literals** compare byte for byte, case-sensitively, against the raw
//!   (still percent-encoded) path segment: write them as they appear on the
//!   wire.
//! - **Parameter values are percent-decoded**, `%XX` to one byte; `+` stays a
//!   `+` (it means space only in query strings). A segment with an invalid
//!   escape (`%` not followed by two hex digits) or whose decoded bytes are
//!   not UTF-8 makes the pattern **not match**, so a handler never sees a
//!   value the client cannot have meant. A wildcard value is decoded as a
//!   whole, so `%2F` and `/` read the same in it.
//! - **Order.** Patterns do not rank themselves: the router tries them in
//!   registration order and the first match wins. Register literal routes
//!   (`/files/index`) before the parameter or wildcard routes that would also
//!   match them (`/files/:name`, `/files/*rest`).
//!
//! ## What this module does not do
//!
//! - It does not split the request target: give [`Pattern::matches`] the path
//!   and [`Query::parse`] what follows the `?`.
//! - It does not normalise paths (no `.`/`..` resolution, no merging of
//!   `//`): an empty segment is a segment like any other.
//! - It sets no size limit of its own: the work and memory are linear in the
//!   input, which the caller bounds (the HTTP head, and so the request target,
//!   is at most [`HeadLimits::max_head_bytes`](crate::head::HeadLimits::max_head_bytes)).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// Why a route pattern string was refused by [`Pattern::parse`].
///
/// These are programming errors in a route table, found when the route is
/// registered, never caused by a peer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatternError {
    /// The pattern does not start with `/`.
    #[error("route pattern {pattern:?} does not start with '/'")]
    MissingLeadingSlash {
        /// The pattern as given.
        pattern: String,
    },
    /// A `:` or `*` segment has no name (`/:`, `/files/*`).
    #[error("route pattern {pattern:?} has a parameter without a name")]
    EmptyName {
        /// The pattern as given.
        pattern: String,
    },
    /// A parameter name has a character outside `[A-Za-z0-9_]`.
    #[error("route parameter name {name:?} has a character outside [A-Za-z0-9_]")]
    InvalidName {
        /// The offending name, without its `:` or `*`.
        name: String,
    },
    /// Two parameters (`:name` or `*name`) of one pattern have the same name.
    #[error("route parameter name {name:?} appears twice")]
    DuplicateName {
        /// The repeated name.
        name: String,
    },
    /// A `*wildcard` segment is followed by another segment.
    #[error("route wildcard *{name} is not the last segment")]
    WildcardNotLast {
        /// The wildcard's name, without its `*`.
        name: String,
    },
    /// A segment holds a `{` or `}` but is not a whole `{name}` or
    /// `{*name}` capture: an unclosed or stray brace (`/ws/{room`,
    /// `/ws/room}`), a capture with text around it (`/{id}.json`), or a
    /// literal brace (write it percent-encoded, `%7B`/`%7D`, as clients send
    /// it).
    #[error(
        "route pattern {pattern:?}: segment {segment:?} is not a whole {{name}} or {{*name}} capture \
         (braces must enclose a whole segment; a literal brace is written %7B or %7D)"
    )]
    MalformedCapture {
        /// The pattern as given.
        pattern: String,
        /// The offending segment.
        segment: String,
    },
}

/// One segment of a parsed pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    /// Compared byte for byte against the raw path segment.
    Literal(String),
    /// `:name`: one non-empty path segment, percent-decoded.
    Param(String),
    /// `*name`: the rest of the path, percent-decoded; always the last segment.
    Wildcard(String),
}

/// A route path pattern such as `/ws/chat/:room` or `/files/*rest`, parsed
/// once and matched against many request paths.
///
/// See the [module documentation](self) for the matching rules (strict
/// trailing slash, percent-decoded parameter values, registration order).
///
/// ```
/// use tidings_core::route::Pattern;
///
/// let files = Pattern::parse("/files/*rest")?;
/// let params = files.matches("/files/a/b%20c.txt").unwrap();
/// assert_eq!(params.get("rest"), Some("a/b c.txt"));
/// assert_eq!(files.matches("/files/").unwrap().get("rest"), Some(""));
/// assert!(files.matches("/files").is_none());
///
/// assert!(Pattern::parse("/chat/:room/:room").is_err());
/// # Ok::<(), tidings_core::route::PatternError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    /// Shared by the hub's record of every connection of the route.
    source: Arc<str>,
    segments: Vec<Segment>,
}

impl Pattern {
    /// Parses a route pattern, refusing the mistakes listed in
    /// [`PatternError`].
    pub fn parse(pattern: &str) -> Result<Pattern, PatternError> {
        let Some(body) = pattern.strip_prefix('/') else {
            return Err(PatternError::MissingLeadingSlash {
                pattern: pattern.to_owned(),
            });
        };
        let mut segments: Vec<Segment> = Vec::new();
        for raw in body.split('/') {
            if let Some(Segment::Wildcard(name)) = segments.last() {
                return Err(PatternError::WildcardNotLast { name: name.clone() });
            }
            let braced = raw
                .strip_prefix('{')
                .and_then(|inner| inner.strip_suffix('}'))
                .filter(|inner| !inner.contains(['{', '}']));
            let segment = if let Some(inner) = braced {
                match inner.strip_prefix('*') {
                    Some(name) => Segment::Wildcard(Self::check_name(pattern, name, &segments)?),
                    None => Segment::Param(Self::check_name(pattern, inner, &segments)?),
                }
            } else if raw.contains(['{', '}']) {
                return Err(PatternError::MalformedCapture {
                    pattern: pattern.to_owned(),
                    segment: raw.to_owned(),
                });
            } else if let Some(name) = raw.strip_prefix(':') {
                Segment::Param(Self::check_name(pattern, name, &segments)?)
            } else if let Some(name) = raw.strip_prefix('*') {
                Segment::Wildcard(Self::check_name(pattern, name, &segments)?)
            } else {
                Segment::Literal(raw.to_owned())
            };
            segments.push(segment);
        }
        Ok(Pattern {
            source: Arc::from(pattern),
            segments,
        })
    }

    /// Checks a parameter name against the rules and the names seen so far.
    fn check_name(pattern: &str, name: &str, seen: &[Segment]) -> Result<String, PatternError> {
        if name.is_empty() {
            return Err(PatternError::EmptyName {
                pattern: pattern.to_owned(),
            });
        }
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(PatternError::InvalidName {
                name: name.to_owned(),
            });
        }
        let duplicate = seen.iter().any(|segment| match segment {
            Segment::Param(other) | Segment::Wildcard(other) => other == name,
            Segment::Literal(_) => false,
        });
        if duplicate {
            return Err(PatternError::DuplicateName {
                name: name.to_owned(),
            });
        }
        Ok(name.to_owned())
    }

    /// The pattern string this was parsed from.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The pattern as written, shared (a driver keeps one per route, not a
    /// copy per connection).
    pub fn shared_str(&self) -> &Arc<str> {
        &self.source
    }

    /// The pattern in axum 0.8's syntax (`/ws/chat/{room}`, `/files/{*rest}`),
    /// whichever syntax it was written in.
    pub fn braced(&self) -> String {
        let mut out = String::new();
        for segment in &self.segments {
            out.push('/');
            match segment {
                Segment::Literal(literal) => out.push_str(literal),
                Segment::Param(name) => {
                    out.push('{');
                    out.push_str(name);
                    out.push('}');
                }
                Segment::Wildcard(name) => {
                    out.push_str("{*");
                    out.push_str(name);
                    out.push('}');
                }
            }
        }
        out
    }

    /// The names of the pattern's parameters (`:name` and `*name`), in order.
    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|segment| match segment {
            Segment::Param(name) | Segment::Wildcard(name) => Some(name.as_str()),
            Segment::Literal(_) => None,
        })
    }

    /// Matches a request path (without the query string) against the
    /// pattern, returning the decoded parameter values in pattern order, or
    /// `None` when the path does not match.
    ///
    /// A path that does not start with `/`, a literal that differs, a
    /// missing or extra segment, an empty segment for a `:name`, and a
    /// parameter value that does not percent-decode to UTF-8 all give `None`.
    pub fn matches(&self, path: &str) -> Option<Params> {
        // `rest` is what follows the last consumed '/'.
        let mut rest = path.strip_prefix('/')?;
        let mut params = Params::default();
        let last = self.segments.len().saturating_sub(1);
        for (index, segment) in self.segments.iter().enumerate() {
            let (raw, tail) = match segment {
                Segment::Wildcard(name) => {
                    // Parsing keeps the wildcard last: the rest of the path is its value.
                    params.push(name, decode_path(rest)?);
                    return Some(params);
                }
                Segment::Literal(_) | Segment::Param(_) => match rest.split_once('/') {
                    Some((raw, tail)) => (raw, Some(tail)),
                    None => (rest, None),
                },
            };
            match segment {
                Segment::Literal(literal) if literal == raw => {}
                Segment::Param(name) if !raw.is_empty() => params.push(name, decode_path(raw)?),
                _ => return None,
            }
            match tail {
                // The path goes on: it needs another segment in the pattern.
                Some(tail) if index < last => rest = tail,
                // The path ended: the pattern must end too.
                None if index == last => return Some(params),
                _ => return None,
            }
        }
        // Unreachable for a parsed pattern (it has at least one segment, and
        // the loop returns at the last one); no match is the safe answer.
        None
    }
}

impl FromStr for Pattern {
    type Err = PatternError;

    fn from_str(pattern: &str) -> Result<Pattern, PatternError> {
        Pattern::parse(pattern)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// The parameter values of a matched [`Pattern`], as (name, value) pairs in
/// the order the parameters appear in the pattern. Values are
/// percent-decoded; names are unique.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    fn push(&mut self, name: &str, value: String) {
        self.pairs.push((name.to_owned(), value));
    }

    /// The value of the parameter `name`, if the pattern has one by that name.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value.as_str())
    }

    /// The (name, value) pairs, in pattern order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The number of parameters.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether there are no parameters (the pattern has only literals).
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// A parsed `application/x-www-form-urlencoded` query string, as (key, value)
/// pairs in their order in the query, repeated keys kept.
///
/// Parsing never fails (a browser's `URLSearchParams` does not either):
///
/// - pairs are separated by `&`; empty pairs (`a=1&&b=2`, a trailing `&`) are
///   skipped;
/// - a pair splits at its first `=`; a pair without `=` (`flag`) has an
///   empty value;
/// - in keys and values `+` is a space, then `%XX` escapes are decoded; a `%`
///   not followed by two hex digits is kept as it is, and decoded bytes that
///   are not UTF-8 become U+FFFD (lossy), as the WHATWG URL standard does.
///
/// Work and memory are linear in the input; the caller bounds its size (it
/// comes from an HTTP head of at most 8 KiB by default).
///
/// ```
/// use tidings_core::route::Query;
///
/// let query = Query::parse("a=1&b=two%20words&c=x+y&flag&a=2");
/// assert_eq!(query.get("a"), Some("1"));
/// assert_eq!(query.get_all("a").collect::<Vec<_>>(), ["1", "2"]);
/// assert_eq!(query.get("b"), Some("two words"));
/// assert_eq!(query.get("c"), Some("x y"));
/// assert_eq!(query.get("flag"), Some(""));
/// assert_eq!(query.get("missing"), None);
/// assert_eq!(query.len(), 5);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses a query string: the part of the request target after the `?`
    /// (without it; a leading `?` would be read as part of the first key).
    pub fn parse(query: &str) -> Query {
        let pairs = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                (decode_form(key), decode_form(value))
            })
            .collect();
        Query { pairs }
    }

    /// The first value of `key`, if the query has it.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.get_all(key).next()
    }

    /// Every value of `key`, in query order.
    pub fn get_all<'a>(&'a self, key: &str) -> impl Iterator<Item = &'a str> {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, value)| value.as_str())
    }

    /// The (key, value) pairs, in query order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The number of pairs, repeated keys counted each time.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether the query has no pairs.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// How `%` escapes and `+` are read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Decoding {
    /// Path segments: `+` is literal, an invalid escape refuses the input.
    Path,
    /// Form-urlencoded: `+` is a space, an invalid escape is kept literally.
    Form,
}

/// Percent-decodes a path parameter value; `None` for an invalid escape or
/// decoded bytes that are not UTF-8.
fn decode_path(raw: &str) -> Option<String> {
    if !raw.contains('%') {
        return Some(raw.to_owned());
    }
    String::from_utf8(percent_decode(raw, Decoding::Path)?).ok()
}

/// Decodes a form-urlencoded key or value, lossily.
fn decode_form(raw: &str) -> String {
    if !raw.contains(['%', '+']) {
        return raw.to_owned();
    }
    match percent_decode(raw, Decoding::Form) {
        Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        // `Decoding::Form` keeps invalid escapes and never returns `None`.
        None => raw.to_owned(),
    }
}

/// Decodes `%XX` escapes (and `+` in form mode) into bytes. Returns `None`
/// only in path mode, for a `%` not followed by two hex digits.
fn percent_decode(raw: &str, decoding: Decoding) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        rest = tail;
        match byte {
            b'%' => match split_escape(tail) {
                Some((decoded, after)) => {
                    out.push(decoded);
                    rest = after;
                }
                None if decoding == Decoding::Path => return None,
                None => out.push(b'%'),
            },
            b'+' if decoding == Decoding::Form => out.push(b' '),
            _ => out.push(byte),
        }
    }
    Some(out)
}

/// Reads the two hex digits after a `%`: the byte they encode and what
/// follows them.
fn split_escape(after_percent: &[u8]) -> Option<(u8, &[u8])> {
    match after_percent {
        [high, low, after @ ..] => Some((hex_value(*high)? << 4 | hex_value(*low)?, after)),
        _ => None,
    }
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pattern(source: &str) -> Pattern {
        match Pattern::parse(source) {
            Ok(pattern) => pattern,
            Err(error) => panic!("{source:?} should parse: {error}"),
        }
    }

    fn params(source: &str, path: &str) -> Vec<(String, String)> {
        match pattern(source).matches(path) {
            Some(params) => params
                .iter()
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect(),
            None => panic!("{source:?} should match {path:?}"),
        }
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn query_pairs(query: &str) -> Vec<(String, String)> {
        Query::parse(query)
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn parse_refuses_a_pattern_without_leading_slash() {
        for source in ["", "ws/chat", ":room", "*rest"] {
            assert_eq!(
                Pattern::parse(source),
                Err(PatternError::MissingLeadingSlash {
                    pattern: source.to_owned()
                })
            );
        }
    }

    #[test]
    fn parse_refuses_empty_names() {
        for source in ["/:", "/a/:/b", "/*", "/files/*"] {
            assert_eq!(
                Pattern::parse(source),
                Err(PatternError::EmptyName {
                    pattern: source.to_owned()
                }),
                "{source}"
            );
        }
    }

    #[test]
    fn parse_refuses_invalid_name_characters() {
        for (source, name) in [
            ("/:room-id", "room-id"),
            ("/:a.b", "a.b"),
            ("/*rest:x", "rest:x"),
            ("/::x", ":x"),
            ("/:é", "é"),
            ("/:a b", "a b"),
        ] {
            assert_eq!(
                Pattern::parse(source),
                Err(PatternError::InvalidName {
                    name: name.to_owned()
                }),
                "{source}"
            );
        }
        // Every allowed character class is accepted.
        assert!(Pattern::parse("/:Az_09").is_ok());
    }

    #[test]
    fn parse_refuses_duplicate_names() {
        for source in ["/:a/:a", "/:a/x/*a", "/:id/:b/:id"] {
            assert!(
                matches!(
                    Pattern::parse(source),
                    Err(PatternError::DuplicateName { ref name }) if name == "a" || name == "id"
                ),
                "{source}"
            );
        }
        // Names are case-sensitive.
        assert!(Pattern::parse("/:a/:A").is_ok());
    }

    #[test]
    fn parse_refuses_a_wildcard_before_another_segment() {
        for source in ["/*rest/x", "/*rest/", "/*rest/:id"] {
            assert_eq!(
                Pattern::parse(source),
                Err(PatternError::WildcardNotLast {
                    name: "rest".to_owned()
                }),
                "{source}"
            );
        }
    }

    #[test]
    fn braced_captures_match_like_colon_and_star() {
        assert_eq!(
            params("/ws/{room}", "/ws/lobby"),
            pairs(&[("room", "lobby")])
        );
        assert!(pattern("/ws/{room}").matches("/ws/%7Broom%7D").is_some());
        assert!(pattern("/ws/{room}").matches("/ws/").is_none());
        assert_eq!(
            params("/files/{*rest}", "/files/a/b%20c"),
            pairs(&[("rest", "a/b c")])
        );
        assert_eq!(params("/files/{*rest}", "/files/"), pairs(&[("rest", "")]));
        // Both syntaxes in one pattern; they are the same segments.
        assert_eq!(
            params("/u/:user/{kind}/*rest", "/u/ann/docs/x/y"),
            pairs(&[("user", "ann"), ("kind", "docs"), ("rest", "x/y")])
        );
        assert_eq!(
            pattern("/a/{b}/{*c}").segments,
            pattern("/a/:b/*c").segments
        );
        assert_eq!(pattern("/a/:b/*c").braced(), "/a/{b}/{*c}");
        assert_eq!(pattern("/a/{b}").as_str(), "/a/{b}");
    }

    #[test]
    fn malformed_braces_are_refused_not_taken_as_literals() {
        for (source, segment) in [
            ("/ws/{room", "{room"),
            ("/ws/room}", "room}"),
            ("/ws/{{room}}", "{{room}}"),
            ("/{id}.json", "{id}.json"),
            ("/x{id}", "x{id}"),
            ("/a/{b}c/d", "{b}c"),
            ("/:a{b}", ":a{b}"),
        ] {
            assert_eq!(
                Pattern::parse(source),
                Err(PatternError::MalformedCapture {
                    pattern: source.to_owned(),
                    segment: segment.to_owned()
                }),
                "{source}"
            );
        }
        let message = Pattern::parse("/ws/{room").unwrap_err().to_string();
        assert!(message.contains("\"{room\""), "{message}");
        // Names inside braces follow the same rules.
        assert_eq!(
            Pattern::parse("/{}"),
            Err(PatternError::EmptyName {
                pattern: "/{}".to_owned()
            })
        );
        assert_eq!(
            Pattern::parse("/{*}"),
            Err(PatternError::EmptyName {
                pattern: "/{*}".to_owned()
            })
        );
        assert_eq!(
            Pattern::parse("/{room-id}"),
            Err(PatternError::InvalidName {
                name: "room-id".to_owned()
            })
        );
        assert_eq!(
            Pattern::parse("/{a}/:a"),
            Err(PatternError::DuplicateName {
                name: "a".to_owned()
            })
        );
        assert_eq!(
            Pattern::parse("/{*rest}/x"),
            Err(PatternError::WildcardNotLast {
                name: "rest".to_owned()
            })
        );
    }

    #[test]
    fn parse_keeps_the_source_and_lists_names() {
        let chat = pattern("/ws/chat/:room/*rest");
        assert_eq!(chat.as_str(), "/ws/chat/:room/*rest");
        assert_eq!(chat.to_string(), "/ws/chat/:room/*rest");
        assert_eq!(chat.param_names().collect::<Vec<_>>(), ["room", "rest"]);
        assert_eq!("/events".parse::<Pattern>(), Ok(pattern("/events")));
    }

    #[test]
    fn literal_patterns_match_only_their_path() {
        let events = pattern("/events");
        assert_eq!(events.matches("/events"), Some(Params::default()));
        for path in [
            "/events/",
            "/Events",
            "/event",
            "/events/x",
            "events",
            "",
            "/",
        ] {
            assert_eq!(events.matches(path), None, "{path}");
        }
        let root = pattern("/");
        assert!(root.matches("/").is_some_and(|p| p.is_empty()));
        for path in ["", "/a", "//"] {
            assert_eq!(root.matches(path), None, "{path}");
        }
    }

    #[test]
    fn trailing_slash_is_strict() {
        assert!(pattern("/a").matches("/a/").is_none());
        assert!(pattern("/a/").matches("/a").is_none());
        assert!(pattern("/a/").matches("/a/").is_some());
        assert!(pattern("/:id").matches("/x/").is_none());
        assert_eq!(params("/:id/", "/x/"), pairs(&[("id", "x")]));
    }

    #[test]
    fn param_matches_one_non_empty_segment() {
        assert_eq!(
            params("/ws/chat/:room", "/ws/chat/lobby"),
            pairs(&[("room", "lobby")])
        );
        let chat = pattern("/ws/chat/:room");
        for path in ["/ws/chat/", "/ws/chat", "/ws/chat/a/b", "/ws/chat//"] {
            assert_eq!(chat.matches(path), None, "{path}");
        }
        assert_eq!(
            params("/:a/x/:b", "/1/x/2"),
            pairs(&[("a", "1"), ("b", "2")])
        );
        assert!(pattern("/:a/x/:b").matches("/1/y/2").is_none());
        assert!(pattern("/a//:b").matches("/a//c").is_some());
    }

    #[test]
    fn wildcard_matches_the_rest_possibly_empty() {
        assert_eq!(
            params("/files/*rest", "/files/a/b/c"),
            pairs(&[("rest", "a/b/c")])
        );
        assert_eq!(params("/files/*rest", "/files/"), pairs(&[("rest", "")]));
        assert_eq!(params("/files/*rest", "/files//"), pairs(&[("rest", "/")]));
        assert!(pattern("/files/*rest").matches("/files").is_none());
        assert!(pattern("/files/*rest").matches("/file/x").is_none());
        assert_eq!(params("/*all", "/"), pairs(&[("all", "")]));
        assert_eq!(params("/*all", "/x/y/"), pairs(&[("all", "x/y/")]));
        assert_eq!(
            params("/:user/*path", "/ann/docs/a%2Fb"),
            pairs(&[("user", "ann"), ("path", "docs/a/b")])
        );
        assert!(pattern("/:user/*path").matches("/ann").is_none());
    }

    #[test]
    fn param_values_are_percent_decoded_and_plus_is_literal() {
        assert_eq!(
            params("/r/:room", "/r/caf%C3%A9%20au%2flait+x"),
            pairs(&[("room", "café au/lait+x")])
        );
        // Escapes decode to bytes, so `%25` gives a `%` that is not decoded again.
        assert_eq!(params("/r/:room", "/r/%2541"), pairs(&[("room", "%41")]));
        // Raw non-ASCII is passed through.
        assert_eq!(params("/r/:room", "/r/é"), pairs(&[("room", "é")]));
    }

    #[test]
    fn invalid_escapes_and_non_utf8_do_not_match() {
        let room = pattern("/r/:room");
        for path in [
            "/r/%",
            "/r/a%2",
            "/r/%zz",
            "/r/%g0",
            "/r/%C3",
            "/r/%FF",
            "/r/%C3%28",
        ] {
            assert_eq!(room.matches(path), None, "{path}");
        }
        assert_eq!(pattern("/f/*rest").matches("/f/a/%"), None);
        assert_eq!(pattern("/f/*rest").matches("/f/%80"), None);
    }

    #[test]
    fn literals_compare_against_the_raw_segment() {
        let encoded = pattern("/caf%C3%A9");
        assert!(encoded.matches("/caf%C3%A9").is_some());
        assert!(encoded.matches("/café").is_none());
        assert!(encoded.matches("/caf%c3%a9").is_none());
        assert!(pattern("/a b").matches("/a%20b").is_none());
    }

    #[test]
    fn params_get_iter_len() {
        let params = pattern("/:a/:b/*c").matches("/1/2/3/4").unwrap();
        assert_eq!(params.len(), 3);
        assert!(!params.is_empty());
        assert_eq!(params.get("a"), Some("1"));
        assert_eq!(params.get("c"), Some("3/4"));
        assert_eq!(params.get("d"), None);
        assert_eq!(
            params.iter().collect::<Vec<_>>(),
            [("a", "1"), ("b", "2"), ("c", "3/4")]
        );
    }

    #[test]
    fn query_parses_the_example() {
        let query = Query::parse("a=1&b=two%20words&c=x+y&flag&a=2");
        assert_eq!(
            query.iter().collect::<Vec<_>>(),
            [
                ("a", "1"),
                ("b", "two words"),
                ("c", "x y"),
                ("flag", ""),
                ("a", "2")
            ]
        );
        assert_eq!(query.get("a"), Some("1"));
        assert_eq!(query.get_all("a").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(query.get_all("zzz").count(), 0);
        assert_eq!(query.len(), 5);
    }

    #[test]
    fn query_skips_empty_pairs() {
        assert!(Query::parse("").is_empty());
        assert!(Query::parse("&&&").is_empty());
        assert_eq!(query_pairs("&a=1&&b=2&"), pairs(&[("a", "1"), ("b", "2")]));
        // A lone `=` is not empty: an empty key with an empty value.
        assert_eq!(query_pairs("="), pairs(&[("", "")]));
        assert_eq!(query_pairs("=v"), pairs(&[("", "v")]));
    }

    #[test]
    fn query_splits_at_the_first_equals_sign() {
        assert_eq!(query_pairs("a=b=c"), pairs(&[("a", "b=c")]));
        assert_eq!(query_pairs("a="), pairs(&[("a", "")]));
        assert_eq!(query_pairs("a%3Db=c"), pairs(&[("a=b", "c")]));
    }

    #[test]
    fn query_decodes_plus_before_escapes() {
        assert_eq!(query_pairs("a+b=c+d"), pairs(&[("a b", "c d")]));
        assert_eq!(query_pairs("x=%2B%26%3D"), pairs(&[("x", "+&=")]));
        assert_eq!(query_pairs("x=%252B"), pairs(&[("x", "%2B")]));
    }

    #[test]
    fn query_keeps_invalid_escapes_literally() {
        assert_eq!(
            query_pairs("a=%&b=%2&c=%zz&d=100%&e=%%41"),
            pairs(&[
                ("a", "%"),
                ("b", "%2"),
                ("c", "%zz"),
                ("d", "100%"),
                ("e", "%A")
            ])
        );
    }

    #[test]
    fn query_replaces_invalid_utf8_lossily() {
        assert_eq!(query_pairs("a=%FF"), pairs(&[("a", "\u{FFFD}")]));
        assert_eq!(query_pairs("a=x%C3y"), pairs(&[("a", "x\u{FFFD}y")]));
        assert_eq!(query_pairs("%C3%A9=%E2%82%AC"), pairs(&[("é", "€")]));
    }

    #[test]
    fn query_leading_question_mark_is_part_of_the_key() {
        assert_eq!(query_pairs("?a=1"), pairs(&[("?a", "1")]));
    }

    /// Percent-encodes every byte except the URL "unreserved" ones
    /// (and `/` when `keep_slash`), with space as `+` when `plus_for_space`.
    fn encode(text: &str, keep_slash: bool, plus_for_space: bool) -> String {
        let mut out = String::new();
        for byte in text.bytes() {
            match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    out.push(char::from(byte));
                }
                b'/' if keep_slash => out.push('/'),
                b' ' if plus_for_space => out.push('+'),
                _ => out.push_str(&format!("%{byte:02X}")),
            }
        }
        out
    }

    fn text(max_chars: usize, min_chars: usize) -> impl Strategy<Value = String> {
        proptest::collection::vec(any::<char>(), min_chars..=max_chars)
            .prop_map(|chars| chars.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any non-empty unicode values, percent-encoded into the path, come
        /// back exactly from `matches`, with literals between them or not.
        #[test]
        fn params_round_trip(
            values in proptest::collection::vec(text(12, 1), 1..5),
            with_literals in any::<bool>(),
        ) {
            let mut source = String::new();
            let mut path = String::new();
            for (i, value) in values.iter().enumerate() {
                if with_literals {
                    source.push_str(&format!("/lit{i}"));
                    path.push_str(&format!("/lit{i}"));
                }
                source.push_str(&format!("/:p{i}"));
                path.push('/');
                path.push_str(&encode(value, false, false));
            }
            let pattern = Pattern::parse(&source).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let matched = pattern.matches(&path);
            prop_assert!(matched.is_some(), "{} did not match {}", source, path);
            let matched = matched.unwrap_or_default();
            let expected: Vec<(String, &str)> = values
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("p{i}"), v.as_str()))
                .collect();
            let got: Vec<(String, &str)> = matched.iter().map(|(n, v)| (n.to_owned(), v)).collect();
            prop_assert_eq!(got, expected);
            // One more segment never matches.
            let longer = format!("{path}/x");
            prop_assert!(pattern.matches(&longer).is_none());
        }

        /// A wildcard gives back any text (possibly empty), with its slashes
        /// sent raw or encoded.
        #[test]
        fn wildcard_round_trip(
            first in text(8, 1),
            rest in text(16, 0),
            keep_slash in any::<bool>(),
        ) {
            let files = Pattern::parse("/f/:first/*rest").map_err(|e| TestCaseError::fail(e.to_string()))?;
            let path = format!("/f/{}/{}", encode(&first, false, false), encode(&rest, keep_slash, false));
            let matched = files.matches(&path);
            prop_assert!(matched.is_some(), "no match for {}", path);
            let matched = matched.unwrap_or_default();
            prop_assert_eq!(matched.get("first"), Some(first.as_str()));
            prop_assert_eq!(matched.get("rest"), Some(rest.as_str()));
        }

        /// Encoded key/value pairs of any unicode text (empty included) parse
        /// back in order, with spaces sent as `+` or `%20`.
        #[test]
        fn query_round_trip(
            list in proptest::collection::vec((text(10, 0), text(10, 0)), 0..8),
            plus_for_space in any::<bool>(),
        ) {
            let query = list
                .iter()
                .map(|(k, v)| format!("{}={}", encode(k, false, plus_for_space), encode(v, false, plus_for_space)))
                .collect::<Vec<_>>()
                .join("&");
            let parsed = Query::parse(&query);
            let got: Vec<(&str, &str)> = parsed.iter().collect();
            let expected: Vec<(&str, &str)> = list.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            prop_assert_eq!(got, expected);
            if let Some((key, _)) = list.first() {
                let all: Vec<&str> = list.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect();
                prop_assert_eq!(parsed.get_all(key).collect::<Vec<_>>(), all);
            }
        }

        /// Parsing any query string, however malformed, never panics and
        /// never yields more pairs than there are `&`-separated parts.
        #[test]
        fn query_parse_total(input in any::<String>()) {
            let parsed = Query::parse(&input);
            prop_assert!(parsed.len() <= input.split('&').count());
        }

        /// Matching any path against a few patterns never panics, and a
        /// match always carries one value per pattern parameter.
        #[test]
        fn matches_total(path in "/[a-z%0-9A-F/+]{0,12}") {
            for source in ["/", "/a", "/:x", "/:x/", "/a/:x/*y", "/*y"] {
                let pattern = Pattern::parse(source).map_err(|e| TestCaseError::fail(e.to_string()))?;
                if let Some(params) = pattern.matches(&path) {
                    prop_assert_eq!(params.len(), pattern.param_names().count());
                }
            }
        }
    }
}
