//! Unit tests of the shadow store: each rule, each reply and each error code.

use serde_json::{json, Value};

use super::*;
use crate::error::ShadowError;

const T0: u64 = 1_700_000_000_000;

fn store() -> ShadowStore {
    ShadowStore::new(ShadowLimits::default())
}

fn update(
    store: &mut ShadowStore,
    log: &mut Vec<ShadowEvent>,
    device: &str,
    request: Value,
    now_ms: u64,
) -> UpdateReplies {
    store
        .update(device, request.to_string().as_bytes(), now_ms, log)
        .unwrap_or_else(|e| panic!("update {request} refused: {e}"))
}

fn refused(store: &mut ShadowStore, device: &str, request: Value, now_ms: u64) -> ShadowError {
    let mut log = Vec::new();
    let err = store
        .update(device, request.to_string().as_bytes(), now_ms, &mut log)
        .unwrap_err();
    assert!(log.is_empty(), "a refusal logs nothing");
    err
}

#[test]
fn first_update_creates_version_1_and_every_update_adds_one() {
    let mut s = store();
    let mut log = Vec::new();
    let r = update(&mut s, &mut log, "d", json!({"state": {"reported": {"temp": 20}}}), T0);
    assert_eq!(r.version, 1);
    assert_eq!(s.get("d").unwrap().version(), 1);
    let r = update(
        &mut s,
        &mut log,
        "d",
        json!({"state": {"reported": {"temp": 20}}}),
        T0 + 1,
    );
    assert_eq!(r.version, 2, "a no-op update is still an update");
    assert_eq!(log.len(), 2);
}

#[test]
fn accepted_delta_and_documents_replies() {
    let mut s = store();
    let mut log = Vec::new();
    let r = update(
        &mut s,
        &mut log,
        "lamp",
        json!({"state": {"desired": {"color": "red", "power": {"on": true}}}, "clientToken": "c1"}),
        T0,
    );
    let ts = T0 / 1000;
    assert_eq!(
        r.accepted,
        json!({
            "state": {"desired": {"color": "red", "power": {"on": true}}},
            "metadata": {"desired": {"color": {"timestamp": ts}, "power": {"on": {"timestamp": ts}}}},
            "version": 1,
            "timestamp": ts,
            "clientToken": "c1",
        })
    );
    assert_eq!(
        r.delta,
        Some(json!({
            "state": {"color": "red", "power": {"on": true}},
            "metadata": {"color": {"timestamp": ts}, "power": {"on": {"timestamp": ts}}},
            "version": 1,
            "timestamp": ts,
            "clientToken": "c1",
        }))
    );
    assert_eq!(
        r.documents,
        json!({
            "previous": null,
            "current": {
                "state": {"desired": {"color": "red", "power": {"on": true}}},
                "metadata": {"desired": {"color": {"timestamp": ts}, "power": {"on": {"timestamp": ts}}}},
                "version": 1,
            },
            "timestamp": ts,
            "clientToken": "c1",
        })
    );

    // The device reports part of it: the delta shrinks to what is left.
    let ts2 = ts + 5;
    let r = update(
        &mut s,
        &mut log,
        "lamp",
        json!({"state": {"reported": {"color": "red", "power": {"on": false}}}}),
        ts2 * 1000,
    );
    assert_eq!(
        r.delta,
        Some(json!({
            "state": {"power": {"on": true}},
            "metadata": {"power": {"on": {"timestamp": ts}}},
            "version": 2,
            "timestamp": ts2,
        }))
    );
    assert_eq!(r.documents["previous"]["version"], json!(1));
    assert_eq!(
        r.documents["current"]["state"]["reported"],
        json!({"color": "red", "power": {"on": false}})
    );
    assert!(r.accepted.get("clientToken").is_none());

    // In sync: no delta.
    let r = update(
        &mut s,
        &mut log,
        "lamp",
        json!({"state": {"reported": {"power": {"on": true}}}}),
        ts2 * 1000,
    );
    assert_eq!(r.delta, None);
    assert!(s.get("lamp").unwrap().delta().is_empty());
}

