//! How a topic's events are written in Redis: the event's type and data
//! unencoded (`type \n data`; a type has no line break), stored in the
//! stream as field `e` and published as `epoch \n stream-id \n type \n
//! data`. Each node encodes the event once for its own clients, with the
//! cluster-wide id `{epoch}-{stream-id}` (e.g. `3f9c…-1733420000000-0`).

use bytes::Bytes;
use tidings_framework::sse::{EncodeError, Event};

/// The body of a topic event: its type and data.
///
/// # Errors
/// A type with a line break.
pub(crate) fn body(event: &Event) -> Result<Bytes, EncodeError> {
    let name = event.event_name().unwrap_or("");
    // Checks the type the way the encoder does.
    Event::new().try_event(name)?;
    let data = event.data_value().unwrap_or("");
    let mut body = Vec::with_capacity(name.len() + 1 + data.len());
    body.extend_from_slice(name.as_bytes());
    body.push(b'\n');
    body.extend_from_slice(data.as_bytes());
    Ok(Bytes::from(body))
}

/// The event a body describes, with the cluster-wide id.
pub(crate) fn event(id: String, body: &[u8]) -> Option<Event> {
    let body = std::str::from_utf8(body).ok()?;
    let (name, data) = body.split_once('\n')?;
    let event = Event::new().id(id).data(data);
    Some(if name.is_empty() {
        event
    } else {
        event.event(name)
    })
}

/// The event of a message on a topic's channel.
pub(crate) fn published(message: &[u8]) -> Option<Event> {
    let mut parts = message.splitn(3, |&b| b == b'\n');
    let epoch = std::str::from_utf8(parts.next()?).ok()?;
    let stream_id = std::str::from_utf8(parts.next()?).ok()?;
    event(cluster_id(epoch, stream_id), parts.next()?)
}

/// `{epoch}-{stream-id}`.
pub(crate) fn cluster_id(epoch: &str, stream_id: &str) -> String {
    format!("{epoch}-{stream_id}")
}

/// The epoch and stream id of a cluster-wide id.
pub(crate) fn split_id(id: &str) -> Option<(&str, &str)> {
    let (epoch, stream_id) = id.split_once('-')?;
    let (ms, seq) = stream_id.split_once('-')?;
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (!epoch.is_empty() && numeric(ms) && numeric(seq)).then_some((epoch, stream_id))
}

/// Whether cluster id `a` comes after `b` in the same epoch's stream.
pub(crate) fn is_newer(a: &str, b: &str) -> bool {
    let order = |id: &str| {
        let (epoch, stream_id) = split_id(id)?;
        let (ms, seq) = stream_id.split_once('-')?;
        Some((
            epoch.to_owned(),
            ms.parse::<u64>().ok()?,
            seq.parse::<u64>().ok()?,
        ))
    };
    match (order(a), order(b)) {
        (Some((ea, ma, sa)), Some((eb, mb, sb))) => ea == eb && (ma, sa) > (mb, sb),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_crosses_and_gets_its_cluster_id() {
        let sent = Event::new().event("message").data("a\nb");
        let encoded = body(&sent).unwrap();
        assert_eq!(&encoded[..], b"message\na\nb");
        let mut message = b"ab12\n1700000000000-3\n".to_vec();
        message.extend_from_slice(&encoded);
        let got = published(&message).unwrap();
        assert_eq!(got.id_value(), Some("ab12-1700000000000-3"));
        assert_eq!(got.event_name(), Some("message"));
        assert_eq!(got.data_value(), Some("a\nb"));
        let plain = event("e-1-0".into(), b"\nx").unwrap();
        assert_eq!(plain.event_name(), None, "no type: a message event");
        assert!(body(&Event::new().event("a\nb")).is_err());
    }

    #[test]
    fn ids_split_into_epoch_and_stream_id() {
        assert_eq!(split_id("ab12-17-0"), Some(("ab12", "17-0")));
        for bad in ["17", "ab-17", "ab-x-0", "-1-0", "ab-1-", "ab-1-0-0"] {
            assert_eq!(split_id(bad), None, "{bad}");
        }
        assert!(is_newer("e-10-0", "e-9-5"));
        assert!(is_newer("e-9-6", "e-9-5"));
        assert!(!is_newer("e-9-5", "e-9-5"));
        assert!(!is_newer("f-10-0", "e-9-5"), "another epoch");
        assert!(!is_newer("junk", "e-9-5"));
    }
}
