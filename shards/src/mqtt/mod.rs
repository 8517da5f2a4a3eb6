//! The IoT gateway: an MQTT v5 and 3.1.1 broker on the shards.
//!
//! A connection stays on the shard that accepted it, and so does its session: the shard's
//! [`broker::Broker`] keeps the session's subscriptions in its own trie. What must have one
//! owner is owned by slot, like everything else here: a client id (which shard holds its
//! session), a retained topic, a device shadow. Reading order:
//!
//! - [`conn`]: one connection, from CONNECT to the end (readiness reads, no idle buffer).
//! - [`broker`]: the service: sessions, the trie, routing (local, then to shards whose
//!   interest matches), client-id ownership and session takeover, retained messages.
//! - [`io`]: writing packets to the socket through the shard's write batch.
//! - [`shadow`]: device shadow requests, answered on the AWS IoT reply topics.
//! - [`store`]: retained messages and shadows with their log (durable across restarts).
//! - [`session`], [`message`] (what shards ask each other), [`announce`] (interest
//!   changes), [`retained`], [`metrics`].
//! - [`auth`]: anonymous or HS256 JWT clients; [`acl`]: the topics a device or a service may
//!   use.

pub mod acl;
pub mod announce;
pub mod auth;
pub mod broker;
pub mod conn;
pub mod io;
pub mod message;
pub mod metrics;
pub mod retained;
pub mod session;
pub mod shadow;
pub mod store;

use std::path::PathBuf;
use std::rc::Rc;

use crate::config::MqttAuth;
use crate::runtime::{Peers, ShardCtx};
use crate::storage::JournalError;
use auth::TokenVerifier;
use broker::Broker;
use message::{MqttOp, MqttReply};

/// Why a shard's broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum MqttStartError {
    #[error("mqtt.token_secret_file {path}: {source}")]
    TokenSecret {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("log: {0}")]
    Log(#[from] JournalError),
}

impl Broker {
    /// The broker part of a shard: its log replayed, the token secret read in token mode.
    pub fn open(ctx: Rc<ShardCtx>, peers: Peers<MqttOp, MqttReply>) -> Result<Broker, MqttStartError> {
        let config = ctx.config();
        let m = &config.mqtt;
        let verifier = match m.auth {
            MqttAuth::Anonymous => None,
            MqttAuth::Token => {
                let secret = if m.token_secret.is_empty() {
                    let text = std::fs::read_to_string(&m.token_secret_file).map_err(|source| {
                        MqttStartError::TokenSecret {
                            path: m.token_secret_file.clone(),
                            source,
                        }
                    })?;
                    text.trim_end_matches(['\n', '\r']).to_string()
                } else {
                    m.token_secret.clone()
                };
                Some(TokenVerifier::new(secret.as_bytes(), m.token_leeway_secs))
            }
        };
        let (store, recovery) = store::MqttStore::open(ctx.id, &config)?;
        tracing::info!(
            shard = ctx.id,
            snapshot = recovery.snapshot.is_some(),
            records = recovery.records,
            torn_bytes = recovery.torn_bytes,
            retained = store.retained.borrow().len(),
            shadows = store.shadows.borrow().len(),
            "mqtt log replayed"
        );
        Ok(Broker::new(ctx, peers, verifier, store))
    }
}
