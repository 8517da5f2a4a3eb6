//! MQTT 5.0 properties (section 2.2.2): one struct per packet kind, holding exactly the
//! properties that kind may carry.
//!
//! Single properties are `Option` fields and repeatable ones (User Property everywhere,
//! Subscription Identifier in PUBLISH) are `Vec`s, which do not allocate while empty, so a
//! packet without properties costs no allocation and a lookup is a field access, not a map
//! probe. Decoding refuses what the specification forbids here: an identifier the packet
//! may not carry (malformed), a second copy of a single property, and the out-of-range
//! values the specification names (protocol errors; Topic Alias 0 is 0x94).
//!
//! 3.1.1 has no properties: its packets decode with these left empty, and encoding for
//! 3.1.1 leaves them out.

use std::num::{NonZeroU16, NonZeroU32};

use bytes::{BufMut, Bytes, BytesMut};

use super::error::{DecodeError, EncodeError};
use super::packet::QoS;
use super::reader::Reader;
use super::string::{MqttStr, STRING_BYTES_MAX};
use super::varint::{self, VARINT_MAX};

/// Property identifiers (MQTT 5.0 table 2-4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PropertyId {
    PayloadFormatIndicator = 0x01,
    MessageExpiryInterval = 0x02,
    ContentType = 0x03,
    ResponseTopic = 0x08,
    CorrelationData = 0x09,
    SubscriptionIdentifier = 0x0b,
    SessionExpiryInterval = 0x11,
    AssignedClientIdentifier = 0x12,
    ServerKeepAlive = 0x13,
    AuthenticationMethod = 0x15,
    AuthenticationData = 0x16,
    RequestProblemInformation = 0x17,
    WillDelayInterval = 0x18,
    RequestResponseInformation = 0x19,
    ResponseInformation = 0x1a,
    ServerReference = 0x1c,
    ReasonString = 0x1f,
    ReceiveMaximum = 0x21,
    TopicAliasMaximum = 0x22,
    TopicAlias = 0x23,
    MaximumQos = 0x24,
    RetainAvailable = 0x25,
    UserProperty = 0x26,
    MaximumPacketSize = 0x27,
    WildcardSubscriptionAvailable = 0x28,
    SubscriptionIdentifierAvailable = 0x29,
    SharedSubscriptionAvailable = 0x2a,
}

/// A User Property: a name-value pair whose meaning is the application's. Names may repeat,
/// and the order is kept ([MQTT-3.3.2-18]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserProperty {
    pub name: MqttStr,
    pub value: MqttStr,
}

/// Properties of CONNECT.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectProperties {
    /// Seconds; absent means 0, the session ends with the connection.
    pub session_expiry_interval: Option<u32>,
    pub receive_maximum: Option<NonZeroU16>,
    pub maximum_packet_size: Option<NonZeroU32>,
    pub topic_alias_maximum: Option<u16>,
    pub request_response_information: Option<bool>,
    pub request_problem_information: Option<bool>,
    pub authentication_method: Option<MqttStr>,
    /// Only with `authentication_method` (checked when decoding).
    pub authentication_data: Option<Bytes>,
    pub user_properties: Vec<UserProperty>,
}

/// Properties of a CONNECT's Will Message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WillProperties {
    /// Seconds to wait after the connection is lost before publishing the Will.
    pub will_delay_interval: Option<u32>,
    /// `Some(true)`: the payload is UTF-8 (indicator 1); `Some(false)`: unspecified bytes.
    pub payload_format_indicator: Option<bool>,
    pub message_expiry_interval: Option<u32>,
    pub content_type: Option<MqttStr>,
    /// A valid topic name (checked when decoding).
    pub response_topic: Option<MqttStr>,
    pub correlation_data: Option<Bytes>,
    pub user_properties: Vec<UserProperty>,
}

/// Properties of CONNACK.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnAckProperties {
    pub session_expiry_interval: Option<u32>,
    pub receive_maximum: Option<NonZeroU16>,
    /// Only [`QoS::AtMostOnce`] or [`QoS::AtLeastOnce`]; absent means QoS 2 is supported.
    pub maximum_qos: Option<QoS>,
    pub retain_available: Option<bool>,
    pub maximum_packet_size: Option<NonZeroU32>,
    pub assigned_client_identifier: Option<MqttStr>,
    pub topic_alias_maximum: Option<u16>,
    pub reason_string: Option<MqttStr>,
    pub user_properties: Vec<UserProperty>,
    pub wildcard_subscription_available: Option<bool>,
    pub subscription_identifiers_available: Option<bool>,
    pub shared_subscription_available: Option<bool>,
    pub server_keep_alive: Option<u16>,
    pub response_information: Option<MqttStr>,
    pub server_reference: Option<MqttStr>,
    pub authentication_method: Option<MqttStr>,
    pub authentication_data: Option<Bytes>,
}

