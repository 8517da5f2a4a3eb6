//! A long-term key pair: the server's keystore key (responder B), or a client's (initiator A).
//!
//! The secret is an `elliptic-curve` `SecretKey`, which zeroizes itself on drop; `Debug` shows
//! only the public half.

use std::fmt;

use primeorder::PrimeCurveParams;
use sm2::elliptic_curve::{FieldBytes, PublicKey, SecretKey};
use sm2::Sm2;
use zeroize::Zeroizing;

use super::error::GmError;
use super::public_key::public_key_to_hex;

/// A private key d in [1, n-1] and its public key P = \[d\]G.
pub struct KeyPair<C: PrimeCurveParams = Sm2> {
    secret: SecretKey<C>,
    public: PublicKey<C>,
}

/// A key pair on the SM2 curve, the one every caller outside the tests uses.
pub type Sm2KeyPair = KeyPair<Sm2>;

impl<C: PrimeCurveParams> KeyPair<C> {
    /// From the 32 big-endian bytes of d; refuses 0 and values not below n.
    pub fn from_secret_bytes(bytes: &[u8]) -> Result<Self, GmError> {
        let bytes = <&FieldBytes<C>>::try_from(bytes).map_err(|_| GmError::SecretScalar)?;
        let secret = SecretKey::<C>::from_bytes(bytes).map_err(|_| GmError::SecretScalar)?;
        let public = secret.public_key();
        Ok(KeyPair { secret, public })
    }

    pub fn public_key(&self) -> &PublicKey<C> {
        &self.public
    }

    /// `04 || x || y` in lower-case hex.
    pub fn public_key_hex(&self) -> String {
        public_key_to_hex(&self.public)
    }

    /// The 32 big-endian bytes of d, for sealing into the keystore. Zeroized on drop.
    pub fn secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.secret.to_bytes().to_vec())
    }

    pub(crate) fn secret_key(&self) -> &SecretKey<C> {
        &self.secret
    }
}

/// Redacted: only the public key is shown.
impl<C: PrimeCurveParams> fmt::Debug for KeyPair<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyPair {{ public: {}, secret: <redacted> }}", self.public_key_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D_HEX: &str = "3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8";

    #[test]
    fn the_public_key_is_d_times_g() {
        let pair = Sm2KeyPair::from_secret_bytes(&hex::decode(D_HEX).unwrap()).unwrap();
        // GM/T 0003.5 Annex A.
        assert_eq!(
            pair.public_key_hex(),
            "0409f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020\
             ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13"
        );
        assert_eq!(hex::encode(&*pair.secret_bytes()), D_HEX);
    }

    #[test]
    fn zero_n_and_wrong_lengths_are_refused() {
        let n = hex::decode("fffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123").unwrap();
        assert_eq!(Sm2KeyPair::from_secret_bytes(&n).unwrap_err(), GmError::SecretScalar);
        assert_eq!(
            Sm2KeyPair::from_secret_bytes(&[0; 32]).unwrap_err(),
            GmError::SecretScalar
        );
        assert_eq!(
            Sm2KeyPair::from_secret_bytes(&[1; 31]).unwrap_err(),
            GmError::SecretScalar
        );
        assert_eq!(
            Sm2KeyPair::from_secret_bytes(&[1; 33]).unwrap_err(),
            GmError::SecretScalar
        );
    }

    #[test]
    fn debug_does_not_print_the_secret() {
        let pair = Sm2KeyPair::from_secret_bytes(&hex::decode(D_HEX).unwrap()).unwrap();
        let shown = format!("{pair:?}");
        assert!(
            !shown.to_lowercase().contains(&D_HEX[..16]) && shown.contains("redacted"),
            "{shown}"
        );
    }
}
