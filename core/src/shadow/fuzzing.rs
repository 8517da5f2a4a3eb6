//! The body of the cargo-fuzz target `shadow_update` (`core/fuzz/`), kept in the crate so
//! that the crate's tests drive it with proptest on stable Rust. Built only for tests and for
//! the `fuzzing` feature.
//!
//! Update documents come from devices and apps over MQTT and HTTP: any bytes at all. Whatever
//! they hold, a refusal must change nothing and log nothing, an accepted update must keep the
//! bounds, and the log must rebuild exactly the store it was written from.

use super::json::encoded_len;
use super::{rejected, Shadow, ShadowEvent, ShadowLimits, ShadowStore};
use crate::error::ShadowError;

/// Small bounds, so that short inputs reach every refusal and a tombstone gets forgotten.
const LIMITS: ShadowLimits = ShadowLimits {
    request_bytes_max: 512,
    document_bytes_max: 256,
    depth_max: 4,
    shadows_max: 2,
    tombstones_max: 1,
    tombstone_ms: 10_000,
};

const DEVICES: [&str; 3] = ["a", "b", "thing/named"];

/// Separates requests in the fuzz input: 0xFF never occurs in UTF-8, so no JSON loses it.
const SEPARATOR: u8 = 0xFF;

/// Everything a client can observe of the store, device by device.
type View = (usize, usize, Vec<(Option<Shadow>, u64)>);

fn view(store: &ShadowStore, now_ms: u64) -> View {
    let devices = DEVICES
        .iter()
        .map(|d| (store.get(d).ok().cloned(), store.version_of(d, now_ms)))
        .collect();
    (store.len(), store.tombstones_len(), devices)
}

/// Splits `data` at 0xFF into requests. A request's first byte picks the device (bits 0-1),
/// a delete (bits 2-4 all set) or an update, and moves the clock on by its top three bits
/// times 2 seconds; the rest is the update document. Runs them all, checking each step and, at the
/// end, that the log and a snapshot each rebuild the store. Panics on any violation.
pub fn update_requests(data: &[u8]) {
    let mut store = ShadowStore::new(LIMITS);
    let mut log: Vec<ShadowEvent> = Vec::new();
    let mut now_ms = 1_000_000u64;
    for request in data.split(|&b| b == SEPARATOR).take(16) {
        let Some((&control, document)) = request.split_first() else {
            continue;
        };
        now_ms += u64::from(control >> 5) * 2000;
        let device = DEVICES[usize::from(control & 3) % DEVICES.len()];
        let before = view(&store, now_ms);
        let logged = log.len();
        let result = if control & 0x1C == 0x1C {
            store.delete(device, now_ms, &mut log).map(|_| ())
        } else {
            store.update(device, document, now_ms, &mut log).map(|replies| {
                assert_eq!(replies.version, store.get(device).expect("just updated").version());
            })
        };
        match result {
            Ok(()) => {
                assert!(log.len() > logged, "an accepted request logged nothing");
                check_bounds(&store);
            }
            Err(error) => {
                assert!(!matches!(error, ShadowError::Inconsistent(_)), "{error}");
                assert_eq!(view(&store, now_ms), before, "a refused request changed the store");
                assert_eq!(log.len(), logged, "a refused request logged something");
                let reply = rejected(&error, now_ms, None);
                assert_eq!(reply["code"], error.code());
            }
        }
        store.check_invariants().expect("invariants after each request");
    }
    check_rebuilds(&store, &log, now_ms);
}

/// Every section within `document_bytes_max`, no more shadows than `shadows_max`.
fn check_bounds(store: &ShadowStore) {
    assert!(store.len() <= LIMITS.shadows_max);
    for device in DEVICES {
        if let Ok(shadow) = store.get(device) {
            for section in [shadow.desired(), shadow.reported()].into_iter().flatten() {
                assert!(encoded_len(section) <= LIMITS.document_bytes_max);
            }
        }
    }
}

/// The log, each event through its binary form, and the snapshot each rebuild the store.
fn check_rebuilds(store: &ShadowStore, log: &[ShadowEvent], now_ms: u64) {
    let mut replayed = ShadowStore::new(LIMITS);
    for event in log {
        let mut bytes = Vec::new();
        event.encode(&mut bytes);
        let decoded = ShadowEvent::decode(&bytes).expect("a logged event decodes");
        assert_eq!(&decoded, event);
        replayed.apply(decoded).expect("a logged event applies on replay");
    }
    assert_eq!(view(&replayed, now_ms), view(store, now_ms), "replay differs");
    let restored = ShadowStore::restore(&store.snapshot(), LIMITS).expect("the snapshot restores");
    assert_eq!(view(&restored, now_ms), view(store, now_ms), "snapshot differs");
}

#[cfg(test)]
mod tests {
    use proptest::collection::vec;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    use super::*;

    /// A JSON value a few levels deep, with the keys few enough to collide.
    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[a-z]{0,100}".prop_map(Value::from),
        ];
        leaf.prop_recursive(6, 24, 4, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..3).prop_map(Value::from),
                vec(("[abc]", inner), 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// A section: mostly an object, sometimes null (clear it) or of the wrong type.
    fn section() -> impl Strategy<Value = Value> {
        prop_oneof![
            6 => vec(("[abc]", value()), 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
            1 => value(),
        ]
    }

    /// An update document: mostly well formed, with a version right or wrong, sometimes
    /// with unknown members or sections of the wrong type; then sometimes damaged.
    fn document() -> impl Strategy<Value = Vec<u8>> {
        (
            section(),
            section(),
            any::<Option<u8>>(),
            prop::bool::weighted(0.1),
            prop::option::weighted(0.2, (any::<prop::sample::Index>(), any::<u8>())),
        )
            .prop_map(|(desired, reported, version, extra, damage)| {
                let mut doc = json!({"state": {"desired": desired, "reported": reported}});
                if let Some(v) = version {
                    doc["version"] = json!(v % 4);
                }
                if extra {
                    doc["state"]["other"] = json!(1);
                }
                let mut bytes = doc.to_string().into_bytes();
                if let Some((at, byte)) = damage {
                    let at = at.index(bytes.len());
                    bytes[at] = byte;
                }
                bytes
            })
    }

    fn requests() -> impl Strategy<Value = Vec<u8>> {
        vec((any::<u8>(), document()), 1..12).prop_map(|requests| {
            let mut data = Vec::new();
            for (control, document) in requests {
                data.push(control);
                data.extend(document.into_iter().filter(|&b| b != SEPARATOR));
                data.push(SEPARATOR);
            }
            data
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_bytes_never_break_the_store(data in vec(any::<u8>(), 0..300)) {
            update_requests(&data);
        }

        #[test]
        fn update_documents_keep_the_bounds_and_the_log_rebuilds_the_store(data in requests()) {
            update_requests(&data);
        }
    }
}
