//! One shard's device shadows as a pure state machine, following the AWS IoT Device Shadow
//! service's documents, versions and errors.
//!
//! Every command checks first and changes nothing on a refusal. An accepted command builds a
//! [`ShadowEvent`], hands it to the caller's [`EventSink`](crate::EventSink) (the log) and
//! then applies it with [`ShadowStore::apply`], the only mutator, which is also what replay
//! calls.
//!
//! Versions: the first update creates a shadow at version 1 and every accepted update adds 1.
//! A delete keeps a tombstone with the deleted version, and an update within `tombstone_ms`
//! (48 hours, as AWS) continues from it, so a client never sees a version go backwards; after
//! that, or once the tombstone made room for newer ones (`tombstones_max`), the device starts
//! again at version 1.

use std::collections::{BTreeSet, HashMap};

use ahash::RandomState;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::event::ShadowEvent;
use super::json::{check_metadata, delta, encoded_len, merge_section, metadata_of, value_metadata, Object};
use super::request::{parse_update, SectionPatch};
use crate::error::ShadowError;
use crate::event_sink::EventSink;

/// Bounds of one shard's shadows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShadowLimits {
    /// Largest update request payload, in bytes (checked before parsing).
    pub request_bytes_max: usize,
    /// Largest desired section, and largest reported section, an update may leave, in bytes of
    /// compact JSON. Metadata does not count (as AWS).
    pub document_bytes_max: usize,
    /// Deepest desired or reported object in a request; the section itself is level 1 and each
    /// nested object or array one more.
    pub depth_max: usize,
    /// Most shadows the shard holds; an update that would create one more is refused with 429.
    pub shadows_max: usize,
    /// Most tombstones of deleted shadows kept; the oldest is forgotten to make room (at least
    /// one is always kept while needed).
    pub tombstones_max: usize,
    /// How long a tombstone keeps a deleted shadow's version.
    pub tombstone_ms: u64,
}

impl Default for ShadowLimits {
    /// AWS's shadow limits: 8 KiB, depth 6, versions kept 48 hours after a delete.
    fn default() -> Self {
        Self {
            request_bytes_max: 8 * 1024,
            document_bytes_max: 8 * 1024,
            depth_max: 6,
            shadows_max: 100_000,
            tombstones_max: 100_000,
            tombstone_ms: 48 * 3600 * 1000,
        }
    }
}

/// Tombstones forgotten by one delete in passing, besides the one it may need room for.
const TOMBSTONES_FORGOTTEN_PER_DELETE: usize = 4;

/// One device's shadow.
#[derive(Debug, Clone, PartialEq)]
pub struct Shadow {
    /// `None` when absent; never an empty object (an update that empties it removes it).
    desired: Option<Object>,
    reported: Option<Object>,
    /// Mirrors of the sections (see `json`); empty when the section is absent.
    desired_meta: Object,
    reported_meta: Object,
    version: u64,
    updated_ms: u64,
}

