//! SM4 in Galois/Counter Mode (RFC 8998, NIST SP 800-38D): RustCrypto's `sm4` block cipher in
//! the `aes-gcm` crate's mode, which is generic over any 128-bit block cipher.
//!
//! Sealed output is ciphertext || 16-byte tag. [`Sm4Gcm`] takes 12-byte nonces, the only size
//! the channel and the keystore use and the one GCM derives its counter from directly; other
//! IV sizes are valid GCM (they go through GHASH first), and the helpers below handle them for
//! the Wycheproof tests, but nothing here accepts an empty IV, which GCM forbids (it would leak
//! the authentication key).
//!
//! Both key schedules (SM4's round keys and GHASH's key) are zeroized on drop (the crates'
//! `zeroize` features).

use std::fmt;

use aes_gcm::aead::array::{Array, ArraySize};
use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::AesGcm;
use sm4::Sm4;
use zeroize::Zeroizing;

use super::error::GmError;

/// GCM over SM4 with an `N`-byte IV.
pub(crate) type Gcm<N> = AesGcm<Sm4, N>;

/// Tag length: GCM's full 128 bits, never truncated.
pub const SM4_GCM_TAG_LEN: usize = 16;

/// One SM4-GCM key, ready to seal and open with 12-byte nonces.
pub struct Sm4Gcm(Gcm<U12>);

impl Sm4Gcm {
    pub fn new(key: &[u8; 16]) -> Sm4Gcm {
        Sm4Gcm(gcm_from_key(key))
    }

    /// Ciphertext || tag of `plaintext`, authenticating `aad` too.
    pub fn seal(&self, nonce: &[u8; 12], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, GmError> {
        seal_with(&self.0, nonce, aad, plaintext)
    }

    /// The plaintext of ciphertext || tag, if the tag checks under this key, nonce and `aad`.
    pub fn open(&self, nonce: &[u8; 12], aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, GmError> {
        open_with(&self.0, nonce, aad, sealed)
    }
}

/// Redacted: the key schedule is key material.
impl fmt::Debug for Sm4Gcm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sm4Gcm(<redacted>)")
    }
}

pub(crate) fn gcm_from_key<N: ArraySize>(key: &[u8; 16]) -> Gcm<N> {
    let key = Zeroizing::new(Array::from(*key));
    Gcm::<N>::new(&key)
}

