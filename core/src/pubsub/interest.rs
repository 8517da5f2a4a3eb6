//! A shard's interest summary: which filters its connections subscribe to, so that another
//! shard can tell whether a publish needs to be forwarded there at all.
//!
//! The owner counts references: every subscription (of any session, to the same filter string)
//! adds one. Only the first add and the last remove change the set of filters, and only those
//! changes are sent to the other shards, which keep a copy of each peer's summary and ask
//! [`Interest::matches`] per publish. The copy is a hint (see DESIGN.md): the owner's trie
//! decides who gets the message.
//!
//! Shared subscriptions count under their full filter (`$share/g/a/+`); a summary matches a
//! topic when an ordinary or a shared filter in it does.

use std::collections::HashMap;

use ahash::RandomState;

use super::trie::{SubscriptionTrie, TrieLimits};
use crate::error::PubsubError;

#[derive(Debug, Clone, Default)]
pub struct Interest {
    /// filter -> how many subscriptions use it (never 0).
    counts: HashMap<Box<str>, u64, RandomState>,
    /// The same filters, for matching.
    trie: SubscriptionTrie<(), ()>,
}

impl Interest {
    pub fn new(limits: TrieLimits) -> Self {
        Self {
            counts: HashMap::default(),
            trie: SubscriptionTrie::new(limits),
        }
    }

    /// Counts one more subscription to `filter`. Returns whether the filter is new to the
    /// summary (what gets replicated). Refused, changing nothing, as [`SubscriptionTrie::insert`]
    /// refuses.
    pub fn add(&mut self, filter: &str) -> Result<bool, PubsubError> {
        if let Some(count) = self.counts.get_mut(filter) {
            *count += 1;
            return Ok(false);
        }
        self.trie.insert(filter, (), ())?;
        self.counts.insert(filter.into(), 1);
        Ok(true)
    }

    /// Counts one subscription to `filter` less. Returns whether that was its last (the filter
    /// leaves the summary: replicate the removal). Removing an unknown filter changes nothing.
    pub fn remove(&mut self, filter: &str) -> bool {
        let Some(count) = self.counts.get_mut(filter) else {
            return false;
        };
        *count -= 1;
        if *count > 0 {
            return false;
        }
        self.counts.remove(filter);
        self.trie.remove(filter, &());
        true
    }

    /// Whether any filter of the summary matches the topic name.
    pub fn matches(&self, topic: &str) -> bool {
        self.trie.matches_any(topic)
    }

    /// Whether the summary holds `filter`.
    pub fn contains(&self, filter: &str) -> bool {
        self.counts.contains_key(filter)
    }

    /// How many subscriptions use `filter`.
    pub fn count(&self, filter: &str) -> u64 {
        self.counts.get(filter).copied().unwrap_or(0)
    }

    /// The filters in the summary (for a full resynchronisation of a peer), in no set order.
    pub fn filters(&self) -> impl Iterator<Item = &str> + '_ {
        self.counts.keys().map(|f| &**f)
    }

    /// Distinct filters.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// The trie and the counts agree. O(size): for tests.
    pub fn check_invariants(&self) -> Result<(), crate::error::BrokenInvariant> {
        self.invariants().map_err(crate::error::BrokenInvariant)
    }

    pub(crate) fn invariants(&self) -> Result<(), String> {
        self.trie.invariants()?;
        if self.trie.len() != self.counts.len() {
            return Err(format!(
                "{} filters counted, {} in the trie",
                self.counts.len(),
                self.trie.len()
            ));
        }
        for (filter, count) in &self.counts {
            if *count == 0 {
                return Err(format!("filter {filter} counted 0"));
            }
            if self.trie.get(filter, &()).is_none() {
                return Err(format!("filter {filter} missing from the trie"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_add_and_last_remove_change_the_set() {
        let mut interest = Interest::default();
        assert_eq!(interest.add("a/+"), Ok(true));
        assert_eq!(interest.add("a/+"), Ok(false));
        assert_eq!(interest.add("$share/g/b/#"), Ok(true));
        assert!(interest.matches("a/x"));
        assert!(interest.matches("b"));
        assert!(!interest.matches("c"));
        assert_eq!(interest.count("a/+"), 2);
        assert!(!interest.remove("a/+"));
        assert!(interest.matches("a/x"));
        assert!(interest.remove("a/+"));
        assert!(!interest.matches("a/x"));
        assert!(!interest.remove("a/+"), "unknown filter");
        assert!(interest.remove("$share/g/b/#"));
        assert!(interest.is_empty());
        interest.check_invariants().unwrap();
    }

    #[test]
    fn refused_filters_change_nothing() {
        let mut interest = Interest::new(TrieLimits {
            levels_max: 2,
            subscriptions_max: 10,
        });
        assert_eq!(interest.add("a/b/c"), Err(PubsubError::TooManyLevels));
        assert_eq!(interest.add("$share/x"), Err(PubsubError::BadSharedFilter));
        assert!(interest.is_empty());
        interest.check_invariants().unwrap();
    }
}
