//! The retained messages of the topics this shard owns (by the topic's slot).

use std::collections::HashMap;
use std::sync::Arc;

use ahash::RandomState;
use shardhub_core::pubsub::filter_matches;
use shardhub_net::mqtt::session::Message;
use shardhub_net::mqtt::MqttStr;

#[derive(Default)]
pub struct RetainedStore {
    messages: HashMap<MqttStr, Arc<Message>, RandomState>,
}

impl RetainedStore {
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Stores or (with an empty payload) clears. A new topic beyond `max` is not stored;
    /// returns whether the message was kept.
    pub fn set(&mut self, message: Arc<Message>, max: usize) -> bool {
        if message.payload.is_empty() {
            self.messages.remove(message.topic.as_str());
            return true;
        }
        if self.messages.len() >= max && !self.messages.contains_key(message.topic.as_str()) {
            return false;
        }
        self.messages.insert(message.topic.clone(), message);
        true
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Message>> {
        self.messages.values()
    }

    /// Unexpired messages whose topic matches `filter`. A scan: retained lookups happen on
    /// SUBSCRIBE, not per publish.
    pub fn matching(&mut self, filter: &str, now_ms: u64) -> Vec<Arc<Message>> {
        self.messages.retain(|_, m| !m.is_expired(now_ms));
        self.messages
            .values()
            .filter(|m| filter_matches(filter, m.topic.as_str()))
            .cloned()
            .collect()
    }
}
