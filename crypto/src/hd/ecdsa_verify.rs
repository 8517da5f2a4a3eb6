//! ECDSA verification under Bitcoin's consensus and policy rules: strict DER (BIP-66), r and s
//! in 1..n-1, and low S (BIP-62/BIP-146), so that a signature has exactly one valid encoding.
//!
//! Signatures this crate produces are checked with it before they leave, and the Wycheproof
//! secp256k1 "Bitcoin" vectors pin its behaviour on hostile encodings.

use k256::ecdsa::signature::hazmat::PrehashVerifier;
use k256::ecdsa::{Signature, VerifyingKey};

use super::error::HdError;
use super::signing::is_low_s;

/// Longest strict DER signature: 0x30 len 0x02 33 bytes 0x02 33 bytes.
const DER_MAX_LEN: usize = 72;
/// Shortest: 0x30 len 0x02 1 byte 0x02 1 byte.
const DER_MIN_LEN: usize = 8;

/// Parses a DER signature (no sighash byte) the way BIP-66's `IsValidSignatureEncoding` does,
/// then rejects r or s outside 1..n-1.
pub fn parse_der_strict(der: &[u8]) -> Result<Signature, HdError> {
    let bad = |why| HdError::Signature(why);
    if der.len() < DER_MIN_LEN || der.len() > DER_MAX_LEN {
        return Err(bad("DER signature length out of range"));
    }
    if der[0] != 0x30 || usize::from(der[1]) != der.len() - 2 {
        return Err(bad("not a DER sequence of the right length"));
    }
    let r_len = usize::from(der[3]);
    if der[2] != 0x02 || 5 + r_len >= der.len() {
        return Err(bad("r is not a DER integer"));
    }
    let s_len = usize::from(der[5 + r_len]);
    if der[4 + r_len] != 0x02 || r_len + s_len + 6 != der.len() {
        return Err(bad("s is not a DER integer, or trailing bytes"));
    }
    let r = strict_integer(&der[4..4 + r_len])?;
    let s = strict_integer(&der[6 + r_len..])?;
    Signature::from_scalars(r, s).map_err(|_| bad("r or s is zero or not below the group order"))
}

/// A positive, minimally encoded DER integer of at most 256 bits, left-padded to 32 bytes.
fn strict_integer(bytes: &[u8]) -> Result<[u8; 32], HdError> {
    let bad = |why| HdError::Signature(why);
    let (&first, rest) = bytes.split_first().ok_or(bad("empty DER integer"))?;
    if first & 0x80 != 0 {
        return Err(bad("negative DER integer"));
    }
    let magnitude = if first == 0 {
        match rest.first() {
            Some(next) if next & 0x80 != 0 => rest,
            Some(_) => return Err(bad("DER integer with a needless leading zero")),
            None => rest,
        }
    } else {
        bytes
    };
    if magnitude.len() > 32 {
        return Err(bad("DER integer longer than 256 bits"));
    }
    let mut out = [0u8; 32];
    out[32 - magnitude.len()..].copy_from_slice(magnitude);
    Ok(out)
}

/// Verifies a strict-DER, low-S signature of a 32-byte digest under a SEC1 public key
/// (compressed or not).
pub fn verify_bitcoin(public_key_sec1: &[u8], digest: &[u8; 32], der: &[u8]) -> Result<(), HdError> {
    let key = VerifyingKey::from_sec1_bytes(public_key_sec1).map_err(|_| HdError::Signature("bad public key"))?;
    let signature = parse_der_strict(der)?;
    if !is_low_s(&signature) {
        return Err(HdError::Signature("high S"));
    }
    key.verify_prehash(digest, &signature)
        .map_err(|_| HdError::Signature("does not verify"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hd::signing::sign_digest_low_s;
    use crate::test_vectors::{read_json, wallet_vectors};
    use k256::ecdsa::SigningKey;
    use proptest::prelude::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn wycheproof_secp256k1_bitcoin_vectors() {
        let summary = wallet_vectors();
        let file = summary["secp256k1_wycheproof"]["file"].as_str().unwrap();
        let suite = read_json(file);
        let (mut valid, mut invalid) = (0, 0);
        for group in suite["testGroups"].as_array().unwrap() {
            let key = hex::decode(group["publicKey"]["uncompressed"].as_str().unwrap()).unwrap();
            for case in group["tests"].as_array().unwrap() {
                let msg = hex::decode(case["msg"].as_str().unwrap()).unwrap();
                let der = hex::decode(case["sig"].as_str().unwrap()).unwrap();
                let digest: [u8; 32] = Sha256::digest(&msg).into();
                let outcome = verify_bitcoin(&key, &digest, &der);
                let id = &case["tcId"];
                match case["result"].as_str().unwrap() {
                    "valid" => {
                        assert_eq!(outcome, Ok(()), "tcId {id} {}", case["comment"]);
                        valid += 1;
                    }
                    "invalid" => {
                        assert!(outcome.is_err(), "tcId {id} accepted: {}", case["comment"]);
                        invalid += 1;
                    }
                    other => panic!("tcId {id}: result {other} is not expected in the Bitcoin suite"),
                }
            }
        }
        assert_eq!((valid, invalid), (162, 301));
        assert_eq!(valid + invalid, suite["numberOfTests"].as_u64().unwrap());
    }

    #[test]
    fn malformed_der_is_refused_without_panicking() {
        for bad in [
            &b""[..],
            &[0x30],
            &[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01],
            &[0x30; 80],
            &[0x30, 0x06, 0x02, 0x05, 1, 1, 1, 1],
        ] {
            assert!(parse_der_strict(bad).is_err(), "{bad:?}");
        }
        // r = 1, s = 1 is well formed.
        assert!(parse_der_strict(&[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]).is_ok());
        // A needless leading zero, a negative r, a zero r.
        assert!(parse_der_strict(&[0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01]).is_err());
        assert!(parse_der_strict(&[0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01]).is_err());
        assert!(parse_der_strict(&[0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01]).is_err());
    }

    proptest! {
        #[test]
        fn own_signatures_verify_and_tampered_ones_do_not(
            secret in any::<[u8; 32]>(),
            message in proptest::collection::vec(any::<u8>(), 0..200),
            flip in any::<(usize, u8)>(),
        ) {
            let Ok(key) = SigningKey::from_slice(&secret) else { return Ok(()) };
            let digest: [u8; 32] = Sha256::digest(&message).into();
            let (signature, _) = sign_digest_low_s(&key, &digest);
            let der = signature.to_der();
            let public_key = key.verifying_key().to_sec1_point(true);
            prop_assert_eq!(verify_bitcoin(public_key.as_bytes(), &digest, der.as_bytes()), Ok(()));
            let mut other = digest;
            other[flip.0 % 32] ^= flip.1.max(1);
            prop_assert!(verify_bitcoin(public_key.as_bytes(), &other, der.as_bytes()).is_err());
            // The high-S twin of a valid signature is refused.
            let (r, s) = signature.split_scalars();
            let high = Signature::from_scalars(r.to_bytes(), (-*s).to_bytes()).unwrap();
            prop_assert!(verify_bitcoin(public_key.as_bytes(), &digest, high.to_der().as_bytes()).is_err());
        }
    }
}
