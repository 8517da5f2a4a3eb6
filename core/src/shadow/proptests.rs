//! Property tests: random updates, deletes and restarts over a few devices. After every step
//! the live store must equal a model built with plain RFC 7386 merges, rebuilding from the log
//! (or a snapshot plus the log after it) must give the same store, and each shadow's delta
//! must be exactly the recursive difference of desired and reported.

use std::collections::HashMap;

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::json::{merge_patch, Object};
use super::*;
use crate::error::ShadowError;

const DEVICES: usize = 3;
const KEYS: [&str; 3] = ["a", "b", "c"];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0i64..3).prop_map(Value::from),
        Just(json!(1.5)),
        Just(json!(-0.25)),
        Just(json!("s")),
        any::<bool>().prop_map(Value::from),
        Just(json!([1, 2])),
        Just(json!([{"a": 1}, null])),
    ]
}

/// A patch member: a scalar, `null` (delete) or a nested object, up to 3 levels.
fn member() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![4 => scalar(), 1 => Just(Value::Null)];
    leaf.prop_recursive(3, 16, 3, |inner| {
        proptest::collection::btree_map(0..KEYS.len(), inner, 0..3)
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (KEYS[k].to_string(), v)).collect()))
    })
}

fn section_patch() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        2 => Just(None),
        1 => Just(Some(Value::Null)),
        5 => proptest::collection::btree_map(0..KEYS.len(), member(), 0..4)
            .prop_map(|m| Some(Value::Object(m.into_iter().map(|(k, v)| (KEYS[k].to_string(), v)).collect()))),
    ]
}

#[derive(Debug, Clone)]
enum Step {
    Update {
        device: usize,
        desired: Option<Value>,
        reported: Option<Value>,
        /// None: no version; Some(true): the right one; Some(false): a wrong one.
        version: Option<bool>,
    },
    Delete(usize),
    Tick(u64),
    ExpireTombstones,
    RestartFromLog,
    RestartFromSnapshot,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        10 => (0..DEVICES, section_patch(), section_patch(), proptest::option::of(any::<bool>()))
            .prop_map(|(device, desired, reported, version)| Step::Update { device, desired, reported, version }),
        1 => (0..DEVICES).prop_map(Step::Delete),
        2 => (0u64..40_000).prop_map(Step::Tick),
        1 => Just(Step::ExpireTombstones),
        1 => Just(Step::RestartFromLog),
        1 => Just(Step::RestartFromSnapshot),
    ]
}

const LIMITS: ShadowLimits = ShadowLimits {
    request_bytes_max: 8 * 1024,
    document_bytes_max: 8 * 1024,
    depth_max: 6,
    shadows_max: 100,
    tombstones_max: 2,
    tombstone_ms: 60_000,
};

/// The model: each device's sections as plain JSON values (Null when absent) and version.
#[derive(Debug, Clone, Default)]
struct ModelShadow {
    desired: Value,
    reported: Value,
    version: u64,
}

struct Harness {
    live: ShadowStore,
    log: Vec<ShadowEvent>,
    snapshot: Option<(Vec<u8>, usize)>,
    model: HashMap<String, ModelShadow>,
    /// device -> (deleted version, deleted_ms)
    tombstones: HashMap<String, (u64, u64)>,
    now_ms: u64,
}

/// Merges like RFC 7386 and then drops a section that ended empty.
fn model_merge(section: &mut Value, patch: &Value) {
    merge_patch(section, patch);
    if section.as_object().is_some_and(Map::is_empty) {
        *section = Value::Null;
    }
}

fn section_value(section: Option<&Object>) -> Value {
    section.map_or(Value::Null, |o| Value::Object(o.clone()))
}

/// Whether every field of `sub` is in `sup` as it is (objects compared field by field).
fn contains(sup: &Object, sub: &Object) -> bool {
    sub.iter().all(|(k, v)| match (v, sup.get(k)) {
        (Value::Object(v), Some(Value::Object(s))) => contains(s, v),
        (v, Some(s)) => v == s,
        (_, None) => false,
    })
}

