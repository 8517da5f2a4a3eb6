//! ECDSA signing over secp256k1 as Bitcoin and Ethereum require it: RFC 6979 deterministic
//! nonces (a signature never depends on a random number generator that could leak the key)
//! and low S (s <= n/2; both chains refuse the other half as malleable).

use k256::ecdsa::{RecoveryId, Signature, SigningKey};

/// Signs a 32-byte digest; returns the low-S signature and the recovery id that matches it.
pub(crate) fn sign_digest_low_s(key: &SigningKey, digest: &[u8; 32]) -> (Signature, RecoveryId) {
    let (signature, recovery_id) = key.sign_prehash_recoverable(digest);
    let normalized = signature.normalize_s();
    if normalized == signature {
        return (signature, recovery_id);
    }
    // s -> n - s mirrors the nonce point R to -R, whose y has the other parity.
    let flipped = RecoveryId::new(!recovery_id.is_y_odd(), recovery_id.is_x_reduced());
    (normalized, flipped)
}

/// Whether s is in the lower half of the group order.
pub(crate) fn is_low_s(signature: &Signature) -> bool {
    signature.normalize_s() == *signature
}

#[cfg(test)]
mod tests {
    use super::*;
    use k256::ecdsa::VerifyingKey;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn signatures_are_low_s_and_recover_the_signer(secret in any::<[u8; 32]>(), digest in any::<[u8; 32]>()) {
            let Ok(key) = SigningKey::from_slice(&secret) else { return Ok(()) };
            let (signature, recovery_id) = sign_digest_low_s(&key, &digest);
            prop_assert!(is_low_s(&signature));
            let recovered = VerifyingKey::recover_from_prehash(&digest, &signature, recovery_id).unwrap();
            prop_assert_eq!(&recovered, key.verifying_key());
        }
    }
}
