//! The authentication hook: find a credential in the request, check it with
//! a user function, attach what it returns or answer 401.

use std::future::Future;
use std::sync::Arc;

use http::{HeaderValue, StatusCode, header};

use super::{Before, Middleware};
use crate::server::context::Context;
use crate::server::response::{IntoResponse, Response};
use crate::user_code::BoxFuture;

/// Checks a credential taken from the request with a user function. When
/// the function returns `Some(value)`, `value` is attached to the context
/// (read it with [`Connection::get`](crate::Connection::get) in a WebSocket
/// handler, [`SseContext::get`](crate::server::SseContext::get) in an SSE
/// one, [`Context::get`] anywhere); when the credential is missing or the
/// function returns `None`, the request gets `401 Unauthorized` before any
/// upgrade.
///
/// Register it for a scheme name with
/// [`Router::authenticator`](crate::server::Router::authenticator) and
/// require it per route with [`RouteOptions::auth`](crate::server::RouteOptions::auth),
/// or use it directly as a middleware.
///
/// Where the credential is taken from:
///
/// - [`bearer`](Self::bearer): `Authorization: Bearer <token>` (RFC 6750);
///   the 401 carries `WWW-Authenticate: Bearer realm="…"`, with
///   `error="invalid_token"` when a token was given but refused;
/// - [`cookie`](Self::cookie): a named cookie (browsers send cookies with
///   WebSocket handshakes and `EventSource` requests, but cannot set
///   headers on them);
/// - [`query`](Self::query): a named query parameter (`?token=…`).
///
/// Each has an asynchronous twin ([`bearer_async`](Self::bearer_async),
/// [`cookie_async`](Self::cookie_async), [`query_async`](Self::query_async))
/// whose function returns a future: a database, Redis or JWKS lookup
/// awaited before the upgrade, bounded by the server's handshake timeout.
///
/// ```
/// # use tidings_framework::server::{Authenticator, RouteOptions, Router};
/// # use tidings_framework::{Connection, Error};
/// # use tidings_framework::server::Context;
/// #[derive(Clone, Debug, PartialEq)]
/// struct UserId(u64);
///
/// async fn whoami(_ctx: Context, conn: Connection) -> Result<(), Error> {
///     let user = conn.get::<UserId>().expect("set by the authenticator");
///     conn.write(format!("you are user {}", user.0)).await
/// }
///
/// let router = Router::new()
///     .authenticator("bearer", Authenticator::bearer(|token| (token == "secret").then_some(UserId(7))))
///     .websocket_with("/ws/me", whoami, RouteOptions::new().auth("bearer"));
/// assert!(router.validate().is_ok());
/// ```
#[derive(Clone)]
pub struct Authenticator {
    source: Source,
    realm: String,
    verify: Check,
}

type Verify = dyn Fn(&str, &mut Context) -> bool + Send + Sync;

/// What an asynchronous check leaves to do on the context: attach the
/// user's value.
type Attach = Box<dyn FnOnce(&mut Context) + Send>;

type VerifyAsync = dyn Fn(String) -> BoxFuture<Option<Attach>> + Send + Sync;

/// How the credential is checked.
#[derive(Clone)]
enum Check {
    Sync(Arc<Verify>),
    Async(Arc<VerifyAsync>),
}

#[derive(Clone, Debug)]
enum Source {
    Bearer,
    Cookie(String),
    Query(String),
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("source", &self.source)
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    fn new<T, F>(source: Source, verify: F) -> Self
    where
        F: Fn(&str) -> Option<T> + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
    {
        Authenticator {
            source,
            realm: "tidings".to_owned(),
            verify: Check::Sync(Arc::new(move |credential, ctx| match verify(credential) {
                Some(value) => {
                    ctx.set(value);
                    true
                }
                None => false,
            })),
        }
    }

