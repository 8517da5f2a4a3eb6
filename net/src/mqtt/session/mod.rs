//! The per-session protocol state of a broker, sans-IO: what the server owes a client and
//! what it expects back, independent of sockets, shards and routing.
//!
//! - [`Message`]: an application message as the broker routes it, shared by every
//!   subscriber (one allocation per publish, whatever the fan-out).
//! - [`Outbound`]: server to client — packet identifiers, the in-flight window (the smaller
//!   of ours and the client's Receive Maximum), the bounded queue behind it, redelivery on
//!   reconnect, message expiry, outgoing topic aliases and the client's Maximum Packet Size.
//! - [`Inbound`]: client to server — incoming topic aliases and the QoS 2 exchanges waiting
//!   for PUBREL, bounded by the server's Receive Maximum.

mod inbound;
mod message;
mod outbound;

pub use inbound::{Inbound, InboundError};
pub use message::Message;
pub use outbound::{Delivery, Outbound, OutboundLimits, OutboundStats};
