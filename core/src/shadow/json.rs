//! The JSON algebra of shadows: RFC 7386 merge patches, the metadata that mirrors a section,
//! the delta between desired and reported, and the measures the limits use.
//!
//! Metadata mirrors its section: an object field gets an object of the same keys, an array an
//! array of the same length, and every scalar (null inside an array included) becomes
//! `{"timestamp": seconds}` of the update that last wrote it. Arrays are values, replaced whole,
//! so their elements share one timestamp.

use serde_json::{Map, Value};

/// A JSON object, as shadows hold their sections.
pub type Object = Map<String, Value>;

/// RFC 7386: applies `patch` to `target` in place. A non-object patch replaces the target; an
/// object patch merges member by member, `null` deleting a member.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(members) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target) = target else {
        return;
    };
    for (key, value) in members {
        if value.is_null() {
            target.remove(key);
        } else {
            merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// Merges an object patch into a section and its metadata in step: every field the patch sets
/// gets `timestamp_s`, every field it deletes loses its metadata. `section` ends equal to
/// [`merge_patch`] of the same patch.
pub fn merge_section(section: &mut Object, meta: &mut Object, patch: &Object, timestamp_s: u64) {
    for (key, value) in patch {
        match value {
            Value::Null => {
                section.remove(key);
                meta.remove(key);
            }
            Value::Object(members) => {
                if !matches!(section.get(key), Some(Value::Object(_))) {
                    section.insert(key.clone(), Value::Object(Map::new()));
                    meta.insert(key.clone(), Value::Object(Map::new()));
                }
                if !matches!(meta.get(key), Some(Value::Object(_))) {
                    // Only a damaged state gets here; rebuild rather than panic.
                    meta.insert(key.clone(), Value::Object(Map::new()));
                }
                if let (Some(Value::Object(s)), Some(Value::Object(m))) = (section.get_mut(key), meta.get_mut(key)) {
                    merge_section(s, m, members, timestamp_s);
                }
            }
            leaf => {
                section.insert(key.clone(), leaf.clone());
                meta.insert(key.clone(), value_metadata(leaf, timestamp_s));
            }
        }
    }
}

/// The metadata of a value written at `timestamp_s`: the value's shape with every scalar
/// replaced by `{"timestamp": timestamp_s}`. Also the metadata of a patch as the accepted
/// reply shows it (a `null` that deletes a field is a scalar that was written).
pub fn value_metadata(value: &Value, timestamp_s: u64) -> Value {
    match value {
        Value::Object(members) => Value::Object(
            members
                .iter()
                .map(|(k, v)| (k.clone(), value_metadata(v, timestamp_s)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| value_metadata(v, timestamp_s)).collect()),
        _ => timestamp(timestamp_s),
    }
}

fn timestamp(timestamp_s: u64) -> Value {
    let mut m = Map::new();
    m.insert("timestamp".into(), Value::from(timestamp_s));
    Value::Object(m)
}

/// The fields of `desired` that `reported` does not have as they are: objects are compared
/// field by field, recursively; arrays and scalars as whole values (so `1` and `1.0` differ).
/// A desired object whose fields all agree with a reported object is not in the delta.
pub fn delta(desired: &Object, reported: Option<&Object>) -> Object {
    let mut out = Map::new();
    for (key, want) in desired {
        let have = reported.and_then(|r| r.get(key));
        match (want, have) {
            (Value::Object(want), Some(Value::Object(have))) => {
                let inner = delta(want, Some(have));
                if !inner.is_empty() {
                    out.insert(key.clone(), Value::Object(inner));
                }
            }
            (want, Some(have)) if want == have => {}
            (want, _) => {
                out.insert(key.clone(), want.clone());
            }
        }
    }
    out
}

/// The part of `meta` (a section's metadata) that covers the fields of `delta`.
pub fn metadata_of(meta: &Object, delta: &Object) -> Object {
    let mut out = Map::new();
    for (key, value) in delta {
        match (value, meta.get(key)) {
            (Value::Object(inner), Some(Value::Object(m))) => {
                out.insert(key.clone(), Value::Object(metadata_of(m, inner)));
            }
            (_, Some(m)) => {
                out.insert(key.clone(), m.clone());
            }
            (_, None) => {}
        }
    }
    out
}

/// Nesting depth: a scalar is 0, an object or array is one more than its deepest member (an
/// empty one is 1). A section `{"a": 1}` has depth 1, `{"a": {"b": [1]}}` depth 3.
pub fn depth(value: &Value) -> usize {
    match value {
        Value::Object(members) => 1 + members.values().map(depth).max().unwrap_or(0),
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// The depth of an object (see [`depth`]).
pub fn object_depth(object: &Object) -> usize {
    1 + object.values().map(depth).max().unwrap_or(0)
}

/// Bytes of the compact JSON text of `value`, without building the text.
pub fn encoded_len<T: serde::Serialize + ?Sized>(value: &T) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Serializing a JSON value into a sink that never fails cannot fail; count what was
    // written either way.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

/// Whether `meta` mirrors `section` as [`value_metadata`] describes, with no timestamp after
/// `latest_s`. For invariant checks.
pub fn check_metadata(section: &Value, meta: &Value, latest_s: u64) -> Result<(), String> {
    match (section, meta) {
        (Value::Object(s), Value::Object(m)) => {
            if s.len() != m.len() {
                return Err(format!("{} fields but {} metadata entries", s.len(), m.len()));
            }
            for (key, value) in s {
                let Some(m) = m.get(key) else {
                    return Err(format!("field {key} has no metadata"));
                };
                check_metadata(value, m, latest_s).map_err(|e| format!("{key}: {e}"))?;
            }
            Ok(())
        }
        (Value::Array(s), Value::Array(m)) => {
            if s.len() != m.len() {
                return Err(format!("array of {} with metadata of {}", s.len(), m.len()));
            }
            for (value, m) in s.iter().zip(m) {
                check_metadata(value, m, latest_s)?;
            }
            Ok(())
        }
        (Value::Object(_) | Value::Array(_), _) => Err("metadata does not mirror the value's shape".into()),
        (_, Value::Object(m)) => match (m.len(), m.get("timestamp").and_then(Value::as_u64)) {
            (1, Some(t)) if t <= latest_s => Ok(()),
            _ => Err(format!("scalar metadata {meta}")),
        },
        _ => Err(format!("scalar metadata {meta}")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn obj(v: Value) -> Object {
        match v {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    /// RFC 7386 Appendix A, every example.
    #[test]
    fn rfc7386_appendix_a() {
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (json!({"a":"b","b":"c"}), json!({"a":null}), json!({"b":"c"})),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
            (
                json!({"a":{"b":"c"}}),
                json!({"a":{"b":"d","c":null}}),
                json!({"a":{"b":"d"}}),
            ),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a":"b"}), json!(["c"]), json!(["c"])),
            (json!({"a":"foo"}), json!(null), json!(null)),
            (json!({"a":"foo"}), json!("bar"), json!("bar")),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (json!([1, 2]), json!({"a":"b","c":null}), json!({"a":"b"})),
            (json!({}), json!({"a":{"bb":{"ccc":null}}}), json!({"a":{"bb":{}}})),
        ];
        for (original, patch, result) in cases {
            let mut target = original.clone();
            merge_patch(&mut target, &patch);
            assert_eq!(target, result, "{original} + {patch}");
            // The section merge agrees wherever both apply (object targets and patches).
            if let (Value::Object(o), Value::Object(p)) = (&original, &patch) {
                let mut section = o.clone();
                let mut meta = obj(value_metadata(&original, 1));
                merge_section(&mut section, &mut meta, p, 2);
                assert_eq!(Value::Object(section.clone()), result);
                check_metadata(&Value::Object(section), &Value::Object(meta), 2).unwrap();
            }
        }
    }

    #[test]
    fn metadata_follows_the_merge() {
        let mut section = Map::new();
        let mut meta = Map::new();
        merge_section(
            &mut section,
            &mut meta,
            &obj(json!({"color": "red", "engine": {"rpm": 900, "on": true}, "seq": [1, {"x": 2}]})),
            100,
        );
        assert_eq!(
            Value::Object(meta.clone()),
            json!({
                "color": {"timestamp": 100},
                "engine": {"rpm": {"timestamp": 100}, "on": {"timestamp": 100}},
                "seq": [{"timestamp": 100}, {"x": {"timestamp": 100}}],
            })
        );
        merge_section(
            &mut section,
            &mut meta,
            &obj(json!({"engine": {"rpm": 1200, "on": null}, "color": {"r": 1}})),
            200,
        );
        assert_eq!(
            Value::Object(section.clone()),
            json!({"color": {"r": 1}, "engine": {"rpm": 1200}, "seq": [1, {"x": 2}]})
        );
        assert_eq!(
            Value::Object(meta.clone()),
            json!({
                "color": {"r": {"timestamp": 200}},
                "engine": {"rpm": {"timestamp": 200}},
                "seq": [{"timestamp": 100}, {"x": {"timestamp": 100}}],
            })
        );
        // A scalar over an object drops the object's metadata.
        merge_section(&mut section, &mut meta, &obj(json!({"color": "blue"})), 300);
        assert_eq!(meta["color"], json!({"timestamp": 300}));
        check_metadata(&Value::Object(section), &Value::Object(meta), 300).unwrap();
    }

    #[test]
    fn delta_is_recursive_on_objects_and_whole_on_arrays() {
        let desired = obj(json!({
            "color": "red",
            "same": 1,
            "lights": {"front": "on", "back": "off", "deep": {"x": 1, "y": 2}},
            "list": [1, 2],
            "new": {"a": 1},
            "num": 1,
            "empty": {},
        }));
        let reported = obj(json!({
            "color": "green",
            "same": 1,
            "lights": {"front": "on", "back": "on", "deep": {"x": 1, "y": 3}},
            "list": [1, 2, 3],
            "num": 1.0,
            "empty": {"z": 1},
            "extra": true,
        }));
        let d = delta(&desired, Some(&reported));
        assert_eq!(
            Value::Object(d.clone()),
            json!({
                "color": "red",
                "lights": {"back": "off", "deep": {"y": 2}},
                "list": [1, 2],
                "new": {"a": 1},
                "num": 1,
            })
        );
        assert_eq!(delta(&desired, None), desired);
        assert!(delta(&reported, Some(&reported)).is_empty());

        let meta = obj(value_metadata(&Value::Object(desired.clone()), 5));
        let m = metadata_of(&meta, &d);
        assert_eq!(
            m["lights"],
            json!({"back": {"timestamp": 5}, "deep": {"y": {"timestamp": 5}}})
        );
        assert_eq!(m["list"], json!([{"timestamp": 5}, {"timestamp": 5}]));
        assert_eq!(m["new"], json!({"a": {"timestamp": 5}}));
        assert_eq!(m.len(), d.len());
    }

    #[test]
    fn measures() {
        assert_eq!(depth(&json!(1)), 0);
        assert_eq!(depth(&json!({})), 1);
        assert_eq!(depth(&json!({"a": 1})), 1);
        assert_eq!(depth(&json!({"a": {"b": [1]}})), 3);
        assert_eq!(object_depth(&obj(json!({"a": {"b": {}}}))), 3);
        let v = json!({"a": [1, "x", {"b": null}], "c": 1.5});
        assert_eq!(encoded_len(&v), serde_json::to_vec(&v).unwrap().len());
    }
}
