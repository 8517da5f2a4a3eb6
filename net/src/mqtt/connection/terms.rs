//! CONNECT: reading the first packet, and the terms a connection is granted — keep alive,
//! session expiry, the limits of each direction — or the reason it is refused.

use std::num::{NonZeroU16, NonZeroU32};
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::mqtt::decode;
use crate::mqtt::error::DecodeError;
use crate::mqtt::frame::peek_connect_version;
use crate::mqtt::packet::{ConnAck, Connect, Packet, ProtocolVersion, Publish, Will};
use crate::mqtt::properties::{ConnAckProperties, UserProperty};
use crate::mqtt::reason::ReasonCode;
use crate::mqtt::session::OutboundLimits;
use crate::mqtt::string::MqttStr;

/// The server's bounds a connection is negotiated against (hot-reloadable on the server;
/// each connection takes them when it needs them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// Unacknowledged QoS 2 PUBLISHes a client may send (our Receive Maximum).
    pub receive_maximum: u16,
    /// Largest packet either way (our Maximum Packet Size).
    pub packet_bytes_max: u32,
    /// Topic aliases a client may set (our Topic Alias Maximum).
    pub topic_alias_max: u16,
    pub keep_alive_secs_max: u16,
    pub session_expiry_secs_max: u32,
    /// QoS 1/2 messages in flight to a client, before its own Receive Maximum lowers it.
    pub inflight_max: u16,
    /// Messages a session queues behind its window or while offline.
    pub queue_max: usize,
    /// PUBLISH packets a client may send per second.
    pub publishes_per_sec: u32,
    /// Subscriptions a client may hold.
    pub subscriptions_max: usize,
}

/// What a CONNECT was granted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectTerms {
    pub version: ProtocolVersion,
    pub clean_start: bool,
    /// The client sent no id: the server assigns one (5.0, or 3.1.1 with a clean session).
    pub assigns_client_id: bool,
    /// Seconds of keep alive enforced; 0: none.
    pub keep_alive_secs: u16,
    /// The Server Keep Alive to announce (5.0 only).
    pub server_keep_alive: Option<u16>,
    /// The Session Expiry Interval the client asked for (3.1.1: 0 or forever).
    pub session_expiry_asked: u32,
    /// What it gets: at most `session_expiry_secs_max`.
    pub session_expiry_secs: u32,
    /// The server-to-client bounds: ours and the client's Receive Maximum, Maximum Packet
    /// Size and Topic Alias Maximum.
    pub outbound: OutboundLimits,
    pub limits: ServerLimits,
}

/// Reads until the first packet is a whole CONNECT: `Ok(None)` wants more bytes. A refusal
/// names the version to answer in (an unknown protocol level is answered in 3.1.1 terms,
/// which every client can read) and the reason; `Err(None)` closes without a word (the first
/// packet is not a CONNECT, or not MQTT at all).
pub fn take_connect(
    rbuf: &mut BytesMut,
    packet_bytes_max: u32,
) -> Result<Option<Box<Connect>>, Option<(ProtocolVersion, ReasonCode)>> {
    let version = match peek_connect_version(rbuf) {
        Ok(Some(v)) => v,
        Ok(None) => return Ok(None),
        Err(e @ DecodeError::UnsupportedProtocolVersion(_)) => {
            return Err(Some((ProtocolVersion::V311, e.reason_code())))
        }
        Err(_) => return Err(None),
    };
    match decode(rbuf, version, packet_bytes_max) {
        Ok(Some(Packet::Connect(connect))) => Ok(Some(connect)),
        Ok(Some(_)) => Err(None),
        Ok(None) => Ok(None),
        Err(e) => Err(Some((version, e.reason_code()))),
    }
}

/// The terms of a CONNECT, or the CONNACK reason it is refused with. `server_full`: the
/// server holds as many connections as it may.
pub fn negotiate(connect: &Connect, limits: &ServerLimits, server_full: bool) -> Result<ConnectTerms, ReasonCode> {
    let version = connect.protocol_version;
    let v5 = version == ProtocolVersion::V5;
    if connect.properties.authentication_method.is_some() {
        return Err(ReasonCode::BAD_AUTHENTICATION_METHOD);
    }
    if server_full {
        return Err(if v5 {
            ReasonCode::QUOTA_EXCEEDED
        } else {
            ReasonCode::SERVER_UNAVAILABLE
        });
    }
    let assigns_client_id = connect.client_id.as_str().is_empty();
    if assigns_client_id && !v5 && !connect.clean_start {
        return Err(ReasonCode::CLIENT_IDENTIFIER_NOT_VALID);
    }
    let (keep_alive_secs, server_keep_alive) = keep_alive(version, connect.keep_alive, limits.keep_alive_secs_max);
    let session_expiry_asked = if v5 {
        connect.properties.session_expiry_interval.unwrap_or(0)
    } else if connect.clean_start {
        0
    } else {
        u32::MAX
    };
    Ok(ConnectTerms {
        version,
        clean_start: connect.clean_start,
        assigns_client_id,
        keep_alive_secs,
        server_keep_alive,
        session_expiry_asked,
        session_expiry_secs: session_expiry_asked.min(limits.session_expiry_secs_max),
        outbound: outbound_limits(connect, limits),
        limits: *limits,
    })
}

