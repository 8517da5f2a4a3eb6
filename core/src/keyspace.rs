//! The string key space one shard owns, with Redis semantics for expiry and arithmetic.
//!
//! Expiry is both lazy (an expired key is removed when touched) and active
//! ([`Keyspace::expire_cycle`] pops keys from an index ordered by deadline, so a cycle only
//! looks at keys that are really due). Stored keys and values are compact copies: a value
//! taken from a network read buffer would otherwise pin the whole buffer for its lifetime.

use std::collections::{BTreeSet, HashMap};

use bytes::Bytes;

use crate::error::KeyspaceError;

/// Bounds of one shard's key space.
#[derive(Clone, Copy, Debug)]
pub struct KeyspaceLimits {
    /// Most keys this shard stores; a write that would add one more is refused with
    /// [`KeyspaceError::Full`].
    pub keys_max: usize,
}

/// A stored value. Only strings for now; other types make `WRONGTYPE` reachable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Str(Bytes),
}

impl Value {
    pub fn as_str(&self) -> Option<&Bytes> {
        match self {
            Value::Str(v) => Some(v),
        }
    }
}

#[derive(Clone, Debug)]
struct Entry {
    value: Value,
    expire_at_ms: Option<u64>,
}

/// When a SET leaves the key expiring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetExpiry {
    /// No expiry: any previous TTL is dropped.
    Persist,
    /// Keep the TTL the key had (KEEPTTL).
    Keep,
    /// Expire at this absolute time (EX/PX/EXAT/PXAT resolved by the caller).
    AtMs(u64),
}

/// Whether a SET writes depending on the key's existence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetCondition {
    Always,
    /// NX: only when the key does not exist.
    IfAbsent,
    /// XX: only when the key exists.
    IfPresent,
}

/// Conditions of EXPIRE and friends (Redis 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpireCondition {
    Always,
    /// NX: only when the key has no expiry.
    IfNone,
    /// XX: only when the key has an expiry.
    IfSome,
    /// GT: only when the new expiry is later than the current one (no expiry = infinite).
    IfGreater,
    /// LT: only when the new expiry is earlier than the current one.
    IfLess,
}

/// What a key's time to live is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ttl {
    Missing,
    Persistent,
    RemainingMs(u64),
}

/// An operation on the key space: what travels to the owner shard.
#[derive(Clone, Debug)]
pub enum KeyOp {
    Get(Bytes),
    Set {
        key: Bytes,
        value: Bytes,
        expiry: SetExpiry,
        condition: SetCondition,
        /// Return the previous value (SET ... GET).
        get: bool,
    },
    IncrBy(Bytes, i64),
    /// Delete the keys; replies with the number removed.
    Del(Vec<Bytes>),
    /// Count the keys that exist (a key named twice counts twice, as in Redis).
    Exists(Vec<Bytes>),
    MGet(Vec<Bytes>),
    MSet(Vec<(Bytes, Bytes)>),
    Expire {
        key: Bytes,
        at_ms: u64,
        condition: ExpireCondition,
    },
    Ttl(Bytes),
}

/// The owner shard's answer to a [`KeyOp`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyReply {
    Ok,
    /// A SET whose condition did not hold (and no GET was asked).
    NotWritten,
    Value(Option<Bytes>),
    Values(Vec<Option<Bytes>>),
    Int(i64),
    Ttl(Ttl),
    Err(KeyspaceError),
}

/// One shard's keys.
pub struct Keyspace {
    entries: HashMap<Bytes, Entry, ahash::RandomState>,
    /// Keys with a deadline, ordered by it: the active-expiry index.
    deadlines: BTreeSet<(u64, Bytes)>,
    limits: KeyspaceLimits,
}

impl Keyspace {
    pub fn new(limits: KeyspaceLimits) -> Self {
        Self {
            entries: HashMap::default(),
            deadlines: BTreeSet::new(),
            limits,
        }
    }

    pub fn set_limits(&mut self, limits: KeyspaceLimits) {
        self.limits = limits;
    }

    /// Number of keys, counting expired keys not yet collected (as Redis's DBSIZE does).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of keys with a deadline.
    pub fn expires_len(&self) -> usize {
        self.deadlines.len()
    }