impl Shadow {
    fn new() -> Self {
        Self {
            desired: None,
            reported: None,
            desired_meta: Map::new(),
            reported_meta: Map::new(),
            version: 0,
            updated_ms: 0,
        }
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    /// When the last update was applied.
    pub fn updated_ms(&self) -> u64 {
        self.updated_ms
    }

    pub fn desired(&self) -> Option<&Object> {
        self.desired.as_ref()
    }

    pub fn reported(&self) -> Option<&Object> {
        self.reported.as_ref()
    }

    pub fn desired_metadata(&self) -> &Object {
        &self.desired_meta
    }

    pub fn reported_metadata(&self) -> &Object {
        &self.reported_meta
    }

    /// The fields of desired that reported does not have as they are (empty: in sync).
    pub fn delta(&self) -> Object {
        match &self.desired {
            Some(desired) => delta(desired, self.reported.as_ref()),
            None => Map::new(),
        }
    }

    /// `{"desired"?, "reported"?}` and `{"desired"?, "reported"?}` of metadata.
    fn state_and_metadata(&self) -> (Object, Object) {
        let mut state = Map::new();
        let mut metadata = Map::new();
        if let Some(desired) = &self.desired {
            state.insert("desired".into(), Value::Object(desired.clone()));
            metadata.insert("desired".into(), Value::Object(self.desired_meta.clone()));
        }
        if let Some(reported) = &self.reported {
            state.insert("reported".into(), Value::Object(reported.clone()));
            metadata.insert("reported".into(), Value::Object(self.reported_meta.clone()));
        }
        (state, metadata)
    }

    /// The shadow as `/update/documents` shows it: `{"state", "metadata", "version"}`.
    fn versioned_document(&self) -> Value {
        let (state, metadata) = self.state_and_metadata();
        let mut doc = Map::new();
        doc.insert("state".into(), Value::Object(state));
        doc.insert("metadata".into(), Value::Object(metadata));
        doc.insert("version".into(), Value::from(self.version));
        Value::Object(doc)
    }

    /// The `/get/accepted` reply: the whole document with its delta (when not empty), the
    /// metadata, the version, the reply's timestamp and the request's client token.
    pub fn get_accepted(&self, now_ms: u64, client_token: Option<&str>) -> Value {
        let (mut state, metadata) = self.state_and_metadata();
        let delta = self.delta();
        if !delta.is_empty() {
            state.insert("delta".into(), Value::Object(delta));
        }
        let mut doc = Map::new();
        doc.insert("state".into(), Value::Object(state));
        doc.insert("metadata".into(), Value::Object(metadata));
        doc.insert("version".into(), Value::from(self.version));
        doc.insert("timestamp".into(), Value::from(now_ms / 1000));
        with_token(doc, client_token)
    }

    /// Applies one section patch; an emptied section is removed.
    fn patch(section: &mut Option<Object>, meta: &mut Object, patch: &Value, timestamp_s: u64) {
        let Value::Object(patch) = patch else {
            // `null` clears the section (RFC 7386: a non-object patch replaces the target).
            *section = None;
            meta.clear();
            return;
        };
        let mut merged = section.take().unwrap_or_default();
        merge_section(&mut merged, meta, patch, timestamp_s);
        if !merged.is_empty() {
            *section = Some(merged);
        }
    }

    fn check(&self) -> Result<(), String> {
        if self.version == 0 {
            return Err("version 0".into());
        }
        let latest_s = self.updated_ms / 1000;
        for (name, section, meta) in [
            ("desired", &self.desired, &self.desired_meta),
            ("reported", &self.reported, &self.reported_meta),
        ] {
            match section {
                Some(s) if s.is_empty() => return Err(format!("{name} is an empty object")),
                Some(s) => check_metadata(&Value::Object(s.clone()), &Value::Object(meta.clone()), latest_s)
                    .map_err(|e| format!("{name} metadata: {e}"))?,
                None if !meta.is_empty() => return Err(format!("metadata of an absent {name}")),
                None => {}
            }
        }
        Ok(())
    }
}

/// What an accepted update publishes.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateReplies {
    /// The shadow's version after the update.
    pub version: u64,
    /// For `/update/accepted`: `{"state": <the request's state>, "metadata": <timestamps of
    /// the fields it wrote>, "version", "timestamp", "clientToken"?}`.
    pub accepted: Value,
    /// For `/update/delta`: `{"state": <delta>, "metadata": <desired metadata of the delta's
    /// fields>, "version", "timestamp", "clientToken"?}`. Present exactly when the update
    /// changed the desired or the reported section (a patch that rewrites the same values
    /// changes nothing) and the delta after it is not empty.
    pub delta: Option<Value>,
    /// For `/update/documents`: `{"previous": <doc> | null, "current": <doc>, "timestamp",
    /// "clientToken"?}` where a doc is `{"state": {desired?, reported?}, "metadata", "version"}`
    /// and `previous` is null when the update created the shadow.
    pub documents: Value,
}

/// An accepted delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deleted {
    /// The version of the shadow that was deleted.
    pub version: u64,
    pub timestamp_s: u64,
}

