//! The JSON API of the Forge docs ("JSON Messaging"): each
//! [`ClientMessage`] `{type, payload}` is answered with a [`ServerMessage`]
//! `{type: "response", data, timestamp}` (Unix seconds).
//!
//! `data` is what [`process_message`] makes of the request (the docs leave
//! `processMessage` open): `echo` returns the payload, `upper` upper-cases a
//! string, `sum` adds an array of numbers; anything else gets
//! `{"error": ...}`. A message that is not a `ClientMessage` ends the
//! handler with the error, as the seed's `return err` does: the connection
//! closes with 1011 and the error as reason.
//!
//! The example's `main.rs` serves [`router`] at `/ws/api`; the tests include
//! this file with `#[path]`.

use std::time::{SystemTime, UNIX_EPOCH};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tidings_tokio::{Connection, Context, Error, RouteOptions, Router};

/// A request: `{"type": "sum", "payload": [1, 2]}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub(crate) struct ClientMessage {
    /// What to do with the payload.
    #[serde(rename = "type")]
    pub(crate) kind: String,
    /// Any JSON value (`null` when absent).
    #[serde(default)]
    pub(crate) payload: Value,
}

/// A response: `{"type": "response", "data": 3, "timestamp": 1700000000}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub(crate) struct ServerMessage {
    /// Always `response`.
    #[serde(rename = "type")]
    pub(crate) kind: String,
    /// The result of [`process_message`].
    pub(crate) data: Value,
    /// When the response was made, in seconds since the Unix epoch.
    pub(crate) timestamp: i64,
}

/// The API router: one WebSocket route, `/ws/api`.
pub(crate) fn router() -> Router {
    Router::new().websocket_with(
        "/ws/api",
        api,
        RouteOptions::new()
            .summary("JSON request/response API")
            .tags(["api"])
            .messages::<ClientMessage, ServerMessage>(),
    )
}

async fn api(_ctx: Context, conn: Connection) -> Result<(), Error> {
    loop {
        let message: ClientMessage = conn.read_json().await?;
        let response = ServerMessage {
            kind: "response".to_owned(),
            data: process_message(&message),
            timestamp: unix_seconds(),
        };
        conn.write_json(&response).await?;
    }
}

/// The answer to one request.
pub(crate) fn process_message(message: &ClientMessage) -> Value {
    match (message.kind.as_str(), &message.payload) {
        ("echo", payload) => payload.clone(),
        ("upper", Value::String(text)) => Value::String(text.to_uppercase()),
        ("sum", Value::Array(items)) => {
            // Integers add up exactly (as long as they fit); else as floats.
            let integers: Option<i64> = items
                .iter()
                .try_fold(0i64, |sum, item| sum.checked_add(item.as_i64()?));
            let floats: Option<f64> = items.iter().map(Value::as_f64).sum();
            match (integers, floats) {
                (Some(sum), _) => json!(sum),
                (None, Some(sum)) => json!(sum),
                (None, None) => json!({ "error": "sum needs an array of numbers" }),
            }
        }
        ("upper", _) => json!({ "error": "upper needs a string" }),
        ("sum", _) => json!({ "error": "sum needs an array of numbers" }),
        (other, _) => json!({ "error": format!("unknown message type {other:?}") }),
    }
}

/// Go's `time.Now().Unix()`.
fn unix_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}
