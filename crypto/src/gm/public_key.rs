//! Public keys on the wire: uncompressed SEC1 points, `04 || x || y`, lower-case hex.
//!
//! Only the uncompressed form is accepted, as the wire format says: one spelling per key, so
//! two encodings of one key never look like two keys. Parsing checks that the point is on the
//! curve and not the point at infinity (the `elliptic-curve` crate's `PublicKey` guarantees
//! both); with cofactor 1 that is all the validation GM/T 0003 asks of a peer's point.

use primeorder::PrimeCurveParams;
use sm2::elliptic_curve::array::typenum::Unsigned;
use sm2::elliptic_curve::sec1::ToSec1Point;
use sm2::elliptic_curve::{FieldBytesSize, PublicKey};

use super::error::GmError;

/// The tag byte of an uncompressed SEC1 point.
const UNCOMPRESSED: u8 = 0x04;

/// Parses `04 || x || y` (65 bytes on a 256-bit curve).
pub fn public_key_from_bytes<C: PrimeCurveParams>(bytes: &[u8]) -> Result<PublicKey<C>, GmError> {
    let field_len = FieldBytesSize::<C>::USIZE;
    if bytes.len() != 1 + 2 * field_len || bytes[0] != UNCOMPRESSED {
        return Err(GmError::PublicKey);
    }
    PublicKey::<C>::from_sec1_bytes(bytes).map_err(|_| GmError::PublicKey)
}

/// Parses the hex of `04 || x || y` (either case).
pub fn public_key_from_hex<C: PrimeCurveParams>(text: &str) -> Result<PublicKey<C>, GmError> {
    let bytes = hex::decode(text).map_err(|_| GmError::Hex { field: "public key" })?;
    public_key_from_bytes(&bytes)
}

/// `04 || x || y`.
pub fn public_key_to_bytes<C: PrimeCurveParams>(key: &PublicKey<C>) -> Vec<u8> {
    key.as_affine().to_sec1_point(false).as_bytes().to_vec()
}

/// `04 || x || y` in lower-case hex, as on the wire.
pub fn public_key_to_hex<C: PrimeCurveParams>(key: &PublicKey<C>) -> String {
    hex::encode(public_key_to_bytes(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sm2::Sm2;

    const G_HEX: &str = "0432c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7bc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0";

    #[test]
    fn uncompressed_points_round_trip_in_lower_case() {
        let key = public_key_from_hex::<Sm2>(&G_HEX.to_uppercase()).unwrap();
        assert_eq!(public_key_to_hex(&key), G_HEX);
        assert_eq!(public_key_to_bytes(&key).len(), 65);
    }

    #[test]
    fn compressed_identity_and_off_curve_points_are_refused() {
        let compressed = format!("03{}", &G_HEX[2..66]);
        assert_eq!(public_key_from_hex::<Sm2>(&compressed).unwrap_err(), GmError::PublicKey);
        assert_eq!(public_key_from_hex::<Sm2>("00").unwrap_err(), GmError::PublicKey);
        let mut off_curve = G_HEX.to_string();
        off_curve.replace_range(129.., "1");
        assert_eq!(public_key_from_hex::<Sm2>(&off_curve).unwrap_err(), GmError::PublicKey);
        assert_eq!(
            public_key_from_hex::<Sm2>(&G_HEX[..128]).unwrap_err(),
            GmError::PublicKey
        );
        assert_eq!(
            public_key_from_hex::<Sm2>("04zz").unwrap_err(),
            GmError::Hex { field: "public key" }
        );
    }
}