    /// Applies one operation at `now_ms`.
    pub fn apply(&mut self, op: KeyOp, now_ms: u64) -> KeyReply {
        match op {
            KeyOp::Get(key) => match self.get(&key, now_ms) {
                Ok(v) => KeyReply::Value(v),
                Err(e) => KeyReply::Err(e),
            },
            KeyOp::Set {
                key,
                value,
                expiry,
                condition,
                get,
            } => self.set(key, value, expiry, condition, get, now_ms),
            KeyOp::IncrBy(key, delta) => match self.incr_by(&key, delta, now_ms) {
                Ok(v) => KeyReply::Int(v),
                Err(e) => KeyReply::Err(e),
            },
            KeyOp::Del(keys) => {
                let removed = keys.iter().filter(|k| self.remove_live(k, now_ms)).count();
                KeyReply::Int(removed as i64)
            }
            KeyOp::Exists(keys) => {
                let found = keys.iter().filter(|k| self.live(k, now_ms).is_some()).count();
                KeyReply::Int(found as i64)
            }
            KeyOp::MGet(keys) => KeyReply::Values(
                keys.iter()
                    // MGET answers nil for keys of other types, as Redis does.
                    .map(|k| self.live(k, now_ms).and_then(|e| e.value.as_str().cloned()))
                    .collect(),
            ),
            KeyOp::MSet(pairs) => self.mset(pairs, now_ms),
            KeyOp::Expire { key, at_ms, condition } => {
                KeyReply::Int(i64::from(self.expire(&key, at_ms, condition, now_ms)))
            }
            KeyOp::Ttl(key) => KeyReply::Ttl(self.ttl(&key, now_ms)),
        }
    }

    pub fn get(&mut self, key: &[u8], now_ms: u64) -> Result<Option<Bytes>, KeyspaceError> {
        match self.live(key, now_ms) {
            Some(Entry {
                value: Value::Str(v), ..
            }) => Ok(Some(v.clone())),
            None => Ok(None),
        }
    }

    fn set(
        &mut self,
        key: Bytes,
        value: Bytes,
        expiry: SetExpiry,
        condition: SetCondition,
        get: bool,
        now_ms: u64,
    ) -> KeyReply {
        let old = self.live(&key, now_ms).map(|e| (e.value.clone(), e.expire_at_ms));
        let previous = old.as_ref().and_then(|(v, _)| v.as_str().cloned());
        let holds = match condition {
            SetCondition::Always => true,
            SetCondition::IfAbsent => old.is_none(),
            SetCondition::IfPresent => old.is_some(),
        };
        if !holds {
            return if get {
                KeyReply::Value(previous)
            } else {
                KeyReply::NotWritten
            };
        }
        if old.is_none() && self.entries.len() >= self.limits.keys_max {
            return KeyReply::Err(KeyspaceError::Full);
        }
        let expire_at_ms = match expiry {
            SetExpiry::Persist => None,
            SetExpiry::Keep => old.and_then(|(_, at)| at),
            SetExpiry::AtMs(at) => Some(at),
        };
        self.insert(&key, Value::Str(compact(&value)), expire_at_ms);
        if let Some(at) = expire_at_ms {
            // A deadline already due removes the key at once, as Redis does for EXAT in the past.
            if at <= now_ms {
                self.remove(&key);
            }
        }
        if get {
            KeyReply::Value(previous)
        } else {
            KeyReply::Ok
        }
    }

    fn mset(&mut self, pairs: Vec<(Bytes, Bytes)>, now_ms: u64) -> KeyReply {
        // Refuse the whole batch up front so a full shard never applies half of it.
        let new_keys = pairs.iter().filter(|(k, _)| self.live(k, now_ms).is_none()).count();
        if self.entries.len() + new_keys > self.limits.keys_max {
            return KeyReply::Err(KeyspaceError::Full);
        }
        for (key, value) in pairs {
            self.insert(&key, Value::Str(compact(&value)), None);
        }
        KeyReply::Ok
    }

    pub fn incr_by(&mut self, key: &[u8], delta: i64, now_ms: u64) -> Result<i64, KeyspaceError> {
        let (current, expire_at_ms) = match self.live(key, now_ms) {
            Some(Entry {
                value: Value::Str(v),
                expire_at_ms,
            }) => (parse_i64(v).ok_or(KeyspaceError::NotInteger)?, *expire_at_ms),
            None => {
                if self.entries.len() >= self.limits.keys_max {
                    return Err(KeyspaceError::Full);
                }
                (0, None)
            }
        };
        let next = current.checked_add(delta).ok_or(KeyspaceError::Overflow)?;
        let mut text = itoa::Buffer::new();
        let value = Bytes::copy_from_slice(text.format(next).as_bytes());
        // INCR keeps the key's TTL, unlike SET.
        self.insert(key, Value::Str(value), expire_at_ms);
        Ok(next)
    }