/// Properties of PUBLISH.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PublishProperties {
    /// `Some(true)`: the payload is UTF-8 (indicator 1); `Some(false)`: unspecified bytes.
    pub payload_format_indicator: Option<bool>,
    pub message_expiry_interval: Option<u32>,
    /// Never 0 (0x94 when decoding). Whether it is within the receiver's Topic Alias
    /// Maximum is the connection's business.
    pub topic_alias: Option<NonZeroU16>,
    /// A valid topic name (checked when decoding).
    pub response_topic: Option<MqttStr>,
    pub correlation_data: Option<Bytes>,
    pub user_properties: Vec<UserProperty>,
    /// One per matching subscription, server to client only ([MQTT-3.3.4-6]; the
    /// connection checks the direction).
    pub subscription_identifiers: Vec<NonZeroU32>,
    pub content_type: Option<MqttStr>,
}

/// Properties of PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK and UNSUBACK.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AckProperties {
    pub reason_string: Option<MqttStr>,
    pub user_properties: Vec<UserProperty>,
}

/// Properties of SUBSCRIBE.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubscribeProperties {
    /// At most one here, unlike PUBLISH.
    pub subscription_identifier: Option<NonZeroU32>,
    pub user_properties: Vec<UserProperty>,
}

/// Properties of UNSUBSCRIBE.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnsubscribeProperties {
    pub user_properties: Vec<UserProperty>,
}

/// Properties of DISCONNECT.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DisconnectProperties {
    pub session_expiry_interval: Option<u32>,
    pub reason_string: Option<MqttStr>,
    pub user_properties: Vec<UserProperty>,
    pub server_reference: Option<MqttStr>,
}

/// Properties of AUTH.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthProperties {
    pub authentication_method: Option<MqttStr>,
    pub authentication_data: Option<Bytes>,
    pub reason_string: Option<MqttStr>,
    pub user_properties: Vec<UserProperty>,
}

/// One property as read, value checked.
pub(crate) enum Property {
    PayloadFormatIndicator(bool),
    MessageExpiryInterval(u32),
    ContentType(MqttStr),
    ResponseTopic(MqttStr),
    CorrelationData(Bytes),
    SubscriptionIdentifier(NonZeroU32),
    SessionExpiryInterval(u32),
    AssignedClientIdentifier(MqttStr),
    ServerKeepAlive(u16),
    AuthenticationMethod(MqttStr),
    AuthenticationData(Bytes),
    RequestProblemInformation(bool),
    WillDelayInterval(u32),
    RequestResponseInformation(bool),
    ResponseInformation(MqttStr),
    ServerReference(MqttStr),
    ReasonString(MqttStr),
    ReceiveMaximum(NonZeroU16),
    TopicAliasMaximum(u16),
    TopicAlias(NonZeroU16),
    MaximumQos(QoS),
    RetainAvailable(bool),
    UserProperty(UserProperty),
    MaximumPacketSize(NonZeroU32),
    WildcardSubscriptionAvailable(bool),
    SubscriptionIdentifierAvailable(bool),
    SharedSubscriptionAvailable(bool),
}

impl Property {
    fn id(&self) -> PropertyId {
        use Property as P;
        match self {
            P::PayloadFormatIndicator(_) => PropertyId::PayloadFormatIndicator,
            P::MessageExpiryInterval(_) => PropertyId::MessageExpiryInterval,
            P::ContentType(_) => PropertyId::ContentType,
            P::ResponseTopic(_) => PropertyId::ResponseTopic,
            P::CorrelationData(_) => PropertyId::CorrelationData,
            P::SubscriptionIdentifier(_) => PropertyId::SubscriptionIdentifier,
            P::SessionExpiryInterval(_) => PropertyId::SessionExpiryInterval,
            P::AssignedClientIdentifier(_) => PropertyId::AssignedClientIdentifier,
            P::ServerKeepAlive(_) => PropertyId::ServerKeepAlive,
            P::AuthenticationMethod(_) => PropertyId::AuthenticationMethod,
            P::AuthenticationData(_) => PropertyId::AuthenticationData,
            P::RequestProblemInformation(_) => PropertyId::RequestProblemInformation,
            P::WillDelayInterval(_) => PropertyId::WillDelayInterval,
            P::RequestResponseInformation(_) => PropertyId::RequestResponseInformation,
            P::ResponseInformation(_) => PropertyId::ResponseInformation,
            P::ServerReference(_) => PropertyId::ServerReference,
            P::ReasonString(_) => PropertyId::ReasonString,
            P::ReceiveMaximum(_) => PropertyId::ReceiveMaximum,
            P::TopicAliasMaximum(_) => PropertyId::TopicAliasMaximum,
            P::TopicAlias(_) => PropertyId::TopicAlias,
            P::MaximumQos(_) => PropertyId::MaximumQos,
            P::RetainAvailable(_) => PropertyId::RetainAvailable,
            P::UserProperty(_) => PropertyId::UserProperty,
            P::MaximumPacketSize(_) => PropertyId::MaximumPacketSize,
            P::WildcardSubscriptionAvailable(_) => PropertyId::WildcardSubscriptionAvailable,
            P::SubscriptionIdentifierAvailable(_) => PropertyId::SubscriptionIdentifierAvailable,
            P::SharedSubscriptionAvailable(_) => PropertyId::SharedSubscriptionAvailable,
        }
    }

