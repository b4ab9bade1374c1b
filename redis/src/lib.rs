//! # tidings-redis
//!
//! A Redis [`Engine`](tidings_framework::hub::cluster::Engine) for tidings:
//! run many server processes behind a load balancer as one hub. Broadcasts
//! (room, route, protocol, sender exclusion) reach the matching connections
//! of every node; `hub.send_to(id, …)` and `hub.close_connection(id, …)`
//! reach a connection on any node; connection ids are `{node}.ws_1`. See
//! [`tidings_framework::hub::cluster`] for the semantics.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use tidings_redis::{RedisConfig, RedisEngine};
//! use tidings_tokio::{Router, Server, ServerConfig, Tokio};
//!
//! let engine = RedisEngine::connect(Tokio, "redis://127.0.0.1:6379", "node-a", RedisConfig::default()).await?;
//! let config = ServerConfig::default().engine(engine);
//! let server = Server::bind_with("127.0.0.1:8080", Router::new(), config).await?;
//! server.run().await;
//! # Ok(()) }
//! ```
//!
//! ## How it uses Redis
//!
//! Pub/sub, like Socket.IO's Redis adapter and Phoenix.PubSub: every node
//! subscribes to `{prefix}:all` (broadcasts) and `{prefix}:node:{node}`
//! (sends and closes by id for its connections), and skips its own echo by
//! the node name each message carries. Two connections (the `redis`
//! crate's `ConnectionManager`, RESP3): one subscribes, one publishes, so a
//! flood of incoming messages never delays what this node sends.
//!
//! Broadcasts and sends across nodes are at most once. When Redis goes
//! away, local delivery goes on; outgoing messages wait in a bounded queue
//! ([`QueueLimits`]: count, bytes, age; a batch in flight counts until
//! Redis answered it) and what does not fit, or waited too long, or what
//! Redis refused, is dropped and counted. A batch whose fate is unknown
//! (the connection broke with it in flight, or Redis answered too late) is
//! settled by what it holds: broadcasts and sends are dropped and counted
//! (they may have gone out: never twice); SSE topic events and presence
//! updates go back to the front of the queue, in order, and are sent again
//! once Redis answers (a topic event carries its publisher's number, so
//! Redis appends it once, see [`RedisTopic`]). Both connections reconnect
//! with backoff and the subscription is renewed. A liveness probe (a
//! message to itself every [`probe_interval`](RedisConfig::probe_interval))
//! detects a subscription that stopped delivering without an error
//! (counted as a stall), and replaces that connection with a new
//! subscription. Publishing and watching the subscription are two tasks,
//! so a slow or wedged subscription never holds up what a node sends, and
//! every wait for Redis is bounded by
//! [`command_timeout`](RedisConfig::command_timeout) (a small multiple of
//! it for a batch or a history read), including the wait for a connection
//! that is reconnecting. State and counters are in
//! [`Stats::engine`](tidings_framework::hub::Stats::engine). Dropping the
//! engine (with the last server configuration holding it) ends both tasks
//! and closes both connections.
//!
//! ## Presence
//!
//! `hub.cluster_members(room).await` lists a room's members on every node:
//! each node keeps its members in a sorted set per room
//! (`{prefix}:presence:{room}`, scored by an expiry on Redis's clock) and
//! refreshes them every third of [`presence_ttl`](RedisConfig::presence_ttl),
//! so the members of a node that died (or lost Redis) disappear within it.
//! A node drained by its server (`ServerHandle::shutdown`, `run_until`)
//! flushes its queue before it returns, so its members' leaves reach Redis
//! at once.
//!
//! ## SSE topics across nodes
//!
//! [`RedisEngine::topic`] gives a [`RedisTopic`]: an SSE topic whose events
//! get cluster-wide ids from a Redis stream per topic (Centrifugo's design:
//! an epoch, the stream trimmed to the topic's capacity, recovery by
//! `XRANGE`), so a client that reconnects to any node with `Last-Event-ID`
//! resumes exactly, or gets the `reset` event when its events are gone. A
//! node whose subscription was lost catches its copy up from the stream
//! when it is back, so its live SSE clients miss nothing (they get `reset`
//! only when the missed events are gone). With a Redis that persists
//! (`appendonly yes`), the stream and its epoch survive a Redis restart:
//! SSE clients on every node get every event once, in order, across it
//! (events published meanwhile get their ids when Redis is back); a Redis
//! without persistence loses them, and the clients get `reset`.
//!
//! ## Runtimes
//!
//! Feature `tokio` (default) for tidings-tokio; feature `smol` for
//! tidings-smol and tidings-async-std (both run on the async-io reactor,
//! which the `redis` crate's smol support uses). With both, the `redis`
//! crate uses tokio when called inside a tokio runtime and smol otherwise.

#![deny(unsafe_code)]

mod engine;
mod keys;
mod outgoing;
mod stream;
mod topic;
mod topic_wire;

pub use engine::{ConnectError, RedisConfig, RedisEngine};
pub use outgoing::QueueLimits;
pub use topic::RedisTopic;
