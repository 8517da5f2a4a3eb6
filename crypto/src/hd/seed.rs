//! The BIP-32 seed: 16 to 64 secret bytes, zeroized on drop and never printed.

use std::fmt;

use zeroize::Zeroizing;

use super::error::HdError;

/// A wallet seed. BIP-39 seeds are 64 bytes; BIP-32 allows 16 to 64 (its test vectors use 16,
/// 32 and 64). The bytes stay inside this crate: there is no accessor outside it.
pub struct Seed {
    bytes: Zeroizing<[u8; Seed::LEN_MAX]>,
    len: usize,
}

impl Seed {
    pub const LEN_MIN: usize = 16;
    pub const LEN_MAX: usize = 64;

    /// Copies `bytes` in; the caller should zeroize its own copy.
    pub fn from_bytes(bytes: &[u8]) -> Result<Seed, HdError> {
        if !(Self::LEN_MIN..=Self::LEN_MAX).contains(&bytes.len()) {
            return Err(HdError::SeedLength { bytes: bytes.len() });
        }
        let mut stored = Zeroizing::new([0u8; Self::LEN_MAX]);
        stored[..bytes.len()].copy_from_slice(bytes);
        Ok(Seed {
            bytes: stored,
            len: bytes.len(),
        })
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Redacted: a seed must never reach a log.
impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Seed({} bytes, redacted)", self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_outside_16_to_64_are_refused() {
        assert_eq!(
            Seed::from_bytes(&[7; 15]).unwrap_err(),
            HdError::SeedLength { bytes: 15 }
        );
        assert_eq!(
            Seed::from_bytes(&[7; 65]).unwrap_err(),
            HdError::SeedLength { bytes: 65 }
        );
        assert_eq!(Seed::from_bytes(&[7; 16]).unwrap().as_bytes(), &[7; 16]);
        assert_eq!(Seed::from_bytes(&[7; 64]).unwrap().as_bytes(), &[7; 64]);
    }

    #[test]
    fn debug_does_not_print_the_bytes() {
        let seed = Seed::from_bytes(&[0xab; 32]).unwrap();
        let shown = format!("{seed:?}");
        assert!(!shown.contains("ab") && !shown.contains("171"), "{shown}");
    }
}
