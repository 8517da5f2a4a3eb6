//! The subscription trie: every subscription of the connections a shard serves, keyed by
//! filter level, so a publish finds its subscribers in time proportional to the levels it
//! walks, not to the number of subscriptions.
//!
//! Each node is one filter level. Its literal children sit in a small map (a vector while they
//! are few, a hash map past [`CHILDREN_MAP_FROM`]); the `+` child and the subscriptions ending
//! in `#` are held apart, so a lookup visits at most two children per topic level and never
//! scans siblings. Subscriptions that end at a node live in its exact leaf; those ending in
//! `#` in its `#` leaf. A shared subscription `$share/{group}/{filter}` is stored in the same
//! place as `{filter}`, in a group of its own, so a match yields the group and all its members
//! and the broker picks one.
//!
//! Memory follows what is inserted: removing the last subscription of a node removes the node
//! and every ancestor it leaves empty. A disconnecting session removes its subscriptions one
//! filter at a time (the session keeps its own list of filters): each removal costs the levels
//! of its filter, so there is no scan of the whole trie.

use std::collections::HashMap;
use std::hash::Hash;
use std::ops::ControlFlow;

use ahash::RandomState;

use super::topic::{level_count, parse_filter, split_level, MULTI_LEVEL, SINGLE_LEVEL};
use crate::error::PubsubError;

/// A node's literal children move from a vector to a hash map when there are more than this.
pub const CHILDREN_MAP_FROM: usize = 8;
/// A leaf's subscribers get a key index when there are more than this.
const MEMBERS_INDEX_FROM: usize = 16;

/// Bounds of one trie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrieLimits {
    /// Most levels in a filter. It also bounds the recursion depth of a lookup, which only
    /// descends into nodes that exist. Brokers use 128 (EMQX) to 200 (Mosquitto).
    pub levels_max: usize,
    /// Most subscriptions (filter and key pairs, shared members included).
    pub subscriptions_max: usize,
}

impl Default for TrieLimits {
    fn default() -> Self {
        Self {
            levels_max: 128,
            subscriptions_max: 4_000_000,
        }
    }
}

/// The subscribers of one filter (or one shared group of one filter): `(key, value)` pairs in
/// a vector, so the broker can pick a shared group's member by index in O(1), with a key
/// index once they are many, so inserting and removing one stay O(1).
#[derive(Debug, Clone)]
pub struct Members<K, V> {
    items: Vec<(K, V)>,
    /// key -> position in `items`; only while there are more than [`MEMBERS_INDEX_FROM`].
    /// Boxed: a hash map with its hasher state is 64 bytes, and most filters have a few
    /// subscribers and no index.
    #[allow(clippy::box_collection)]
    index: Option<Box<HashMap<K, usize, RandomState>>>,
}

impl<K: Eq + Hash + Clone, V> Members<K, V> {
    const fn new() -> Self {
        Self {
            items: Vec::new(),
            index: None,
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The `i`-th member, for picking one of a shared group (round robin, random, hash).
    /// Positions change when members leave.
    pub fn get(&self, i: usize) -> Option<(&K, &V)> {
        self.items.get(i).map(|(k, v)| (k, v))
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&K, &V)> + '_ {
        self.items.iter().map(|(k, v)| (k, v))
    }

    pub fn get_value(&self, key: &K) -> Option<&V> {
        self.position(key).map(|i| &self.items[i].1)
    }

    fn position(&self, key: &K) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(key).copied(),
            None => self.items.iter().position(|(k, _)| k == key),
        }
    }

    fn insert(&mut self, key: K, value: V) -> Option<V> {
        if let Some(i) = self.position(&key) {
            return Some(std::mem::replace(&mut self.items[i].1, value));
        }
        if let Some(index) = &mut self.index {
            index.insert(key.clone(), self.items.len());
        }
        self.items.push((key, value));
        if self.index.is_none() && self.items.len() > MEMBERS_INDEX_FROM {
            let index = self
                .items
                .iter()
                .enumerate()
                .map(|(i, (k, _))| (k.clone(), i))
                .collect();
            self.index = Some(Box::new(index));
        }
        None
    }

    fn remove(&mut self, key: &K) -> Option<V> {
        let i = self.position(key)?;
        let (_, value) = self.items.swap_remove(i);
        if let Some(index) = &mut self.index {
            index.remove(key);
            if let Some((moved, _)) = self.items.get(i) {
                if let Some(slot) = index.get_mut(moved) {
                    *slot = i;
                }
            }
            if self.items.len() <= MEMBERS_INDEX_FROM / 2 {
                self.index = None;
            }
        }
        // Give memory back as a crowd leaves, without reallocating at every removal.
        if self.items.capacity() > 4 && self.items.len() <= self.items.capacity() / 4 {
            self.items.shrink_to(self.items.len() * 2);
        }
        Some(value)
    }

    fn check(&self) -> Result<(), String> {
        match &self.index {
            Some(index) => {
                if index.len() != self.items.len() {
                    return Err(format!("index of {} for {} members", index.len(), self.items.len()));
                }
                for (i, (k, _)) in self.items.iter().enumerate() {
                    if index.get(k) != Some(&i) {
                        return Err(format!("index points away from member {i}"));
                    }
                }
            }
            None => {
                if self.items.len() > MEMBERS_INDEX_FROM {
                    return Err(format!("{} members without an index", self.items.len()));
                }
                for (i, (k, _)) in self.items.iter().enumerate() {
                    if self.items[..i].iter().any(|(other, _)| other == k) {
                        return Err("a key subscribed twice to one filter".into());
                    }
                }
            }
        }
        Ok(())
    }
}

