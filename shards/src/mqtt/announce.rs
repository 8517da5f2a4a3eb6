//! Telling every other shard that this shard's interest gained or lost filters.

use shardhub_core::ShardId;

use super::op::MqttOp;
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