    /// Reads an identifier and its value.
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        use Property as P;
        const WHAT: &str = "a property";
        let id = r.varint("a property identifier")?;
        let id = match u8::try_from(id).ok().and_then(PropertyId::from_u8) {
            Some(id) => id,
            None => return Err(DecodeError::UnknownProperty(id)),
        };
        let flag = |value: u8| match value {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::InvalidPropertyValue {
                id,
                value: u32::from(value),
            }),
        };
        Ok(match id {
            PropertyId::PayloadFormatIndicator => P::PayloadFormatIndicator(flag(r.u8(WHAT)?)?),
            PropertyId::MessageExpiryInterval => P::MessageExpiryInterval(r.u32(WHAT)?),
            PropertyId::ContentType => P::ContentType(r.string("Content Type")?),
            PropertyId::ResponseTopic => P::ResponseTopic(r.string("Response Topic")?),
            PropertyId::CorrelationData => P::CorrelationData(r.binary(WHAT)?),
            PropertyId::SubscriptionIdentifier => {
                let value = r.varint("Subscription Identifier")?;
                // "It is a Protocol Error if the Subscription Identifier has a value of 0."
                match NonZeroU32::new(value) {
                    Some(value) => P::SubscriptionIdentifier(value),
                    None => return Err(DecodeError::InvalidPropertyValue { id, value }),
                }
            }
            PropertyId::SessionExpiryInterval => P::SessionExpiryInterval(r.u32(WHAT)?),
            PropertyId::AssignedClientIdentifier => {
                P::AssignedClientIdentifier(r.string("Assigned Client Identifier")?)
            }
            PropertyId::ServerKeepAlive => P::ServerKeepAlive(r.u16(WHAT)?),
            PropertyId::AuthenticationMethod => P::AuthenticationMethod(r.string("Authentication Method")?),
            PropertyId::AuthenticationData => P::AuthenticationData(r.binary(WHAT)?),
            PropertyId::RequestProblemInformation => P::RequestProblemInformation(flag(r.u8(WHAT)?)?),
            PropertyId::WillDelayInterval => P::WillDelayInterval(r.u32(WHAT)?),
            PropertyId::RequestResponseInformation => P::RequestResponseInformation(flag(r.u8(WHAT)?)?),
            PropertyId::ResponseInformation => P::ResponseInformation(r.string("Response Information")?),
            PropertyId::ServerReference => P::ServerReference(r.string("Server Reference")?),
            PropertyId::ReasonString => P::ReasonString(r.string("Reason String")?),
            PropertyId::ReceiveMaximum => {
                let value = r.u16(WHAT)?;
                match NonZeroU16::new(value) {
                    Some(value) => P::ReceiveMaximum(value),
                    None => return Err(DecodeError::InvalidPropertyValue { id, value: 0 }),
                }
            }
            PropertyId::TopicAliasMaximum => P::TopicAliasMaximum(r.u16(WHAT)?),
            PropertyId::TopicAlias => match NonZeroU16::new(r.u16(WHAT)?) {
                Some(alias) => P::TopicAlias(alias),
                None => return Err(DecodeError::TopicAliasZero),
            },
            PropertyId::MaximumQos => {
                let value = r.u8(WHAT)?;
                match value {
                    0 => P::MaximumQos(QoS::AtMostOnce),
                    1 => P::MaximumQos(QoS::AtLeastOnce),
                    _ => {
                        return Err(DecodeError::InvalidPropertyValue {
                            id,
                            value: u32::from(value),
                        })
                    }
                }
            }
            PropertyId::RetainAvailable => P::RetainAvailable(flag(r.u8(WHAT)?)?),
            PropertyId::UserProperty => P::UserProperty(UserProperty {
                name: r.string("a User Property name")?,
                value: r.string("a User Property value")?,
            }),
            PropertyId::MaximumPacketSize => {
                let value = r.u32(WHAT)?;
                match NonZeroU32::new(value) {
                    Some(value) => P::MaximumPacketSize(value),
                    None => return Err(DecodeError::InvalidPropertyValue { id, value }),
                }
            }
            PropertyId::WildcardSubscriptionAvailable => P::WildcardSubscriptionAvailable(flag(r.u8(WHAT)?)?),
            PropertyId::SubscriptionIdentifierAvailable => P::SubscriptionIdentifierAvailable(flag(r.u8(WHAT)?)?),
            PropertyId::SharedSubscriptionAvailable => P::SharedSubscriptionAvailable(flag(r.u8(WHAT)?)?),
        })
    }
}

impl PropertyId {
    pub const fn from_u8(id: u8) -> Option<Self> {
        use PropertyId as I;
        Some(match id {
            0x01 => I::PayloadFormatIndicator,
            0x02 => I::MessageExpiryInterval,
            0x03 => I::ContentType,
            0x08 => I::ResponseTopic,
            0x09 => I::CorrelationData,
            0x0b => I::SubscriptionIdentifier,
            0x11 => I::SessionExpiryInterval,
            0x12 => I::AssignedClientIdentifier,
            0x13 => I::ServerKeepAlive,
            0x15 => I::AuthenticationMethod,
            0x16 => I::AuthenticationData,
            0x17 => I::RequestProblemInformation,
            0x18 => I::WillDelayInterval,
            0x19 => I::RequestResponseInformation,
            0x1a => I::ResponseInformation,
            0x1c => I::ServerReference,
            0x1f => I::ReasonString,
            0x21 => I::ReceiveMaximum,
            0x22 => I::TopicAliasMaximum,
            0x23 => I::TopicAlias,
            0x24 => I::MaximumQos,
            0x25 => I::RetainAvailable,
            0x26 => I::UserProperty,
            0x27 => I::MaximumPacketSize,
            0x28 => I::WildcardSubscriptionAvailable,
            0x29 => I::SubscriptionIdentifierAvailable,
            0x2a => I::SharedSubscriptionAvailable,
            _ => return None,
        })
    }
}

