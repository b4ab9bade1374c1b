//! The AsyncAPI 3.0 document of a router's streaming routes.
//!
//! Each WebSocket and SSE route becomes a channel whose `address` is the
//! route pattern with `{name}` for each path parameter, and whose messages
//! are the route's declared types ([`RouteOptions::messages`],
//! [`RouteOptions::sse_event`]), their payloads JSON Schemas derived with
//! `schemars` and collected under `components.schemas`. Operations are
//! written from the server's side: a WebSocket route has a `receive`
//! operation (what clients send) and a `send` operation (what the server
//! sends); an SSE route has a `send` operation. Route names give the
//! channel ids (else the pattern, made an identifier), summaries and tags
//! are copied to channels and operations. Plain GET routes are left out.

use serde_json::{Map, Value, json};

use super::router::{Endpoint, MessageType, Route, RouteOptions, Router};
use crate::protocol::Protocol;

impl Router {
    /// The AsyncAPI 3.0.0 document (JSON) of the streaming routes, with
    /// `info.title` and `info.version` set to `title` and `version`.
    ///
    /// ```
    /// use schemars::JsonSchema;
    /// # use tidings_framework::server::{RouteOptions, Router, echo};
    /// #[derive(JsonSchema)]
    /// struct Say { text: String }
    ///
    /// let router = Router::new().websocket_with(
    ///     "/ws/chat/:room",
    ///     echo,
    ///     RouteOptions::new().name("chat").messages::<Say, Say>(),
    /// );
    /// let doc = router.asyncapi("Chat", "1.0.0");
    /// assert_eq!(doc["asyncapi"], "3.0.0");
    /// assert_eq!(doc["channels"]["chat"]["address"], "/ws/chat/{room}");
    /// assert_eq!(doc["operations"]["chat.receive"]["action"], "receive");
    /// assert!(doc["components"]["schemas"]["Say"].is_object());
    /// ```
    pub fn asyncapi(&self, title: &str, version: &str) -> Value {
        let settings = schemars::generate::SchemaSettings::draft07().with(|settings| {
            settings.definitions_path = "#/components/schemas".into();
        });
        let mut generator = schemars::SchemaGenerator::new(settings);
        let mut channels = Map::new();
        let mut operations = Map::new();
        for route in self.all_routes() {
            let sends_only = match route.endpoint {
                Endpoint::WebSocket(_) => false,
                Endpoint::Sse(_) => true,
                Endpoint::Get(_) | Endpoint::Post(_) => continue,
                #[cfg(feature = "webtransport")]
                Endpoint::WebTransport(_) => false,
            };
            let id = channel_id(route, &channels);
            let options = &route.options;
            let mut messages = Map::new();
            let mut received = Vec::new();
            let mut sent = Vec::new();
            if sends_only {
                for (event, message_type) in &options.sse_events {
                    let mut message = message(&mut generator, message_type);
                    message.insert("name".into(), json!(event));
                    messages.insert(event.clone(), Value::Object(message));
                    sent.push(message_ref(&id, event));
                }
            } else if let Some(types) = &options.messages {
                messages.insert(
                    "receive".into(),
                    Value::Object(message(&mut generator, &types.receive)),
                );
                messages.insert(
                    "send".into(),
                    Value::Object(message(&mut generator, &types.send)),
                );
                received.push(message_ref(&id, "receive"));
                sent.push(message_ref(&id, "send"));
            }

            let mut channel = describe(options);
            channel.insert("address".into(), json!(address(route)));
            let parameters: Map<String, Value> = route
                .pattern
                .param_names()
                .map(|name| {
                    (
                        name.to_owned(),
                        json!({ "description": format!("The `{name}` path segment.") }),
                    )
                })
                .collect();
            if !parameters.is_empty() {
                channel.insert("parameters".into(), Value::Object(parameters));
            }
            channel.insert("messages".into(), Value::Object(messages));
            let protocol = match route.endpoint.protocol() {
                Protocol::Sse => "sse",
                Protocol::WebTransport => "webtransport",
                _ => "ws",
            };
            channel.insert("x-protocol".into(), json!(protocol));
            channels.insert(id.clone(), Value::Object(channel));

            let mut add = |action: &str, refs: Vec<Value>| {
                let mut operation = describe(options);
                operation.insert("action".into(), json!(action));
                operation.insert(
                    "channel".into(),
                    json!({ "$ref": format!("#/channels/{}", escape_pointer(&id)) }),
                );
                operation.insert("messages".into(), Value::Array(refs));
                operations.insert(format!("{id}.{action}"), Value::Object(operation));
            };
            if !sends_only {
                add("receive", received);
            }
            add("send", sent);
        }
        let schemas: Map<String, Value> = generator.take_definitions(true).into_iter().collect();
        json!({
            "asyncapi": "3.0.0",
            "info": { "title": title, "version": version },
            "defaultContentType": "application/json",
            "channels": channels,
            "operations": operations,
            "components": { "schemas": schemas },
        })
    }
}

