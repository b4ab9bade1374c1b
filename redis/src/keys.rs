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
    /// `{prefix}:presence:` — followed by a room name, its members (a
    /// sorted set: connection id, scored by when it expires).
    pub(crate) presence_prefix: String,
    /// `{prefix}:nodes`: each node's open connections and when that
    /// expires (a hash).
    pub(crate) nodes: String,
}

impl Channels {
    pub(crate) fn new(prefix: &str, node: &str) -> Self {
        Channels {
            all: format!("{prefix}:all"),
            node_prefix: format!("{prefix}:node:"),
            own: format!("{prefix}:node:{node}"),
            probe: format!("{prefix}:probe:{node}"),
            topic_prefix: format!("{prefix}:topic:"),
            presence_prefix: format!("{prefix}:presence:"),
            nodes: format!("{prefix}:nodes"),
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
    /// The sequence number of the newest event this engine appended (see
    /// [`APPEND_SCRIPT`]): `{channel}:pub:{publisher}`.
    pub(crate) appended: String,
    /// Events kept.
    pub(crate) capacity: usize,
}

impl TopicKeys {
    /// The keys of topic `name` for the engine whose publisher id (unique
    /// to this engine, see [`publisher_id`]) is `publisher`.
    pub(crate) fn new(channels: &Channels, name: &str, capacity: usize, publisher: &str) -> Self {
        let channel = format!("{}{name}", channels.topic_prefix);
        TopicKeys {
            stream: format!("{channel}:stream"),
            epoch: format!("{channel}:epoch"),
            appended: format!("{channel}:pub:{publisher}"),
            channel,
            capacity,
        }
    }
}

/// An id unique to one engine (one process's connection to the cluster):
/// the node name and 8 random bytes in hex, so that a node restarted under
/// the same name, whose event numbers start again at 1, is another
/// publisher.
pub(crate) fn publisher_id(node: &str, random: [u8; 8]) -> String {
    let mut id = format!("{node}.");
    for byte in random {
        id.push_str(&format!("{byte:02x}"));
    }
    id
}

/// What a queued message is for.
#[derive(Debug)]
pub(crate) enum Target {
    /// `PUBLISH` on this channel.
    Channel(String),
    /// Append to this topic (stream and channel, atomically), as this
    /// engine's event number `seq` (numbered when queued, from 1, in queue
    /// order): an append sent again after a failure is not appended twice.
    Topic {
        /// The topic.
        keys: Arc<TopicKeys>,
        /// The event's number.
        seq: u64,
    },
    /// Add (or refresh) the members (ids separated by `\n`) in this
    /// presence key.
    Join(String),
    /// Remove the member from this presence key.
    Leave(String),
}

impl Target {
    /// Whether a message whose fate is unknown (the connection failed with
    /// it in flight) is sent again: topic appends (made idempotent by
    /// their number) and presence updates (idempotent), in their order;
    /// not broadcasts and sends, which are at most once.
    pub(crate) fn sent_again(&self) -> bool {
        !matches!(self, Target::Channel(_))
    }
}

/// Adds or refreshes members of a room: each expires `ttl` after Redis's
/// own clock (one clock for every node), and the key itself after twice
/// that (a room whose nodes all died goes away). KEYS: the presence key.
/// ARGV: ttl in ms, then the connection ids.
pub(crate) const JOIN_SCRIPT: &str = "\
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], ttl * 2)
return #ARGV - 1";

/// The live members of a room: drops the expired ones, returns the rest.
/// KEYS: the presence key.
pub(crate) const MEMBERS_SCRIPT: &str = "\
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZRANGE', KEYS[1], 0, -1)";

/// Appends an event to a topic's stream (trimmed to its capacity) and
/// publishes it with its id and the epoch, in one step, so stream order and
/// publish order are the same; unless this publisher already appended an
/// event numbered as high (the same event sent again after a failure that
/// hid whether it was appended): then nothing, and `false`. The number is
/// kept in the publisher's key, next to the stream (and persisted with it),
/// expiring when the publisher has appended nothing for a while (longer
/// than any event waits to be sent again). KEYS: stream, epoch key,
/// channel, the publisher's key. ARGV: capacity, the event (`name \n
/// data`), a fresh epoch in case the stream has none, the event's number,
/// how long the publisher's key lives (ms).
pub(crate) const APPEND_SCRIPT: &str = "\
local appended = redis.call('GET', KEYS[4])
if appended and tonumber(appended) >= tonumber(ARGV[4]) then
  return false
end
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = ARGV[3]
  redis.call('SET', KEYS[2], epoch)
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], '*', 'e', ARGV[2])
redis.call('SET', KEYS[4], ARGV[4], 'PX', ARGV[5])
redis.call('PUBLISH', KEYS[3], epoch .. '\\n' .. id .. '\\n' .. ARGV[2])
return id";

/// Records this node's open connections (expiring after the TTL, on Redis's
/// clock), drops the expired nodes' and returns the live totals: nodes,
/// WebSocket connections, SSE streams. KEYS: the nodes hash. ARGV: node,
/// ttl in ms, WebSocket count, SSE count.
pub(crate) const NODES_SCRIPT: &str = "\
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], (now + tonumber(ARGV[2])) .. ' ' .. ARGV[3] .. ' ' .. ARGV[4])
local all = redis.call('HGETALL', KEYS[1])
local nodes, ws, sse = 0, 0, 0
for i = 1, #all, 2 do
  local expiry, w, s = string.match(all[i + 1], '(%d+) (%d+) (%d+)')
  if expiry and tonumber(expiry) > now then
    nodes = nodes + 1
    ws = ws + tonumber(w)
    sse = sse + tonumber(s)
  else
    redis.call('HDEL', KEYS[1], all[i])
  end
end
return {nodes, ws, sse}";
