//! Pure, deterministic domain state machines of shardhub.
//!
//! Nothing here touches a socket, a thread, a clock or a random source: time is passed in
//! as milliseconds since the Unix epoch, so every state machine can be replayed and
//! property-tested. The runtime that feeds these machines lives in the `shardhub` crate.
//!
//! - [`slot`]: Redis Cluster key slots (CRC16/XMODEM mod 16384) and the slot -> shard table.
//! - [`keyspace`]: the string key space a shard owns, with lazy and active expiry.
//! - [`seckill`]: flash-sale inventory: SKUs, expiring reservations, orders, per-user limits.
//! - [`event_sink`]: where the inventory's and the shadows' commands send their events.
//! - [`journal`]: the framing of log records (length + CRC32C).
//! - [`pubsub`]: MQTT subscriptions: topic matching, the subscription trie, interest summaries.
//! - [`shadow`]: device shadows after AWS IoT: merge-patch updates, delta, versions, metadata.

pub mod error;
pub mod event_sink;
pub mod journal;
pub mod keyspace;
pub mod pubsub;
pub mod seckill;
pub mod shadow;
pub mod slot;

pub use error::{BrokenInvariant, KeyspaceError, SeckillError};
pub use event_sink::EventSink;
pub use keyspace::{KeyOp, KeyReply, Keyspace, KeyspaceLimits};
pub use slot::{key_hash_slot, ShardId, Slot, SlotTable, SLOT_COUNT};
