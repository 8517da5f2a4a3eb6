//! Z, the hash of a user's identity and curve (GM/T 0003.2 §5.5, 0003.3 §5.4.1):
//!
//! ```text
//! Z = SM3(ENTL || ID || a || b || xG || yG || xP || yP)
//! ```
//!
//! ENTL is the id's length in bits as two big-endian bytes; a, b, G are the curve's, P the
//! user's public key, every field element as 32 big-endian bytes. Both signatures (through the
//! `sm2` crate, which computes its own Z) and the key exchange (here) bind the peers' ids
//! through Z. The `sm2` crate keeps its Z private and fixed to its curve, so this generic
//! copy also serves the GM/T 0003.3 example curve.

use primeorder::PrimeCurveParams;
use sm2::elliptic_curve::ff::PrimeField;
use sm2::elliptic_curve::point::AffineCoordinates;
use sm2::elliptic_curve::PublicKey;
use sm3::{Digest, Sm3};

use super::error::GmError;

/// The longest id whose length in bits fits ENTL's 16 bits.
pub const USER_ID_MAX_BYTES: usize = (u16::MAX / 8) as usize;

/// Z of `user_id` (its UTF-8 bytes) and `public_key`.
pub fn z_value<C: PrimeCurveParams>(user_id: &str, public_key: &PublicKey<C>) -> Result<[u8; 32], GmError> {
    let id = user_id.as_bytes();
    let entl_bits = u16::try_from(id.len() * 8).map_err(|_| GmError::UserIdLength { bytes: id.len() })?;
    let point = public_key.as_affine();
    let mut hasher = Sm3::new();
    hasher.update(entl_bits.to_be_bytes());
    hasher.update(id);
    hasher.update(C::EQUATION_A.to_repr());
    hasher.update(C::EQUATION_B.to_repr());
    hasher.update(C::GENERATOR.0.to_repr());
    hasher.update(C::GENERATOR.1.to_repr());
    hasher.update(point.x());
    hasher.update(point.y());
    Ok(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gm::example_curve::ExampleCurve;
    use crate::gm::public_key::public_key_from_hex;
    use crate::test_vectors::{bytes, text, wallet_section};
    use sm2::Sm2;

    #[test]
    fn signature_vectors_z() {
        let entries = wallet_section("sm2_sign");
        for entry in &entries {
            let key = public_key_from_hex::<Sm2>(text(entry, "pub")).unwrap();
            assert_eq!(
                z_value(text(entry, "id"), &key).unwrap().to_vec(),
                bytes(entry, "Z"),
                "{entry}"
            );
        }
        assert_eq!(entries.len(), 2);
    }

    #[test]
    fn key_exchange_vectors_za_zb_on_both_curves() {
        let entries = wallet_section("sm2_key_exchange");
        for entry in &entries {
            let (za, zb) = match text(entry, "curve") {
                "sm2p256v1" => (
                    z_value(
                        text(entry, "IDA"),
                        &public_key_from_hex::<Sm2>(text(entry, "PA")).unwrap(),
                    )
                    .unwrap(),
                    z_value(
                        text(entry, "IDB"),
                        &public_key_from_hex::<Sm2>(text(entry, "PB")).unwrap(),
                    )
                    .unwrap(),
                ),
                "gmt0003-example-fp256" => (
                    z_value(
                        text(entry, "IDA"),
                        &public_key_from_hex::<ExampleCurve>(text(entry, "PA")).unwrap(),
                    )
                    .unwrap(),
                    z_value(
                        text(entry, "IDB"),
                        &public_key_from_hex::<ExampleCurve>(text(entry, "PB")).unwrap(),
                    )
                    .unwrap(),
                ),
                other => panic!("unknown curve {other}"),
            };
            assert_eq!(za.to_vec(), bytes(entry, "ZA"), "{entry}");
            assert_eq!(zb.to_vec(), bytes(entry, "ZB"), "{entry}");
        }
        assert_eq!(entries.len(), 2);
    }

    #[test]
    fn ids_past_8191_bytes_are_refused() {
        let key = public_key_from_hex::<Sm2>(
            "0432c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7\
             bc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0",
        )
        .unwrap();
        assert!(z_value(&"a".repeat(USER_ID_MAX_BYTES), &key).is_ok());
        assert_eq!(
            z_value(&"a".repeat(USER_ID_MAX_BYTES + 1), &key).unwrap_err(),
            GmError::UserIdLength {
                bytes: USER_ID_MAX_BYTES + 1
            }
        );
    }
}
