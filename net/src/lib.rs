//! Sans-IO protocol codecs of shardhub: bytes in, requests out; replies in, bytes out.
//!
//! Nothing here owns a socket or a clock, so the same code serves the daemon's connection
//! drivers and the client side of `shardhub-bench`.
//!
//! - [`resp`]: the Redis protocol (RESP2 and RESP3): request framing with Redis's limits and
//!   error texts, reply encoding, the command table.
//! - [`http`]: HTTP/1.1 request heads (via `httparse`) and response writing.
//! - [`mqtt`]: MQTT 5.0 and 3.1.1: every control packet and property decoded zero-copy from
//!   the read buffer and encoded in either version, topic syntax, and a broker's per-session
//!   protocol state (in-flight window, queue, aliases).

#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod http;
pub mod mqtt;
pub mod resp;
