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
    /// The order is settled, published and old: it left the shard's memory for the order
    /// store.
    #[error("order archived")]
    Archived,
    /// A logged event does not fit the state it is replayed onto: the log is damaged or was
    /// written by a different version.
    #[error("log event does not match the state: {0}")]
    Inconsistent(&'static str),
}

/// Why a subscription was refused by the subscription trie or an interest summary. Refusals
/// change nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PubsubError {
    /// The filter has more levels than the trie's `levels_max`.
    #[error("topic filter has too many levels")]
    TooManyLevels,
    /// `$share/` without a group, with a wildcard in the group, or without a filter after it.
    #[error("malformed shared subscription filter")]
    BadSharedFilter,
    /// The trie holds `subscriptions_max` subscriptions and this one is new.
    #[error("subscription table is full")]
    Full,
}

/// Why a device shadow request was refused, with the code and message of the AWS IoT Device
/// Shadow service's error documents (`{"code", "message"}` on `.../rejected`). Refusals change
/// nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ShadowError {
    /// 400: the payload is not JSON (or is nested deeper than the parser's 128 levels).
    #[error("Invalid JSON")]
    InvalidJson,
    /// 400: the payload is JSON but not an object.
    #[error("Payload must be a JSON object")]
    NotAnObject,
    /// 400: an update without `state`.
    #[error("Missing required node: state")]
    MissingState,
    /// 400: `state` is not an object.
    #[error("State node must be an object")]
    InvalidState,
    /// 400: `state` holds a node other than `desired` and `reported`.
    #[error("State contains an invalid node")]
    UnknownStateNode,
    /// 400: `state` holds neither `desired` nor `reported`.
    #[error("State node must contain desired or reported")]
    EmptyState,
    /// 400: `desired` is neither an object nor null.
    #[error("Desired node must be an object")]
    InvalidDesired,
    /// 400: `reported` is neither an object nor null.
    #[error("Reported node must be an object")]
    InvalidReported,
    /// 400: `version` is not a non-negative integer.
    #[error("Invalid version")]
    InvalidVersion,
    /// 400: `clientToken` is not a string.
    #[error("Invalid clientToken")]
    InvalidClientToken,
    /// 400: `clientToken` is longer than 64 bytes.
    #[error("clientToken must be at most 64 bytes")]
    ClientTokenTooLong,
    /// 400: `desired` or `reported` is nested deeper than the limits' `depth_max`.
    #[error("JSON contains too many levels of nesting")]
    TooDeep,
    /// 404: get or delete of a shadow that does not exist.
    #[error("No shadow exists with this name")]
    NotFound,
    /// 409: the update names a version other than the shadow's.
    #[error("Version conflict")]
    VersionConflict,
    /// 413: the request, or the desired or reported section it would leave, is over its byte
    /// limit.
    #[error("The payload exceeds the maximum size allowed")]
    TooLarge,
    /// 429: the shard holds its maximum number of shadows and this update would create one.
    #[error("Too many shadows")]
    TooManyShadows,
    /// 500: a logged event or a snapshot does not fit the state it is applied to: the log is
    /// damaged or was written by another version.
    #[error("log event does not match the state: {0}")]
    Inconsistent(&'static str),
}

impl ShadowError {
    /// The AWS-style status code of the error document.
    pub fn code(&self) -> u16 {
        use ShadowError::*;
        match self {
            InvalidJson | NotAnObject | MissingState | InvalidState | UnknownStateNode | EmptyState
            | InvalidDesired | InvalidReported | InvalidVersion | InvalidClientToken | ClientTokenTooLong | TooDeep => {
                400
            }
            NotFound => 404,
            VersionConflict => 409,
            TooLarge => 413,
            TooManyShadows => 429,
            Inconsistent(_) => 500,
        }
    }

    /// The message of the error document. An inconsistency is an internal failure to clients;
    /// its detail is for the log ([`std::fmt::Display`]).
    pub fn message(&self) -> &'static str {
        use ShadowError::*;
        match self {
            InvalidJson => "Invalid JSON",
            NotAnObject => "Payload must be a JSON object",
            MissingState => "Missing required node: state",
            InvalidState => "State node must be an object",
            UnknownStateNode => "State contains an invalid node",
            EmptyState => "State node must contain desired or reported",
            InvalidDesired => "Desired node must be an object",
            InvalidReported => "Reported node must be an object",
            InvalidVersion => "Invalid version",
            InvalidClientToken => "Invalid clientToken",
            ClientTokenTooLong => "clientToken must be at most 64 bytes",
            TooDeep => "JSON contains too many levels of nesting",
            NotFound => "No shadow exists with this name",
            VersionConflict => "Version conflict",
            TooLarge => "The payload exceeds the maximum size allowed",
            TooManyShadows => "Too many shadows",
            Inconsistent(_) => "Internal service failure",
        }
    }
}

/// A broken invariant of a state machine, described: a bug, or state that was damaged
/// before it was replayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BrokenInvariant(pub String);