/// What decoding and encoding need from each packet kind's property struct.
pub(crate) trait PropertySet: Default {
    /// Names the packet in errors.
    const CONTEXT: &'static str;

    /// Takes one property read from the wire, refusing ones this packet may not carry and
    /// second copies of single ones.
    fn absorb(&mut self, property: Property) -> Result<(), DecodeError>;

    /// Bytes the properties take, without the Property Length in front. Saturates rather
    /// than overflows; the packet-level size check refuses the result then.
    fn content_len(&self) -> usize;

    /// Refuses what [`PropertySet::write_content`] could not write faithfully.
    fn check(&self) -> Result<(), EncodeError>;

    fn write_content(&self, buf: &mut BytesMut);
}

/// Reads a Property Length and the properties it covers.
pub(crate) fn read<P: PropertySet>(r: &mut Reader<'_>) -> Result<P, DecodeError> {
    const WHAT: &str = "the properties";
    let len = r.varint("the property length")?;
    let len = usize::try_from(len).map_err(|_| DecodeError::VarIntTooLong { what: WHAT })?;
    let mut props = r.sub(len, WHAT)?;
    let mut set = P::default();
    while !props.is_empty() {
        set.absorb(Property::read(&mut props)?)?;
    }
    Ok(set)
}

/// Bytes the Property Length and the properties take together.
pub(crate) fn encoded_len<P: PropertySet>(set: &P) -> usize {
    let content = set.content_len();
    let prefix = u32::try_from(content).map_or(varint::VARINT_BYTES_MAX, varint::len);
    prefix.saturating_add(content)
}

/// Writes the Property Length and the properties. The caller has checked the packet, so
/// the length fits a Variable Byte Integer.
pub(crate) fn write<P: PropertySet>(set: &P, buf: &mut BytesMut) {
    let content = set.content_len();
    debug_assert!(content <= VARINT_MAX as usize);
    varint::put(buf, u32::try_from(content).unwrap_or(VARINT_MAX));
    let start = buf.len();
    set.write_content(buf);
    debug_assert_eq!(buf.len() - start, content, "{} property length", P::CONTEXT);
}

fn once<T>(slot: &mut Option<T>, value: T, id: PropertyId, context: &'static str) -> Result<(), DecodeError> {
    if slot.is_some() {
        return Err(DecodeError::DuplicateProperty { id, context });
    }
    *slot = Some(value);
    Ok(())
}

fn not_allowed(id: PropertyId, context: &'static str) -> Result<(), DecodeError> {
    Err(DecodeError::PropertyNotAllowed { id, context })
}

// Lengths of one property with its one-byte identifier (every identifier is below 128).

fn len_fixed<T>(value: &Option<T>, value_len: usize) -> usize {
    if value.is_some() {
        1 + value_len
    } else {
        0
    }
}

fn len_str(value: &Option<MqttStr>) -> usize {
    value.as_ref().map_or(0, |s| 3 + s.len())
}

fn len_bin(value: &Option<Bytes>) -> usize {
    value.as_ref().map_or(0, |b| b.len().saturating_add(3))
}

fn len_users(users: &[UserProperty]) -> usize {
    users
        .iter()
        .fold(0usize, |sum, u| sum.saturating_add(5 + u.name.len() + u.value.len()))
}

fn check_bin(value: &Option<Bytes>, what: &'static str) -> Result<(), EncodeError> {
    match value {
        Some(b) if b.len() > STRING_BYTES_MAX => Err(EncodeError::BinaryTooLong { what, len: b.len() }),
        _ => Ok(()),
    }
}

fn put_id(buf: &mut BytesMut, id: PropertyId) {
    buf.put_u8(id as u8);
}

fn put_flag(buf: &mut BytesMut, id: PropertyId, value: Option<bool>) {
    if let Some(v) = value {
        put_id(buf, id);
        buf.put_u8(u8::from(v));
    }
}

fn put_u16(buf: &mut BytesMut, id: PropertyId, value: Option<u16>) {
    if let Some(v) = value {
        put_id(buf, id);
        buf.put_u16(v);
    }
}

fn put_u32(buf: &mut BytesMut, id: PropertyId, value: Option<u32>) {
    if let Some(v) = value {
        put_id(buf, id);
        buf.put_u32(v);
    }
}

fn put_str(buf: &mut BytesMut, id: PropertyId, value: &Option<MqttStr>) {
    if let Some(s) = value {
        put_id(buf, id);
        super::encode::put_string(buf, s);
    }
}

fn put_bin(buf: &mut BytesMut, id: PropertyId, value: &Option<Bytes>) {
    if let Some(b) = value {
        put_id(buf, id);
        super::encode::put_binary(buf, b);
    }
}