impl Deleted {
    /// The `/delete/accepted` reply: `{"version", "timestamp", "clientToken"?}`.
    pub fn accepted(&self, client_token: Option<&str>) -> Value {
        let mut doc = Map::new();
        doc.insert("version".into(), Value::from(self.version));
        doc.insert("timestamp".into(), Value::from(self.timestamp_s));
        with_token(doc, client_token)
    }
}

/// The `.../rejected` reply: `{"code", "message", "timestamp", "clientToken"?}`. Take the client
/// token from the request with [`super::client_token`].
pub fn rejected(error: &ShadowError, now_ms: u64, client_token: Option<&str>) -> Value {
    let mut doc = Map::new();
    doc.insert("code".into(), Value::from(error.code()));
    doc.insert("message".into(), Value::from(error.message()));
    doc.insert("timestamp".into(), Value::from(now_ms / 1000));
    with_token(doc, client_token)
}

fn with_token(mut doc: Object, client_token: Option<&str>) -> Value {
    if let Some(token) = client_token {
        doc.insert("clientToken".into(), Value::from(token));
    }
    Value::Object(doc)
}

/// What a deleted shadow leaves behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Tombstone {
    version: u64,
    deleted_ms: u64,
}

/// A shadow in a snapshot, its JSON as text.
#[derive(Serialize, Deserialize)]
struct ShadowRecord {
    device: String,
    desired: Option<String>,
    reported: Option<String>,
    desired_meta: String,
    reported_meta: String,
    version: u64,
    updated_ms: u64,
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    shadows: Vec<ShadowRecord>,
    tombstones: Vec<(String, Tombstone)>,
}

#[derive(Debug)]
pub struct ShadowStore {
    limits: ShadowLimits,
    shadows: HashMap<Box<str>, Shadow, RandomState>,
    tombstones: HashMap<Box<str>, Tombstone, RandomState>,
    /// (deleted_ms, device) of every tombstone, oldest first.
    tombstone_order: BTreeSet<(u64, Box<str>)>,
}

impl ShadowStore {
    pub fn new(limits: ShadowLimits) -> Self {
        Self {
            limits,
            shadows: HashMap::default(),
            tombstones: HashMap::default(),
            tombstone_order: BTreeSet::new(),
        }
    }

    pub fn limits(&self) -> ShadowLimits {
        self.limits
    }

    pub fn set_limits(&mut self, limits: ShadowLimits) {
        self.limits = limits;
    }

    /// Shadows held.
    pub fn len(&self) -> usize {
        self.shadows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.shadows.is_empty()
    }

    pub fn tombstones_len(&self) -> usize {
        self.tombstones.len()
    }

    // ---- commands ----

