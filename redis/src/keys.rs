//! The names the engine uses in Redis (channels, stream and epoch keys), and
//! what a queued message is for.

use std::sync::Arc;

/// The channel names of one node.
#[derive(Debug)]
pub(crate) struct Channels {
    /// Broadcasts: every node subscribes.
    pub(crate) all: String,
    /// `{prefix}:node:` — followed by a node name, that node's channel.
    pub(crate) node_prefix: String,
    /// This node's own channel.
    pub(crate) own: String,
    /// This node's liveness probes.
    pub(crate) probe: String,
    /// `{prefix}:topic:` — followed by a topic name, its channel.
    pub(crate) topic_prefix: String,
}

impl Channels {
    pub(crate) fn new(prefix: &str, node: &str) -> Self {
        Channels {
            all: format!("{prefix}:all"),
            node_prefix: format!("{prefix}:node:"),
            own: format!("{prefix}:node:{node}"),
            probe: format!("{prefix}:probe:{node}"),
            topic_prefix: format!("{prefix}:topic:"),
        }
    }

    /// The channels every node subscribes to.
    pub(crate) fn subscribed(&self) -> Vec<&str> {
        vec![&self.all, &self.own, &self.probe]
    }
}

/// The Redis names of one topic.
#[derive(Debug)]
pub(crate) struct TopicKeys {
    /// The stream of its events (`XADD`, trimmed to `capacity`).
    pub(crate) stream: String,
    /// Its epoch: a random value set when the stream is first written, so
    /// that ids of a stream Redis lost (restarted without persistence) are
    /// never taken for ids of the new one.
    pub(crate) epoch: String,
    /// The pub/sub channel its new events go out on.
    pub(crate) channel: String,
    /// Events kept.
    pub(crate) capacity: usize,
}

impl TopicKeys {
    pub(crate) fn new(channels: &Channels, name: &str, capacity: usize) -> Self {
        let channel = format!("{}{name}", channels.topic_prefix);
        TopicKeys {
            stream: format!("{channel}:stream"),
            epoch: format!("{channel}:epoch"),
            channel,
            capacity,
        }
    }
}

/// What a queued message is for.
#[derive(Debug)]
pub(crate) enum Target {
    /// `PUBLISH` on this channel.
    Channel(String),
    /// Append to this topic (stream and channel, atomically).
    Topic(Arc<TopicKeys>),
}

/// Appends an event to a topic's stream (trimmed to its capacity) and
/// publishes it with its id and the epoch, in one step, so stream order and
/// publish order are the same. KEYS: stream, epoch key, channel. ARGV:
/// capacity, the event (`name \n data`), a fresh epoch in case the stream
/// has none.
pub(crate) const APPEND_SCRIPT: &str = "\
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = ARGV[3]
  redis.call('SET', KEYS[2], epoch)
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], '*', 'e', ARGV[2])
redis.call('PUBLISH', KEYS[3], epoch .. '\\n' .. id .. '\\n' .. ARGV[2])
return id";