fn put_users(buf: &mut BytesMut, users: &[UserProperty]) {
    for u in users {
        put_id(buf, PropertyId::UserProperty);
        super::encode::put_string(buf, &u.name);
        super::encode::put_string(buf, &u.value);
    }
}

impl PropertySet for ConnectProperties {
    const CONTEXT: &'static str = "CONNECT";

    fn absorb(&mut self, property: Property) -> Result<(), DecodeError> {
        let id = property.id();
        let ctx = Self::CONTEXT;
        match property {
            Property::SessionExpiryInterval(v) => once(&mut self.session_expiry_interval, v, id, ctx),
            Property::ReceiveMaximum(v) => once(&mut self.receive_maximum, v, id, ctx),
            Property::MaximumPacketSize(v) => once(&mut self.maximum_packet_size, v, id, ctx),
            Property::TopicAliasMaximum(v) => once(&mut self.topic_alias_maximum, v, id, ctx),
            Property::RequestResponseInformation(v) => once(&mut self.request_response_information, v, id, ctx),
            Property::RequestProblemInformation(v) => once(&mut self.request_problem_information, v, id, ctx),
            Property::AuthenticationMethod(v) => once(&mut self.authentication_method, v, id, ctx),
            Property::AuthenticationData(v) => once(&mut self.authentication_data, v, id, ctx),
            Property::UserProperty(v) => {
                self.user_properties.push(v);
                Ok(())
            }
            _ => not_allowed(id, ctx),
        }
    }

    fn content_len(&self) -> usize {
        [
            len_fixed(&self.session_expiry_interval, 4),
            len_fixed(&self.receive_maximum, 2),
            len_fixed(&self.maximum_packet_size, 4),
            len_fixed(&self.topic_alias_maximum, 2),
            len_fixed(&self.request_response_information, 1),
            len_fixed(&self.request_problem_information, 1),
            len_str(&self.authentication_method),
            len_bin(&self.authentication_data),
            len_users(&self.user_properties),
        ]
        .into_iter()
        .fold(0, usize::saturating_add)
    }

    fn check(&self) -> Result<(), EncodeError> {
        check_bin(&self.authentication_data, "Authentication Data")
    }

    fn write_content(&self, buf: &mut BytesMut) {
        put_u32(buf, PropertyId::SessionExpiryInterval, self.session_expiry_interval);
        put_u16(
            buf,
            PropertyId::ReceiveMaximum,
            self.receive_maximum.map(NonZeroU16::get),
        );
        put_u32(
            buf,
            PropertyId::MaximumPacketSize,
            self.maximum_packet_size.map(NonZeroU32::get),
        );
        put_u16(buf, PropertyId::TopicAliasMaximum, self.topic_alias_maximum);
        put_flag(
            buf,
            PropertyId::RequestResponseInformation,
            self.request_response_information,
        );
        put_flag(
            buf,
            PropertyId::RequestProblemInformation,
            self.request_problem_information,
        );
        put_str(buf, PropertyId::AuthenticationMethod, &self.authentication_method);
        put_bin(buf, PropertyId::AuthenticationData, &self.authentication_data);
        put_users(buf, &self.user_properties);
    }
}

impl PropertySet for WillProperties {
    const CONTEXT: &'static str = "the Will properties";

    fn absorb(&mut self, property: Property) -> Result<(), DecodeError> {
        let id = property.id();
        let ctx = Self::CONTEXT;
        match property {
            Property::WillDelayInterval(v) => once(&mut self.will_delay_interval, v, id, ctx),
            Property::PayloadFormatIndicator(v) => once(&mut self.payload_format_indicator, v, id, ctx),
            Property::MessageExpiryInterval(v) => once(&mut self.message_expiry_interval, v, id, ctx),
            Property::ContentType(v) => once(&mut self.content_type, v, id, ctx),
            Property::ResponseTopic(v) => once(&mut self.response_topic, v, id, ctx),
            Property::CorrelationData(v) => once(&mut self.correlation_data, v, id, ctx),
            Property::UserProperty(v) => {
                self.user_properties.push(v);
                Ok(())
            }
            _ => not_allowed(id, ctx),
        }
    }

    fn content_len(&self) -> usize {
        [
            len_fixed(&self.will_delay_interval, 4),
            len_fixed(&self.payload_format_indicator, 1),
            len_fixed(&self.message_expiry_interval, 4),
            len_str(&self.content_type),
            len_str(&self.response_topic),
            len_bin(&self.correlation_data),
            len_users(&self.user_properties),
        ]
        .into_iter()
        .fold(0, usize::saturating_add)
    }

    fn check(&self) -> Result<(), EncodeError> {
        check_bin(&self.correlation_data, "Correlation Data")
    }

    fn write_content(&self, buf: &mut BytesMut) {
        put_u32(buf, PropertyId::WillDelayInterval, self.will_delay_interval);
        put_flag(buf, PropertyId::PayloadFormatIndicator, self.payload_format_indicator);
        put_u32(buf, PropertyId::MessageExpiryInterval, self.message_expiry_interval);
        put_str(buf, PropertyId::ContentType, &self.content_type);
        put_str(buf, PropertyId::ResponseTopic, &self.response_topic);
        put_bin(buf, PropertyId::CorrelationData, &self.correlation_data);
        put_users(buf, &self.user_properties);
    }
}

