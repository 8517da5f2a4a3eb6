//! Reason codes (MQTT 5.0 section 2.4), and their MQTT 3.1.1 counterparts where those exist.
//!
//! One type serves packets (CONNACK, acknowledgements, DISCONNECT, AUTH) and decode errors,
//! so the code an error names is the code the connection answers with. It is a `u8` newtype
//! rather than an enum because a value is only right or wrong for a given packet type:
//! 0x00 is "Success", "Normal disconnection" and "Granted QoS 0" at once.

use std::fmt;

use super::packet::PacketType;

/// A one-byte MQTT 5.0 reason code.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ReasonCode(pub u8);

impl ReasonCode {
    pub const SUCCESS: Self = Self(0x00);
    /// DISCONNECT's name for 0x00.
    pub const NORMAL_DISCONNECTION: Self = Self(0x00);
    /// SUBACK's names for 0x00..=0x02.
    pub const GRANTED_QOS_0: Self = Self(0x00);
    pub const GRANTED_QOS_1: Self = Self(0x01);
    pub const GRANTED_QOS_2: Self = Self(0x02);
    pub const DISCONNECT_WITH_WILL_MESSAGE: Self = Self(0x04);
    pub const NO_MATCHING_SUBSCRIBERS: Self = Self(0x10);
    pub const NO_SUBSCRIPTION_EXISTED: Self = Self(0x11);
    pub const CONTINUE_AUTHENTICATION: Self = Self(0x18);
    pub const RE_AUTHENTICATE: Self = Self(0x19);
    pub const UNSPECIFIED_ERROR: Self = Self(0x80);
    pub const MALFORMED_PACKET: Self = Self(0x81);
    pub const PROTOCOL_ERROR: Self = Self(0x82);
    pub const IMPLEMENTATION_SPECIFIC_ERROR: Self = Self(0x83);
    pub const UNSUPPORTED_PROTOCOL_VERSION: Self = Self(0x84);
    pub const CLIENT_IDENTIFIER_NOT_VALID: Self = Self(0x85);
    pub const BAD_USER_NAME_OR_PASSWORD: Self = Self(0x86);
    pub const NOT_AUTHORIZED: Self = Self(0x87);
    pub const SERVER_UNAVAILABLE: Self = Self(0x88);
    pub const SERVER_BUSY: Self = Self(0x89);
    pub const BANNED: Self = Self(0x8a);
    pub const SERVER_SHUTTING_DOWN: Self = Self(0x8b);
    pub const BAD_AUTHENTICATION_METHOD: Self = Self(0x8c);
    pub const KEEP_ALIVE_TIMEOUT: Self = Self(0x8d);
    pub const SESSION_TAKEN_OVER: Self = Self(0x8e);
    pub const TOPIC_FILTER_INVALID: Self = Self(0x8f);
    pub const TOPIC_NAME_INVALID: Self = Self(0x90);
    pub const PACKET_IDENTIFIER_IN_USE: Self = Self(0x91);
    pub const PACKET_IDENTIFIER_NOT_FOUND: Self = Self(0x92);
    pub const RECEIVE_MAXIMUM_EXCEEDED: Self = Self(0x93);
    pub const TOPIC_ALIAS_INVALID: Self = Self(0x94);
    pub const PACKET_TOO_LARGE: Self = Self(0x95);
    pub const MESSAGE_RATE_TOO_HIGH: Self = Self(0x96);
    pub const QUOTA_EXCEEDED: Self = Self(0x97);
    pub const ADMINISTRATIVE_ACTION: Self = Self(0x98);
    pub const PAYLOAD_FORMAT_INVALID: Self = Self(0x99);
    pub const RETAIN_NOT_SUPPORTED: Self = Self(0x9a);
    pub const QOS_NOT_SUPPORTED: Self = Self(0x9b);
    pub const USE_ANOTHER_SERVER: Self = Self(0x9c);
    pub const SERVER_MOVED: Self = Self(0x9d);
    pub const SHARED_SUBSCRIPTIONS_NOT_SUPPORTED: Self = Self(0x9e);
    pub const CONNECTION_RATE_EXCEEDED: Self = Self(0x9f);
    pub const MAXIMUM_CONNECT_TIME: Self = Self(0xa0);
    pub const SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED: Self = Self(0xa1);
    pub const WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED: Self = Self(0xa2);

