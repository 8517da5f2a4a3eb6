//! Test-only access to the project's known-answer files.
//!
//! They are read at test time from `../shared/data/` beside the checkout (the source of
//! truth), else from the copy in `crypto/testdata/` (so a bare clone runs them too). A missing
//! file fails the test: vectors that silently do not run would prove nothing.

use std::path::PathBuf;

use serde_json::Value;

fn data_file(name: &str) -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        manifest.join("../../shared/data").join(name),
        manifest.join("testdata").join(name),
    ];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .unwrap_or_else(|| panic!("test data {name} is missing: looked at {candidates:?}"))
}

pub(crate) fn read_json(name: &str) -> Value {
    let path = data_file(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The entries of one section of `wallet-vectors.json`; fails if the section is missing or
/// empty.
pub(crate) fn wallet_section(section: &str) -> Vec<Value> {
    let all = read_json("wallet-vectors.json");
    let entries = all[section]
        .as_array()
        .unwrap_or_else(|| panic!("wallet-vectors.json has no {section}"))
        .clone();
    assert!(!entries.is_empty(), "wallet-vectors.json section {section} is empty");
    entries
}

/// A string field of a vector entry.
pub(crate) fn text<'a>(entry: &'a Value, field: &str) -> &'a str {
    entry[field]
        .as_str()
        .unwrap_or_else(|| panic!("vector field {field} missing in {entry}"))
}

/// A hex field of a vector entry, decoded (either case).
pub(crate) fn bytes(entry: &Value, field: &str) -> Vec<u8> {
    hex::decode(text(entry, field)).unwrap_or_else(|e| panic!("vector field {field} is not hex: {e}"))
}