impl PropertySet for ConnAckProperties {
    const CONTEXT: &'static str = "CONNACK";

    fn absorb(&mut self, property: Property) -> Result<(), DecodeError> {
        let id = property.id();
        let ctx = Self::CONTEXT;
        match property {
            Property::SessionExpiryInterval(v) => once(&mut self.session_expiry_interval, v, id, ctx),
            Property::ReceiveMaximum(v) => once(&mut self.receive_maximum, v, id, ctx),
            Property::MaximumQos(v) => once(&mut self.maximum_qos, v, id, ctx),
            Property::RetainAvailable(v) => once(&mut self.retain_available, v, id, ctx),
            Property::MaximumPacketSize(v) => once(&mut self.maximum_packet_size, v, id, ctx),
            Property::AssignedClientIdentifier(v) => once(&mut self.assigned_client_identifier, v, id, ctx),
            Property::TopicAliasMaximum(v) => once(&mut self.topic_alias_maximum, v, id, ctx),
            Property::ReasonString(v) => once(&mut self.reason_string, v, id, ctx),
            Property::UserProperty(v) => {
                self.user_properties.push(v);
                Ok(())
            }
            Property::WildcardSubscriptionAvailable(v) => once(&mut self.wildcard_subscription_available, v, id, ctx),
            Property::SubscriptionIdentifierAvailable(v) => {
                once(&mut self.subscription_identifiers_available, v, id, ctx)
            }
            Property::SharedSubscriptionAvailable(v) => once(&mut self.shared_subscription_available, v, id, ctx),
            Property::ServerKeepAlive(v) => once(&mut self.server_keep_alive, v, id, ctx),
            Property::ResponseInformation(v) => once(&mut self.response_information, v, id, ctx),
            Property::ServerReference(v) => once(&mut self.server_reference, v, id, ctx),
            Property::AuthenticationMethod(v) => once(&mut self.authentication_method, v, id, ctx),
            Property::AuthenticationData(v) => once(&mut self.authentication_data, v, id, ctx),
            _ => not_allowed(id, ctx),
        }
    }

    fn content_len(&self) -> usize {
        [
            len_fixed(&self.session_expiry_interval, 4),
            len_fixed(&self.receive_maximum, 2),
            len_fixed(&self.maximum_qos, 1),
            len_fixed(&self.retain_available, 1),
            len_fixed(&self.maximum_packet_size, 4),
            len_str(&self.assigned_client_identifier),
            len_fixed(&self.topic_alias_maximum, 2),
            len_str(&self.reason_string),
            len_users(&self.user_properties),
            len_fixed(&self.wildcard_subscription_available, 1),
            len_fixed(&self.subscription_identifiers_available, 1),
            len_fixed(&self.shared_subscription_available, 1),
            len_fixed(&self.server_keep_alive, 2),
            len_str(&self.response_information),
            len_str(&self.server_reference),
            len_str(&self.authentication_method),
            len_bin(&self.authentication_data),
        ]
        .into_iter()
        .fold(0, usize::saturating_add)
    }

    fn check(&self) -> Result<(), EncodeError> {
        check_bin(&self.authentication_data, "Authentication Data")
    }

    fn write_content(&self, buf: &mut BytesMut) {
        put_u32(buf, PropertyId::SessionExpiryInterval, self.session_expiry_interval);
        put_u16(
            buf,
            PropertyId::ReceiveMaximum,
            self.receive_maximum.map(NonZeroU16::get),
        );
        if let Some(qos) = self.maximum_qos {
            put_id(buf, PropertyId::MaximumQos);
            buf.put_u8(qos.bits());
        }
        put_flag(buf, PropertyId::RetainAvailable, self.retain_available);
        put_u32(
            buf,
            PropertyId::MaximumPacketSize,
            self.maximum_packet_size.map(NonZeroU32::get),
        );
        put_str(
            buf,
            PropertyId::AssignedClientIdentifier,
            &self.assigned_client_identifier,
        );
        put_u16(buf, PropertyId::TopicAliasMaximum, self.topic_alias_maximum);
        put_str(buf, PropertyId::ReasonString, &self.reason_string);
        put_users(buf, &self.user_properties);
        put_flag(
            buf,
            PropertyId::WildcardSubscriptionAvailable,
            self.wildcard_subscription_available,
        );
        put_flag(
            buf,
            PropertyId::SubscriptionIdentifierAvailable,
            self.subscription_identifiers_available,
        );
        put_flag(
            buf,
            PropertyId::SharedSubscriptionAvailable,
            self.shared_subscription_available,
        );
        put_u16(buf, PropertyId::ServerKeepAlive, self.server_keep_alive);
        put_str(buf, PropertyId::ResponseInformation, &self.response_information);
        put_str(buf, PropertyId::ServerReference, &self.server_reference);
        put_str(buf, PropertyId::AuthenticationMethod, &self.authentication_method);
        put_bin(buf, PropertyId::AuthenticationData, &self.authentication_data);
    }
}