/// The delta's defining properties: it is a part of desired, applying it to reported brings
/// reported up to desired, and none of its leaves is already in reported.
fn check_delta(desired: &Object, reported: &Object, delta: &Object) -> Result<(), TestCaseError> {
    prop_assert!(
        contains(desired, delta),
        "delta {:?} not within desired {:?}",
        delta,
        desired
    );
    let mut patched = Value::Object(reported.clone());
    merge_patch(&mut patched, &Value::Object(delta.clone()));
    prop_assert!(
        contains(patched.as_object().unwrap(), desired),
        "reported + delta misses desired"
    );
    prop_assert_eq!(delta.is_empty(), contains(reported, desired));
    for (k, v) in delta {
        match (v, reported.get(k)) {
            (Value::Object(d), Some(Value::Object(r))) => {
                prop_assert!(!d.is_empty());
                check_delta(desired[k].as_object().unwrap(), r, d)?;
            }
            (v, r) => prop_assert!(r != Some(v), "delta leaf {} already reported", k),
        }
    }
    Ok(())
}

impl Harness {
    fn run(&mut self, step: Step) -> Result<(), TestCaseError> {
        match step {
            Step::Update {
                device,
                desired,
                reported,
                version,
            } => {
                let name = format!("dev{device}");
                let mut state = Map::new();
                if let Some(d) = &desired {
                    state.insert("desired".into(), d.clone());
                }
                if let Some(r) = &reported {
                    state.insert("reported".into(), r.clone());
                }
                let current = self.expected_version(&name);
                let mut request = json!({"state": state, "clientToken": "t"});
                if let Some(right) = version {
                    request["version"] = json!(if right { current } else { current + 1 });
                }
                let before = self.log.len();
                let result = self
                    .live
                    .update(&name, request.to_string().as_bytes(), self.now_ms, &mut self.log);
                let want_err = if desired.is_none() && reported.is_none() {
                    Some(ShadowError::EmptyState)
                } else if version == Some(false) {
                    Some(ShadowError::VersionConflict)
                } else {
                    None
                };
                match (result, want_err) {
                    (Err(e), Some(want)) => {
                        prop_assert_eq!(e, want);
                        prop_assert_eq!(self.log.len(), before);
                    }
                    (Ok(replies), None) => {
                        prop_assert_eq!(replies.version, current + 1);
                        prop_assert_eq!(self.log.len(), before + 1);
                        prop_assert_eq!(&replies.accepted["clientToken"], &json!("t"));
                        prop_assert_eq!(&replies.accepted["state"], &request["state"]);
                        self.tombstones.remove(&name);
                        let entry = self.model.entry(name.clone()).or_default();
                        let previous = (entry.desired.clone(), entry.reported.clone());
                        if let Some(d) = &desired {
                            model_merge(&mut entry.desired, d);
                        }
                        if let Some(r) = &reported {
                            model_merge(&mut entry.reported, r);
                        }
                        entry.version = current + 1;
                        let shadow = self.live.get(&name).unwrap();
                        let delta = shadow.delta();
                        let changed = previous != (entry.desired.clone(), entry.reported.clone());
                        prop_assert_eq!(replies.delta.is_some(), changed && !delta.is_empty());
                        if let Some(reply) = &replies.delta {
                            prop_assert_eq!(&reply["state"], &Value::Object(delta));
                        }
                    }
                    (result, want) => {
                        return Err(TestCaseError::fail(format!("update gave {result:?}, wanted {want:?}")));
                    }
                }
            }
            Step::Delete(device) => {
                let name = format!("dev{device}");
                match self.live.delete(&name, self.now_ms, &mut self.log) {
                    Ok(deleted) => {
                        let gone = self.model.remove(&name);
                        prop_assert_eq!(Some(deleted.version), gone.map(|m| m.version));
                        self.delete_model(&name, deleted.version);
                    }
                    Err(e) => {
                        prop_assert_eq!(e, ShadowError::NotFound);
                        prop_assert!(!self.model.contains_key(&name));
                    }
                }
            }
            Step::Tick(ms) => self.now_ms += ms,
            Step::ExpireTombstones => {
                self.live.expire_tombstones(self.now_ms, usize::MAX, &mut self.log);
                self.expire_model(usize::MAX);
            }
            Step::RestartFromLog => {
                let mut rebuilt = ShadowStore::new(LIMITS);
                for event in &self.log {
                    let mut bytes = Vec::new();
                    event.encode(&mut bytes);
                    let decoded = ShadowEvent::decode(&bytes).unwrap();
                    rebuilt.apply(decoded).map_err(|e| TestCaseError::fail(e.to_string()))?;
                }
                prop_assert!(rebuilt.same_state(&self.live), "replayed log differs");
                self.live = rebuilt;
                self.snapshot = Some((self.live.snapshot(), self.log.len()));
            }
            Step::RestartFromSnapshot => {
                if let Some((snapshot, covered)) = &self.snapshot {
                    let mut rebuilt = ShadowStore::restore(snapshot, LIMITS).unwrap();
                    for event in &self.log[*covered..] {
                        rebuilt
                            .apply(event.clone())
                            .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    }
                    prop_assert!(rebuilt.same_state(&self.live), "snapshot + log differs");
                    self.live = rebuilt;
                }
                self.snapshot = Some((self.live.snapshot(), self.log.len()));
            }
        }
        self.check()
    }

