//! Sans-IO protocol codecs of shardhub: bytes in, requests out; replies in, bytes out.
//!
//! Nothing here owns a socket or a clock, so the same code serves the daemon's connection
//! drivers and the client side of `shardhub-bench`.
//!
//! - [`resp`]: the Redis protocol (RESP2 and RESP3): request framing with Redis's limits and
//!   error texts, reply encoding, the command table.
//! - [`http`]: HTTP/1.1 request heads (via `httparse`) and response writing.
//! - [`mqtt`]: for now, the "server unavailable" answer to a CONNECT.

pub mod http;
pub mod mqtt;
pub mod resp;
