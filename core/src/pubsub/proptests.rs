//! Property tests: the trie against a naive matcher over the list of subscriptions, and the
//! interest summary against a map of counts. Levels come from a small alphabet with the
//! wildcards, a `$` level and the empty level, so filters and topics collide often.

use std::collections::HashMap;

use proptest::prelude::*;

use super::*;

const LEVELS: [&str; 6] = ["a", "b", "", "$sys", "+", "#"];
const TOPIC_LEVELS: [&str; 5] = ["a", "b", "", "$sys", "#"];
const GROUPS: [&str; 2] = ["g", "h"];

/// The reference: MQTT 4.7 written out over vectors of levels, independent of `topic.rs`.
fn naive_matches(filter: &str, topic: &str) -> bool {
    let f: Vec<&str> = filter.split('/').collect();
    let t: Vec<&str> = topic.split('/').collect();
    let multi = |i: usize| f[i] == "#" && i + 1 == f.len();
    if t[0].starts_with('$') && (f[0] == "+" || multi(0)) {
        return false;
    }
    for i in 0..=f.len() {
        if i == f.len() {
            return i == t.len();
        }
        if multi(i) {
            return true;
        }
        if i == t.len() || (f[i] != "+" && f[i] != t[i]) {
            return false;
        }
    }
    unreachable!()
}

fn filter() -> impl Strategy<Value = String> {
    (
        proptest::option::weighted(0.25, 0..GROUPS.len()),
        proptest::collection::vec(0..LEVELS.len(), 1..5),
    )
        .prop_map(|(group, levels)| {
            let inner: Vec<&str> = levels.iter().map(|&i| LEVELS[i]).collect();
            match group {
                Some(g) => format!("$share/{}/{}", GROUPS[g], inner.join("/")),
                None => inner.join("/"),
            }
        })
}

fn topic() -> impl Strategy<Value = String> {
    proptest::collection::vec(0..TOPIC_LEVELS.len(), 1..6)
        .prop_map(|levels| levels.iter().map(|&i| TOPIC_LEVELS[i]).collect::<Vec<_>>().join("/"))
}

#[derive(Debug, Clone)]
enum Op {
    Insert { filter: usize, key: u8 },
    Remove { filter: usize, key: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (any::<usize>(), 0u8..4).prop_map(|(filter, key)| Op::Insert { filter, key }),
        2 => (any::<usize>(), 0u8..4).prop_map(|(filter, key)| Op::Remove { filter, key }),
    ]
}

/// Value stored: the filter and a stamp, so replacements are visible.
type Value = (String, u32);
type Model = HashMap<(String, u8), u32>;
/// (group, filter, sorted (key, stamp) members) per matching shared group.
type SharedHits = Vec<(String, String, Vec<(u8, u32)>)>;

fn direct_matches(trie: &SubscriptionTrie<u8, Value>, topic: &str) -> Vec<(String, u8, u32)> {
    let mut out = Vec::new();
    trie.for_each_match(topic, |key, (filter, stamp)| out.push((filter.clone(), *key, *stamp)));
    out.sort();
    out
}

fn shared_matches(trie: &SubscriptionTrie<u8, Value>, topic: &str) -> SharedHits {
    let mut out = Vec::new();
    trie.for_each_shared_match(topic, |group, filter, members| {
        let mut m: Vec<(u8, u32)> = members.iter().map(|(k, (_, stamp))| (*k, *stamp)).collect();
        m.sort();
        assert_eq!(members.len(), m.len());
        out.push((group.to_string(), filter.to_string(), m));
    });
    out.sort();
    out
}

fn model_direct(model: &Model, topic: &str) -> Vec<(String, u8, u32)> {
    let mut out: Vec<_> = model
        .iter()
        .filter(|((f, _), _)| !f.starts_with("$share/") && naive_matches(f, topic))
        .map(|((f, k), stamp)| (f.clone(), *k, *stamp))
        .collect();
    out.sort();
    out
}