/// One shared-subscription group of one filter.
#[derive(Debug, Clone)]
struct Group<K, V> {
    name: Box<str>,
    /// The filter without `$share/{group}/`, for the visitor.
    filter: Box<str>,
    members: Members<K, V>,
}

/// The subscriptions that end at one point of the trie.
#[derive(Debug, Clone)]
struct Leaf<K, V> {
    direct: Members<K, V>,
    /// Usually empty, and few when not: a linear scan by name.
    shared: Vec<Group<K, V>>,
}

impl<K: Eq + Hash + Clone, V> Leaf<K, V> {
    const fn new() -> Self {
        Self {
            direct: Members::new(),
            shared: Vec::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.direct.is_empty() && self.shared.is_empty()
    }

    fn members(&self, group: Option<&str>) -> Option<&Members<K, V>> {
        match group {
            None => Some(&self.direct),
            Some(name) => self.shared.iter().find(|g| &*g.name == name).map(|g| &g.members),
        }
    }

    fn insert(&mut self, group: Option<&str>, filter: &str, key: K, value: V) -> Option<V> {
        let Some(name) = group else {
            return self.direct.insert(key, value);
        };
        if let Some(g) = self.shared.iter_mut().find(|g| &*g.name == name) {
            return g.members.insert(key, value);
        }
        let mut members = Members::new();
        members.insert(key, value);
        self.shared.push(Group {
            name: name.into(),
            filter: filter.into(),
            members,
        });
        None
    }

    fn remove(&mut self, group: Option<&str>, key: &K) -> Option<V> {
        let Some(name) = group else {
            return self.direct.remove(key);
        };
        let i = self.shared.iter().position(|g| &*g.name == name)?;
        let value = self.shared[i].members.remove(key)?;
        if self.shared[i].members.is_empty() {
            self.shared.swap_remove(i);
            if self.shared.is_empty() {
                self.shared = Vec::new();
            }
        }
        Some(value)
    }

    fn len(&self) -> usize {
        self.direct.len() + self.shared.iter().map(|g| g.members.len()).sum::<usize>()
    }

    fn visit<'a, F>(&'a self, f: &mut F) -> ControlFlow<()>
    where
        F: FnMut(Match<'a, K, V>) -> ControlFlow<()>,
    {
        for (key, value) in &self.direct.items {
            f(Match::Direct { key, value })?;
        }
        for g in &self.shared {
            f(Match::Shared {
                group: &g.name,
                filter: &g.filter,
                members: &g.members,
            })?;
        }
        ControlFlow::Continue(())
    }

    fn check(&self) -> Result<(), String> {
        self.direct.check()?;
        for (i, g) in self.shared.iter().enumerate() {
            if g.members.is_empty() {
                return Err(format!("shared group {} is empty", g.name));
            }
            if self.shared[..i].iter().any(|other| other.name == g.name) {
                return Err(format!("shared group {} twice", g.name));
            }
            g.members.check()?;
        }
        Ok(())
    }
}

/// A node's literal children.
#[derive(Debug, Clone)]
enum Children<K, V> {
    Few(Vec<(Box<str>, Node<K, V>)>),
    /// Boxed so the common case (a few children) keeps the node small; see `Members::index`.
    #[allow(clippy::box_collection)]
    Many(Box<HashMap<Box<str>, Node<K, V>, RandomState>>),
}

impl<K: Eq + Hash + Clone, V> Children<K, V> {
    #[inline]
    fn get(&self, level: &str) -> Option<&Node<K, V>> {
        match self {
            Children::Few(v) => v.iter().find(|(l, _)| &**l == level).map(|(_, n)| n),
            Children::Many(m) => m.get(level),
        }
    }

