//! The keystore passphrase: secret bytes (usually UTF-8 text), zeroized on drop, never printed.

use std::fmt;

use zeroize::Zeroizing;

/// A passphrase. Built from a `String` or `Vec<u8>` it takes the caller's buffer over, so no
/// other copy is left behind to zeroize.
pub struct Passphrase(Zeroizing<Vec<u8>>);

impl Passphrase {
    pub fn from_bytes(bytes: Vec<u8>) -> Passphrase {
        Passphrase(Zeroizing::new(bytes))
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<String> for Passphrase {
    fn from(text: String) -> Passphrase {
        Passphrase::from_bytes(text.into_bytes())
    }
}

impl From<&str> for Passphrase {
    fn from(text: &str) -> Passphrase {
        Passphrase::from_bytes(text.as_bytes().to_vec())
    }
}

/// Redacted: a passphrase must never reach a log.
impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_becomes_its_utf8_bytes_and_is_not_printed() {
        let passphrase = Passphrase::from(String::from("correct horse"));
        assert_eq!(passphrase.as_bytes(), b"correct horse");
        assert_eq!(format!("{passphrase:?}"), "Passphrase(<redacted>)");
        assert_eq!(Passphrase::from("é").as_bytes(), "é".as_bytes());
    }
}
