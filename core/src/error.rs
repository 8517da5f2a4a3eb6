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
