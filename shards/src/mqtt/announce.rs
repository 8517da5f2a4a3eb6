//! Telling every other shard that this shard's interest gained or lost filters.

use shardhub_core::ShardId;

use super::broker::{Installed, Removed};
use super::op::{MqttOp, MqttReply, SubOptions};
use crate::shard::Shard;
use crate::shard_op::ShardOp;

/// Announces new filters and waits until every shard has them, so a publish that follows
/// the SUBACK anywhere is forwarded here.
pub async fn learn(shard: &Shard, filters: Vec<String>) {
    for filter in filters {
        let mut waiting = Vec::new();
        for dst in peers(shard) {
            loop {
                let op = ShardOp::Mqtt(MqttOp::Interest {
                    from: shard.id,
                    filter: filter.clone(),
                    added: true,
                });
                match shard.mesh.call(dst, op) {
                    Ok(reply) => {
                        waiting.push(reply);
                        break;
                    }
                    // A full ring drains within microseconds; an interest change must arrive.
                    Err(_) => monoio::time::sleep(std::time::Duration::from_millis(1)).await,
                }
            }
        }
        for reply in waiting {
            reply.await;
        }
    }
}

/// Announces lost filters without waiting: a stale hint only costs a forward that finds no
/// subscriber.
pub fn forget(shard: &Shard, filters: Vec<String>) {
    for filter in filters {
        for dst in peers(shard) {
            let op = ShardOp::Mqtt(MqttOp::Interest {
                from: shard.id,
                filter: filter.clone(),
                added: false,
            });
            let _ = shard.mesh.notify(dst, op);
        }
    }
}

fn peers(shard: &Shard) -> impl Iterator<Item = ShardId> + '_ {
    (0..shard.shared.shard_count as ShardId).filter(move |&s| s != shard.id)
}

/// Tells the other shards about an installed session: its new filters, and its shared
/// subscriptions to their owners. Returns the shared filters a group owner refused.
pub async fn installed(shard: &std::rc::Rc<Shard>, key: u64, installed: Installed) -> Vec<String> {
    learn(shard, installed.learn).await;
    let mut refused = Vec::new();
    for (filter, options) in installed.join {
        if !join(shard, key, &filter, options).await {
            refused.push(filter);
        }
    }
    refused
}

/// Joins a shared subscription at its owner; false when the owner refused it (trie full).
pub async fn join(shard: &std::rc::Rc<Shard>, key: u64, filter: &str, options: SubOptions) -> bool {
    let owner = share_owner(shard, filter);
    let op = MqttOp::ShareJoin {
        filter: filter.to_string(),
        key,
        options,
    };
    matches!(super::conn::call(shard, owner, op).await, Some(MqttReply::Done))
}

/// Tells the other shards about a removed session (no waiting: see `forget`).
pub fn removed(shard: &Shard, key: u64, removed: Removed) {
    forget(shard, removed.forget);
    for filter in removed.leave {
        leave(shard, key, filter);
    }
}

pub fn leave(shard: &Shard, key: u64, filter: String) {
    let owner = share_owner(shard, &filter);
    if owner == shard.id {
        shard.mqtt.leave_share(shard, &filter, key);
    } else {
        let _ = shard
            .mesh
            .notify(owner, ShardOp::Mqtt(MqttOp::ShareLeave { filter, key }));
    }
}

/// The shard that owns a shared subscription `$share/{group}/{filter}` (by the slot of the
/// whole string), where its members are listed.
pub fn share_owner(shard: &Shard, filter: &str) -> ShardId {
    shard
        .shared
        .slots
        .owner(shardhub_core::key_hash_slot(filter.as_bytes()))
}