    /// `/update`: parses and checks the request, logs and applies it, and returns what to
    /// publish. Refusals, in the order they are checked: 413 (request size), 400 (JSON,
    /// structure, client token, version type, depth), 409 (version), 429 (a new shadow on a
    /// full shard), 413 (a resulting section too large).
    pub fn update(
        &mut self,
        device: &str,
        request: &[u8],
        now_ms: u64,
        sink: &mut impl EventSink<ShadowEvent>,
    ) -> Result<UpdateReplies, ShadowError> {
        if request.len() > self.limits.request_bytes_max {
            return Err(ShadowError::TooLarge);
        }
        let request = parse_update(request, self.limits.depth_max)?;
        let previous = self.shadows.get(device);
        let current_version = self.version_of(device, now_ms);
        if request.version.is_some_and(|v| v != current_version) {
            return Err(ShadowError::VersionConflict);
        }
        if previous.is_none() && self.shadows.len() >= self.limits.shadows_max {
            return Err(ShadowError::TooManyShadows);
        }
        let timestamp_s = now_ms / 1000;
        for (patch, section) in [
            (&request.desired, previous.and_then(|s| s.desired.as_ref())),
            (&request.reported, previous.and_then(|s| s.reported.as_ref())),
        ] {
            if let SectionPatch::Merge(patch) = patch {
                let mut merged = section.cloned().unwrap_or_default();
                merge_section(&mut merged, &mut Map::new(), patch, timestamp_s);
                if encoded_len(&merged) > self.limits.document_bytes_max {
                    return Err(ShadowError::TooLarge);
                }
            }
        }
        let version = current_version.checked_add(1).ok_or(ShadowError::VersionConflict)?;
        let previous = previous.cloned();
        self.commit(
            ShadowEvent::Updated {
                device: device.to_owned(),
                desired_patch: request.desired.to_text(),
                reported_patch: request.reported.to_text(),
                version,
                at_ms: now_ms,
            },
            sink,
        );
        let current = self
            .shadows
            .get(device)
            .ok_or(ShadowError::Inconsistent("an applied update left no shadow"))?;
        let token = request.client_token.as_deref();

        let mut state = Map::new();
        let mut metadata = Map::new();
        for (name, patch) in [("desired", &request.desired), ("reported", &request.reported)] {
            if let Some(value) = patch.to_value() {
                metadata.insert(name.into(), value_metadata(&value, timestamp_s));
                state.insert(name.into(), value);
            }
        }
        let mut accepted = Map::new();
        accepted.insert("state".into(), Value::Object(state));
        accepted.insert("metadata".into(), Value::Object(metadata));
        accepted.insert("version".into(), Value::from(version));
        accepted.insert("timestamp".into(), Value::from(timestamp_s));

        let changed = previous.as_ref().map_or((&None, &None), |p| (&p.desired, &p.reported))
            != (&current.desired, &current.reported);
        let current_delta = current.delta();
        let delta_reply = (changed && !current_delta.is_empty()).then(|| {
            let mut doc = Map::new();
            doc.insert(
                "metadata".into(),
                Value::Object(metadata_of(&current.desired_meta, &current_delta)),
            );
            doc.insert("state".into(), Value::Object(current_delta));
            doc.insert("version".into(), Value::from(version));
            doc.insert("timestamp".into(), Value::from(timestamp_s));
            with_token(doc, token)
        });

        let mut documents = Map::new();
        documents.insert(
            "previous".into(),
            previous.as_ref().map_or(Value::Null, Shadow::versioned_document),
        );
        documents.insert("current".into(), current.versioned_document());
        documents.insert("timestamp".into(), Value::from(timestamp_s));

        Ok(UpdateReplies {
            version,
            accepted: with_token(accepted, token),
            delta: delta_reply,
            documents: with_token(documents, token),
        })
    }

    /// `/get`: the device's shadow; build the reply with [`Shadow::get_accepted`].
    pub fn get(&self, device: &str) -> Result<&Shadow, ShadowError> {
        self.shadows.get(device).ok_or(ShadowError::NotFound)
    }

    /// `/delete`: removes the shadow, keeping its version in a tombstone. Forgets a few
    /// tombstones past their retention in passing, and the oldest one if there is no room.
    pub fn delete(
        &mut self,
        device: &str,
        now_ms: u64,
        sink: &mut impl EventSink<ShadowEvent>,
    ) -> Result<Deleted, ShadowError> {
        let version = self.get(device)?.version;
        self.expire_tombstones(now_ms, TOMBSTONES_FORGOTTEN_PER_DELETE, sink);
        while self.tombstones.len() >= self.limits.tombstones_max.max(1) {
            let Some((_, oldest)) = self.tombstone_order.first() else {
                break;
            };
            let oldest = oldest.to_string();
            self.commit(ShadowEvent::Forgotten { device: oldest }, sink);
        }
        self.commit(
            ShadowEvent::Deleted {
                device: device.to_owned(),
                version,
                at_ms: now_ms,
            },
            sink,
        );
        Ok(Deleted {
            version,
            timestamp_s: now_ms / 1000,
        })
    }

    /// Forgets up to `max` tombstones older than `tombstone_ms`; returns how many. For a
    /// periodic timer, like the flash-sale expiry pass.
    pub fn expire_tombstones(&mut self, now_ms: u64, max: usize, sink: &mut impl EventSink<ShadowEvent>) -> usize {
        let mut forgotten = 0;
        while forgotten < max {
            let Some((deleted_ms, device)) = self.tombstone_order.first() else {
                break;
            };
            if now_ms.saturating_sub(*deleted_ms) < self.limits.tombstone_ms {
                break;
            }
            let device = device.to_string();
            self.commit(ShadowEvent::Forgotten { device }, sink);
            forgotten += 1;
        }
        forgotten
    }