impl PropertySet for PublishProperties {
    const CONTEXT: &'static str = "PUBLISH";

    fn absorb(&mut self, property: Property) -> Result<(), DecodeError> {
        let id = property.id();
        let ctx = Self::CONTEXT;
        match property {
            Property::PayloadFormatIndicator(v) => once(&mut self.payload_format_indicator, v, id, ctx),
            Property::MessageExpiryInterval(v) => once(&mut self.message_expiry_interval, v, id, ctx),
            Property::TopicAlias(v) => once(&mut self.topic_alias, v, id, ctx),
            Property::ResponseTopic(v) => once(&mut self.response_topic, v, id, ctx),
            Property::CorrelationData(v) => once(&mut self.correlation_data, v, id, ctx),
            Property::UserProperty(v) => {
                self.user_properties.push(v);
                Ok(())
            }
            // Repeats: one per subscription the message matched.
            Property::SubscriptionIdentifier(v) => {
                self.subscription_identifiers.push(v);
                Ok(())
            }
            Property::ContentType(v) => once(&mut self.content_type, v, id, ctx),
            _ => not_allowed(id, ctx),
        }
    }

    fn content_len(&self) -> usize {
        let subscription_identifiers = self
            .subscription_identifiers
            .iter()
            .fold(0usize, |sum, id| sum.saturating_add(1 + varint::len(id.get())));
        [
            len_fixed(&self.payload_format_indicator, 1),
            len_fixed(&self.message_expiry_interval, 4),
            len_fixed(&self.topic_alias, 2),
            len_str(&self.response_topic),
            len_bin(&self.correlation_data),
            len_users(&self.user_properties),
            subscription_identifiers,
            len_str(&self.content_type),
        ]
        .into_iter()
        .fold(0, usize::saturating_add)
    }

    fn check(&self) -> Result<(), EncodeError> {
        check_bin(&self.correlation_data, "Correlation Data")?;
        match self.subscription_identifiers.iter().find(|id| id.get() > VARINT_MAX) {
            Some(id) => Err(EncodeError::SubscriptionIdentifierTooLarge(id.get())),
            None => Ok(()),
        }
    }

    fn write_content(&self, buf: &mut BytesMut) {
        put_flag(buf, PropertyId::PayloadFormatIndicator, self.payload_format_indicator);
        put_u32(buf, PropertyId::MessageExpiryInterval, self.message_expiry_interval);
        put_u16(buf, PropertyId::TopicAlias, self.topic_alias.map(NonZeroU16::get));
        put_str(buf, PropertyId::ResponseTopic, &self.response_topic);
        put_bin(buf, PropertyId::CorrelationData, &self.correlation_data);
        put_users(buf, &self.user_properties);
        for id in &self.subscription_identifiers {
            put_id(buf, PropertyId::SubscriptionIdentifier);
            varint::put(buf, id.get());
        }
        put_str(buf, PropertyId::ContentType, &self.content_type);
    }
}

impl PropertySet for AckProperties {
    const CONTEXT: &'static str = "an acknowledgement";

    fn absorb(&mut self, property: Property) -> Result<(), DecodeError> {
        let id = property.id();
        match property {
            Property::ReasonString(v) => once(&mut self.reason_string, v, id, Self::CONTEXT),
            Property::UserProperty(v) => {
                self.user_properties.push(v);
                Ok(())
            }
            _ => not_allowed(id, Self::CONTEXT),
        }
    }

    fn content_len(&self) -> usize {
        len_str(&self.reason_string).saturating_add(len_users(&self.user_properties))
    }

    fn check(&self) -> Result<(), EncodeError> {
        Ok(())
    }

    fn write_content(&self, buf: &mut BytesMut) {
        put_str(buf, PropertyId::ReasonString, &self.reason_string);
        put_users(buf, &self.user_properties);
    }
}

impl PropertySet for SubscribeProperties {
    const CONTEXT: &'static str = "SUBSCRIBE";

    fn absorb(&mut self, property: Property) -> Result<(), DecodeError> {
        let id = property.id();
        match property {
            Property::SubscriptionIdentifier(v) => once(&mut self.subscription_identifier, v, id, Self::CONTEXT),
            Property::UserProperty(v) => {
                self.user_properties.push(v);
                Ok(())
            }
            _ => not_allowed(id, Self::CONTEXT),
        }
    }

    fn content_len(&self) -> usize {
        let id_len = self.subscription_identifier.map_or(0, |id| 1 + varint::len(id.get()));
        id_len.saturating_add(len_users(&self.user_properties))
    }

    fn check(&self) -> Result<(), EncodeError> {
        match self.subscription_identifier {
            Some(id) if id.get() > VARINT_MAX => Err(EncodeError::SubscriptionIdentifierTooLarge(id.get())),
            _ => Ok(()),
        }
    }

    fn write_content(&self, buf: &mut BytesMut) {
        if let Some(id) = self.subscription_identifier {
            put_id(buf, PropertyId::SubscriptionIdentifier);
            varint::put(buf, id.get());
        }
        put_users(buf, &self.user_properties);
    }
}

impl PropertySet for UnsubscribeProperties {
    const CONTEXT: &'static str = "UNSUBSCRIBE";