#[test]
fn delta_is_published_only_when_a_section_changed() {
    let mut s = store();
    let mut log = Vec::new();
    let r = update(&mut s, &mut log, "d", json!({"state": {"desired": {"a": 1}}}), T0);
    assert!(r.delta.is_some());
    // Rewriting the same desired value changes nothing: no delta, though one is pending.
    let r = update(&mut s, &mut log, "d", json!({"state": {"desired": {"a": 1}}}), T0);
    assert_eq!(r.delta, None);
    // A reported change that leaves the delta pending publishes it again.
    let r = update(&mut s, &mut log, "d", json!({"state": {"reported": {"b": 2}}}), T0);
    assert_eq!(r.delta.unwrap()["state"], json!({"a": 1}));
    // An update creating an empty shadow has no delta.
    let r = update(&mut s, &mut log, "e", json!({"state": {"desired": {}}}), T0);
    assert_eq!(r.delta, None);
    assert_eq!(r.documents["current"]["state"], json!({}));
}

#[test]
fn get_accepted_is_the_full_document_with_delta() {
    let mut s = store();
    let mut log = Vec::new();
    update(
        &mut s,
        &mut log,
        "car",
        json!({"state": {
            "desired": {"lights": {"front": "on", "back": "on"}, "gear": 2, "route": [1, 2]},
            "reported": {"lights": {"front": "on", "back": "off"}, "gear": 2, "route": [1]},
        }}),
        T0,
    );
    let ts = T0 / 1000;
    let doc = s.get("car").unwrap().get_accepted(T0 + 9_000, Some("g"));
    assert_eq!(
        doc["state"]["delta"],
        json!({"lights": {"back": "on"}, "route": [1, 2]})
    );
    assert_eq!(doc["state"]["desired"]["gear"], json!(2));
    assert_eq!(doc["metadata"]["reported"]["route"], json!([{"timestamp": ts}]));
    assert_eq!(doc["version"], json!(1));
    assert_eq!(doc["timestamp"], json!(ts + 9));
    assert_eq!(doc["clientToken"], json!("g"));
    assert_eq!(s.get("nope").unwrap_err(), ShadowError::NotFound);
}

#[test]
fn metadata_timestamps_follow_the_fields() {
    let mut s = store();
    let mut log = Vec::new();
    update(
        &mut s,
        &mut log,
        "d",
        json!({"state": {"desired": {"a": 1, "b": {"x": 1}}}}),
        1_000_000,
    );
    update(
        &mut s,
        &mut log,
        "d",
        json!({"state": {"desired": {"b": {"y": 2}, "c": 3}}}),
        2_000_000,
    );
    update(
        &mut s,
        &mut log,
        "d",
        json!({"state": {"desired": {"a": null}}}),
        3_000_000,
    );
    let shadow = s.get("d").unwrap();
    assert_eq!(
        Value::Object(shadow.desired().unwrap().clone()),
        json!({"b": {"x": 1, "y": 2}, "c": 3})
    );
    assert_eq!(
        Value::Object(shadow.desired_metadata().clone()),
        json!({"b": {"x": {"timestamp": 1000}, "y": {"timestamp": 2000}}, "c": {"timestamp": 2000}})
    );
    assert_eq!(shadow.updated_ms(), 3_000_000);
    s.check_invariants().unwrap();
}

#[test]
fn null_clears_a_section_and_an_emptied_section_goes() {
    let mut s = store();
    let mut log = Vec::new();
    update(
        &mut s,
        &mut log,
        "d",
        json!({"state": {"desired": {"a": 1}, "reported": {"a": 0}}}),
        T0,
    );
    let r = update(&mut s, &mut log, "d", json!({"state": {"desired": null}}), T0);
    assert_eq!(r.accepted["state"], json!({"desired": null}));
    assert_eq!(r.accepted["metadata"], json!({"desired": {"timestamp": T0 / 1000}}));
    let shadow = s.get("d").unwrap();
    assert!(shadow.desired().is_none());
    assert!(shadow.desired_metadata().is_empty());
    update(&mut s, &mut log, "d", json!({"state": {"reported": {"a": null}}}), T0);
    let shadow = s.get("d").unwrap();
    assert!(shadow.reported().is_none());
    assert_eq!(shadow.version(), 3);
    assert_eq!(shadow.get_accepted(T0, None)["state"], json!({}));
    s.check_invariants().unwrap();
}