    fn get_mut(&mut self, level: &str) -> Option<&mut Node<K, V>> {
        match self {
            Children::Few(v) => v.iter_mut().find(|(l, _)| &**l == level).map(|(_, n)| n),
            Children::Many(m) => m.get_mut(level),
        }
    }

    fn get_or_insert(&mut self, level: &str) -> &mut Node<K, V> {
        if let Children::Few(v) = self {
            if v.len() >= CHILDREN_MAP_FROM && !v.iter().any(|(l, _)| &**l == level) {
                let map = std::mem::take(v).into_iter().collect();
                *self = Children::Many(Box::new(map));
            }
        }
        match self {
            Children::Few(v) => {
                let i = match v.iter().position(|(l, _)| &**l == level) {
                    Some(i) => i,
                    None => {
                        v.push((level.into(), Node::new()));
                        v.len() - 1
                    }
                };
                &mut v[i].1
            }
            Children::Many(m) => {
                if !m.contains_key(level) {
                    m.insert(level.into(), Node::new());
                }
                m.get_mut(level).expect("inserted just now")
            }
        }
    }

    fn remove(&mut self, level: &str) {
        match self {
            Children::Few(v) => {
                if let Some(i) = v.iter().position(|(l, _)| &**l == level) {
                    v.swap_remove(i);
                }
                if v.is_empty() {
                    *v = Vec::new();
                }
            }
            Children::Many(m) => {
                m.remove(level);
                if m.len() <= CHILDREN_MAP_FROM / 2 {
                    *self = Children::Few(std::mem::take(&mut **m).into_iter().collect());
                }
            }
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Children::Few(v) => v.is_empty(),
            Children::Many(m) => m.is_empty(),
        }
    }

    fn nodes(&self) -> impl Iterator<Item = (&str, &Node<K, V>)> + '_ {
        let (few, many) = match self {
            Children::Few(v) => (Some(v.iter()), None),
            Children::Many(m) => (None, Some(m.iter())),
        };
        let few = few.into_iter().flatten().map(|(l, n)| (&**l, n));
        few.chain(many.into_iter().flatten().map(|(l, n)| (&**l, n)))
    }
}

#[derive(Debug, Clone)]
struct Node<K, V> {
    literal: Children<K, V>,
    plus: Option<Box<Node<K, V>>>,
    /// Subscriptions whose filter ends at this level.
    exact: Leaf<K, V>,
    /// Subscriptions whose filter ends at this level followed by `#`.
    hash: Option<Box<Leaf<K, V>>>,
}

impl<K: Eq + Hash + Clone, V> Node<K, V> {
    const fn new() -> Self {
        Self {
            literal: Children::Few(Vec::new()),
            plus: None,
            exact: Leaf::new(),
            hash: None,
        }
    }

    fn is_empty(&self) -> bool {
        self.literal.is_empty() && self.plus.is_none() && self.exact.is_empty() && self.hash.is_none()
    }