    /// The version an update of `device` must name: its shadow's, the deleted shadow's while
    /// its tombstone lasts, or 0.
    pub fn version_of(&self, device: &str, now_ms: u64) -> u64 {
        match self.shadows.get(device) {
            Some(shadow) => shadow.version,
            None => self.live_tombstone(device, now_ms).map_or(0, |t| t.version),
        }
    }

    /// The device's tombstone if it still keeps the deleted version.
    fn live_tombstone(&self, device: &str, now_ms: u64) -> Option<Tombstone> {
        self.tombstones
            .get(device)
            .filter(|t| now_ms.saturating_sub(t.deleted_ms) < self.limits.tombstone_ms)
            .copied()
    }

    /// Logs then applies an event the command has already checked.
    fn commit(&mut self, event: ShadowEvent, sink: &mut impl EventSink<ShadowEvent>) {
        sink.record(&event);
        if let Err(e) = self.apply(event) {
            unreachable!("a checked command built an event that does not apply: {e}");
        }
    }

    // ---- the only mutator ----

    /// Applies one event: from a command just now, or from the log at start. An event that
    /// does not fit the state changes nothing and is reported as an inconsistency.
    pub fn apply(&mut self, event: ShadowEvent) -> Result<(), ShadowError> {
        use ShadowError::Inconsistent;
        match event {
            ShadowEvent::Updated {
                device,
                desired_patch,
                reported_patch,
                version,
                at_ms,
            } => {
                let desired = desired_patch.as_deref().map(parse_patch).transpose()?;
                let reported = reported_patch.as_deref().map(parse_patch).transpose()?;
                match self.shadows.get(device.as_str()) {
                    Some(shadow) if shadow.version.checked_add(1) != Some(version) => {
                        return Err(Inconsistent("update version does not follow the shadow's"));
                    }
                    Some(_) => {}
                    None => {
                        let after_tombstone = self.tombstones.get(device.as_str()).map(|t| t.version + 1);
                        if version != 1 && Some(version) != after_tombstone {
                            return Err(Inconsistent("new shadow at an unexpected version"));
                        }
                        self.remove_tombstone(&device);
                    }
                }
                let shadow = self.shadows.entry(device.into_boxed_str()).or_insert_with(Shadow::new);
                let timestamp_s = at_ms / 1000;
                if let Some(patch) = &desired {
                    Shadow::patch(&mut shadow.desired, &mut shadow.desired_meta, patch, timestamp_s);
                }
                if let Some(patch) = &reported {
                    Shadow::patch(&mut shadow.reported, &mut shadow.reported_meta, patch, timestamp_s);
                }
                shadow.version = version;
                shadow.updated_ms = at_ms;
                debug_assert!(shadow.check().is_ok(), "{:?}", shadow.check());
            }
            ShadowEvent::Deleted { device, version, at_ms } => {
                let shadow = self
                    .shadows
                    .get(device.as_str())
                    .ok_or(Inconsistent("delete of an unknown shadow"))?;
                if shadow.version != version {
                    return Err(Inconsistent("delete at another version"));
                }
                self.shadows.remove(device.as_str());
                self.remove_tombstone(&device);
                let device = device.into_boxed_str();
                self.tombstone_order.insert((at_ms, device.clone()));
                self.tombstones.insert(
                    device,
                    Tombstone {
                        version,
                        deleted_ms: at_ms,
                    },
                );
            }
            ShadowEvent::Forgotten { device } => {
                if !self.remove_tombstone(&device) {
                    return Err(Inconsistent("forgetting an unknown tombstone"));
                }
            }
        }
        debug_assert_eq!(
            self.tombstone_order.len(),
            self.tombstones.len(),
            "every tombstone is in the expiry order"
        );
        Ok(())
    }

