//! An application message on its way through the broker.

use bytes::Bytes;

use crate::mqtt::packet::{Publish, QoS};
use crate::mqtt::properties::PublishProperties;
use crate::mqtt::string::MqttStr;

/// What a PUBLISH carries, minus what belongs to one hop (packet id, DUP, topic alias,
/// subscription identifiers). Shared behind an `Arc` by every delivery of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub topic: MqttStr,
    pub payload: Bytes,
    pub qos: QoS,
    pub retain: bool,
    /// Payload format, content type, response topic, correlation data and user properties,
    /// passed through unchanged. The expiry interval is recomputed at each delivery from
    /// `expires_at_ms`.
    pub properties: PublishProperties,
    /// When the Message Expiry Interval runs out (Unix ms), if it was given.
    pub expires_at_ms: Option<u64>,
    /// The session that published it, for the No Local option; 0 for server messages.
    pub origin: u64,
}

impl Message {
    /// `publish.topic` must already be resolved from its alias.
    pub fn from_publish(publish: Publish, origin: u64, now_ms: u64) -> Message {
        let mut properties = publish.properties;
        properties.topic_alias = None;
        properties.subscription_identifiers.clear();
        let expires_at_ms = properties
            .message_expiry_interval
            .take()
            .map(|secs| now_ms.saturating_add(u64::from(secs) * 1000));
        Message {
            topic: publish.topic,
            payload: publish.payload,
            qos: publish.qos,
            retain: publish.retain,
            properties,
            expires_at_ms,
            origin,
        }
    }

    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expires_at_ms.is_some_and(|at| at <= now_ms)
    }

    /// The Message Expiry Interval to forward: what is left, rounded up so a message never
    /// arrives already expired.
    pub fn remaining_expiry_secs(&self, now_ms: u64) -> Option<u32> {
        self.expires_at_ms
            .map(|at| u32::try_from(at.saturating_sub(now_ms).div_ceil(1000)).unwrap_or(u32::MAX))
    }
}
