//! The `[mqtt]` and `[shadow]` sections: the IoT gateway's authentication, its per-client and
//! per-session bounds, and the device shadow bounds.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Durability;

/// What happens to a connection whose token expires while it is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenExpiry {
    /// The connection goes on until it closes; the next CONNECT needs a new token.
    Ignore,
    /// DISCONNECT 0x87 (not authorized; 3.1.1: just the close) at the token's `exp`.
    Disconnect,
}

/// How MQTT clients prove who they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MqttAuth {
    /// Anyone, with every topic: allowed only while the MQTT listener is on loopback.
    Anonymous,
    /// The CONNECT password is an HS256 JWT whose `sub` is the client id.
    Token,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    pub auth: MqttAuth,
    /// The HS256 secret; prefer `token_secret_file` outside tests.
    pub token_secret: String,
    /// A file holding the HS256 secret (trailing newline ignored), e.g. a systemd credential.
    pub token_secret_file: PathBuf,
    /// Clock skew forgiven when checking a token's `exp`.
    pub token_leeway_secs: u64,
    /// A token that expires while its connection is open: "disconnect" or "ignore".
    pub token_expiry: TokenExpiry,
    /// MQTT connections one shard serves; beyond it CONNACK 0x97 (quota exceeded).
    #[serde(rename = "max_connections_per_shard")]
    pub connections_per_shard_max: usize,
    /// How long a new connection may take to send its CONNECT.
    pub connect_timeout_ms: u64,
    /// The longest keep alive the server grants (Server Keep Alive when a client asks more,
    /// or asks none, in MQTT v5).
    #[serde(rename = "keep_alive_max_secs")]
    pub keep_alive_secs_max: u16,
    /// PUBLISH packets one client may send per second; beyond it QoS 1/2 get 0x97 and QoS 0
    /// is dropped (and counted).
    pub publishes_per_sec: u32,
    /// Subscriptions one client may hold; beyond it SUBACK 0x97.
    #[serde(rename = "max_subscriptions_per_client")]
    pub subscriptions_per_client_max: usize,
    /// Unacknowledged QoS 2 PUBLISHes the server accepts from a client (its Receive Maximum);
    /// beyond it DISCONNECT 0x93.
    pub receive_maximum: u16,
    /// QoS 1/2 messages in flight to one client (lowered further by the client's own Receive
    /// Maximum); the rest wait in the session queue.
    #[serde(rename = "max_inflight")]
    pub inflight_max: u16,
    /// Messages one session may queue (offline, or behind a full in-flight window); beyond it
    /// the oldest is dropped and counted.
    #[serde(rename = "max_queued_messages")]
    pub queued_messages_max: usize,
    /// Largest packet either way (the server's Maximum Packet Size); beyond it DISCONNECT 0x95.
    #[serde(rename = "max_packet_bytes")]
    pub packet_bytes_max: u32,
    /// Topic aliases a client may set (the server's Topic Alias Maximum).
    pub topic_alias_maximum: u16,
    /// The longest session expiry the server keeps a session for.
    #[serde(rename = "session_expiry_max_secs")]
    pub session_expiry_secs_max: u32,
    /// Retained messages one shard keeps; a new retained topic beyond it is not retained.
    #[serde(rename = "max_retained_per_shard")]
    pub retained_per_shard_max: usize,
    /// Bytes of retained messages (topics and payloads) one shard keeps; a QoS 1/2 retained
    /// PUBLISH that would pass it is answered 0x97 and goes nowhere.
    pub retained_bytes_per_shard_max: u64,
    /// Bytes of retained messages one topic prefix (its first two levels, one device's
    /// `devices/{id}`) may hold on a shard; past it as above.
    pub retained_bytes_per_prefix_max: u64,
    /// When a retained message or shadow change is acknowledged (as `seckill.durability`).
    pub durability: Durability,
    pub batch_fsync_ms: u64,
    pub snapshot_log_bytes: u64,
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            auth: MqttAuth::Anonymous,
            token_secret: String::new(),
            token_secret_file: PathBuf::new(),
            token_leeway_secs: 0,
            token_expiry: TokenExpiry::Disconnect,
            connections_per_shard_max: 500_000,
            connect_timeout_ms: 10_000,
            keep_alive_secs_max: 600,
            publishes_per_sec: 1000,
            subscriptions_per_client_max: 100,
            receive_maximum: 64,
            inflight_max: 32,
            queued_messages_max: 1000,
            packet_bytes_max: 1024 * 1024,
            topic_alias_maximum: 16,
            session_expiry_secs_max: 7 * 24 * 3600,
            retained_per_shard_max: 1_000_000,
            retained_bytes_per_shard_max: 256 * 1024 * 1024,
            retained_bytes_per_prefix_max: 1024 * 1024,
            durability: Durability::Batch,
            batch_fsync_ms: 10,
            snapshot_log_bytes: 64 * 1024 * 1024,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShadowConfig {
    /// Largest update request, and largest desired or reported section (AWS: 8 KiB); beyond
    /// it the update is rejected with 413.
    #[serde(rename = "max_document_bytes")]
    pub document_bytes_max: usize,
    /// Deepest nesting of desired or reported (AWS: 6); deeper is rejected with 400.
    #[serde(rename = "max_depth")]
    pub depth_max: usize,
    /// Shadows one shard owns; a new shadow beyond it is rejected with 429.
    #[serde(rename = "max_shadows_per_shard")]
    pub shadows_per_shard_max: usize,
}

impl Default for ShadowConfig {
    fn default() -> Self {
        Self {
            document_bytes_max: 8 * 1024,
            depth_max: 6,
            shadows_per_shard_max: 1_000_000,
        }
    }
}

/// Keys of these sections that reload live.
pub const HOT_KEYS: &[&str] = &[
    "mqtt.token_leeway_secs",
    "mqtt.token_expiry",
    "mqtt.max_connections_per_shard",
    "mqtt.connect_timeout_ms",
    "mqtt.keep_alive_max_secs",
    "mqtt.publishes_per_sec",
    "mqtt.max_subscriptions_per_client",
    "mqtt.receive_maximum",
    "mqtt.max_inflight",
    "mqtt.max_queued_messages",
    "mqtt.max_packet_bytes",
    "mqtt.topic_alias_maximum",
    "mqtt.session_expiry_max_secs",
    "mqtt.max_retained_per_shard",
    "mqtt.retained_bytes_per_shard_max",
    "mqtt.retained_bytes_per_prefix_max",
    "mqtt.batch_fsync_ms",
    "mqtt.snapshot_log_bytes",
    "shadow.max_document_bytes",
    "shadow.max_depth",
    "shadow.max_shadows_per_shard",
];
