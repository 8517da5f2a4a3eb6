//! Key slots, as in Redis Cluster, and the table that maps slots to shards.
//!
//! Using Redis Cluster's exact function means a cluster-aware Redis client computes the same
//! owner we do, which is what later lets the same table route slots to nodes.

use crc::{Crc, CRC_16_XMODEM};

/// Number of hash slots, fixed by the Redis Cluster specification.
pub const SLOT_COUNT: u16 = 16384;

/// A hash slot, `0..SLOT_COUNT`.
pub type Slot = u16;

/// Index of a shard (one executor thread) within this node.
pub type ShardId = u16;

const CRC16: Crc<u16> = Crc::<u16>::new(&CRC_16_XMODEM);

/// The slot of a key: CRC16/XMODEM of the key, or of its `{hashtag}` when the key holds a
/// non-empty one, modulo 16384. Keys sharing a hashtag share a slot, hence an owner shard.
pub fn key_hash_slot(key: &[u8]) -> Slot {
    CRC16.checksum(hashtag(key)) % SLOT_COUNT
}

/// The part of a key that is hashed: what lies between the first `{` and the first `}` after
/// it, when that is not empty; otherwise the whole key (Redis Cluster's rule).
fn hashtag(key: &[u8]) -> &[u8] {
    let Some(open) = key.iter().position(|&b| b == b'{') else {
        return key;
    };
    let rest = &key[open + 1..];
    match rest.iter().position(|&b| b == b'}') {
        Some(close) if close > 0 => &rest[..close],
        _ => key,
    }
}

/// Which shard owns each slot.
#[derive(Clone, Debug)]
pub struct SlotTable {
    owners: Box<[ShardId]>,
    shard_count: u16,
}

impl SlotTable {
    /// Splits the slots into `shard_count` contiguous ranges of (nearly) equal size, as
    /// `redis-cli --cluster create` does for nodes.
    pub fn even(shard_count: u16) -> Self {
        assert!(shard_count > 0, "a node has at least one shard");
        assert!(shard_count <= SLOT_COUNT, "more shards than slots");
        let owners = (0..SLOT_COUNT)
            .map(|slot| ((u32::from(slot) * u32::from(shard_count)) / u32::from(SLOT_COUNT)) as ShardId)
            .collect::<Vec<_>>()
            .into_boxed_slice();
        Self { owners, shard_count }
    }

    pub fn shard_count(&self) -> u16 {
        self.shard_count
    }

    pub fn owner(&self, slot: Slot) -> ShardId {
        self.owners[usize::from(slot)]
    }

    pub fn owner_of_key(&self, key: &[u8]) -> ShardId {
        self.owner(key_hash_slot(key))
    }

    /// The contiguous slot ranges a shard owns, for INFO and CLUSTER-style answers.
    pub fn ranges_of(&self, shard: ShardId) -> Vec<(Slot, Slot)> {
        let mut ranges = Vec::new();
        let mut start: Option<Slot> = None;
        for slot in 0..SLOT_COUNT {
            let owned = self.owner(slot) == shard;
            match (owned, start) {
                (true, None) => start = Some(slot),
                (false, Some(s)) => {
                    ranges.push((s, slot - 1));
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start {
            ranges.push((s, SLOT_COUNT - 1));
        }
        ranges
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_matches_redis_cluster_reference_value() {
        // The check value from the Redis Cluster specification, appendix A.
        assert_eq!(CRC16.checksum(b"123456789"), 0x31C3);
    }

    #[test]
    fn known_slots_match_redis() {
        // Values answered by `CLUSTER KEYSLOT` on Redis 7.
        assert_eq!(key_hash_slot(b"foo"), 12182);
        assert_eq!(key_hash_slot(b"bar"), 5061);
        assert_eq!(key_hash_slot(b"somekey"), 11058);
    }

    #[test]
    fn hashtags_share_a_slot() {
        let a = key_hash_slot(b"{user1000}.following");
        let b = key_hash_slot(b"{user1000}.followers");
        assert_eq!(a, b);
        assert_eq!(a, key_hash_slot(b"user1000"));
    }

    #[test]
    fn empty_or_unclosed_hashtag_hashes_whole_key() {
        assert_eq!(key_hash_slot(b"foo{}{bar}"), CRC16.checksum(b"foo{}{bar}") % SLOT_COUNT);
        assert_eq!(key_hash_slot(b"foo{bar"), CRC16.checksum(b"foo{bar") % SLOT_COUNT);
        // Only the first `{` ... first `}` counts.
        assert_eq!(key_hash_slot(b"foo{{bar}}zap"), CRC16.checksum(b"{bar") % SLOT_COUNT);
    }

    #[test]
    fn even_table_covers_every_slot_with_balanced_ranges() {
        for shards in 1..=16u16 {
            let table = SlotTable::even(shards);
            let mut counts = vec![0u32; usize::from(shards)];
            for slot in 0..SLOT_COUNT {
                counts[usize::from(table.owner(slot))] += 1;
            }
            let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
            assert!(max - min <= 1, "unbalanced {counts:?}");
            for shard in 0..shards {
                assert_eq!(table.ranges_of(shard).len(), 1);
            }
        }
    }
}
