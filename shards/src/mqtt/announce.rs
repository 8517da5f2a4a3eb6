//! Telling every other shard that this shard's interest gained or lost filters, and joining
//! and leaving shared subscriptions at their owners.

use std::rc::Rc;
use std::time::Duration;

use shardhub_core::ShardId;

use super::broker::{Broker, Installed, Removed};
use super::message::{MqttOp, MqttReply, SubOptions};
use crate::runtime::Service;

/// How long an interest change waits for room in a full ring before trying again: a full
/// ring drains within microseconds, and an interest change must arrive.
const INTEREST_RETRY: Duration = Duration::from_millis(1);

impl Broker {
    /// Announces new filters and waits until every shard has them, so a publish that follows
    /// the SUBACK anywhere is forwarded here.
    pub async fn learn(&self, filters: Vec<String>) {
        for filter in filters {
            let mut waiting = Vec::new();
            for dst in self.peers().others() {
                loop {
                    let op = MqttOp::Interest {
                        from: self.ctx().id,
                        filter: filter.clone(),
                        added: true,
                    };
                    match self.peers().call(dst, op) {
                        Ok(reply) => {
                            waiting.push(reply);
                            break;
                        }
                        Err(_) => monoio::time::sleep(INTEREST_RETRY).await,
                    }
                }
            }
            for reply in waiting {
                reply.await;
            }
        }
    }

    /// Announces lost filters without waiting: a stale hint only costs a forward that finds
    /// no subscriber.
    pub fn forget(&self, filters: Vec<String>) {
        for filter in filters {
            for dst in self.peers().others() {
                let op = MqttOp::Interest {
                    from: self.ctx().id,
                    filter: filter.clone(),
                    added: false,
                };
                let _ = self.peers().notify(dst, op);
            }
        }
    }

    /// Tells the other shards about an installed session: its new filters, and its shared
    /// subscriptions to their owners. Returns the shared filters a group owner refused.
    pub async fn announce_installed(self: &Rc<Self>, key: u64, installed: Installed) -> Vec<String> {
        self.learn(installed.learn).await;
        let mut refused = Vec::new();
        for (filter, options) in installed.join {
            if !self.join(key, &filter, options).await {
                refused.push(filter);
            }
        }
        refused
    }

    /// Joins a shared subscription at its owner; false when the owner refused it (trie
    /// full) or could not be reached.
    pub async fn join(self: &Rc<Self>, key: u64, filter: &str, options: SubOptions) -> bool {
        let op = MqttOp::ShareJoin {
            filter: filter.to_string(),
            key,
            options,
        };
        match self.on_owner(self.share_owner(filter), op) {
            Ok(answer) => matches!(answer.get().await, MqttReply::Done),
            Err(_) => false,
        }
    }

    /// Tells the other shards about a removed session (no waiting: see `forget`).
    pub fn announce_removed(&self, key: u64, removed: Removed) {
        self.forget(removed.forget);
        for filter in removed.leave {
            self.leave(key, filter);
        }
    }

    /// Leaves a shared subscription at its owner.
    pub fn leave(&self, key: u64, filter: String) {
        let owner = self.share_owner(&filter);
        if owner == self.ctx().id {
            self.leave_share(&filter, key);
        } else {
            let _ = self.peers().notify(owner, MqttOp::ShareLeave { filter, key });
        }
    }

    /// The shard that owns a shared subscription `$share/{group}/{filter}` (by the slot of
    /// the whole string), where its members are listed.
    pub fn share_owner(&self, filter: &str) -> ShardId {
        self.ctx().owner_of_key(filter.as_bytes())
    }
}