    /// Visits the leaves that match the topic levels `rest` below this node (`None`: the topic
    /// ends at this node).
    fn walk<'a, F>(&'a self, rest: Option<&str>, f: &mut F) -> ControlFlow<()>
    where
        F: FnMut(Match<'a, K, V>) -> ControlFlow<()>,
    {
        if let Some(hash) = &self.hash {
            // `#` takes the rest, and `x/#` matches `x` itself.
            hash.visit(f)?;
        }
        let Some(rest) = rest else {
            return self.exact.visit(f);
        };
        let (level, rest) = split_level(rest);
        if let Some(child) = self.literal.get(level) {
            child.walk(rest, f)?;
        }
        if let Some(plus) = &self.plus {
            plus.walk(rest, f)?;
        }
        ControlFlow::Continue(())
    }

    /// Removes a subscription; `level` is the filter's level below this node and `rest` the
    /// levels after it. Prunes every child that the removal leaves empty.
    fn remove(&mut self, level: &str, rest: Option<&str>, group: Option<&str>, key: &K) -> Option<V> {
        if rest.is_none() && level == MULTI_LEVEL {
            let hash = self.hash.as_mut()?;
            let value = hash.remove(group, key)?;
            if hash.is_empty() {
                self.hash = None;
            }
            return Some(value);
        }
        let child = if level == SINGLE_LEVEL {
            self.plus.as_deref_mut()?
        } else {
            self.literal.get_mut(level)?
        };
        let value = match rest {
            None => child.exact.remove(group, key)?,
            Some(rest) => {
                let (next, rest) = split_level(rest);
                child.remove(next, rest, group, key)?
            }
        };
        if child.is_empty() {
            if level == SINGLE_LEVEL {
                self.plus = None;
            } else {
                self.literal.remove(level);
            }
        }
        Some(value)
    }

    fn node_count(&self) -> usize {
        let literal: usize = self.literal.nodes().map(|(_, n)| 1 + n.node_count()).sum();
        literal + self.plus.as_ref().map_or(0, |p| 1 + p.node_count())
    }

    /// Checks this node's subtree; returns how many subscriptions it holds.
    fn check(&self, is_root: bool, depth: usize) -> Result<usize, String> {
        if !is_root && self.is_empty() {
            return Err(format!("an empty node at depth {depth}"));
        }
        if is_root && !self.exact.is_empty() {
            return Err("subscriptions at the root's exact leaf".into());
        }
        let mut count = self.exact.len();
        self.exact.check()?;
        if let Some(hash) = &self.hash {
            if hash.is_empty() {
                return Err(format!("an empty # leaf at depth {depth}"));
            }
            hash.check()?;
            count += hash.len();
        }
        match &self.literal {
            Children::Few(v) if v.len() > CHILDREN_MAP_FROM => {
                return Err(format!("{} children in a vector", v.len()));
            }
            Children::Many(m) if m.len() <= CHILDREN_MAP_FROM / 2 => {
                return Err(format!("{} children in a map", m.len()));
            }
            _ => {}
        }
        for (i, (level, child)) in self.literal.nodes().enumerate() {
            if level == SINGLE_LEVEL {
                return Err("a literal child named +".into());
            }
            if let Children::Few(v) = &self.literal {
                if v[..i].iter().any(|(l, _)| &**l == level) {
                    return Err(format!("child {level} twice"));
                }
            }
            count += child.check(false, depth + 1)?;
        }
        if let Some(plus) = &self.plus {
            count += plus.check(false, depth + 1)?;
        }
        Ok(count)
    }
}

/// What a lookup finds for a topic.
#[derive(Debug)]
pub enum Match<'a, K, V> {
    /// An ordinary subscription: deliver to this subscriber.
    Direct { key: &'a K, value: &'a V },
    /// A shared subscription `$share/{group}/{filter}`: deliver to one of its members.
    Shared {
        group: &'a str,
        filter: &'a str,
        members: &'a Members<K, V>,
    },
}

/// The subscriptions of one shard: `K` names the subscriber (a session id), `V` is what the
/// subscription carries (options, subscription identifier).
///
/// A subscriber whose filters overlap (`a/+` and `a/#`) is visited once per matching filter;
/// MQTT lets the server deliver once per subscription, or once at the highest QoS, so the
/// broker decides (dedup by key when it wants one copy).
#[derive(Debug, Clone)]
pub struct SubscriptionTrie<K, V> {
    root: Node<K, V>,
    len: usize,
    limits: TrieLimits,
}

impl<K: Eq + Hash + Clone, V> Default for SubscriptionTrie<K, V> {
    fn default() -> Self {
        Self::new(TrieLimits::default())
    }
}

impl<K: Eq + Hash + Clone, V> SubscriptionTrie<K, V> {
    pub fn new(limits: TrieLimits) -> Self {
        Self {
            root: Node::new(),
            len: 0,
            limits,
        }
    }

    pub fn limits(&self) -> TrieLimits {
        self.limits
    }

    /// New bounds apply to later inserts; what is stored stays.
    pub fn set_limits(&mut self, limits: TrieLimits) {
        self.limits = limits;
    }

