//! The retained messages of the topics this shard owns (by the topic's slot), bounded by
//! count and by bytes: in all, and per topic prefix (the topic's first two levels, such as
//! `devices/lamp-1`: one device's namespace), so that one publisher cannot fill a shard's
//! memory and disk with large retained messages.

use std::collections::HashMap;
use std::sync::Arc;

use ahash::RandomState;
use shardhub_core::pubsub::filter_matches;
use shardhub_net::mqtt::session::Message;
use shardhub_net::mqtt::MqttStr;

/// Topic levels that make the prefix the per-prefix byte bound counts by.
const PREFIX_LEVELS: usize = 2;

/// What a shard keeps at most.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetainedLimits {
    pub messages_max: usize,
    pub bytes_max: u64,
    pub prefix_bytes_max: u64,
}

impl RetainedLimits {
    /// No bound: what replay uses (what was stored once is kept).
    pub const NONE: RetainedLimits = RetainedLimits {
        messages_max: usize::MAX,
        bytes_max: u64::MAX,
        prefix_bytes_max: u64::MAX,
    };
}

/// Why a retained message was not kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetainRefusal {
    /// `mqtt.max_retained_per_shard` messages are kept already.
    Messages,
    /// The shard's retained bytes would pass `mqtt.retained_bytes_per_shard_max`.
    Bytes,
    /// The topic prefix's bytes would pass `mqtt.retained_bytes_per_prefix_max`.
    PrefixBytes,
}

#[derive(Default)]
pub struct RetainedStore {
    messages: HashMap<MqttStr, Arc<Message>, RandomState>,
    /// Bytes of every message kept (topic and payload).
    bytes: u64,
    /// Bytes kept per topic prefix; a prefix holding nothing has no entry.
    prefix_bytes: HashMap<String, u64, RandomState>,
}

/// The bytes a retained message counts for.
fn size(message: &Message) -> u64 {
    (message.topic.as_str().len() + message.payload.len()) as u64
}

/// The prefix a topic's bytes count against: its first [`PREFIX_LEVELS`] levels.
fn prefix(topic: &str) -> &str {
    match topic.match_indices('/').nth(PREFIX_LEVELS - 1) {
        Some((at, _)) => &topic[..at],
        None => topic,
    }
}

impl RetainedStore {
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Bytes kept (topics and payloads).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Stores or (with an empty payload) clears. A message that would pass a bound is not
    /// stored, and what was stored under its topic stays.
    pub fn set(&mut self, message: Arc<Message>, limits: RetainedLimits) -> Result<(), RetainRefusal> {
        let topic = message.topic.as_str();
        let old = self.messages.get(topic).map_or(0, |m| size(m));
        if message.payload.is_empty() {
            if let Some(removed) = self.messages.remove(topic) {
                self.account(topic, size(&removed), 0);
            }
            return Ok(());
        }
        let new = size(&message);
        if old == 0 && self.messages.len() >= limits.messages_max {
            return Err(RetainRefusal::Messages);
        }
        if (self.bytes - old).saturating_add(new) > limits.bytes_max {
            return Err(RetainRefusal::Bytes);
        }
        let in_prefix = self.prefix_bytes.get(prefix(topic)).copied().unwrap_or(0);
        if (in_prefix - old).saturating_add(new) > limits.prefix_bytes_max {
            return Err(RetainRefusal::PrefixBytes);
        }
        self.account(topic, old, new);
        self.messages.insert(message.topic.clone(), message);
        Ok(())
    }

    /// Moves the byte counts of `topic` from `old` to `new` bytes.
    fn account(&mut self, topic: &str, old: u64, new: u64) {
        self.bytes = self.bytes - old + new;
        let key = prefix(topic);
        let left = self.prefix_bytes.get(key).copied().unwrap_or(0) - old + new;
        if left == 0 {
            self.prefix_bytes.remove(key);
        } else {
            self.prefix_bytes.insert(key.to_string(), left);
        }
        debug_assert_eq!(self.bytes, self.prefix_bytes.values().sum::<u64>(), "prefixes add up");
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Message>> {
        self.messages.values()
    }

    /// Unexpired messages whose topic matches `filter`. A scan: retained lookups happen on
    /// SUBSCRIBE, not per publish.
    pub fn matching(&mut self, filter: &str, now_ms: u64) -> Vec<Arc<Message>> {
        let expired: Vec<MqttStr> = self
            .messages
            .values()
            .filter(|m| m.is_expired(now_ms))
            .map(|m| m.topic.clone())
            .collect();
        for topic in expired {
            if let Some(removed) = self.messages.remove(topic.as_str()) {
                self.account(topic.as_str(), size(&removed), 0);
            }
        }
        self.messages
            .values()
            .filter(|m| filter_matches(filter, m.topic.as_str()))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use shardhub_net::mqtt::QoS;

    use super::*;

    fn message(topic: &str, payload_bytes: usize) -> Arc<Message> {
        Arc::new(Message {
            topic: MqttStr::from_bytes(Bytes::copy_from_slice(topic.as_bytes())).unwrap(),
            payload: Bytes::from(vec![b'x'; payload_bytes]),
            qos: QoS::AtLeastOnce,
            retain: true,
            properties: Default::default(),
            expires_at_ms: None,
            origin: 0,
        })
    }

    #[test]
    fn bytes_are_bounded_per_prefix_and_in_all() {
        let limits = RetainedLimits {
            messages_max: 10,
            bytes_max: 300,
            prefix_bytes_max: 120,
        };
        let mut store = RetainedStore::default();
        // "a/b/1" and "a/b/2" share the prefix "a/b": 5 + 50 bytes each.
        store.set(message("a/b/1", 50), limits).unwrap();
        store.set(message("a/b/2", 50), limits).unwrap();
        assert_eq!(store.set(message("a/b/3", 50), limits), Err(RetainRefusal::PrefixBytes));
        // Replacing a message counts only the difference.
        store.set(message("a/b/2", 60), limits).unwrap();
        assert_eq!(store.bytes(), 55 + 65);
        store.set(message("c/d/1", 100), limits).unwrap();
        assert_eq!(store.set(message("e/f", 100), limits), Err(RetainRefusal::Bytes));
        // Clearing gives the bytes back.
        store.set(message("a/b/1", 0), limits).unwrap();
        store.set(message("e/f", 50), limits).unwrap();
        assert_eq!(store.len(), 3);
        assert_eq!(store.bytes(), 65 + 105 + 53);
        let one = RetainedLimits {
            messages_max: 3,
            ..limits
        };
        assert_eq!(store.set(message("g", 1), one), Err(RetainRefusal::Messages));
        assert_eq!(prefix("devices/lamp-1/state/now"), "devices/lamp-1");
        assert_eq!(prefix("lonely"), "lonely");
    }
}