/// The channel id: the route's name, else its pattern made an identifier
/// (`/ws/chat/:room` → `ws_chat_room`), made unique with a numeric suffix.
fn channel_id(route: &Route, taken: &Map<String, Value>) -> String {
    let base = route.options.name.clone().unwrap_or_else(|| {
        let id: String = route
            .pattern
            .as_str()
            .split('/')
            .filter(|segment| !segment.is_empty())
            .map(|segment| {
                segment
                    .trim_start_matches('{')
                    .trim_end_matches('}')
                    .trim_start_matches([':', '*'])
            })
            .collect::<Vec<_>>()
            .join("_");
        if id.is_empty() { "root".to_owned() } else { id }
    });
    let mut id = base.clone();
    let mut n = 2;
    while taken.contains_key(&id) {
        id = format!("{base}_{n}");
        n += 1;
    }
    id
}

/// The route pattern with `{name}` for `:name`, `*name`, `{name}` and
/// `{*name}`.
fn address(route: &Route) -> String {
    route.pattern.braced().replace("{*", "{")
}

/// `summary`, `description` (the route name) and `tags` of a channel or
/// operation.
fn describe(options: &RouteOptions) -> Map<String, Value> {
    let mut object = Map::new();
    if let Some(summary) = &options.summary {
        object.insert("summary".into(), json!(summary));
    }
    if let Some(name) = &options.name {
        object.insert("title".into(), json!(name));
    }
    if !options.tags.is_empty() {
        let tags: Vec<Value> = options
            .tags
            .iter()
            .map(|tag| json!({ "name": tag }))
            .collect();
        object.insert("tags".into(), Value::Array(tags));
    }
    object
}

/// A Message Object whose payload is the type's schema (or a `$ref` to it
/// under `components.schemas`).
fn message(
    generator: &mut schemars::SchemaGenerator,
    message_type: &MessageType,
) -> Map<String, Value> {
    // A payload must be a schema object: the boolean schemas `true` (any
    // value, e.g. `serde_json::Value`) and `false` become `{}` and `{"not": {}}`.
    let payload = match (message_type.schema)(generator).into() {
        Value::Bool(true) => json!({}),
        Value::Bool(false) => json!({ "not": {} }),
        schema => schema,
    };
    let mut message = Map::new();
    message.insert("name".into(), json!((message_type.schema_name)()));
    message.insert("contentType".into(), json!("application/json"));
    message.insert("payload".into(), payload);
    message.insert("x-rust-type".into(), json!(message_type.type_name));
    message
}

fn message_ref(channel: &str, message: &str) -> Value {
    json!({ "$ref": format!("#/channels/{}/messages/{}", escape_pointer(channel), escape_pointer(message)) })
}

/// Escapes a JSON Pointer reference token (RFC 6901).
fn escape_pointer(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}
