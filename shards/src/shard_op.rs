//! What one shard asks of another over the mesh, and the answers.

use bytes::Bytes;
use shardhub_core::seckill::{Buy, Order, OrderId, StockView};
use shardhub_core::{KeyOp, KeyReply, SeckillError};

use crate::clients::ClientListFilter;
use crate::metrics::MetricsSnapshot;
use crate::mqtt::op::{MqttOp, MqttReply};
use crate::wallet::op::{WalletOp, WalletReply};

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
    /// A flash-sale command for a SKU or order the destination owns.
    Seckill(SeckillOp),
    /// The owner of `sku` says whether it is sold out; the destination refuses BUYs for it
    /// locally while it is. Sent as a notice: no reply.
    SoldOutHint { sku: Bytes, sold_out: bool },
    /// Broker work: forwarded publishes, interest, client ids, session takeover, retained.
    Mqtt(MqttOp),
    /// Wallet work on the wallet's (or the secure client's) owner.
    Wallet(WalletOp),
}

pub enum SeckillOp {
    StockSet {
        sku: Bytes,
        total: u64,
        limit: u64,
        hold_ms: u64,
    },
    StockAdd {
        sku: Bytes,
        delta: i64,
    },
    StockGet(Bytes),
    Buy(Buy),
    Pay(OrderId),
    Cancel(OrderId),
    OrderGet(OrderId),
}

impl SeckillOp {
    /// Whether the op may write to the log (so it is refused when the log is down or full).
    pub fn writes(&self) -> bool {
        !matches!(self, SeckillOp::StockGet(_) | SeckillOp::OrderGet(_))
    }
}

pub enum SeckillReply {
    Ok,
    Available(u64),
    Stock(StockView),
    OrderId(OrderId),
    Order(Box<Order>),
    Refused(SeckillError),
    /// Too many records wait for the disk: retry later.
    Busy,
    /// The log failed; the owner refuses writes until restarted.
    LogFailed,
}

pub enum ShardReply {
    Key(KeyReply),
    Stats(ShardStats),
    Metrics(Box<MetricsSnapshot>),
    ClientList(Vec<String>),
    Pong,
    Seckill(SeckillReply),
    Mqtt(MqttReply),
    Wallet(WalletReply),
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
    pub mesh_notices_sent: u64,
    pub mesh_requests_received: u64,
    pub mesh_busy: u64,
    pub driver: &'static str,
}
