//! What one shard asks of another over the mesh, and the answers.

use shardhub_core::{KeyOp, KeyReply};

use crate::clients::ClientListFilter;
use crate::metrics::MetricsSnapshot;

pub enum ShardOp {
    /// An operation on keys the destination owns.
    Key(KeyOp),
    /// Counters for INFO and DBSIZE.
    Stats,
    /// Everything `/metrics` shows.
    Metrics,
    /// CLIENT LIST lines of the destination's connections.
    ClientList(ClientListFilter),
    /// An empty round trip, for `MESH PING`.
    Ping,
}

pub enum ShardReply {
    Key(KeyReply),
    Stats(ShardStats),
    Metrics(Box<MetricsSnapshot>),
    ClientList(Vec<String>),
    Pong,
    /// The owner could not answer (only while the process is going down).
    Unavailable,
}

/// One shard's counters, as INFO shows them.
#[derive(Clone, Copy, Debug, Default)]
pub struct ShardStats {
    pub shard: u16,
    pub keys: u64,
    pub expires: u64,
    pub expired_keys: u64,
    pub connected_clients: u64,
    pub total_connections: u64,
    pub rejected_connections: u64,
    pub commands_processed: u64,
    pub net_input_bytes: u64,
    pub net_output_bytes: u64,
    pub mesh_requests_sent: u64,
    pub mesh_requests_received: u64,
    pub mesh_busy: u64,
    pub driver: &'static str,
}
