//! The IoT gateway: an MQTT v5 and 3.1.1 broker on the shards.
//!
//! A connection stays on the shard that accepted it, and so does its session: the shard's
//! [`broker::Broker`] keeps the session's subscriptions in its own trie. What must have one
//! owner is owned by slot, like everything else here: a client id (which shard holds its
//! session), a retained topic. Reading order:
//!
//! - [`conn`]: one connection, from CONNECT to the end (readiness reads, no idle buffer).
//! - [`broker`]: sessions, the trie, routing (local, then to shards whose interest matches),
//!   client-id ownership and session takeover, retained messages.
//! - [`io`]: writing packets to the socket through the shard's write batch.
//! - [`shadow`]: device shadow requests, answered on the AWS IoT reply topics.
//! - [`store`]: retained messages and shadows with their log (durable across restarts).
//! - [`session`], [`op`] (what shards ask each other), [`announce`] (interest changes),
//!   [`retained`], [`settings`], [`metrics`].
//! - [`auth`]: anonymous or HS256 JWT clients; [`acl`]: the topics a device or a service may
//!   use.

pub mod acl;
pub mod announce;
pub mod auth;
pub mod broker;
pub mod conn;
pub mod io;
pub mod metrics;
pub mod op;
pub mod retained;
pub mod session;
pub mod settings;
pub mod shadow;
pub mod store;

use std::sync::Arc;

use shardhub_core::ShardId;

use crate::config::MqttAuth;
use crate::shared::Shared;
use auth::TokenVerifier;
use broker::Broker;
use settings::MqttSettings;

/// The broker part of shard `id`: its log replayed, the token secret read in token mode.
pub fn open_broker(id: ShardId, shared: &Arc<Shared>) -> Result<Broker, String> {
    let config = shared.config.load();
    let m = &config.mqtt;
    let verifier = match m.auth {
        MqttAuth::Anonymous => None,
        MqttAuth::Token => {
            let secret = if m.token_secret.is_empty() {
                let text = std::fs::read_to_string(&m.token_secret_file)
                    .map_err(|e| format!("mqtt.token_secret_file {}: {e}", m.token_secret_file.display()))?;
                text.trim_end_matches(['\n', '\r']).to_string()
            } else {
                m.token_secret.clone()
            };
            Some(TokenVerifier::new(secret.as_bytes(), m.token_leeway_secs))
        }
    };
    let (store, recovery) = store::MqttStore::open(id, &config).map_err(|e| e.to_string())?;
    tracing::info!(
        shard = id,
        snapshot = recovery.snapshot.is_some(),
        records = recovery.records,
        torn_bytes = recovery.torn_bytes,
        retained = store.retained.borrow().len(),
        shadows = store.shadows.borrow().len(),
        "mqtt log replayed"
    );
    Ok(Broker::new(
        id,
        shared.shard_count,
        MqttSettings::from(m),
        verifier,
        store,
    ))
}