    /// Codes of 0x80 and above report a failure (MQTT 5.0 section 2.4).
    pub const fn is_error(self) -> bool {
        self.0 >= 0x80
    }

    /// The specification's name for the code, or `None` for a value it does not define.
    /// 0x00 and 0x01..=0x02 have several names; this gives the general one.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x00 => "Success",
            0x01 => "Granted QoS 1",
            0x02 => "Granted QoS 2",
            0x04 => "Disconnect with Will Message",
            0x10 => "No matching subscribers",
            0x11 => "No subscription existed",
            0x18 => "Continue authentication",
            0x19 => "Re-authenticate",
            0x80 => "Unspecified error",
            0x81 => "Malformed Packet",
            0x82 => "Protocol Error",
            0x83 => "Implementation specific error",
            0x84 => "Unsupported Protocol Version",
            0x85 => "Client Identifier not valid",
            0x86 => "Bad User Name or Password",
            0x87 => "Not authorized",
            0x88 => "Server unavailable",
            0x89 => "Server busy",
            0x8a => "Banned",
            0x8b => "Server shutting down",
            0x8c => "Bad authentication method",
            0x8d => "Keep Alive timeout",
            0x8e => "Session taken over",
            0x8f => "Topic Filter invalid",
            0x90 => "Topic Name invalid",
            0x91 => "Packet Identifier in use",
            0x92 => "Packet Identifier not found",
            0x93 => "Receive Maximum exceeded",
            0x94 => "Topic Alias invalid",
            0x95 => "Packet too large",
            0x96 => "Message rate too high",
            0x97 => "Quota exceeded",
            0x98 => "Administrative action",
            0x99 => "Payload format invalid",
            0x9a => "Retain not supported",
            0x9b => "QoS not supported",
            0x9c => "Use another server",
            0x9d => "Server moved",
            0x9e => "Shared Subscriptions not supported",
            0x9f => "Connection rate exceeded",
            0xa0 => "Maximum connect time",
            0xa1 => "Subscription Identifiers not supported",
            0xa2 => "Wildcard Subscriptions not supported",
            _ => return None,
        })
    }

    /// Whether MQTT 5.0 lets `packet` carry this code (the per-packet tables of chapter 3).
    /// A packet type without a reason code allows none.
    pub const fn allowed_in(self, packet: PacketType) -> bool {
        match packet {
            PacketType::ConnAck => matches!(
                self.0,
                0x00 | 0x80..=0x8a | 0x8c | 0x90 | 0x95 | 0x97 | 0x99..=0x9d | 0x9f
            ),
            PacketType::PubAck | PacketType::PubRec => {
                matches!(self.0, 0x00 | 0x10 | 0x80 | 0x83 | 0x87 | 0x90 | 0x91 | 0x97 | 0x99)
            }
            PacketType::PubRel | PacketType::PubComp => matches!(self.0, 0x00 | 0x92),
            PacketType::SubAck => matches!(
                self.0,
                0x00..=0x02 | 0x80 | 0x83 | 0x87 | 0x8f | 0x91 | 0x97 | 0x9e | 0xa1 | 0xa2
            ),
            PacketType::UnsubAck => matches!(self.0, 0x00 | 0x11 | 0x80 | 0x83 | 0x87 | 0x8f | 0x91),
            PacketType::Disconnect => matches!(
                self.0,
                0x00 | 0x04 | 0x80..=0x83 | 0x87 | 0x89 | 0x8b | 0x8d..=0x90 | 0x93..=0xa2
            ),
            PacketType::Auth => matches!(self.0, 0x00 | 0x18 | 0x19),
            _ => false,
        }
    }

    /// The MQTT 3.1.1 CONNACK return code (section 3.2.2.3) that says the same, or `None`
    /// where 3.1.1 has no answer and the server closes the connection without a CONNACK
    /// (a malformed or otherwise invalid CONNECT, [MQTT-3.1.4-1]).
    pub const fn v311_connack_return_code(self) -> Option<u8> {
        match self.0 {
            0x00 => Some(0x00),
            0x84 => Some(0x01),
            0x85 => Some(0x02),
            // "The Network Connection has been made but the MQTT service is unavailable":
            // every "not now, not here" answer of 5.0.
            0x80 | 0x83 | 0x88 | 0x89 | 0x8b | 0x97 | 0x9c | 0x9d | 0x9f => Some(0x03),
            0x86 | 0x8c => Some(0x04),
            0x87 | 0x8a => Some(0x05),
            _ => None,
        }
    }

    /// The 5.0 code for a 3.1.1 CONNACK return code; `None` for the reserved values 6-255.
    pub const fn from_v311_connack_return_code(code: u8) -> Option<Self> {
        match code {
            0x00 => Some(Self::SUCCESS),
            0x01 => Some(Self::UNSUPPORTED_PROTOCOL_VERSION),
            0x02 => Some(Self::CLIENT_IDENTIFIER_NOT_VALID),
            0x03 => Some(Self::SERVER_UNAVAILABLE),
            0x04 => Some(Self::BAD_USER_NAME_OR_PASSWORD),
            0x05 => Some(Self::NOT_AUTHORIZED),
            _ => None,
        }
    }

    /// The MQTT 3.1.1 SUBACK return code: the granted QoS, or 0x80 for any failure.
    pub const fn v311_suback_return_code(self) -> u8 {
        match self.0 {
            0x00..=0x02 => self.0,
            _ => 0x80,
        }
    }

    /// Whether `code` is a 3.1.1 SUBACK return code (0x00, 0x01, 0x02, 0x80).
    pub const fn is_v311_suback_return_code(code: u8) -> bool {
        matches!(code, 0x00..=0x02 | 0x80)
    }
}

