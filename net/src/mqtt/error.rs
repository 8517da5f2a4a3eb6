//! Why a packet could not be read or written.
//!
//! Every [`DecodeError`] names the MQTT 5.0 reason code the connection answers with
//! ([`DecodeError::reason_code`]): in a CONNACK when the packet was the CONNECT, otherwise in
//! a DISCONNECT, after which the connection closes (the byte stream cannot be resynchronised).
//! A 3.1.1 connection just closes, except for the CONNACK return codes 3.1.1 has
//! ([`super::ReasonCode::v311_connack_return_code`]): 0x84 becomes return code 0x01 and 0x85
//! becomes 0x02.

use super::packet::{PacketType, QoS};
use super::properties::PropertyId;
use super::reason::ReasonCode;
use super::string::StrError;
use super::topic::TopicError;

/// A packet the specification forbids, or one over the caller's size limit.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A fifth remaining-length byte ([MQTT-1.5.5], at most four).
    #[error("remaining length longer than four bytes")]
    RemainingLengthTooLong,
    /// Refused from the fixed header, before the body is buffered.
    #[error("packet of {size} bytes exceeds the maximum packet size of {max}")]
    PacketTooLarge { size: u64, max: u32 },
    /// Type 0, or type 15 (AUTH) on a 3.1.1 connection.
    #[error("packet type {0} is reserved")]
    ReservedPacketType(u8),
    #[error("{packet} with reserved fixed header flags {flags:#06b}")]
    ReservedFlags { packet: PacketType, flags: u8 },
    /// QoS 3 in a PUBLISH header or a CONNECT's Will QoS ([MQTT-3.3.1-4], [MQTT-3.1.2-12]).
    #[error("{what} has QoS 3")]
    InvalidQos { what: &'static str },
    #[error("PUBLISH with DUP set at QoS 0")]
    DupAtQos0,
    #[error("{packet} ends inside {what}")]
    Truncated { packet: PacketType, what: &'static str },
    #[error("{packet} has {extra} bytes after its last field")]
    TrailingBytes { packet: PacketType, extra: usize },
    #[error("{what}: {error}")]
    InvalidString { what: &'static str, error: StrError },
    #[error("{what}: variable byte integer longer than four bytes")]
    VarIntTooLong { what: &'static str },

    /// Not "MQTT" (nor "MQIsdp", which is read as the unsupported 3.1).
    #[error("protocol name is not \"MQTT\"")]
    InvalidProtocolName,
    /// A protocol level other than 4 (3.1.1) or 5.
    #[error("protocol level {0} is not supported")]
    UnsupportedProtocolVersion(u8),
    /// The first packet of a connection is not a CONNECT ([MQTT-3.1.0-1]).
    #[error("expected CONNECT, got {0}")]
    NotConnect(PacketType),
    #[error("CONNECT with the reserved flag set")]
    ConnectReservedFlag,
    #[error("CONNECT with Will QoS or Will Retain but no Will Flag")]
    WillFlagsWithoutWill,
    /// 3.1.1 only ([MQTT-3.1.2-22]); 5.0 allows a password alone.
    #[error("CONNECT with a password but no user name")]
    PasswordWithoutUsername,
    /// 3.1.1: an empty client identifier needs a clean session ([MQTT-3.1.3-8]).
    #[error("empty client identifier without clean session")]
    ClientIdRejected,
    #[error("{0} with Authentication Data but no Authentication Method")]
    AuthDataWithoutMethod(PacketType),
    /// AUTH continuing or restarting authentication must name the method.
    #[error("AUTH {0} without Authentication Method")]
    AuthWithoutMethod(ReasonCode),

    /// An identifier the specification does not define ([MQTT-2.2.2]: malformed).
    #[error("unknown property identifier {0:#04x}")]
    UnknownProperty(u32),
    #[error("property {id:?} is not allowed in {context}")]
    PropertyNotAllowed { id: PropertyId, context: &'static str },
    #[error("property {id:?} appears twice in {context}")]
    DuplicateProperty { id: PropertyId, context: &'static str },
    #[error("property {id:?} has the invalid value {value}")]
    InvalidPropertyValue { id: PropertyId, value: u32 },
    #[error("Topic Alias 0")]
    TopicAliasZero,

    /// A wildcard or other fault in a PUBLISH or Will topic name.
    #[error("{what}: {error}")]
    InvalidTopicName { what: &'static str, error: TopicError },
    #[error("PUBLISH with an empty topic and no Topic Alias")]
    MissingTopic,
    #[error("Response Topic: {0}")]
    InvalidResponseTopic(TopicError),

    #[error("{0} with packet identifier 0")]
    PacketIdZero(PacketType),
    /// SUBSCRIBE or UNSUBSCRIBE without filters, SUBACK or 5.0 UNSUBACK without codes.
    #[error("{0} with an empty payload")]
    EmptyPayload(PacketType),
    #[error("subscription options {0:#010b} with reserved bits set")]
    SubscriptionOptionsReserved(u8),
    #[error("subscription with maximum QoS 3")]
    SubscriptionQos3,
    #[error("subscription with Retain Handling 3")]
    RetainHandling3,
    /// [MQTT-3.8.3-4].
    #[error("No Local on a shared subscription")]
    NoLocalOnSharedSubscription,

    #[error("{packet} with reason code {code:#04x}, which it may not carry")]
    InvalidReasonCode { packet: PacketType, code: u8 },
    #[error("CONNACK with reserved acknowledge flags {0:#010b}")]
    ConnAckReservedFlags(u8),
    /// [MQTT-3.2.2-6] (5.0), [MQTT-3.2.2-4] (3.1.1).
    #[error("CONNACK with Session Present and an error code")]
    SessionPresentWithError,
}

impl DecodeError {
    /// The reason code to answer with (see the module documentation).
    pub fn reason_code(&self) -> ReasonCode {
        use DecodeError::*;
        match self {
            PacketTooLarge { .. } => ReasonCode::PACKET_TOO_LARGE,
            InvalidProtocolName | NotConnect(_) => ReasonCode::PROTOCOL_ERROR,
            UnsupportedProtocolVersion(_) => ReasonCode::UNSUPPORTED_PROTOCOL_VERSION,
            ClientIdRejected => ReasonCode::CLIENT_IDENTIFIER_NOT_VALID,
            TopicAliasZero => ReasonCode::TOPIC_ALIAS_INVALID,
            InvalidTopicName { .. } => ReasonCode::TOPIC_NAME_INVALID,
            // The specification calls these "a Protocol Error" by name.
            AuthDataWithoutMethod(_)
            | AuthWithoutMethod(_)
            | DuplicateProperty { .. }
            | InvalidPropertyValue { .. }
            | MissingTopic
            | InvalidResponseTopic(_)
            | PacketIdZero(_)
            | EmptyPayload(_)
            | SubscriptionQos3
            | RetainHandling3
            | NoLocalOnSharedSubscription
            | SessionPresentWithError => ReasonCode::PROTOCOL_ERROR,
            // Everything that cannot be parsed as the specification lays packets out.
            RemainingLengthTooLong
            | ReservedPacketType(_)
            | ReservedFlags { .. }
            | InvalidQos { .. }
            | DupAtQos0
            | Truncated { .. }
            | TrailingBytes { .. }
            | InvalidString { .. }
            | VarIntTooLong { .. }
            | ConnectReservedFlag
            | WillFlagsWithoutWill
            | PasswordWithoutUsername
            | UnknownProperty(_)
            | PropertyNotAllowed { .. }
            | SubscriptionOptionsReserved(_)
            | InvalidReasonCode { .. }
            | ConnAckReservedFlags(_) => ReasonCode::MALFORMED_PACKET,
        }
    }
}

/// A packet that cannot be written as asked. Nothing is written when encoding fails.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("{packet} needs a remaining length of {len} bytes, more than 268435455")]
    RemainingLengthTooLarge { packet: PacketType, len: usize },
    /// From [`super::Packet::fit_within`]: too large even without what may be dropped.
    #[error("{packet} of {size} bytes exceeds the maximum packet size of {max}")]
    ExceedsMaximumPacketSize { packet: PacketType, size: usize, max: u32 },
    #[error("{what} of {len} bytes is longer than a length prefix can describe")]
    BinaryTooLong { what: &'static str, len: usize },
    #[error("PUBLISH at {qos:?} with packet identifier {packet_id:?}")]
    PacketIdMismatch { qos: QoS, packet_id: Option<u16> },
    #[error("{0} does not exist in MQTT 3.1.1")]
    NotInV311(PacketType),
    /// Close a 3.1.1 connection without a CONNACK instead.
    #[error("CONNACK reason {0} has no MQTT 3.1.1 return code")]
    NoV311ReturnCode(ReasonCode),
    #[error("subscription identifier {0} is over 268435455")]
    SubscriptionIdentifierTooLarge(u32),
    #[error("{0} with an empty payload")]
    EmptyPayload(PacketType),
}
