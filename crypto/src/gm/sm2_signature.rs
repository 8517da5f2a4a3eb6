//! SM2 signatures with a signer id (GM/T 0003.2), through RustCrypto's `sm2` crate: the
//! signed digest is e = SM3(Z || M), Z binding the signer's id and public key ([`z_value`]).
//!
//! Signing is deterministic (the crate derives k as RFC 6979 does, from the key and e), so it
//! needs no randomness and stays pure. On the wire a signature is r || s, 64 bytes, in
//! lower-case hex; DER is not used.
//!
//! [`z_value`]: super::z_value

use std::fmt;

use sm2::dsa::signature::{Signer, Verifier};
use sm2::dsa::{Signature, SigningKey, VerifyingKey};
use sm2::PublicKey;

use super::error::GmError;
use super::key_pair::Sm2KeyPair;

/// An SM2 signature, r || s.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Sm2Signature(Signature);

impl Sm2Signature {
    /// From r || s (64 bytes); refuses r or s outside [1, n-1].
    pub fn from_bytes(bytes: &[u8]) -> Result<Sm2Signature, GmError> {
        Signature::from_slice(bytes)
            .map(Sm2Signature)
            .map_err(|_| GmError::SignatureFormat)
    }

    /// From the hex of r || s (either case).
    pub fn from_hex(text: &str) -> Result<Sm2Signature, GmError> {
        let bytes = hex::decode(text).map_err(|_| GmError::Hex { field: "signature" })?;
        Sm2Signature::from_bytes(&bytes)
    }

    /// r || s.
    pub fn to_bytes(&self) -> [u8; 64] {
        self.0.to_bytes().into()
    }

    /// r || s in lower-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.to_bytes())
    }
}

impl fmt::Debug for Sm2Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sm2Signature({})", self.to_hex())
    }
}

/// Signs `message` as `user_id` with `key`.
pub fn sm2_sign(key: &Sm2KeyPair, user_id: &str, message: &[u8]) -> Result<Sm2Signature, GmError> {
    // The crate's signing key does not zeroize itself on drop, so it lives only for this call;
    // the key pair's own copy is the one kept (and zeroized).
    let signer = SigningKey::new(user_id, key.secret_key()).map_err(|_| user_id_error(user_id))?;
    signer
        .try_sign(message)
        .map(Sm2Signature)
        .map_err(|_| GmError::SecretScalar)
}

/// Checks `signature` over `message` by `user_id` with `public_key`.
pub fn sm2_verify(
    public_key: &PublicKey,
    user_id: &str,
    message: &[u8],
    signature: &Sm2Signature,
) -> Result<(), GmError> {
    let verifier = VerifyingKey::new(user_id, *public_key).map_err(|_| user_id_error(user_id))?;
    verifier.verify(message, &signature.0).map_err(|_| GmError::Signature)
}