    /// The version the next update must name, from the model: the shadow's, a live
    /// tombstone's, or 0.
    fn expected_version(&self, name: &str) -> u64 {
        if let Some(m) = self.model.get(name) {
            return m.version;
        }
        match self.tombstones.get(name) {
            Some(&(version, deleted_ms)) if self.now_ms - deleted_ms < LIMITS.tombstone_ms => version,
            _ => 0,
        }
    }

    /// The model of tombstones: forget expired ones, oldest first, up to `max`.
    fn expire_model(&mut self, max: usize) {
        let mut order: Vec<(u64, String)> = self.tombstones.iter().map(|(d, (_, at))| (*at, d.clone())).collect();
        order.sort();
        let now_ms = self.now_ms;
        let expired = order
            .into_iter()
            .take_while(|(at, _)| now_ms - at >= LIMITS.tombstone_ms)
            .take(max);
        for (_, device) in expired {
            self.tombstones.remove(&device);
        }
    }

    fn delete_model(&mut self, name: &str, version: u64) {
        self.expire_model(4);
        while self.tombstones.len() >= LIMITS.tombstones_max {
            let oldest = self
                .tombstones
                .iter()
                .map(|(d, (_, at))| (*at, d.clone()))
                .min()
                .unwrap();
            self.tombstones.remove(&oldest.1);
        }
        self.tombstones.insert(name.to_string(), (version, self.now_ms));
    }

    fn check(&self) -> Result<(), TestCaseError> {
        self.live.check_invariants().map_err(|e| TestCaseError::fail(e.0))?;
        prop_assert_eq!(self.live.len(), self.model.len());
        prop_assert_eq!(self.live.tombstones_len(), self.tombstones.len());
        for d in 0..DEVICES {
            let name = format!("dev{d}");
            prop_assert_eq!(self.live.version_of(&name, self.now_ms), self.expected_version(&name));
        }
        for (name, model) in &self.model {
            let shadow = self.live.get(name).unwrap();
            prop_assert_eq!(shadow.version(), model.version);
            prop_assert_eq!(section_value(shadow.desired()), model.desired.clone());
            prop_assert_eq!(section_value(shadow.reported()), model.reported.clone());
            let empty = Map::new();
            check_delta(
                shadow.desired().unwrap_or(&empty),
                shadow.reported().unwrap_or(&empty),
                &shadow.delta(),
            )?;
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn replay_snapshot_and_delta_laws(steps in proptest::collection::vec(step(), 1..40)) {
        let mut h = Harness {
            live: ShadowStore::new(LIMITS),
            log: Vec::new(),
            snapshot: None,
            model: HashMap::new(),
            tombstones: HashMap::new(),
            now_ms: 1_700_000_000_000,
        };
        for step in steps {
            h.run(step)?;
        }
        // A final restart from each source.
        h.run(Step::RestartFromSnapshot)?;
        h.run(Step::RestartFromLog)?;
    }
}
