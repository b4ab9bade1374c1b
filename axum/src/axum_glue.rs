//! The axum 0.8 glue (feature `axum`): the extractors and responses.

use axum::extract::{FromRef, FromRequestParts, MatchedPath};
use axum::response::{IntoResponse, Response};
use http::Request;
use http::request::Parts;
use hyper::upgrade::OnUpgrade;

use crate::{Refusal, SseRequest, SseResponse, Tidings, WsUpgrade};

/// The route axum matched (`/ws/chat/{room}`), or the path.
fn route_of(parts: &Parts) -> String {
    match parts.extensions.get::<MatchedPath>() {
        Some(matched) => matched.as_str().to_owned(),
        None => parts.uri.path().to_owned(),
    }
}

/// Moves `parts` into a request for tidings to read; [`restore`] puts
/// them back.
fn take(parts: &mut Parts) -> Request<()> {
    let (empty, ()) = Request::new(()).into_parts();
    Request::from_parts(std::mem::replace(parts, empty), ())
}

fn restore(parts: &mut Parts, head: Request<()>) {
    *parts = head.into_parts().0;
}

impl<S: Send + Sync> FromRequestParts<S> for WsUpgrade
where
    Tidings: FromRef<S>,
{
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Refusal> {
        let tidings = Tidings::from_ref(state);
        let upgrade = parts.extensions.remove::<OnUpgrade>();
        let route = route_of(parts);
        let head = take(parts);
        let result = WsUpgrade::accept(&tidings, &head, upgrade, &route).await;
        restore(parts, head);
        result
    }
}

impl<S: Send + Sync> FromRequestParts<S> for SseRequest
where
    Tidings: FromRef<S>,
{
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Refusal> {
        let tidings = Tidings::from_ref(state);
        let route = route_of(parts);
        let head = take(parts);
        let result = SseRequest::accept(&tidings, &head, &route).await;
        restore(parts, head);
        result
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        self.into_http().into_response()
    }
}

impl IntoResponse for SseResponse {
    fn into_response(self) -> Response {
        self.into_http().into_response()
    }
}
