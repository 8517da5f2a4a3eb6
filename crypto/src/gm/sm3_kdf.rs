//! The key derivation function of GM/T 0003 (part 3 §5.4.3, part 4 §5.4.3): SM3 in counter
//! mode, `K = SM3(Z || ct=1) || SM3(Z || ct=2) || ...` cut to `klen` bytes, with `ct` a 32-bit
//! big-endian counter.
//!
//! RustCrypto's `sm2` crate keeps its copy private (inside its public-key encryption), so the
//! key exchange has its own: eight lines over the `sm3` crate.

use sm3::{Digest, Sm3};
use zeroize::Zeroizing;

/// Fills `out` with `KDF(z, out.len())`. `z` is the concatenation of the KDF's inputs.
pub(crate) fn sm3_kdf(z: &[&[u8]], out: &mut [u8]) {
    for (index, chunk) in out.chunks_mut(32).enumerate() {
        // Counters start at 1. An output of 2^32 blocks is far beyond any caller here (they
        // ask for 16 or 32 bytes), so the counter cannot wrap.
        let counter = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let mut hasher = Sm3::new();
        for part in z {
            hasher.update(part);
        }
        hasher.update(counter.to_be_bytes());
        let block = Zeroizing::new(<[u8; 32]>::from(hasher.finalize()));
        chunk.copy_from_slice(&block[..chunk.len()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_vectors::{bytes, wallet_section};

    /// GB/T 32905 Appendix A, examples 1 and 2: the `sm3` crate under the KDF is SM3.
    #[test]
    fn sm3_vectors() {
        let entries = wallet_section("sm3");
        for entry in &entries {
            assert_eq!(
                Sm3::digest(bytes(entry, "msg_hex")).to_vec(),
                bytes(entry, "digest"),
                "{entry}"
            );
        }
        assert_eq!(entries.len(), 2);
    }

    #[test]
    fn blocks_are_sm3_of_z_and_a_counter_from_one() {
        let mut out = [0u8; 40];
        sm3_kdf(&[b"ab", b"c"], &mut out);
        let first: [u8; 32] = Sm3::digest(b"abc\x00\x00\x00\x01").into();
        let second: [u8; 32] = Sm3::digest(b"abc\x00\x00\x00\x02").into();
        assert_eq!(out[..32], first);
        assert_eq!(out[32..], second[..8]);
    }

    #[test]
    fn a_shorter_output_is_a_prefix_of_a_longer_one() {
        let mut short = [0u8; 16];
        let mut long = [0u8; 32];
        sm3_kdf(&[b"z"], &mut short);
        sm3_kdf(&[b"z"], &mut long);
        assert_eq!(short, long[..16]);
    }
}
