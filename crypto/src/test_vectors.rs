//! Test-only access to the project's known-answer files, for both `hd` and `gm`.
//!
//! They are read at test time from `../shared/data/` beside the checkout (the source of
//! truth), else from the copy in `crypto/testdata/` (so a bare clone runs them too). A missing
//! file fails the test: vectors that silently do not run would prove nothing.

use std::path::PathBuf;

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

pub(crate) fn read_json(name: &str) -> serde_json::Value {
    let path = data_file(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&quote_long_integers(&text)).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Puts quotes around integer literals of more than 15 digits, which `serde_json` would
/// otherwise round through `f64` (the vectors hold wei amounts up to 2^255 - 1 and nonces near
/// 2^64). Tests read such fields with [`integer_text`].
fn quote_long_integers(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + 64);
    let (mut in_string, mut escaped) = (false, false);
    let mut chars = json.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        if c == '"' {
            in_string = true;
            out.push(c);
            continue;
        }
        if !c.is_ascii_digit() {
            out.push(c);
            continue;
        }
        let mut end = start + 1;
        while let Some(&(i, d)) = chars.peek() {
            if !d.is_ascii_digit() {
                break;
            }
            end = i + 1;
            chars.next();
        }
        let followed_by_fraction = matches!(chars.peek(), Some((_, '.' | 'e' | 'E')));
        let digits = &json[start..end];
        if digits.len() > 15 && !followed_by_fraction {
            out.push('"');
            out.push_str(digits);
            out.push('"');
        } else {
            out.push_str(digits);
        }
    }
    out
}

/// The decimal text of an integer field, whether it was a short number or a quoted long one.
pub(crate) fn integer_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Number(n) if n.is_u64() => n.to_string(),
        other => panic!("{other} is not an integer"),
    }
}

pub(crate) fn wallet_vectors() -> serde_json::Value {
    read_json("wallet-vectors.json")
}

#[test]
fn long_integers_keep_every_digit() {
    let parsed: serde_json::Value = serde_json::from_str(&quote_long_integers(
        r#"{"a": 18446744073709551614, "b": 7, "c": "12345678901234567", "d": [1.5, -3]}"#,
    ))
    .unwrap();
    assert_eq!(integer_text(&parsed["a"]), "18446744073709551614");
    assert_eq!(integer_text(&parsed["b"]), "7");
    assert_eq!(parsed["c"], "12345678901234567");
    assert_eq!(parsed["d"][0], 1.5);
}

pub(crate) fn hex_of(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// The entries of one section of `wallet-vectors.json`; fails if the section is missing or
/// empty.
pub(crate) fn wallet_section(section: &str) -> Vec<serde_json::Value> {
    let all = wallet_vectors();
    let entries = all[section]
        .as_array()
        .unwrap_or_else(|| panic!("wallet-vectors.json has no {section}"))
        .clone();
    assert!(!entries.is_empty(), "wallet-vectors.json section {section} is empty");
    entries
}

/// A string field of a vector entry.
pub(crate) fn text<'a>(entry: &'a serde_json::Value, field: &str) -> &'a str {
    entry[field]
        .as_str()
        .unwrap_or_else(|| panic!("vector field {field} missing in {entry}"))
}

/// A hex field of a vector entry, decoded (either case).
pub(crate) fn bytes(entry: &serde_json::Value, field: &str) -> Vec<u8> {
    hex::decode(text(entry, field)).unwrap_or_else(|e| panic!("vector field {field} is not hex: {e}"))
}
