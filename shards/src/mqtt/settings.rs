//! The hot-reloadable MQTT bounds one shard works with, copied from `[mqtt]` on reload.

use shardhub_net::mqtt::session::OutboundLimits;

use crate::config::MqttConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MqttSettings {
    pub max_connections_per_shard: usize,
    pub connect_timeout_ms: u64,
    pub keep_alive_max_secs: u16,
    pub publishes_per_sec: u32,
    pub max_subscriptions_per_client: usize,
    pub receive_maximum: u16,
    pub max_inflight: u16,
    pub max_queued_messages: usize,
    pub max_packet_bytes: u32,
    pub topic_alias_maximum: u16,
    pub session_expiry_max_secs: u32,
    pub max_retained_per_shard: usize,
}

impl From<&MqttConfig> for MqttSettings {
    fn from(c: &MqttConfig) -> Self {
        Self {
            max_connections_per_shard: c.max_connections_per_shard,
            connect_timeout_ms: c.connect_timeout_ms,
            keep_alive_max_secs: c.keep_alive_max_secs,
            publishes_per_sec: c.publishes_per_sec,
            max_subscriptions_per_client: c.max_subscriptions_per_client,
            receive_maximum: c.receive_maximum,
            max_inflight: c.max_inflight,
            max_queued_messages: c.max_queued_messages,
            max_packet_bytes: c.max_packet_bytes,
            topic_alias_maximum: c.topic_alias_maximum,
            session_expiry_max_secs: c.session_expiry_max_secs,
            max_retained_per_shard: c.max_retained_per_shard,
        }
    }
}

/// Limits of a session that holds nothing and sends nothing (what an evicted session leaves
/// behind).
pub const EMPTY_LIMITS: OutboundLimits = OutboundLimits {
    inflight_max: 0,
    queue_max: 0,
    packet_bytes_max: 0,
    topic_alias_max: 0,
};
