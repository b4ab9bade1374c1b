//! Reading a topic's Redis stream: the events after an id, for a client's
//! resume and for a node's copy catching up.

use redis::aio::ConnectionManager;
use redis::{RedisError, Value};

use crate::keys::TopicKeys;
use crate::topic_wire;

/// The events after cluster id `id` in a topic's stream (up to cluster id
/// `until` included, when given; at most the topic's capacity), as
/// `(cluster id, body)`; `None` when `id` is not of the stream's epoch or no
/// longer in it.
pub(crate) async fn read_after(
    conn: &mut ConnectionManager,
    keys: &TopicKeys,
    id: &str,
    until: Option<&str>,
) -> Result<Option<Vec<(String, Vec<u8>)>>, RedisError> {
    let Some((epoch, stream_id)) = topic_wire::split_id(id) else {
        return Ok(None);
    };
    let end = match until.map(topic_wire::split_id) {
        None => "+",
        Some(Some((_, until))) => until,
        Some(None) => return Ok(None),
    };
    let current: Option<String> = redis::cmd("GET").arg(&keys.epoch).query_async(conn).await?;
    if current.as_deref() != Some(epoch) {
        return Ok(None);
    }
    let itself: Value = redis::cmd("XRANGE")
        .arg(&keys.stream)
        .arg(stream_id)
        .arg(stream_id)
        .query_async(conn)
        .await?;
    if entries(itself).is_empty() {
        return Ok(None);
    }
    let after: Value = redis::cmd("XRANGE")
        .arg(&keys.stream)
        .arg(format!("({stream_id}"))
        .arg(end)
        .arg("COUNT")
        .arg(keys.capacity)
        .query_async(conn)
        .await?;
    Ok(Some(
        entries(after)
            .into_iter()
            .map(|(entry_id, body)| (topic_wire::cluster_id(epoch, &entry_id), body))
            .collect(),
    ))
}

/// The `(id, field e)` pairs of an `XRANGE` reply.
fn entries(reply: Value) -> Vec<(String, Vec<u8>)> {
    let Value::Array(items) = reply else {
        return Vec::new();
    };
    items
        .into_iter()
        .filter_map(|item| {
            let Value::Array(mut parts) = item else {
                return None;
            };
            let fields = parts.pop()?;
            let id = match parts.pop()? {
                Value::BulkString(id) => String::from_utf8(id).ok()?,
                Value::SimpleString(id) => id,
                _ => return None,
            };
            let pairs: Vec<(Value, Value)> = match fields {
                Value::Array(flat) => {
                    let mut flat = flat.into_iter();
                    std::iter::from_fn(|| Some((flat.next()?, flat.next()?))).collect()
                }
                Value::Map(pairs) => pairs,
                _ => return None,
            };
            let body = pairs
                .into_iter()
                .find_map(|(key, value)| match (key, value) {
                    (Value::BulkString(key), Value::BulkString(value)) if key == b"e" => {
                        Some(value)
                    }
                    _ => None,
                })?;
            Some((id, body))
        })
        .collect()
}
