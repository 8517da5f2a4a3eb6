//! [`MqttStr`]: a UTF-8 Encoded String (MQTT 5.0 section 1.5.4) that shares the read buffer.
//!
//! Topics, client identifiers and property strings are slices of the packet's bytes; the
//! check that makes them strings is done once, when they are read, so the broker can route
//! on `&str` without copying or re-validating.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use bytes::Bytes;

/// Longest string the two-byte length prefix can describe.
pub const STRING_BYTES_MAX: usize = u16::MAX as usize;

/// Why bytes are not an MQTT string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StrError {
    #[error("not valid UTF-8")]
    InvalidUtf8,
    /// U+0000 is forbidden in every MQTT string ([MQTT-1.5.4-2]).
    #[error("contains U+0000")]
    NullCharacter,
    #[error("{0} bytes, more than the 65535 a length prefix can hold")]
    TooLong(usize),
}

/// Bytes that are valid UTF-8, contain no U+0000 and fit a two-byte length prefix.
///
/// Cloning is a reference-count increment. Equality, ordering and hashing are those of the
/// `str`, so an `MqttStr` can key a map looked up by `&str`.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct MqttStr(Bytes);

impl MqttStr {
    /// The empty string.
    pub const EMPTY: Self = Self(Bytes::new());

    /// Checks `bytes` and wraps them without copying.
    pub fn from_bytes(bytes: Bytes) -> Result<Self, StrError> {
        check(&bytes)?;
        Ok(Self(bytes))
    }

    /// Wraps a literal. Meant for constants written in the source, whose validity is not
    /// input-dependent.
    ///
    /// # Panics
    /// If `s` contains U+0000 or is longer than 65535 bytes.
    pub fn from_static(s: &'static str) -> Self {
        match check(s.as_bytes()) {
            Ok(()) => Self(Bytes::from_static(s.as_bytes())),
            Err(e) => panic!("MqttStr::from_static({s:?}): {e}"),
        }
    }

    /// The same string in an allocation of its own, for keeping it longer than the buffer
    /// it was read from.
    pub fn to_owned_copy(&self) -> Self {
        Self(Bytes::copy_from_slice(&self.0))
    }

    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor runs `check`, which runs `std::str::from_utf8` over
        // exactly these bytes, and `Bytes` never changes the bytes it points at.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }

    /// The string's bytes, sharing the buffer they came from.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

/// The whole MQTT string rule; `from_utf8` is the fast path of the standard library.
fn check(bytes: &[u8]) -> Result<(), StrError> {
    if bytes.len() > STRING_BYTES_MAX {
        return Err(StrError::TooLong(bytes.len()));
    }
    if std::str::from_utf8(bytes).is_err() {
        return Err(StrError::InvalidUtf8);
    }
    // In valid UTF-8 the byte 0x00 only ever encodes U+0000.
    if bytes.contains(&0) {
        return Err(StrError::NullCharacter);
    }
    Ok(())
}

impl Deref for MqttStr {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for MqttStr {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for MqttStr {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl Hash for MqttStr {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As `str` hashes, which `Borrow<str>` requires.
        self.as_str().hash(state);
    }
}

impl TryFrom<&str> for MqttStr {
    type Error = StrError;

    fn try_from(s: &str) -> Result<Self, StrError> {
        Self::from_bytes(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl TryFrom<String> for MqttStr {
    type Error = StrError;

    fn try_from(s: String) -> Result<Self, StrError> {
        Self::from_bytes(Bytes::from(s))
    }
}

impl TryFrom<Bytes> for MqttStr {
    type Error = StrError;

    fn try_from(bytes: Bytes) -> Result<Self, StrError> {
        Self::from_bytes(bytes)
    }
}

impl PartialEq<str> for MqttStr {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for MqttStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for MqttStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for MqttStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_utf8_and_shares_the_buffer() {
        let buf = Bytes::from_static("a/ü/水".as_bytes());
        let s = MqttStr::from_bytes(buf.clone()).expect("valid");
        assert_eq!(s, "a/ü/水");
        assert_eq!(s.as_bytes().as_ptr(), buf.as_ptr());
        assert_eq!(MqttStr::EMPTY.len(), 0);
    }

    #[test]
    fn refuses_what_the_spec_forbids() {
        assert_eq!(
            MqttStr::from_bytes(Bytes::from_static(b"a\xffb")),
            Err(StrError::InvalidUtf8)
        );
        // A surrogate half written as UTF-8 (CESU-style) is not UTF-8 ([MQTT-1.5.4-1]).
        assert_eq!(
            MqttStr::from_bytes(Bytes::from_static(b"\xed\xa0\x80")),
            Err(StrError::InvalidUtf8)
        );
        // The overlong form of U+0000 is not UTF-8 either.
        assert_eq!(
            MqttStr::from_bytes(Bytes::from_static(b"\xc0\x80")),
            Err(StrError::InvalidUtf8)
        );
        assert_eq!(MqttStr::try_from("a\0b"), Err(StrError::NullCharacter));
        assert_eq!(MqttStr::try_from("x".repeat(65_536)), Err(StrError::TooLong(65_536)));
        assert!(MqttStr::try_from("x".repeat(65_535)).is_ok());
    }

    #[test]
    fn hashes_like_str() {
        let mut map = std::collections::HashMap::new();
        map.insert(MqttStr::from_static("k"), 1);
        assert_eq!(map.get("k"), Some(&1));
    }
}