    /// Subscriptions stored: (filter, key) pairs, shared members included.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Trie nodes below the root; 0 when empty. Every one of them holds a subscription or
    /// leads to one.
    pub fn node_count(&self) -> usize {
        self.root.node_count()
    }

    /// Subscribes `key` to `filter` (which may be `$share/{group}/{filter}`). A subscription of
    /// the same key to the same filter is replaced, as MQTT requires, and its old value
    /// returned. Refused, changing nothing, when the filter has more than `levels_max` levels,
    /// is a malformed shared filter, or is new while the trie holds `subscriptions_max`.
    pub fn insert(&mut self, filter: &str, key: K, value: V) -> Result<Option<V>, PubsubError> {
        let parsed = parse_filter(filter)?;
        if level_count(parsed.filter) > self.limits.levels_max {
            return Err(PubsubError::TooManyLevels);
        }
        if self.len >= self.limits.subscriptions_max && self.get(filter, &key).is_none() {
            return Err(PubsubError::Full);
        }
        let leaf = self.leaf_or_insert(parsed.filter);
        let old = leaf.insert(parsed.group, parsed.filter, key, value);
        if old.is_none() {
            self.len += 1;
        }
        Ok(old)
    }

    /// Unsubscribes `key` from `filter`; returns the subscription's value, or `None` (changing
    /// nothing) if there was none. Nodes left empty are removed.
    pub fn remove(&mut self, filter: &str, key: &K) -> Option<V> {
        let parsed = parse_filter(filter).ok()?;
        let (level, rest) = split_level(parsed.filter);
        let value = self.root.remove(level, rest, parsed.group, key)?;
        self.len -= 1;
        Some(value)
    }

    /// The value of `key`'s subscription to `filter`, if any.
    pub fn get(&self, filter: &str, key: &K) -> Option<&V> {
        let parsed = parse_filter(filter).ok()?;
        self.leaf(parsed.filter)?.members(parsed.group)?.get_value(key)
    }