    /// Sets an absolute deadline; returns whether it was set. A deadline already due deletes
    /// the key (and counts as set), as Redis does for a non-positive EXPIRE.
    pub fn expire(&mut self, key: &[u8], at_ms: u64, condition: ExpireCondition, now_ms: u64) -> bool {
        let Some(entry) = self.live(key, now_ms) else {
            return false;
        };
        let current = entry.expire_at_ms;
        let holds = match condition {
            ExpireCondition::Always => true,
            ExpireCondition::IfNone => current.is_none(),
            ExpireCondition::IfSome => current.is_some(),
            ExpireCondition::IfGreater => current.is_some_and(|c| at_ms > c),
            ExpireCondition::IfLess => current.is_none_or(|c| at_ms < c),
        };
        if !holds {
            return false;
        }
        if at_ms <= now_ms {
            self.remove(key);
            return true;
        }
        let entry = self.entries.get_mut(key).expect("checked live above");
        let owned_key = match entry.expire_at_ms.replace(at_ms) {
            Some(old) => {
                self.deadlines
                    .take(&(old, Bytes::copy_from_slice(key)))
                    .expect("a key with a deadline is indexed")
                    .1
            }
            None => Bytes::copy_from_slice(key),
        };
        self.deadlines.insert((at_ms, owned_key));
        true
    }

    pub fn ttl(&mut self, key: &[u8], now_ms: u64) -> Ttl {
        match self.live(key, now_ms) {
            None => Ttl::Missing,
            Some(Entry { expire_at_ms: None, .. }) => Ttl::Persistent,
            Some(Entry {
                expire_at_ms: Some(at), ..
            }) => Ttl::RemainingMs(at - now_ms),
        }
    }

    /// Active expiry: removes up to `keys_max` keys whose deadline is at or before `now_ms`,
    /// oldest deadline first. Returns how many were removed.
    pub fn expire_cycle(&mut self, now_ms: u64, keys_max: usize) -> usize {
        let mut removed = 0;
        while removed < keys_max {
            match self.deadlines.first() {
                Some((at, _)) if *at <= now_ms => {}
                _ => break,
            }
            let (_, key) = self.deadlines.pop_first().expect("peeked above");
            self.entries.remove(&key);
            removed += 1;
        }
        removed
    }

    /// The entry of a key that exists and has not expired; removes it when it has.
    fn live(&mut self, key: &[u8], now_ms: u64) -> Option<&Entry> {
        let expired = match self.entries.get(key) {
            None => return None,
            Some(e) => e.expire_at_ms.is_some_and(|at| at <= now_ms),
        };
        if expired {
            self.remove(key);
            return None;
        }
        self.entries.get(key)
    }

    fn remove_live(&mut self, key: &[u8], now_ms: u64) -> bool {
        self.live(key, now_ms).is_some() && self.remove(key)
    }

    fn remove(&mut self, key: &[u8]) -> bool {
        match self.entries.remove_entry(key) {
            Some((owned_key, entry)) => {
                if let Some(at) = entry.expire_at_ms {
                    self.deadlines.remove(&(at, owned_key));
                }
                true
            }
            None => false,
        }
    }

    fn insert(&mut self, key: &[u8], value: Value, expire_at_ms: Option<u64>) {
        let old_deadline = self.entries.get(key).and_then(|e| e.expire_at_ms);
        match self.entries.get_mut(key) {
            Some(entry) => {
                entry.value = value;
                entry.expire_at_ms = expire_at_ms;
            }
            None => {
                self.entries
                    .insert(Bytes::copy_from_slice(key), Entry { value, expire_at_ms });
            }
        }
        if old_deadline != expire_at_ms {
            if let Some(old) = old_deadline {
                self.deadlines.remove(&(old, Bytes::copy_from_slice(key)));
            }
            if let Some(at) = expire_at_ms {
                self.deadlines.insert((at, Bytes::copy_from_slice(key)));
            }
        }
    }
}

/// A copy that owns exactly its bytes, so it never keeps a larger buffer alive.
fn compact(value: &Bytes) -> Bytes {
    Bytes::copy_from_slice(value)
}

