//! The records of a shard's shadow log. Commands decide, events change: replaying the events
//! in order rebuilds every shadow exactly, versions included, because
//! [`super::ShadowStore::apply`] is the only code that mutates the store.
//!
//! JSON travels as text: postcard cannot carry a `serde_json::Value` (it is self-describing),
//! and the text is also what the live path applies, so live and replayed state cannot differ.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShadowEvent {
    /// An accepted update. Each patch is `None` (section untouched), `"null"` (section cleared)
    /// or an object's JSON text (merged as RFC 7386 says). `version` is the shadow's version
    /// after the update; `at_ms` stamps the metadata of the fields it writes.
    Updated {
        device: String,
        desired_patch: Option<String>,
        reported_patch: Option<String>,
        version: u64,
        at_ms: u64,
    },
    /// The shadow was deleted at `version`; a tombstone keeps that version so an update within
    /// the retention continues from it.
    Deleted { device: String, version: u64, at_ms: u64 },
    /// A tombstone was dropped (past its retention, or to make room): the device's next shadow
    /// starts again at version 1.
    Forgotten { device: String },
}

impl ShadowEvent {
    /// Appends the compact binary form (postcard) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        crate::journal::encode_record(self, out);
    }

    pub fn decode(bytes: &[u8]) -> Result<ShadowEvent, postcard::Error> {
        postcard::from_bytes(bytes)
    }

    pub fn device(&self) -> &str {
        match self {
            ShadowEvent::Updated { device, .. }
            | ShadowEvent::Deleted { device, .. }
            | ShadowEvent::Forgotten { device } => device,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip() {
        let events = [
            ShadowEvent::Updated {
                device: "thermo-1".into(),
                desired_patch: Some(r#"{"temp":21.5,"mode":null}"#.into()),
                reported_patch: None,
                version: 7,
                at_ms: 1_700_000_000_123,
            },
            ShadowEvent::Updated {
                device: "thermo-1".into(),
                desired_patch: Some("null".into()),
                reported_patch: Some("{}".into()),
                version: 8,
                at_ms: 1,
            },
            ShadowEvent::Deleted {
                device: "thermo-1".into(),
                version: 8,
                at_ms: 2,
            },
            ShadowEvent::Forgotten {
                device: "thermo-1".into(),
            },
        ];
        for event in events {
            let mut out = vec![0xAA];
            event.encode(&mut out);
            assert_eq!(out[0], 0xAA, "encode appends");
            assert_eq!(ShadowEvent::decode(&out[1..]).unwrap(), event);
            assert_eq!(event.device(), "thermo-1");
        }
    }
}