    /// Visits every subscription matching the topic name: ordinary ones one (key, value) at a
    /// time, shared ones one (group, filter) at a time. The visitor returns
    /// `ControlFlow::Break(())` to stop early. No allocation.
    pub fn visit<'a, F>(&'a self, topic: &str, mut f: F)
    where
        F: FnMut(Match<'a, K, V>) -> ControlFlow<()>,
    {
        let _ = self.walk(topic, &mut f);
    }

    /// Visits every ordinary (not shared) subscription matching the topic name.
    pub fn for_each_match<'a, F>(&'a self, topic: &str, mut f: F)
    where
        F: FnMut(&'a K, &'a V),
    {
        self.visit(topic, |m| {
            if let Match::Direct { key, value } = m {
                f(key, value);
            }
            ControlFlow::Continue(())
        });
    }

    /// Visits every shared group whose filter matches the topic name, with its members.
    pub fn for_each_shared_match<'a, F>(&'a self, topic: &str, mut f: F)
    where
        F: FnMut(&'a str, &'a str, &'a Members<K, V>),
    {
        self.visit(topic, |m| {
            if let Match::Shared { group, filter, members } = m {
                f(group, filter, members);
            }
            ControlFlow::Continue(())
        });
    }

    /// Whether any subscription, ordinary or shared, matches the topic name. Stops at the
    /// first.
    pub fn matches_any(&self, topic: &str) -> bool {
        self.walk(topic, &mut |_| ControlFlow::Break(())).is_break()
    }

    /// Checks the structure: no empty node below the root, the count of subscriptions, member
    /// indexes, child maps. O(size): for tests.
    pub fn check_invariants(&self) -> Result<(), crate::error::BrokenInvariant> {
        self.invariants().map_err(crate::error::BrokenInvariant)
    }

    pub(crate) fn invariants(&self) -> Result<(), String> {
        let count = self.root.check(true, 0)?;
        if count != self.len {
            return Err(format!("len {} but {count} subscriptions stored", self.len));
        }
        Ok(())
    }

    fn walk<'a, F>(&'a self, topic: &str, f: &mut F) -> ControlFlow<()>
    where
        F: FnMut(Match<'a, K, V>) -> ControlFlow<()>,
    {
        let root = &self.root;
        let (level, rest) = split_level(topic);
        // A `$` topic is out of reach of wildcards at the first level.
        if !level.starts_with('$') {
            if let Some(hash) = &root.hash {
                hash.visit(f)?;
            }
            if let Some(plus) = &root.plus {
                plus.walk(rest, f)?;
            }
        }
        if let Some(child) = root.literal.get(level) {
            child.walk(rest, f)?;
        }
        ControlFlow::Continue(())
    }

    fn leaf(&self, filter: &str) -> Option<&Leaf<K, V>> {
        let mut node = &self.root;
        let mut levels = filter.split('/').peekable();
        while let Some(level) = levels.next() {
            let last = levels.peek().is_none();
            if last && level == MULTI_LEVEL {
                return node.hash.as_deref();
            }
            node = if level == SINGLE_LEVEL {
                node.plus.as_deref()?
            } else {
                node.literal.get(level)?
            };
            if last {
                return Some(&node.exact);
            }
        }
        None
    }

    fn leaf_or_insert(&mut self, filter: &str) -> &mut Leaf<K, V> {
        let mut node = &mut self.root;
        let mut levels = filter.split('/').peekable();
        loop {
            // `split` yields at least one level, and the loop returns at the last.
            let level = levels.next().unwrap_or_default();
            let last = levels.peek().is_none();
            if last && level == MULTI_LEVEL {
                return node.hash.get_or_insert_with(|| Box::new(Leaf::new()));
            }
            node = if level == SINGLE_LEVEL {
                node.plus.get_or_insert_with(|| Box::new(Node::new()))
            } else {
                node.literal.get_or_insert(level)
            };
            if last {
                return &mut node.exact;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn direct(trie: &SubscriptionTrie<u32, &'static str>, topic: &str) -> Vec<(u32, &'static str)> {
        let mut out = Vec::new();
        trie.for_each_match(topic, |k, v| out.push((*k, *v)));
        out.sort();
        out
    }

    #[test]
    fn insert_match_remove() {
        let mut trie = SubscriptionTrie::default();
        assert_eq!(trie.insert("a/b", 1, "a/b"), Ok(None));
        assert_eq!(trie.insert("a/+", 1, "a/+"), Ok(None));
        assert_eq!(trie.insert("a/#", 2, "a/#"), Ok(None));
        assert_eq!(trie.insert("#", 3, "#"), Ok(None));
        assert_eq!(trie.insert("+/b", 4, "+/b"), Ok(None));
        assert_eq!(trie.len(), 5);
        assert_eq!(
            direct(&trie, "a/b"),
            [(1, "a/+"), (1, "a/b"), (2, "a/#"), (3, "#"), (4, "+/b")]
        );
        assert_eq!(direct(&trie, "a"), [(2, "a/#"), (3, "#")]);
        assert_eq!(direct(&trie, "a/b/c"), [(2, "a/#"), (3, "#")]);
        assert_eq!(direct(&trie, "$SYS/b"), []);
        assert!(trie.matches_any("x"));
        assert_eq!(trie.remove("#", &3), Some("#"));
        assert!(!trie.matches_any("x"));
        assert_eq!(trie.remove("#", &3), None);
        assert_eq!(trie.remove("a/b", &2), None, "another key's filter");
        for (f, k) in [("a/b", 1), ("a/+", 1), ("a/#", 2), ("+/b", 4)] {
            assert!(trie.remove(f, &k).is_some());
            trie.check_invariants().unwrap();
        }
        assert!(trie.is_empty());
        assert_eq!(trie.node_count(), 0);
    }

    #[test]
    fn same_key_same_filter_replaces() {
        let mut trie = SubscriptionTrie::default();
        assert_eq!(trie.insert("a/+", 7, "qos0"), Ok(None));
        assert_eq!(trie.insert("a/+", 7, "qos1"), Ok(Some("qos0")));
        assert_eq!(trie.len(), 1);
        assert_eq!(direct(&trie, "a/x"), [(7, "qos1")]);
        assert_eq!(trie.get("a/+", &7), Some(&"qos1"));
    }

    #[test]
    fn dollar_topics_and_wildcards() {
        let mut trie = SubscriptionTrie::default();
        trie.insert("#", 1, "#").unwrap();
        trie.insert("+/monitor/Clients", 2, "+").unwrap();
        trie.insert("$SYS/#", 3, "$SYS/#").unwrap();
        trie.insert("$SYS/monitor/+", 4, "$SYS/monitor/+").unwrap();
        assert_eq!(
            direct(&trie, "$SYS/monitor/Clients"),
            [(3, "$SYS/#"), (4, "$SYS/monitor/+")]
        );
        assert_eq!(direct(&trie, "x/monitor/Clients"), [(1, "#"), (2, "+")]);
    }

    #[test]
    fn shared_groups() {
        let mut trie: SubscriptionTrie<u32, u8> = SubscriptionTrie::default();
        trie.insert("$share/g/a/+", 1, 0).unwrap();
        trie.insert("$share/g/a/+", 2, 1).unwrap();
        trie.insert("$share/h/a/+", 3, 0).unwrap();
        trie.insert("$share/g/a/#", 4, 0).unwrap();
        trie.insert("a/+", 5, 2).unwrap();
        assert_eq!(trie.len(), 5);
        let mut seen = Vec::new();
        trie.for_each_shared_match("a/x", |group, filter, members| {
            let mut keys: Vec<u32> = members.iter().map(|(k, _)| *k).collect();
            keys.sort();
            seen.push((group.to_string(), filter.to_string(), keys));
        });
        seen.sort();
        assert_eq!(
            seen,
            [
                ("g".into(), "a/#".into(), vec![4]),
                ("g".into(), "a/+".into(), vec![1, 2]),
                ("h".into(), "a/+".into(), vec![3]),
            ]
        );
        let mut direct = Vec::new();
        trie.for_each_match("a/x", |k, _| direct.push(*k));
        assert_eq!(direct, [5]);
        assert_eq!(trie.remove("$share/g/a/+", &1), Some(0));
        assert_eq!(trie.remove("$share/g/a/+", &1), None);
        assert_eq!(trie.remove("$share/h/a/+", &2), None);
        assert_eq!(trie.insert("$share/g", 1, 0), Err(PubsubError::BadSharedFilter));
        for (f, k) in [
            ("$share/g/a/+", 2),
            ("$share/h/a/+", 3),
            ("$share/g/a/#", 4),
            ("a/+", 5),
        ] {
            assert!(trie.remove(f, &k).is_some(), "{f}");
            trie.check_invariants().unwrap();
        }
        assert_eq!(trie.node_count(), 0);
    }

    #[test]
    fn many_children_and_members_switch_representation() {
        let mut trie = SubscriptionTrie::default();
        for i in 0..100u32 {
            trie.insert(&format!("room/{i}"), i, i).unwrap();
            trie.insert("room/+", i, i).unwrap();
            trie.check_invariants().unwrap();
        }
        let mut hits = Vec::new();
        trie.for_each_match("room/42", |k, _| hits.push(*k));
        assert_eq!(hits.len(), 101);
        for i in 0..100u32 {
            assert_eq!(trie.remove(&format!("room/{i}"), &i), Some(i));
            assert_eq!(trie.remove("room/+", &i), Some(i));
            trie.check_invariants().unwrap();
        }
        assert_eq!(trie.node_count(), 0);
    }

    #[test]
    fn limits() {
        let mut trie = SubscriptionTrie::new(TrieLimits {
            levels_max: 3,
            subscriptions_max: 2,
        });
        assert_eq!(trie.insert("a/b/c/d", 1, ()), Err(PubsubError::TooManyLevels));
        assert_eq!(trie.insert("$share/g/a/b/c", 1, ()), Ok(None));
        assert_eq!(trie.insert("a/b/c", 1, ()), Ok(None));
        assert_eq!(trie.insert("a", 1, ()), Err(PubsubError::Full));
        assert_eq!(trie.insert("a/b/c", 1, ()), Ok(Some(())), "a replacement is not new");
        assert_eq!(trie.node_count(), 3);
    }

    #[test]
    fn odd_input_does_not_panic() {
        let mut trie = SubscriptionTrie::default();
        for f in ["", "/", "//", "#/a", "a/#/#", "+/+/#", "$share/g/", "$", "+", "#"] {
            trie.insert(f, 1, ()).unwrap();
        }
        for t in ["", "/", "#", "+", "a/#/#", "$", "$share/g/", "x//y"] {
            trie.visit(t, |_| ControlFlow::Continue(()));
        }
        trie.check_invariants().unwrap();
        for f in ["", "/", "//", "#/a", "a/#/#", "+/+/#", "$share/g/", "$", "+", "#"] {
            assert_eq!(trie.remove(f, &1), Some(()), "{f:?}");
        }
        assert_eq!(trie.node_count(), 0);
    }
}