#[test]
fn version_conflict() {
    let mut s = store();
    let mut log = Vec::new();
    assert_eq!(
        refused(&mut s, "d", json!({"state": {"reported": {"a": 1}}, "version": 1}), T0),
        ShadowError::VersionConflict
    );
    update(
        &mut s,
        &mut log,
        "d",
        json!({"state": {"reported": {"a": 1}}, "version": 0}),
        T0,
    );
    assert_eq!(
        refused(&mut s, "d", json!({"state": {"reported": {"a": 2}}, "version": 0}), T0),
        ShadowError::VersionConflict
    );
    assert_eq!(
        refused(&mut s, "d", json!({"state": {"reported": {"a": 2}}, "version": 2}), T0),
        ShadowError::VersionConflict
    );
    let r = update(
        &mut s,
        &mut log,
        "d",
        json!({"state": {"reported": {"a": 2}}, "version": 1}),
        T0,
    );
    assert_eq!(r.version, 2);
    assert_eq!(ShadowError::VersionConflict.code(), 409);
}

#[test]
fn size_limits_give_413() {
    let limits = ShadowLimits {
        request_bytes_max: 200,
        document_bytes_max: 60,
        ..ShadowLimits::default()
    };
    let mut s = ShadowStore::new(limits);
    let mut log = Vec::new();
    let big = "x".repeat(300);
    assert_eq!(
        refused(&mut s, "d", json!({"state": {"reported": {"a": big}}}), T0),
        ShadowError::TooLarge
    );
    // Each update fits, but together they would leave a section over 60 bytes.
    let part = "y".repeat(30);
    update(&mut s, &mut log, "d", json!({"state": {"reported": {"a": part}}}), T0);
    assert_eq!(
        refused(&mut s, "d", json!({"state": {"reported": {"b": part}}}), T0),
        ShadowError::TooLarge
    );
    // Replacing instead of adding fits, and so does the other section.
    update(
        &mut s,
        &mut log,
        "d",
        json!({"state": {"reported": {"a": part}, "desired": {"b": part}}}),
        T0,
    );
    assert_eq!(s.get("d").unwrap().version(), 2);
    assert_eq!(ShadowError::TooLarge.code(), 413);
}

#[test]
fn depth_limit_gives_400() {
    let mut s = ShadowStore::new(ShadowLimits {
        depth_max: 2,
        ..ShadowLimits::default()
    });
    let mut log = Vec::new();
    update(
        &mut s,
        &mut log,
        "d",
        json!({"state": {"desired": {"a": {"b": 1}}}}),
        T0,
    );
    let err = refused(&mut s, "d", json!({"state": {"desired": {"a": {"b": {"c": 1}}}}}), T0);
    assert_eq!(err, ShadowError::TooDeep);
    assert_eq!(err.code(), 400);
}

#[test]
fn missing_shadows_give_404() {
    let mut s = store();
    let mut log = Vec::new();
    assert_eq!(s.get("d").unwrap_err(), ShadowError::NotFound);
    assert_eq!(s.delete("d", T0, &mut log).unwrap_err(), ShadowError::NotFound);
    assert!(log.is_empty());
    assert_eq!(ShadowError::NotFound.code(), 404);
}

#[test]
fn a_full_shard_refuses_new_shadows_with_429() {
    let mut s = ShadowStore::new(ShadowLimits {
        shadows_max: 2,
        ..ShadowLimits::default()
    });
    let mut log = Vec::new();
    let req = json!({"state": {"reported": {"a": 1}}});
    update(&mut s, &mut log, "a", req.clone(), T0);
    update(&mut s, &mut log, "b", req.clone(), T0);
    let err = refused(&mut s, "c", req.clone(), T0);
    assert_eq!(err, ShadowError::TooManyShadows);
    assert_eq!(err.code(), 429);
    update(&mut s, &mut log, "a", req.clone(), T0);
    s.delete("b", T0, &mut log).unwrap();
    update(&mut s, &mut log, "c", req, T0);
    assert_eq!(s.len(), 2);
}