fn model_shared(model: &Model, topic: &str) -> SharedHits {
    let mut groups: HashMap<(String, String), Vec<(u8, u32)>> = HashMap::new();
    for ((f, k), stamp) in model {
        let Some(rest) = f.strip_prefix("$share/") else {
            continue;
        };
        let (group, inner) = rest.split_once('/').unwrap();
        if naive_matches(inner, topic) {
            groups
                .entry((group.to_string(), inner.to_string()))
                .or_default()
                .push((*k, *stamp));
        }
    }
    let mut out: Vec<_> = groups
        .into_iter()
        .map(|((g, f), mut m)| {
            m.sort();
            (g, f, m)
        })
        .collect();
    out.sort();
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn filter_matches_equals_naive(f in filter(), t in topic()) {
        let parsed = parse_filter(&f).unwrap();
        prop_assert_eq!(filter_matches(parsed.filter, &t), naive_matches(parsed.filter, &t));
    }

    #[test]
    fn trie_equals_naive_and_prunes(
        filters in proptest::collection::vec(filter(), 1..12),
        ops in proptest::collection::vec(op(), 0..80),
        topics in proptest::collection::vec(topic(), 1..12),
    ) {
        let mut trie: SubscriptionTrie<u8, Value> = SubscriptionTrie::default();
        let mut model: Model = HashMap::new();
        for (stamp, op) in ops.into_iter().enumerate() {
            let stamp = stamp as u32;
            match op {
                Op::Insert { filter, key } => {
                    let f = &filters[filter % filters.len()];
                    let old = trie.insert(f, key, (f.clone(), stamp)).unwrap();
                    let want = model.insert((f.clone(), key), stamp);
                    prop_assert_eq!(old.map(|(_, s)| s), want);
                }
                Op::Remove { filter, key } => {
                    let f = &filters[filter % filters.len()];
                    let old = trie.remove(f, &key);
                    let want = model.remove(&(f.clone(), key));
                    prop_assert_eq!(old.map(|(_, s)| s), want);
                }
            }
            prop_assert_eq!(trie.len(), model.len());
            trie.check_invariants().map_err(|e| TestCaseError::fail(e.0))?;
        }
        for t in &topics {
            prop_assert_eq!(direct_matches(&trie, t), model_direct(&model, t), "topic {:?}", t);
            prop_assert_eq!(shared_matches(&trie, t), model_shared(&model, t), "topic {:?}", t);
            prop_assert_eq!(trie.matches_any(t), !model_direct(&model, t).is_empty() || !model_shared(&model, t).is_empty());
        }
        // The survivors, inserted into a fresh trie, make the same trie: no empty node is left.
        let mut fresh: SubscriptionTrie<u8, Value> = SubscriptionTrie::default();
        for ((f, k), stamp) in &model {
            fresh.insert(f, *k, (f.clone(), *stamp)).unwrap();
        }
        prop_assert_eq!(fresh.node_count(), trie.node_count());
        prop_assert_eq!(fresh.len(), trie.len());
        for t in &topics {
            prop_assert_eq!(direct_matches(&fresh, t), direct_matches(&trie, t));
            prop_assert_eq!(shared_matches(&fresh, t), shared_matches(&trie, t));
        }
        // Removing every survivor empties it completely.
        for (f, k) in model.keys() {
            prop_assert!(trie.remove(f, k).is_some());
        }
        prop_assert_eq!(trie.len(), 0);
        prop_assert_eq!(trie.node_count(), 0);
        trie.check_invariants().map_err(|e| TestCaseError::fail(e.0))?;
    }

    #[test]
    fn interest_counts_and_matches(
        filters in proptest::collection::vec(filter(), 1..8),
        ops in proptest::collection::vec((any::<bool>(), any::<usize>()), 0..60),
        topics in proptest::collection::vec(topic(), 1..8),
    ) {
        let mut interest = Interest::default();
        let mut counts: HashMap<String, u64> = HashMap::new();
        for (add, i) in ops {
            let f = &filters[i % filters.len()];
            if add {
                let changed = interest.add(f).unwrap();
                let count = counts.entry(f.clone()).or_insert(0);
                *count += 1;
                prop_assert_eq!(changed, *count == 1);
            } else {
                let changed = interest.remove(f);
                let want = match counts.get_mut(f) {
                    Some(count) => {
                        *count -= 1;
                        *count == 0
                    }
                    None => false,
                };
                if want {
                    counts.remove(f);
                }
                prop_assert_eq!(changed, want);
            }
            interest.check_invariants().map_err(|e| TestCaseError::fail(e.0))?;
            prop_assert_eq!(interest.len(), counts.len());
        }
        for t in &topics {
            let want = counts.keys().any(|f| naive_matches(parse_filter(f).unwrap().filter, t));
            prop_assert_eq!(interest.matches(t), want, "topic {:?}", t);
        }
    }
}
