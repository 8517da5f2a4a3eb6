//! MQTT subscriptions of one shard, and the interest summaries shards exchange.
//!
//! - [`topic`]: levels, the matching rules of MQTT 4.7 (`+`, `#`, `$` topics), shared filters.
//! - [`SubscriptionTrie`]: every subscription of the shard's sessions, looked up per publish
//!   without allocating; shared subscriptions (`$share/{group}/{filter}`) come back per group.
//! - [`Interest`]: the reference-counted set of filters a shard has, so a publish is forwarded
//!   only to shards with a matching subscription.
//!
//! Pure: names and filters are `&str` the codec (net) has validated, but nothing here panics on
//! odd input.

mod interest;
#[cfg(test)]
mod proptests;
pub mod topic;
mod trie;

pub use interest::Interest;
pub use topic::{filter_matches, parse_filter, ParsedFilter};
pub use trie::{Match, Members, SubscriptionTrie, TrieLimits};