/// The crate's only refusal of an id is one whose bit length does not fit ENTL.
fn user_id_error(user_id: &str) -> GmError {
    GmError::UserIdLength { bytes: user_id.len() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gm::z_value::z_value;
    use crate::test_vectors::{bytes, text, wallet_section};
    use sm2::elliptic_curve::ff::PrimeField;
    use sm2::elliptic_curve::ops::Reduce;
    use sm2::elliptic_curve::point::AffineCoordinates;
    use sm2::elliptic_curve::{FieldBytes, Group};
    use sm2::{ProjectivePoint, Scalar};
    use sm3::{Digest, Sm3};

    fn scalar(entry: &serde_json::Value, field: &str) -> Scalar {
        let repr = FieldBytes::<sm2::Sm2>::try_from(&bytes(entry, field)[..]).unwrap();
        Option::from(Scalar::from_repr(repr)).unwrap()
    }

    /// GM/T 0003.5 Annex A and a second recommended-curve example: the public key, Z, e, the
    /// vector's (r, s) from its k, verification of (r, s), and a round trip of our own signature.
    #[test]
    fn sign_vectors() {
        let entries = wallet_section("sm2_sign");
        for entry in &entries {
            let (id, message) = (text(entry, "id"), text(entry, "msg").as_bytes());
            let key = Sm2KeyPair::from_secret_bytes(&bytes(entry, "priv")).unwrap();
            assert_eq!(key.public_key_hex(), text(entry, "pub").to_lowercase());

            let z = z_value(id, key.public_key()).unwrap();
            assert_eq!(z.to_vec(), bytes(entry, "Z"));
            let e: [u8; 32] = Sm3::new().chain_update(z).chain_update(message).finalize().into();
            assert_eq!(e.to_vec(), bytes(entry, "e"));

            // The vector's own k: r = (e + x1) mod n with (x1, y1) = [k]G, s = (1 + d)^-1 (k - r d).
            let (k, d) = (scalar(entry, "k"), scalar(entry, "priv"));
            let x1 = (ProjectivePoint::generator() * k).to_affine().x();
            let r = <Scalar as Reduce<FieldBytes<sm2::Sm2>>>::reduce(&e.into()) + <Scalar as Reduce<_>>::reduce(&x1);
            let s = Option::<Scalar>::from((Scalar::ONE + d).invert()).unwrap() * (k - r * d);
            let expected = [bytes(entry, "r"), bytes(entry, "s")].concat();
            assert_eq!([r.to_repr().to_vec(), s.to_repr().to_vec()].concat(), expected);

            let signature = Sm2Signature::from_bytes(&expected).unwrap();
            sm2_verify(key.public_key(), id, message, &signature).unwrap();

            let ours = sm2_sign(&key, id, message).unwrap();
            sm2_verify(key.public_key(), id, message, &ours).unwrap();
            assert_eq!(Sm2Signature::from_hex(&ours.to_hex()).unwrap(), ours);
        }
        assert_eq!(entries.len(), 2);
    }

    #[test]
    fn another_message_id_or_key_does_not_verify() {
        let key = Sm2KeyPair::from_secret_bytes(&[7; 32]).unwrap();
        let other = Sm2KeyPair::from_secret_bytes(&[8; 32]).unwrap();
        let signature = sm2_sign(&key, "alice", b"pay 100").unwrap();
        assert_eq!(
            sm2_verify(key.public_key(), "alice", b"pay 101", &signature).unwrap_err(),
            GmError::Signature
        );
        assert_eq!(
            sm2_verify(key.public_key(), "mallory", b"pay 100", &signature).unwrap_err(),
            GmError::Signature
        );
        assert_eq!(
            sm2_verify(other.public_key(), "alice", b"pay 100", &signature).unwrap_err(),
            GmError::Signature
        );
        let mut flipped = signature.to_bytes();
        flipped[40] ^= 4;
        let flipped = Sm2Signature::from_bytes(&flipped).unwrap();
        assert_eq!(
            sm2_verify(key.public_key(), "alice", b"pay 100", &flipped).unwrap_err(),
            GmError::Signature
        );
    }

    #[test]
    fn malformed_signatures_are_refused() {
        assert_eq!(
            Sm2Signature::from_bytes(&[1; 63]).unwrap_err(),
            GmError::SignatureFormat
        );
        assert_eq!(
            Sm2Signature::from_bytes(&[0; 64]).unwrap_err(),
            GmError::SignatureFormat
        );
        assert_eq!(
            Sm2Signature::from_bytes(&[0xff; 64]).unwrap_err(),
            GmError::SignatureFormat
        );
        assert_eq!(
            Sm2Signature::from_hex("xy").unwrap_err(),
            GmError::Hex { field: "signature" }
        );
    }

    #[test]
    fn overlong_ids_are_refused() {
        let key = Sm2KeyPair::from_secret_bytes(&[7; 32]).unwrap();
        let id = "a".repeat(8192);
        assert_eq!(
            sm2_sign(&key, &id, b"m").unwrap_err(),
            GmError::UserIdLength { bytes: 8192 }
        );
    }
}
