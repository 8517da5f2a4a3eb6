//! The Redis serialization protocol.
//!
//! Requests are framed with the `redis-protocol` crate; what it leaves open (inline commands,
//! Redis's exact protocol-error texts, size limits) is handled in [`request`]. Replies are
//! written straight into the output buffer by [`Reply::encode`], in RESP2 or RESP3 as the
//! connection negotiated with HELLO.

pub mod client;
pub mod command_table;
pub mod errors;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod reply;
pub mod request;

pub use client::{encode_request, reply_len};
pub use command_table::{CommandId, CommandSpec, COMMANDS};
pub use reply::{Protocol, Reply};
pub use request::{ParseError, Request, RequestLimits, RequestParser};
