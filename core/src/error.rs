//! Errors of the core state machines, typed so each front end can answer in its own terms.

/// Why a key-space operation was refused. Refusals never change state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyspaceError {
    /// The key holds a value of another type than the command works on.
    #[error("operation against a key holding the wrong kind of value")]
    WrongType,
    /// The stored value is not a base-10 signed 64-bit integer.
    #[error("value is not an integer or out of range")]
    NotInteger,
    /// The arithmetic would leave the signed 64-bit range.
    #[error("increment or decrement would overflow")]
    Overflow,
    /// An expiry in the past of the epoch or beyond the representable range.
    #[error("invalid expire time")]
    InvalidExpire,
    /// The shard holds `max_keys` keys already and the operation would add one.
    #[error("key space is full")]
    Full,
}

/// Why a flash-sale command was refused. Refusals change nothing, except that a payment or a
/// cancellation that finds its reservation past its deadline expires it first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SeckillError {
    #[error("no such sku")]
    NoSku,
    #[error("sold out")]
    SoldOut,
    /// The user would hold more than the SKU's per-user limit.
    #[error("per-user limit reached")]
    Limit,
    #[error("no such order")]
    NoOrder,
    #[error("order expired")]
    Expired,
    #[error("order cancelled")]
    Cancelled,
    /// A paid order cannot be cancelled.
    #[error("order already paid")]
    Paid,
    /// A quantity below one or above the configured maximum.
    #[error("quantity out of range")]
    BadQty,
    /// A retry carried a known REQID but another quantity.
    #[error("REQID was used for a different QTY")]
    ReqidMismatch,
    /// A withdrawal larger than what is available.
    #[error("stock would go below zero")]
    BelowZero,
    /// A count would leave the u64 range.
    #[error("stock count would overflow")]
    Overflow,
    /// The shard holds its maximum number of SKUs and this one is new.
    #[error("sku table is full")]
    SkusFull,
    /// The shard holds its maximum number of orders.
    #[error("order table is full")]
    OrdersFull,
    /// A logged event does not fit the state it is replayed onto: the log is damaged or was
    /// written by a different version.
    #[error("log event does not match the state: {0}")]
    Inconsistent(&'static str),
}
