//! A structural check of AsyncAPI 3.0 documents.

use serde_json::Value;

/// What is wrong with an AsyncAPI 3.0 document (empty when nothing is):
/// `asyncapi` must be `"3.0.0"`; `info.title` and `info.version` strings;
/// every channel an object with a string `address` whose `{name}`
/// parameters are declared in `parameters` and whose messages' payloads
/// are schema objects; every operation an `action` of
/// `send` or `receive` and a `channel` that is a `$ref` to a channel of the
/// document, with messages referring to that channel's messages; and every
/// `$ref` anywhere a local JSON Pointer (`#/…`) that resolves inside the
/// document.
pub fn asyncapi_problems(doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if doc["asyncapi"] != "3.0.0" {
        problems.push(format!("asyncapi is {}, not \"3.0.0\"", doc["asyncapi"]));
    }
    for field in ["title", "version"] {
        if !doc["info"][field].is_string() {
            problems.push(format!("info.{field} is not a string"));
        }
    }
    let empty = serde_json::Map::new();
    let channels = doc["channels"].as_object().unwrap_or(&empty);
    for (id, channel) in channels {
        let Some(address) = channel["address"].as_str() else {
            problems.push(format!("channel {id}: no address"));
            continue;
        };
        for name in address
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}'))
        {
            if !channel["parameters"][name.0].is_object() {
                problems.push(format!("channel {id}: parameter {} not declared", name.0));
            }
        }
    }
    for (id, channel) in channels {
        let messages = channel["messages"].as_object().unwrap_or(&empty);
        for (name, message) in messages {
            let payload = &message["payload"];
            if !payload.is_null() && !payload.is_object() {
                problems.push(format!(
                    "channel {id}: message {name}: payload is not a schema object"
                ));
            }
        }
    }
    let operations = doc["operations"].as_object().unwrap_or(&empty);
    for (id, operation) in operations {
        if !matches!(operation["action"].as_str(), Some("send" | "receive")) {
            problems.push(format!("operation {id}: action {}", operation["action"]));
        }
        let Some(channel) = operation["channel"]["$ref"].as_str() else {
            problems.push(format!("operation {id}: channel is not a $ref"));
            continue;
        };
        if !channel.starts_with("#/channels/") {
            problems.push(format!(
                "operation {id}: channel {channel} is not a channel"
            ));
        }
        for message in operation["messages"].as_array().into_iter().flatten() {
            let target = message["$ref"].as_str().unwrap_or("");
            if !target.starts_with(&format!("{channel}/messages/")) {
                problems.push(format!(
                    "operation {id}: message {target} is not one of {channel}'s messages"
                ));
            }
        }
    }
    check_refs(doc, doc, "#", &mut problems);
    problems
}

/// Checks every `$ref` under `value` (at JSON Pointer `at`) resolves in `doc`.
fn check_refs(doc: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            if let Some(target) = object.get("$ref") {
                let resolved = target
                    .as_str()
                    .and_then(|target| target.strip_prefix('#'))
                    .and_then(|pointer| doc.pointer(pointer));
                if resolved.is_none() {
                    problems.push(format!("{at}: $ref {target} does not resolve"));
                }
            }
            for (key, child) in object {
                let key = key.replace('~', "~0").replace('/', "~1");
                check_refs(doc, child, &format!("{at}/{key}"), problems);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                check_refs(doc, child, &format!("{at}/{i}"), problems);
            }
        }
        _ => {}
    }
}