impl fmt::Debug for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "ReasonCode({:#04x} {name})", self.0),
            None => write!(f, "ReasonCode({:#04x})", self.0),
        }
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{:#04x} ({name})", self.0),
            None => write!(f, "{:#04x}", self.0),
        }
    }
}

impl From<ReasonCode> for u8 {
    fn from(code: ReasonCode) -> u8 {
        code.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_sets_match_the_spec_tables() {
        let allowed = |packet| {
            (0..=255u8)
                .filter(|&c| ReasonCode(c).allowed_in(packet))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            allowed(PacketType::ConnAck),
            [
                0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x90, 0x95, 0x97, 0x99,
                0x9a, 0x9b, 0x9c, 0x9d, 0x9f
            ]
        );
        assert_eq!(
            allowed(PacketType::PubAck),
            [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]
        );
        assert_eq!(allowed(PacketType::PubComp), [0x00, 0x92]);
        assert_eq!(
            allowed(PacketType::SubAck),
            [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2]
        );
        assert_eq!(
            allowed(PacketType::UnsubAck),
            [0x00, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91]
        );
        assert_eq!(
            allowed(PacketType::Disconnect),
            [
                0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8d, 0x8e, 0x8f, 0x90, 0x93, 0x94, 0x95, 0x96,
                0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2
            ]
        );
        assert_eq!(allowed(PacketType::Auth), [0x00, 0x18, 0x19]);
        assert!(allowed(PacketType::Publish).is_empty());
        for c in 0..=255u8 {
            for packet in PacketType::ALL {
                if ReasonCode(c).allowed_in(packet) {
                    assert!(ReasonCode(c).name().is_some(), "{c:#04x}");
                }
            }
        }
    }

    #[test]
    fn v311_connack_codes_map_both_ways() {
        for code in 0..=5u8 {
            let reason = ReasonCode::from_v311_connack_return_code(code).expect("defined");
            assert_eq!(reason.v311_connack_return_code(), Some(code));
        }
        assert_eq!(ReasonCode::from_v311_connack_return_code(6), None);
        assert_eq!(ReasonCode::MALFORMED_PACKET.v311_connack_return_code(), None);
        assert_eq!(ReasonCode::SERVER_BUSY.v311_connack_return_code(), Some(0x03));
    }

    #[test]
    fn v311_suback_folds_failures_into_0x80() {
        assert_eq!(ReasonCode::GRANTED_QOS_2.v311_suback_return_code(), 0x02);
        assert_eq!(ReasonCode::NOT_AUTHORIZED.v311_suback_return_code(), 0x80);
        assert_eq!(ReasonCode::QUOTA_EXCEEDED.to_string(), "0x97 (Quota exceeded)");
    }
}