pub(crate) fn seal_with<N: ArraySize>(
    cipher: &Gcm<N>,
    nonce: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, GmError> {
    let nonce = nonce_of::<N>(nonce)?;
    let mut buffer = Vec::with_capacity(plaintext.len() + SM4_GCM_TAG_LEN);
    buffer.extend_from_slice(plaintext);
    match cipher.encrypt_in_place(nonce, aad, &mut buffer) {
        Ok(()) => Ok(buffer),
        Err(_) => {
            // Only a message past GCM's 2^36 - 32 bytes fails; the buffer still holds plaintext.
            zeroize::Zeroize::zeroize(&mut buffer);
            Err(GmError::MessageTooLong)
        }
    }
}

pub(crate) fn open_with<N: ArraySize>(
    cipher: &Gcm<N>,
    nonce: &[u8],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, GmError> {
    let nonce = nonce_of::<N>(nonce)?;
    if sealed.len() < SM4_GCM_TAG_LEN {
        return Err(GmError::RecordAuthentication);
    }
    let mut buffer = Zeroizing::new(sealed.to_vec());
    cipher
        .decrypt_in_place(nonce, aad, &mut *buffer)
        .map_err(|_| GmError::RecordAuthentication)?;
    Ok(buffer)
}

/// The IV as the mode's array type; an empty IV is refused whatever `N` is.
fn nonce_of<N: ArraySize>(nonce: &[u8]) -> Result<&Array<u8, N>, GmError> {
    if nonce.is_empty() {
        return Err(GmError::NonceLength { bytes: 0 });
    }
    <&Array<u8, N>>::try_from(nonce).map_err(|_| GmError::NonceLength { bytes: nonce.len() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_vectors::{bytes, read_json, wallet_section};
    use aes_gcm::aead::consts::{U0, U1, U10, U128, U15, U16, U2, U20, U257, U32, U4, U6, U64, U8};
    use serde_json::Value;
    use sm4::cipher::{Block, BlockCipherEncrypt};

    #[test]
    fn sm4_block_vectors() {
        let entries = wallet_section("sm4_block");
        for entry in &entries {
            let key: [u8; 16] = bytes(entry, "key").try_into().unwrap();
            let cipher = Sm4::new(&Array::from(key));
            let mut block = Block::<Sm4>::try_from(&bytes(entry, "pt")[..]).unwrap();
            for _ in 0..entry["iterations"].as_u64().unwrap() {
                cipher.encrypt_block(&mut block);
            }
            assert_eq!(block.to_vec(), bytes(entry, "ct"), "{entry}");
        }
        assert_eq!(entries.len(), 2);
    }

    /// RFC 8998 Appendix A.1 and three more, through the public type.
    #[test]
    fn sm4_gcm_vectors() {
        let entries = wallet_section("sm4_gcm");
        for entry in &entries {
            let cipher = Sm4Gcm::new(&bytes(entry, "key").try_into().unwrap());
            let nonce: [u8; 12] = bytes(entry, "nonce").try_into().unwrap();
            let (aad, pt) = (bytes(entry, "aad"), bytes(entry, "pt"));
            let sealed = [bytes(entry, "ct"), bytes(entry, "tag")].concat();
            assert_eq!(cipher.seal(&nonce, &aad, &pt).unwrap(), sealed, "{entry}");
            assert_eq!(*cipher.open(&nonce, &aad, &sealed).unwrap(), pt, "{entry}");
        }
        assert_eq!(entries.len(), 4);
    }

    /// What one Wycheproof case came to.
    #[derive(Debug, PartialEq)]
    enum Outcome {
        /// Sealing gave the case's ct || tag and opening gave its message back.
        Matched,
        /// Opening refused it (and, for an empty IV, so did sealing).
        Refused,
    }

    fn run_case<N: ArraySize>(case: &Value) -> Outcome {
        let cipher = gcm_from_key::<N>(&bytes(case, "key").try_into().unwrap());
        let (iv, aad, msg) = (bytes(case, "iv"), bytes(case, "aad"), bytes(case, "msg"));
        let sealed = [bytes(case, "ct"), bytes(case, "tag")].concat();
        match open_with(&cipher, &iv, &aad, &sealed) {
            Ok(opened) => {
                assert_eq!(*opened, msg, "{case}");
                assert_eq!(seal_with(&cipher, &iv, &aad, &msg).unwrap(), sealed, "{case}");
                Outcome::Matched
            }
            Err(error) => {
                if iv.is_empty() {
                    assert_eq!(error, GmError::NonceLength { bytes: 0 });
                    assert_eq!(seal_with(&cipher, &iv, &aad, &msg).unwrap_err(), error);
                } else {
                    assert_eq!(error, GmError::RecordAuthentication);
                }
                Outcome::Refused
            }
        }
    }

    /// 12-byte IVs go through the public type; the rest through the same helpers at their size.
    fn run_wycheproof_case(case: &Value) -> Outcome {
        let iv_len = bytes(case, "iv").len();
        match iv_len {
            12 => {
                let cipher = Sm4Gcm::new(&bytes(case, "key").try_into().unwrap());
                let nonce: [u8; 12] = bytes(case, "iv").try_into().unwrap();
                let (aad, msg) = (bytes(case, "aad"), bytes(case, "msg"));
                let sealed = [bytes(case, "ct"), bytes(case, "tag")].concat();
                match cipher.open(&nonce, &aad, &sealed) {
                    Ok(opened) => {
                        assert_eq!(*opened, msg, "{case}");
                        assert_eq!(cipher.seal(&nonce, &aad, &msg).unwrap(), sealed, "{case}");
                        Outcome::Matched
                    }
                    Err(error) => {
                        assert_eq!(error, GmError::RecordAuthentication);
                        Outcome::Refused
                    }
                }
            }
            0 => run_case::<U0>(case),
            1 => run_case::<U1>(case),
            2 => run_case::<U2>(case),
            4 => run_case::<U4>(case),
            6 => run_case::<U6>(case),
            8 => run_case::<U8>(case),
            10 => run_case::<U10>(case),
            15 => run_case::<U15>(case),
            16 => run_case::<U16>(case),
            20 => run_case::<U20>(case),
            32 => run_case::<U32>(case),
            64 => run_case::<U64>(case),
            128 => run_case::<U128>(case),
            257 => run_case::<U257>(case),
            other => panic!("Wycheproof IV length {other} has no case here: add it"),
        }
    }

    /// All 104 cases: every valid one must match exactly, every invalid one (modified tags,
    /// empty IVs) must be refused.
    #[test]
    fn wycheproof_sm4_gcm() {
        let file = read_json("wycheproof/sm4_gcm_test.json");
        let (mut valid, mut invalid) = (0, 0);
        for group in file["testGroups"].as_array().unwrap() {
            assert_eq!(group["tagSize"], 128);
            for case in group["tests"].as_array().unwrap() {
                let outcome = run_wycheproof_case(case);
                match case["result"].as_str().unwrap() {
                    "valid" => {
                        assert_eq!(outcome, Outcome::Matched, "{case}");
                        valid += 1;
                    }
                    "invalid" => {
                        assert_eq!(outcome, Outcome::Refused, "{case}");
                        invalid += 1;
                    }
                    other => panic!("unexpected result {other} in {case}"),
                }
            }
        }
        assert_eq!(file["numberOfTests"], 104);
        assert_eq!((valid, invalid), (75, 29));
    }

    #[test]
    fn short_input_and_wrong_nonce_sizes_are_refused() {
        let cipher = Sm4Gcm::new(&[9; 16]);
        assert_eq!(
            cipher.open(&[0; 12], b"", &[0; 15]).unwrap_err(),
            GmError::RecordAuthentication
        );
        assert_eq!(
            seal_with(&cipher.0, &[0; 11], b"", b"x").unwrap_err(),
            GmError::NonceLength { bytes: 11 }
        );
        assert_eq!(format!("{cipher:?}"), "Sm4Gcm(<redacted>)");
    }
}