#[test]
fn versions_continue_across_a_delete_within_the_retention() {
    let mut s = store();
    let mut log = Vec::new();
    let req = json!({"state": {"reported": {"a": 1}}});
    for _ in 0..3 {
        update(&mut s, &mut log, "d", req.clone(), T0);
    }
    let deleted = s.delete("d", T0 + 1_000, &mut log).unwrap();
    assert_eq!(deleted.version, 3);
    assert_eq!(
        deleted.accepted(Some("t")),
        json!({"version": 3, "timestamp": T0 / 1000 + 1, "clientToken": "t"})
    );
    assert_eq!(s.get("d").unwrap_err(), ShadowError::NotFound);
    assert_eq!(s.tombstones_len(), 1);
    // The version check compares with the deleted version.
    assert_eq!(
        refused(
            &mut s,
            "d",
            json!({"state": {"reported": {}}, "version": 0}),
            T0 + 2_000
        ),
        ShadowError::VersionConflict
    );
    let r = update(
        &mut s,
        &mut log,
        "d",
        json!({"state": {"reported": {"b": 1}}, "version": 3}),
        T0 + 2_000,
    );
    assert_eq!(r.version, 4);
    assert_eq!(r.documents["previous"], Value::Null);
    assert_eq!(s.tombstones_len(), 0);

    // Past the retention the device starts again at 1.
    s.delete("d", T0 + 3_000, &mut log).unwrap();
    let later = T0 + 3_000 + ShadowLimits::default().tombstone_ms;
    let r = update(&mut s, &mut log, "d", req.clone(), later);
    assert_eq!(r.version, 1);
    s.check_invariants().unwrap();
}

#[test]
fn tombstones_are_bounded_and_expire() {
    let mut s = ShadowStore::new(ShadowLimits {
        tombstones_max: 2,
        tombstone_ms: 10_000,
        ..ShadowLimits::default()
    });
    let mut log = Vec::new();
    let req = json!({"state": {"reported": {"a": 1}}});
    for (i, d) in ["a", "b", "c"].iter().enumerate() {
        update(&mut s, &mut log, d, req.clone(), T0);
        update(&mut s, &mut log, d, req.clone(), T0);
        s.delete(d, T0 + i as u64, &mut log).unwrap();
    }
    assert_eq!(s.tombstones_len(), 2);
    assert!(log.contains(&ShadowEvent::Forgotten { device: "a".into() }));
    // "a" was forgotten: version 1 again; "b" still continues.
    assert_eq!(update(&mut s, &mut log, "a", req.clone(), T0 + 10).version, 1);
    assert_eq!(update(&mut s, &mut log, "b", req.clone(), T0 + 10).version, 3);
    assert_eq!(s.expire_tombstones(T0 + 5_000, 10, &mut log), 0);
    assert_eq!(s.expire_tombstones(T0 + 20_000, 10, &mut log), 1);
    assert_eq!(s.tombstones_len(), 0);
    s.check_invariants().unwrap();
}