    fn new_async<T, F, Fut>(source: Source, verify: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<T>> + Send + 'static,
        T: Clone + Send + Sync + 'static,
    {
        Authenticator {
            source,
            realm: "tidings".to_owned(),
            verify: Check::Async(Arc::new(move |credential| {
                let verifying = verify(credential);
                Box::pin(async move {
                    let value = verifying.await?;
                    Some(Box::new(move |ctx: &mut Context| ctx.set(value)) as Attach)
                })
            })),
        }
    }

    /// [`bearer`](Self::bearer) with a function that awaits (e.g. a JWKS
    /// fetch, then the token's signature checked).
    ///
    /// ```
    /// # use tidings_framework::server::{Authenticator, RouteOptions, Router, echo};
    /// async fn lookup(token: String) -> Option<u64> {
    ///     // e.g. SELECT user_id FROM sessions WHERE token = $1
    ///     (token == "secret").then_some(7)
    /// }
    ///
    /// let router = Router::new()
    ///     .authenticator("bearer", Authenticator::bearer_async(lookup))
    ///     .websocket_with("/ws", echo, RouteOptions::new().auth("bearer"));
    /// assert!(router.validate().is_ok());
    /// ```
    pub fn bearer_async<T, F, Fut>(verify: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<T>> + Send + 'static,
        T: Clone + Send + Sync + 'static,
    {
        Self::new_async(Source::Bearer, verify)
    }

    /// [`cookie`](Self::cookie) with a function that awaits (e.g. a session
    /// store lookup).
    pub fn cookie_async<T, F, Fut>(name: impl Into<String>, verify: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<T>> + Send + 'static,
        T: Clone + Send + Sync + 'static,
    {
        Self::new_async(Source::Cookie(name.into()), verify)
    }

    /// [`query`](Self::query) with a function that awaits.
    pub fn query_async<T, F, Fut>(name: impl Into<String>, verify: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<T>> + Send + 'static,
        T: Clone + Send + Sync + 'static,
    {
        Self::new_async(Source::Query(name.into()), verify)
    }

    /// Checks the bearer token of the `Authorization` header with `verify`.
    pub fn bearer<T, F>(verify: F) -> Self
    where
        F: Fn(&str) -> Option<T> + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
    {
        Self::new(Source::Bearer, verify)
    }

    /// Checks the value of cookie `name` with `verify`.
    pub fn cookie<T, F>(name: impl Into<String>, verify: F) -> Self
    where
        F: Fn(&str) -> Option<T> + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
    {
        Self::new(Source::Cookie(name.into()), verify)
    }

    /// Checks the (percent-decoded) value of query parameter `name` with
    /// `verify`.
    pub fn query<T, F>(name: impl Into<String>, verify: F) -> Self
    where
        F: Fn(&str) -> Option<T> + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
    {
        Self::new(Source::Query(name.into()), verify)
    }

    /// Sets the realm named in the bearer challenge (default `tidings`;
    /// quotes and backslashes are dropped).
    #[must_use]
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm
            .into()
            .chars()
            .filter(|c| *c != '"' && *c != '\\')
            .collect();
        self
    }

    fn credential<'a>(&self, ctx: &'a Context) -> Option<&'a str> {
        match &self.source {
            Source::Bearer => bearer_token(ctx),
            Source::Cookie(name) => cookie(ctx, name),
            Source::Query(name) => ctx.query(name),
        }
    }

    fn unauthorized(&self, given: bool) -> Response {
        let mut response = (StatusCode::UNAUTHORIZED, "unauthorized").into_response();
        if matches!(self.source, Source::Bearer) {
            let error = if given {
                ", error=\"invalid_token\""
            } else {
                ""
            };
            let challenge = format!("Bearer realm=\"{}\"{error}", self.realm);
            // Visible ASCII: the realm lost its quotes and backslashes, and
            // a realm with control characters falls back to none.
            let value = HeaderValue::from_str(&challenge)
                .unwrap_or_else(|_| HeaderValue::from_static("Bearer"));
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

impl Middleware for Authenticator {
    /// The check, when it need not wait; an asynchronous authenticator
    /// called this way refuses (fails closed): the server calls
    /// [`before_async`](Middleware::before_async).
    fn before(&self, ctx: &mut Context) -> Result<(), Response> {
        let Some(credential) = self.credential(ctx).map(str::to_owned) else {
            return Err(self.unauthorized(false));
        };
        match &self.verify {
            Check::Sync(verify) if verify(&credential, ctx) => Ok(()),
            Check::Sync(_) | Check::Async(_) => Err(self.unauthorized(true)),
        }
    }

    fn before_async<'a>(&'a self, ctx: &'a mut Context) -> Before<'a> {
        let Check::Async(verify) = &self.verify else {
            return Before::ready(self.before(ctx));
        };
        let Some(credential) = self.credential(ctx).map(str::to_owned) else {
            return Before::ready(Err(self.unauthorized(false)));
        };
        let verifying = verify(credential);
        Before::new(async move {
            match verifying.await {
                Some(attach) => {
                    attach(ctx);
                    Ok(())
                }
                None => Err(self.unauthorized(true)),
            }
        })
    }
}

/// The token of `Authorization: Bearer <token>` (scheme name
/// case-insensitive).
fn bearer_token(ctx: &Context) -> Option<&str> {
    let value = ctx.header("authorization")?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The value of cookie `name`, from any `Cookie` header.
fn cookie<'a>(ctx: &'a Context, name: &str) -> Option<&'a str> {
    ctx.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"'))
}

/// The route's authentication: passes when any of the route's schemes
/// does (in the order given); otherwise the first scheme's 401.
pub(crate) struct AnyOf(pub(crate) Vec<Arc<dyn Middleware>>);

impl Middleware for AnyOf {
    fn before_async<'a>(&'a self, ctx: &'a mut Context) -> Before<'a> {
        Before::new(async move {
            let mut first = None;
            for scheme in &self.0 {
                match scheme.before_async(ctx).await {
                    Ok(()) => return Ok(()),
                    Err(rejection) => {
                        first.get_or_insert(rejection);
                    }
                }
            }
            match first {
                Some(rejection) => Err(rejection),
                None => Ok(()),
            }
        })
    }

    fn after(&self, ctx: &Context, outcome: &super::Outcome) {
        for scheme in &self.0 {
            scheme.after(ctx, outcome);
        }
    }
}