    fn absorb(&mut self, property: Property) -> Result<(), DecodeError> {
        match property {
            Property::UserProperty(v) => {
                self.user_properties.push(v);
                Ok(())
            }
            other => not_allowed(other.id(), Self::CONTEXT),
        }
    }

    fn content_len(&self) -> usize {
        len_users(&self.user_properties)
    }

    fn check(&self) -> Result<(), EncodeError> {
        Ok(())
    }

    fn write_content(&self, buf: &mut BytesMut) {
        put_users(buf, &self.user_properties);
    }
}

impl PropertySet for DisconnectProperties {
    const CONTEXT: &'static str = "DISCONNECT";

    fn absorb(&mut self, property: Property) -> Result<(), DecodeError> {
        let id = property.id();
        let ctx = Self::CONTEXT;
        match property {
            Property::SessionExpiryInterval(v) => once(&mut self.session_expiry_interval, v, id, ctx),
            Property::ReasonString(v) => once(&mut self.reason_string, v, id, ctx),
            Property::UserProperty(v) => {
                self.user_properties.push(v);
                Ok(())
            }
            Property::ServerReference(v) => once(&mut self.server_reference, v, id, ctx),
            _ => not_allowed(id, ctx),
        }
    }

    fn content_len(&self) -> usize {
        [
            len_fixed(&self.session_expiry_interval, 4),
            len_str(&self.reason_string),
            len_users(&self.user_properties),
            len_str(&self.server_reference),
        ]
        .into_iter()
        .fold(0, usize::saturating_add)
    }

    fn check(&self) -> Result<(), EncodeError> {
        Ok(())
    }

    fn write_content(&self, buf: &mut BytesMut) {
        put_u32(buf, PropertyId::SessionExpiryInterval, self.session_expiry_interval);
        put_str(buf, PropertyId::ReasonString, &self.reason_string);
        put_users(buf, &self.user_properties);
        put_str(buf, PropertyId::ServerReference, &self.server_reference);
    }
}

impl PropertySet for AuthProperties {
    const CONTEXT: &'static str = "AUTH";

    fn absorb(&mut self, property: Property) -> Result<(), DecodeError> {
        let id = property.id();
        let ctx = Self::CONTEXT;
        match property {
            Property::AuthenticationMethod(v) => once(&mut self.authentication_method, v, id, ctx),
            Property::AuthenticationData(v) => once(&mut self.authentication_data, v, id, ctx),
            Property::ReasonString(v) => once(&mut self.reason_string, v, id, ctx),
            Property::UserProperty(v) => {
                self.user_properties.push(v);
                Ok(())
            }
            _ => not_allowed(id, ctx),
        }
    }

    fn content_len(&self) -> usize {
        [
            len_str(&self.authentication_method),
            len_bin(&self.authentication_data),
            len_str(&self.reason_string),
            len_users(&self.user_properties),
        ]
        .into_iter()
        .fold(0, usize::saturating_add)
    }

    fn check(&self) -> Result<(), EncodeError> {
        check_bin(&self.authentication_data, "Authentication Data")
    }

    fn write_content(&self, buf: &mut BytesMut) {
        put_str(buf, PropertyId::AuthenticationMethod, &self.authentication_method);
        put_bin(buf, PropertyId::AuthenticationData, &self.authentication_data);
        put_str(buf, PropertyId::ReasonString, &self.reason_string);
        put_users(buf, &self.user_properties);
    }
}

/// Properties a server may drop to fit the client's Maximum Packet Size: Reason String
/// and User Properties of CONNACK, the acknowledgements, DISCONNECT and AUTH
/// ([MQTT-3.2.2-19], [MQTT-3.2.2-20] and their counterparts in each of those packets).
pub(crate) trait Droppable {
    fn drop_reason_string(&mut self) -> bool;
    fn drop_user_properties(&mut self) -> bool;
}

macro_rules! droppable {
    ($($t:ty),*) => {$(
        impl Droppable for $t {
            fn drop_reason_string(&mut self) -> bool {
                self.reason_string.take().is_some()
            }

            fn drop_user_properties(&mut self) -> bool {
                let had = !self.user_properties.is_empty();
                self.user_properties = Vec::new();
                had
            }
        }
    )*};
}

droppable!(ConnAckProperties, AckProperties, DisconnectProperties, AuthProperties);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_round_trip_and_unknown_ones_are_none() {
        let known = (0..=255u8).filter_map(PropertyId::from_u8).collect::<Vec<_>>();
        assert_eq!(known.len(), 27);
        for id in known {
            assert_eq!(PropertyId::from_u8(id as u8), Some(id));
        }
        assert_eq!(PropertyId::from_u8(0x00), None);
        assert_eq!(PropertyId::from_u8(0x04), None);
        assert_eq!(PropertyId::from_u8(0x2b), None);
    }

    #[test]
    fn empty_sets_do_not_allocate() {
        let set = PublishProperties::default();
        assert_eq!(set.user_properties.capacity(), 0);
        assert_eq!(set.subscription_identifiers.capacity(), 0);
        assert_eq!(set.content_len(), 0);
        assert_eq!(encoded_len(&set), 1);
    }
}