#[test]
fn bad_requests_give_400() {
    let mut s = store();
    let cases: [(&[u8], ShadowError); 6] = [
        (b"not json", ShadowError::InvalidJson),
        (b"[]", ShadowError::NotAnObject),
        (b"{}", ShadowError::MissingState),
        (br#"{"state": {}}"#, ShadowError::EmptyState),
        (br#"{"state": {"desired": 5}}"#, ShadowError::InvalidDesired),
        (br#"{"state": {"reported": {}}, "clientToken": "0123456789012345678901234567890123456789012345678901234567890123456789"}"#, ShadowError::ClientTokenTooLong),
    ];
    for (request, want) in cases {
        let mut log = Vec::new();
        assert_eq!(s.update("d", request, T0, &mut log), Err(want));
        assert_eq!(want.code(), 400);
        assert!(log.is_empty());
    }
    assert!(s.is_empty());
}

#[test]
fn every_error_has_its_code_and_message() {
    use ShadowError::*;
    let all = [
        (InvalidJson, 400),
        (NotAnObject, 400),
        (MissingState, 400),
        (InvalidState, 400),
        (UnknownStateNode, 400),
        (EmptyState, 400),
        (InvalidDesired, 400),
        (InvalidReported, 400),
        (InvalidVersion, 400),
        (InvalidClientToken, 400),
        (ClientTokenTooLong, 400),
        (TooDeep, 400),
        (NotFound, 404),
        (VersionConflict, 409),
        (TooLarge, 413),
        (TooManyShadows, 429),
        (Inconsistent("x"), 500),
    ];
    for (error, code) in all {
        assert_eq!(error.code(), code, "{error:?}");
        assert!(!error.message().is_empty());
        if !matches!(error, Inconsistent(_)) {
            assert_eq!(error.to_string(), error.message());
        }
    }
}

#[test]
fn rejected_reply() {
    let request = br#"{"state": {"desired": 1}, "clientToken": "abc"}"#;
    let mut s = store();
    let err = s.update("d", request, T0, &mut Vec::new()).unwrap_err();
    let token = client_token(request);
    assert_eq!(
        rejected(&err, T0, token.as_deref()),
        json!({"code": 400, "message": "Desired node must be an object", "timestamp": T0 / 1000, "clientToken": "abc"})
    );
    assert_eq!(
        rejected(&ShadowError::NotFound, T0, None),
        json!({"code": 404, "message": "No shadow exists with this name", "timestamp": T0 / 1000})
    );
}

#[test]
fn replay_and_snapshot_rebuild_the_same_store() {
    let mut s = store();
    let mut log = Vec::new();
    update(
        &mut s,
        &mut log,
        "a",
        json!({"state": {"desired": {"x": 1.5, "y": [1, {"z": null}]}}}),
        T0,
    );
    update(
        &mut s,
        &mut log,
        "b",
        json!({"state": {"reported": {"x": "s"}}}),
        T0 + 1,
    );
    let snapshot = s.snapshot();
    let covered = log.len();
    s.delete("b", T0 + 2, &mut log).unwrap();
    update(
        &mut s,
        &mut log,
        "a",
        json!({"state": {"reported": {"x": 1.5}}}),
        T0 + 3,
    );

    let mut replayed = store();
    for e in &log {
        replayed.apply(e.clone()).unwrap();
    }
    assert!(replayed.same_state(&s));
    let mut restored = ShadowStore::restore(&snapshot, ShadowLimits::default()).unwrap();
    for e in &log[covered..] {
        restored.apply(e.clone()).unwrap();
    }
    assert!(restored.same_state(&s));
    restored.check_invariants().unwrap();
    assert!(ShadowStore::restore(b"\xff\xff", ShadowLimits::default()).is_err());
}

#[test]
fn events_that_do_not_fit_change_nothing() {
    let mut s = store();
    let mut log = Vec::new();
    update(&mut s, &mut log, "a", json!({"state": {"desired": {"x": 1}}}), T0);
    let before = ShadowStore::restore(&s.snapshot(), ShadowLimits::default()).unwrap();
    let bad = [
        ShadowEvent::Updated {
            device: "a".into(),
            desired_patch: Some("{}".into()),
            reported_patch: None,
            version: 5,
            at_ms: T0,
        },
        ShadowEvent::Updated {
            device: "a".into(),
            desired_patch: Some("[1]".into()),
            reported_patch: None,
            version: 2,
            at_ms: T0,
        },
        ShadowEvent::Updated {
            device: "new".into(),
            desired_patch: None,
            reported_patch: None,
            version: 7,
            at_ms: T0,
        },
        ShadowEvent::Deleted {
            device: "a".into(),
            version: 9,
            at_ms: T0,
        },
        ShadowEvent::Deleted {
            device: "zz".into(),
            version: 1,
            at_ms: T0,
        },
        ShadowEvent::Forgotten { device: "a".into() },
    ];
    for event in bad {
        let err = s.apply(event.clone()).unwrap_err();
        assert!(matches!(err, ShadowError::Inconsistent(_)), "{event:?}");
        assert_eq!(err.code(), 500);
        assert!(s.same_state(&before), "{event:?} changed the state");
    }
}