    fn remove_tombstone(&mut self, device: &str) -> bool {
        let Some((device, tombstone)) = self.tombstones.remove_entry(device) else {
            return false;
        };
        self.tombstone_order.remove(&(tombstone.deleted_ms, device));
        true
    }

    // ---- snapshots ----

    /// The whole state in postcard form, JSON kept as text.
    pub fn snapshot(&self) -> Vec<u8> {
        let text = |o: &Object| Value::Object(o.clone()).to_string();
        let snapshot = Snapshot {
            shadows: self
                .shadows
                .iter()
                .map(|(device, s)| ShadowRecord {
                    device: device.to_string(),
                    desired: s.desired.as_ref().map(text),
                    reported: s.reported.as_ref().map(text),
                    desired_meta: text(&s.desired_meta),
                    reported_meta: text(&s.reported_meta),
                    version: s.version,
                    updated_ms: s.updated_ms,
                })
                .collect(),
            tombstones: self.tombstones.iter().map(|(d, t)| (d.to_string(), *t)).collect(),
        };
        postcard::to_allocvec(&snapshot).expect("encoding into a Vec")
    }

    /// Rebuilds a store from [`ShadowStore::snapshot`] bytes.
    pub fn restore(bytes: &[u8], limits: ShadowLimits) -> Result<ShadowStore, ShadowError> {
        use ShadowError::Inconsistent;
        let snapshot: Snapshot = postcard::from_bytes(bytes).map_err(|_| Inconsistent("snapshot does not decode"))?;
        let object = |text: &str| match serde_json::from_str(text) {
            Ok(Value::Object(o)) => Ok(o),
            _ => Err(Inconsistent("snapshot JSON is not an object")),
        };
        let mut store = ShadowStore::new(limits);
        for r in snapshot.shadows {
            let shadow = Shadow {
                desired: r.desired.as_deref().map(object).transpose()?,
                reported: r.reported.as_deref().map(object).transpose()?,
                desired_meta: object(&r.desired_meta)?,
                reported_meta: object(&r.reported_meta)?,
                version: r.version,
                updated_ms: r.updated_ms,
            };
            store.shadows.insert(r.device.into_boxed_str(), shadow);
        }
        for (device, tombstone) in snapshot.tombstones {
            let device = device.into_boxed_str();
            store.tombstone_order.insert((tombstone.deleted_ms, device.clone()));
            store.tombstones.insert(device, tombstone);
        }
        Ok(store)
    }

    /// Checks every shadow (no empty section, metadata mirroring its section, a version) and
    /// the tombstones. O(size): for tests and for the check after a replay.
    pub fn check_invariants(&self) -> Result<(), crate::error::BrokenInvariant> {
        self.invariants().map_err(crate::error::BrokenInvariant)
    }

    pub(crate) fn invariants(&self) -> Result<(), String> {
        for (device, shadow) in &self.shadows {
            shadow.check().map_err(|e| format!("{device}: {e}"))?;
            if self.tombstones.contains_key(device) {
                return Err(format!("{device}: a shadow and a tombstone"));
            }
        }
        if self.tombstone_order.len() != self.tombstones.len() {
            return Err(format!(
                "{} tombstones, {} in the order",
                self.tombstones.len(),
                self.tombstone_order.len()
            ));
        }
        for (deleted_ms, device) in &self.tombstone_order {
            if self.tombstones.get(device).map(|t| t.deleted_ms) != Some(*deleted_ms) {
                return Err(format!("{device}: tombstone order out of step"));
            }
        }
        Ok(())
    }

    /// The same shadows and tombstones, ignoring limits (for replay tests).
    pub fn same_state(&self, other: &ShadowStore) -> bool {
        self.shadows == other.shadows && self.tombstones == other.tombstones
    }
}

/// A logged section patch: `null` or an object.
fn parse_patch(text: &str) -> Result<Value, ShadowError> {
    match serde_json::from_str(text) {
        Ok(value @ (Value::Null | Value::Object(_))) => Ok(value),
        _ => Err(ShadowError::Inconsistent("logged patch is not null or an object")),
    }
}
