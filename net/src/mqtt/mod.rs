//! MQTT 5.0 and 3.1.1: a sans-IO codec for all fifteen control packets and every 5.0
//! property, and the per-session protocol state a broker keeps.
//!
//! # Using the codec
//!
//! A connection keeps a `BytesMut` read buffer and its protocol version:
//!
//! 1. Before the first packet is decoded, [`peek_connect_version`] reads the CONNECT's
//!    protocol level from its first bytes, so even a CONNECT that fails to decode is answered
//!    in its client's version.
//! 2. [`decode()`] takes one packet off the buffer, or nothing (`Ok(None)`) until the packet is
//!    complete. The fixed header is checked first, and a packet over `packet_bytes_max` is
//!    refused before its body is buffered. Strings, topics and payloads are slices of the
//!    buffer ([`MqttStr`] for strings), and properties are struct fields: no copies, no maps.
//! 3. A [`DecodeError`] names the reason code to answer with ([`DecodeError::reason_code`]):
//!    CONNACK for a CONNECT, DISCONNECT otherwise (5.0), then close. 3.1.1 just closes, or
//!    answers a CONNECT with the return code [`ReasonCode::v311_connack_return_code`] gives.
//! 4. [`Packet::encoded_len`] sizes a packet in the peer's version; [`Packet::fit_within`]
//!    drops what 5.0 lets a server drop to respect the client's Maximum Packet Size;
//!    [`Packet::encode`] appends it to a write buffer. Encoding for 3.1.1 leaves properties
//!    out and maps reason codes to 3.1.1 return codes.
//!
//! What the codec checks is what a packet alone can show: syntax, reserved bits, allowed and
//! duplicate properties, value ranges, topic-name syntax. What needs connection state is the
//! caller's: CONNECT only first, Topic Alias within the negotiated maximum, Receive Maximum,
//! packet-identifier reuse, the AUTH method matching the CONNECT's, no Subscription
//! Identifier from a client, Payload Format Indicator against the payload (0x99), and the
//! syntax of SUBSCRIBE's topic filters (answered per filter with 0x8F, see [`topic`]).
//!
//! # Where things are
//!
//! - [`packet`]: the [`Packet`] enum, one struct per packet, [`ProtocolVersion`], [`QoS`].
//! - [`properties`]: one property struct per packet kind and their wire format.
//! - [`reason`]: [`ReasonCode`], shared by packets and errors, with the 3.1.1 mappings.
//! - [`error`]: [`DecodeError`] and [`EncodeError`].
//! - [`frame`]: the fixed header: [`peek_frame`], [`peek_connect_version`].
//! - [`decode`](mod@decode) and [`encode`](mod@encode): the packets' layouts, read and written.
//! - `reader`: the bounds-checked cursor the decoder reads with.
//! - [`string`]: [`MqttStr`], validated UTF-8 over `Bytes`.
//! - [`varint`]: Variable Byte Integers.
//! - [`topic`]: topic name and filter syntax, `$share/{name}/{filter}` parsing.
//! - [`session`]: a broker's per-session protocol state (in-flight window, queue, aliases).
//! - [`connection`]: a broker's side of one connection (CONNECT terms, the rules of every
//!   packet after it), packets and time in, packets and steps out.
//! - `fuzzing`: the fuzz target's body (`net/fuzz/`), also run by the tests under proptest.

pub mod connection;
pub mod decode;
pub mod encode;
pub mod error;
pub mod frame;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod packet;
pub mod properties;
mod reader;
pub mod reason;
pub mod session;
pub mod string;
pub mod topic;
pub mod varint;

#[cfg(test)]
mod tests;

pub use decode::decode;
pub use error::{DecodeError, EncodeError};
pub use frame::{peek_connect_version, peek_frame, FrameHeader};
pub use packet::{
    Ack, Auth, ConnAck, Connect, Disconnect, Packet, PacketId, PacketType, ProtocolVersion, Publish, QoS,
    RetainHandling, SubAck, Subscribe, Subscription, SubscriptionOptions, UnsubAck, Unsubscribe, Will,
};
pub use properties::{
    AckProperties, AuthProperties, ConnAckProperties, ConnectProperties, DisconnectProperties, PropertyId,
    PublishProperties, SubscribeProperties, UnsubscribeProperties, UserProperty, WillProperties,
};
pub use reason::ReasonCode;
pub use string::{MqttStr, StrError};
pub use topic::{parse_topic_filter, validate_topic_filter, validate_topic_name, ParsedFilter, TopicError};
