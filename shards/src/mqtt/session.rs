//! A session as the shard holding it keeps it: the protocol state of `net::mqtt::session`
//! plus who the client is, its subscriptions, its will, and its connection if it has one.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use shardhub_net::mqtt::session::{Inbound, Message, Outbound, OutboundLimits};
use shardhub_net::mqtt::{MqttStr, ProtocolVersion};

use super::acl::Role;
use super::io::ConnIo;
use super::message::SubOptions;

/// A will waiting for its connection to end.
pub struct Will {
    pub message: Arc<Message>,
    pub delay_secs: u32,
}

pub struct Session {
    /// Unique across the process: the epoch of the connection that installed it.
    pub key: u64,
    pub client_id: MqttStr,
    pub role: Role,
    pub version: ProtocolVersion,
    /// Seconds the session outlives its connection (0: it ends with it).
    pub expiry_secs: u32,
    pub subscriptions: HashMap<String, SubOptions>,
    pub outbound: Outbound,
    pub inbound: Inbound,
    pub conn: Option<Rc<ConnIo>>,
    pub will: Option<Will>,
    /// Bumped by every disconnect, so a timer started for one offline spell does nothing
    /// after a later one began.
    pub offline_spell: u64,
}

/// Limits of a session that holds nothing and sends nothing (what an evicted session leaves
/// behind).
pub const EMPTY_LIMITS: OutboundLimits = OutboundLimits {
    inflight_max: 0,
    queue_max: 0,
    packet_bytes_max: 0,
    topic_alias_max: 0,
};
