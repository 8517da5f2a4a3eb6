//! What shards ask each other for the MQTT broker, and the answers.

use std::sync::Arc;

use shardhub_core::ShardId;
use shardhub_net::mqtt::session::{Inbound, Message, Outbound};
use shardhub_net::mqtt::MqttStr;

/// A subscription's options, as the broker keeps them (the protocol decides them).
pub use shardhub_net::mqtt::connection::SubOptions;

/// A persistent session on its way from one shard to another (a reconnect landed elsewhere).
pub struct SessionState {
    pub subscriptions: Vec<(String, SubOptions)>,
    pub outbound: Outbound,
    pub inbound: Inbound,
}

pub enum MqttOp {
    /// Deliver to this shard's matching subscribers (sent only where interest matched).
    Publish(Arc<Message>),
    /// Shard `from` gained (or lost) its first (last) subscription to `filter`.
    Interest {
        from: ShardId,
        filter: String,
        added: bool,
    },
    /// On the owner of the client id: this connection now holds the id.
    Claim {
        client_id: MqttStr,
        shard: ShardId,
        epoch: u64,
    },
    /// On the owner of the client id: the session `epoch` ended; forget it if still current.
    Release {
        client_id: MqttStr,
        epoch: u64,
    },
    /// On the shard holding `epoch`: close its connection (session taken over) and hand the
    /// session over when `keep_session`.
    Evict {
        epoch: u64,
        keep_session: bool,
    },
    /// On the owner of the topic: store (or, with an empty payload, clear) a retained message.
    Retain(Arc<Message>),
    /// Retained messages this shard owns that match `filter`.
    RetainedMatching(String),
    /// On the owner of a shared subscription `$share/{group}/{filter}`: session `key` (on the
    /// shard its key names) joins or leaves the group.
    ShareJoin {
        filter: String,
        key: u64,
        options: SubOptions,
    },
    ShareLeave {
        filter: String,
        key: u64,
    },
    /// A shared subscription's message for session `key` on this shard.
    Deliver {
        key: u64,
        message: Arc<Message>,
        options: SubOptions,
    },
    /// Device shadow requests on the device's owner; `request` is the JSON payload.
    Shadow {
        action: ShadowAction,
        device: String,
        request: bytes::Bytes,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShadowAction {
    Update,
    Get,
    Delete,
}

impl ShadowAction {
    pub fn topic_word(self) -> &'static str {
        match self {
            ShadowAction::Update => "update",
            ShadowAction::Get => "get",
            ShadowAction::Delete => "delete",
        }
    }
}

pub enum MqttReply {
    Done,
    /// The previous holder of a claimed client id, if any.
    Claimed(Option<(ShardId, u64)>),
    /// The session of an evicted connection (when asked to keep it and it had one).
    Evicted(Option<Box<SessionState>>),
    Retained(Vec<Arc<Message>>),
    /// The shadow reply document and its status (200, or the error's code).
    Shadow {
        status: u16,
        body: serde_json::Value,
    },
    /// The change could not be made durable (the log failed).
    Failed,
    /// Not kept: it would pass a bound (a retained message over the shard's or its prefix's
    /// bytes); the publisher may retry later.
    Refused,
    /// The owner could not answer (only while the process is going down).
    Unavailable,
}