/// The keep alive to enforce, and the Server Keep Alive to announce (5.0 only): a 5.0 client
/// asking for more than the cap, or for none, gets the cap. A 3.1.1 client cannot be told,
/// so its own value stands.
fn keep_alive(version: ProtocolVersion, asked: u16, max: u16) -> (u16, Option<u16>) {
    if version == ProtocolVersion::V5 && (asked == 0 || asked > max) {
        (max, Some(max))
    } else {
        (asked, None)
    }
}

fn outbound_limits(connect: &Connect, limits: &ServerLimits) -> OutboundLimits {
    let p = &connect.properties;
    OutboundLimits {
        inflight_max: p
            .receive_maximum
            .map_or(limits.inflight_max, |r| r.get().min(limits.inflight_max)),
        queue_max: limits.queue_max,
        // No Maximum Packet Size means the protocol's own limit.
        packet_bytes_max: p.maximum_packet_size.map_or(u32::MAX, |m| m.get()),
        topic_alias_max: p.topic_alias_maximum.unwrap_or(0),
    }
}

impl ConnectTerms {
    /// How long the client may stay silent: 1.5 times the keep alive [MQTT-3.1.2-22].
    pub fn silence_max(&self) -> Option<Duration> {
        (self.keep_alive_secs > 0).then(|| Duration::from_millis(u64::from(self.keep_alive_secs) * 1500))
    }

    /// The successful CONNACK, with what a 5.0 client must know of the server.
    pub fn connack(&self, session_present: bool, assigned_client_id: Option<MqttStr>) -> Packet {
        let mut properties = ConnAckProperties::default();
        if self.version == ProtocolVersion::V5 {
            let l = &self.limits;
            properties.receive_maximum = NonZeroU16::new(l.receive_maximum);
            properties.maximum_packet_size = NonZeroU32::new(l.packet_bytes_max);
            properties.topic_alias_maximum = Some(l.topic_alias_max);
            properties.assigned_client_identifier = assigned_client_id;
            properties.server_keep_alive = self.server_keep_alive;
            properties.retain_available = Some(true);
            properties.wildcard_subscription_available = Some(true);
            properties.subscription_identifiers_available = Some(true);
            properties.shared_subscription_available = Some(true);
            if self.session_expiry_secs != self.session_expiry_asked {
                properties.session_expiry_interval = Some(self.session_expiry_secs);
            }
        }
        connack(ReasonCode::SUCCESS, session_present, properties)
    }
}

/// A refusing CONNACK (3.1.1 carries only the reasons it has codes for).
pub fn refusal(reason: ReasonCode) -> Packet {
    connack(reason, false, ConnAckProperties::default())
}

fn connack(reason: ReasonCode, session_present: bool, properties: ConnAckProperties) -> Packet {
    Packet::ConnAck(Box::new(ConnAck {
        session_present,
        reason_code: reason,
        properties,
    }))
}

/// The will as the PUBLISH the server sends for it, and its delay: copies throughout, since
/// the will lives as long as the session and the CONNECT's read buffer should not.
pub fn will_publish(will: &Will) -> (Publish, u32) {
    let mut publish = Publish {
        qos: will.qos,
        retain: will.retain,
        topic: will.topic.to_owned_copy(),
        payload: Bytes::copy_from_slice(&will.payload),
        ..Publish::default()
    };
    let p = &will.properties;
    let q = &mut publish.properties;
    q.payload_format_indicator = p.payload_format_indicator;
    q.message_expiry_interval = p.message_expiry_interval;
    q.content_type = p.content_type.as_ref().map(MqttStr::to_owned_copy);
    q.response_topic = p.response_topic.as_ref().map(MqttStr::to_owned_copy);
    q.correlation_data = p.correlation_data.as_deref().map(Bytes::copy_from_slice);
    q.user_properties = p
        .user_properties
        .iter()
        .map(|u| UserProperty {
            name: u.name.to_owned_copy(),
            value: u.value.to_owned_copy(),
        })
        .collect();
    (publish, p.will_delay_interval.unwrap_or(0))
}