/// Parses a base-10 i64 the way Redis's `string2ll` does: an optional `-`, no `+`, no
/// spaces, no leading zeros (except "0" itself), nothing after the digits.
pub fn parse_i64(text: &[u8]) -> Option<i64> {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    let negative = digits.len() != text.len();
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if digits[0] == b'0' && (digits.len() > 1 || negative) {
        return None;
    }
    let mut magnitude: u64 = 0;
    for &d in digits {
        magnitude = magnitude.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if negative {
        if magnitude > i64::MAX as u64 + 1 {
            None
        } else {
            Some((magnitude as i64).wrapping_neg())
        }
    } else {
        i64::try_from(magnitude).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ks() -> Keyspace {
        Keyspace::new(KeyspaceLimits { keys_max: 1000 })
    }

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn set(k: &mut Keyspace, key: &str, value: &str, expiry: SetExpiry, now: u64) -> KeyReply {
        k.apply(
            KeyOp::Set {
                key: b(key),
                value: b(value),
                expiry,
                condition: SetCondition::Always,
                get: false,
            },
            now,
        )
    }

    #[test]
    fn parse_i64_follows_string2ll() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        for bad in [
            &b"9223372036854775808"[..],
            b"+1",
            b" 1",
            b"1 ",
            b"01",
            b"-0",
            b"",
            b"-",
            b"1.5",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn lazy_expiry_hides_and_removes_due_keys() {
        let mut k = ks();
        assert_eq!(set(&mut k, "a", "1", SetExpiry::AtMs(1_100), 1_000), KeyReply::Ok);
        assert_eq!(k.get(b"a", 1_099), Ok(Some(b("1"))));
        assert_eq!(k.ttl(b"a", 1_050), Ttl::RemainingMs(50));
        assert_eq!(k.get(b"a", 1_100), Ok(None));
        assert_eq!(k.len(), 0);
        assert_eq!(k.expires_len(), 0);
    }

    #[test]
    fn active_expiry_removes_only_due_keys_in_deadline_order() {
        let mut k = ks();
        for i in 0..10u64 {
            set(&mut k, &format!("k{i}"), "v", SetExpiry::AtMs(2_000 + i), 1_000);
        }
        set(&mut k, "forever", "v", SetExpiry::Persist, 1_000);
        assert_eq!(k.expire_cycle(2_004, 3), 3);
        assert_eq!(k.expire_cycle(2_004, 100), 2);
        assert_eq!(k.len(), 6);
        assert_eq!(k.ttl(b"k5", 2_004), Ttl::RemainingMs(1));
        assert_eq!(k.expire_cycle(10_000, 100), 5);
        assert_eq!(k.len(), 1);
        assert_eq!(k.expires_len(), 0);
    }

    #[test]
    fn set_drops_ttl_keepttl_and_incr_keep_it() {
        let mut k = ks();
        set(&mut k, "a", "1", SetExpiry::AtMs(5_000), 0);
        assert_eq!(k.incr_by(b"a", 2, 1), Ok(3));
        assert_eq!(k.ttl(b"a", 1_000), Ttl::RemainingMs(4_000));
        set(&mut k, "a", "x", SetExpiry::Keep, 1_000);
        assert_eq!(k.ttl(b"a", 1_000), Ttl::RemainingMs(4_000));
        set(&mut k, "a", "y", SetExpiry::Persist, 1_000);
        assert_eq!(k.ttl(b"a", 1_000), Ttl::Persistent);
        assert_eq!(k.expires_len(), 0);
    }

    #[test]
    fn set_conditions_and_get() {
        let mut k = ks();
        let nx = |k: &mut Keyspace, v: &str, get| {
            k.apply(
                KeyOp::Set {
                    key: b("a"),
                    value: b(v),
                    expiry: SetExpiry::Persist,
                    condition: SetCondition::IfAbsent,
                    get,
                },
                0,
            )
        };
        assert_eq!(nx(&mut k, "1", false), KeyReply::Ok);
        assert_eq!(nx(&mut k, "2", false), KeyReply::NotWritten);
        assert_eq!(nx(&mut k, "2", true), KeyReply::Value(Some(b("1"))));
        assert_eq!(k.get(b"a", 0), Ok(Some(b("1"))));
    }

    #[test]
    fn incr_refuses_non_integers_and_overflow_without_change() {
        let mut k = ks();
        set(&mut k, "s", "abc", SetExpiry::Persist, 0);
        assert_eq!(k.incr_by(b"s", 1, 0), Err(KeyspaceError::NotInteger));
        set(&mut k, "m", "9223372036854775807", SetExpiry::Persist, 0);
        assert_eq!(k.incr_by(b"m", 1, 0), Err(KeyspaceError::Overflow));
        assert_eq!(k.get(b"m", 0), Ok(Some(b("9223372036854775807"))));
        assert_eq!(k.incr_by(b"new", -5, 0), Ok(-5));
    }

    #[test]
    fn expire_conditions() {
        let mut k = ks();
        set(&mut k, "a", "1", SetExpiry::Persist, 0);
        assert!(!k.expire(b"a", 100, ExpireCondition::IfGreater, 0));
        assert!(k.expire(b"a", 100, ExpireCondition::IfLess, 0));
        assert!(!k.expire(b"a", 50, ExpireCondition::IfNone, 0));
        assert!(k.expire(b"a", 200, ExpireCondition::IfGreater, 0));
        assert!(k.expire(b"a", 150, ExpireCondition::IfSome, 0));
        assert_eq!(k.expires_len(), 1);
        assert!(k.expire(b"a", 0, ExpireCondition::Always, 10));
        assert_eq!(k.len(), 0);
        assert!(!k.expire(b"missing", 100, ExpireCondition::Always, 0));
    }

    #[test]
    fn full_keyspace_refuses_new_keys_but_updates_old_ones() {
        let mut k = Keyspace::new(KeyspaceLimits { keys_max: 2 });
        set(&mut k, "a", "1", SetExpiry::Persist, 0);
        set(&mut k, "b", "1", SetExpiry::Persist, 0);
        assert_eq!(
            set(&mut k, "c", "1", SetExpiry::Persist, 0),
            KeyReply::Err(KeyspaceError::Full)
        );
        assert_eq!(set(&mut k, "a", "2", SetExpiry::Persist, 0), KeyReply::Ok);
        assert_eq!(
            k.apply(KeyOp::MSet(vec![(b("a"), b("3")), (b("z"), b("3"))]), 0),
            KeyReply::Err(KeyspaceError::Full)
        );
        assert_eq!(k.get(b"a", 0), Ok(Some(b("2"))));
    }

    #[derive(Clone, Debug)]
    enum Step {
        Set(u8, Option<u16>),
        Del(u8),
        Expire(u8, u16),
        Incr(u8),
        Advance(u16),
        Cycle(u8),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0..8u8, proptest::option::of(0..500u16)).prop_map(|(k, t)| Step::Set(k, t)),
            (0..8u8).prop_map(Step::Del),
            (0..8u8, 0..500u16).prop_map(|(k, t)| Step::Expire(k, t)),
            (0..8u8).prop_map(Step::Incr),
            (0..300u16).prop_map(Step::Advance),
            (0..4u8).prop_map(Step::Cycle),
        ]
    }

    proptest! {
        /// The deadline index and the entries always agree, whatever the interleaving of
        /// writes, expiry changes, time passing and active cycles; and a key is visible
        /// exactly when a model with explicit deadlines says it is.
        #[test]
        fn deadline_index_matches_entries(steps in proptest::collection::vec(step(), 1..200)) {
            let mut k = ks();
            let mut model: HashMap<u8, Option<u64>> = HashMap::new();
            let mut now = 1_000u64;
            for s in steps {
                match s {
                    Step::Set(key, ttl) => {
                        let expiry = ttl.map_or(SetExpiry::Persist, |t| SetExpiry::AtMs(now + 1 + u64::from(t)));
                        set(&mut k, &key.to_string(), "1", expiry, now);
                        model.insert(key, ttl.map(|t| now + 1 + u64::from(t)));
                    }
                    Step::Del(key) => {
                        k.apply(KeyOp::Del(vec![b(&key.to_string())]), now);
                        model.remove(&key);
                    }
                    Step::Expire(key, t) => {
                        let at = now + u64::from(t);
                        let set = k.expire(key.to_string().as_bytes(), at, ExpireCondition::Always, now);
                        let alive = model.get(&key).is_some_and(|d| d.is_none_or(|d| d > now));
                        prop_assert_eq!(set, alive);
                        if alive {
                            if at <= now { model.remove(&key); } else { model.insert(key, Some(at)); }
                        }
                    }
                    Step::Incr(key) => {
                        let _ = k.incr_by(key.to_string().as_bytes(), 1, now);
                        let alive = model.get(&key).is_some_and(|d| d.is_none_or(|d| d > now));
                        if !alive { model.insert(key, None); }
                    }
                    Step::Advance(ms) => now += u64::from(ms),
                    Step::Cycle(n) => { k.expire_cycle(now, usize::from(n)); }
                }
                let with_deadline = k.entries.values().filter(|e| e.expire_at_ms.is_some()).count();
                prop_assert_eq!(with_deadline, k.deadlines.len());
                for (key, deadline) in &model {
                    let visible = deadline.is_none_or(|d| d > now);
                    prop_assert_eq!(k.get(key.to_string().as_bytes(), now).unwrap().is_some(), visible);
                }
            }
        }
    }
}
