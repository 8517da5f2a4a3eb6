//! EIP-191 `personal_sign`: a signature over
//! `keccak256("\x19Ethereum Signed Message:\n" || len(message) || message)`, so that a signed
//! message can never be replayed as a transaction. The result is 65 bytes `r || s || v` with
//! v = 27 or 28, as wallets and `ecrecover` expect.

use k256::ecdsa::{RecoveryId, Signature, SigningKey, VerifyingKey};

use super::coin::Coin;
use super::error::HdError;
use super::eth_address::{eth_address, keccak256};
use super::path::AddressPath;
use super::signing::{is_low_s, sign_digest_low_s};
use super::wallet_keys::WalletKeys;

/// Longest message accepted for signing; the HTTP body bounds it already, this bounds the API.
pub const PERSONAL_MESSAGE_MAX_BYTES: usize = 64 * 1024;

/// The EIP-191 version 0x45 digest of `message`.
pub fn personal_message_hash(message: &[u8]) -> [u8; 32] {
    let mut prefixed = Vec::with_capacity(message.len() + 48);
    prefixed.extend_from_slice(b"\x19Ethereum Signed Message:\n");
    prefixed.extend_from_slice(message.len().to_string().as_bytes());
    prefixed.extend_from_slice(message);
    keccak256(&prefixed)
}

/// Signs `message` the way `personal_sign` does.
pub fn personal_sign(key: &SigningKey, message: &[u8]) -> Result<[u8; 65], HdError> {
    if message.len() > PERSONAL_MESSAGE_MAX_BYTES {
        return Err(HdError::TxField {
            field: "message",
            reason: "longer than 64 KiB",
        });
    }
    let (signature, recovery_id) = sign_digest_low_s(key, &personal_message_hash(message));
    let mut out = [0u8; 65];
    out[..64].copy_from_slice(&signature.to_bytes());
    out[64] = 27 + u8::from(recovery_id.is_y_odd());
    Ok(out)
}

/// The address that produced `signature` over `message` (v may be 27/28 or 0/1).
pub fn recover_personal_signer(message: &[u8], signature: &[u8; 65]) -> Result<[u8; 20], HdError> {
    let parity = match signature[64] {
        0 | 27 => false,
        1 | 28 => true,
        _ => return Err(HdError::Signature("v must be 27 or 28")),
    };
    let parsed = Signature::from_slice(&signature[..64]).map_err(|_| HdError::Signature("r or s out of range"))?;
    if !is_low_s(&parsed) {
        return Err(HdError::Signature("high S"));
    }
    let key =
        VerifyingKey::recover_from_prehash(&personal_message_hash(message), &parsed, RecoveryId::new(parity, false))
            .map_err(|_| HdError::Signature("no key recovers from this signature"))?;
    Ok(eth_address(&key))
}

impl WalletKeys {
    /// `personal_sign` with the key at `path`, which must be an Ethereum path.
    pub fn eth_personal_sign(&self, path: &AddressPath, message: &[u8]) -> Result<[u8; 65], HdError> {
        if path.coin != Coin::Eth {
            return Err(HdError::Path("not an Ethereum path"));
        }
        personal_sign(&self.signing_key(path)?, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hd::eth_address::eth_checksum_address;
    use crate::hd::mnemonic::Mnemonic;
    use proptest::prelude::*;

    #[test]
    fn the_prefix_counts_bytes_in_decimal() {
        // keccak256("\x19Ethereum Signed Message:\n5hello"), as every EIP-191 implementation
        // computes it (e.g. ethers' hashMessage("hello")).
        assert_eq!(
            hex::encode(personal_message_hash(b"hello")),
            "50b2c43fd39106bafbba0da34fc430e1f91e3c96ea2acee2bc34119f92b37750"
        );
    }

    #[test]
    fn signatures_match_eth_account() {
        // Computed with eth-account 0.14.0 (`Account.sign_message(encode_defunct(primitive=m),
        // key)`), an independent implementation, for the EIP-155 example key 0x4646...46.
        let key = SigningKey::from_slice(&[0x46; 32]).unwrap();
        let cases: [(&[u8], &str); 3] = [
            (
                b"Sign in to shardhub",
                concat!(
                    "2ee4f2c028ade2ee202b0e5a597481b729533cd6a8dbcd759e89dbeed236d440",
                    "17e30aff30d1f8b1fc4f3d6113fb24b1ac5e1749f78dde4ced891c99df2f79611c"
                ),
            ),
            (
                b"",
                concat!(
                    "ff65394fc6cc70eee8e5ee1160dfa355a0484ad2988b65d01aee4bf58288958f",
                    "082ce5e2c2d9d49130a2b1e8d01850cc00b0f17637f029570420e5a4a8d724fd1c"
                ),
            ),
            (
                b"hello",
                concat!(
                    "f63c93dc642a4839770b35abf9cb304ac2f1b5463d9a9abd87546feaa0af992e",
                    "659cf087c433e45c45f6135cb819ab1922c6359dbb1b8c8d7a54141de2cd4beb1b"
                ),
            ),
        ];
        for (message, expected) in cases {
            let signature = personal_sign(&key, message).unwrap();
            assert_eq!(hex::encode(signature), expected, "{message:?}");
            let signer = recover_personal_signer(message, &signature).unwrap();
            assert_eq!(
                eth_checksum_address(&signer),
                "0x9d8A62f656a8d1615C1294fd71e9CFb3E4855A4F"
            );
        }
    }

    #[test]
    fn wallet_signs_messages_that_recover_to_its_address() {
        let keys = WalletKeys::from_mnemonic(&Mnemonic::from_entropy(&[0; 16]).unwrap(), "").unwrap();
        let path = AddressPath::new(Coin::Eth, 0, 0, 0).unwrap();
        let signature = keys.eth_personal_sign(&path, b"Sign in to shardhub").unwrap();
        assert!(signature[64] == 27 || signature[64] == 28);
        let signer = recover_personal_signer(b"Sign in to shardhub", &signature).unwrap();
        assert_eq!(
            eth_checksum_address(&signer),
            "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"
        );
        assert_ne!(
            recover_personal_signer(b"Sign in to shardhub!", &signature).ok(),
            Some(signer)
        );
        let cosmos = AddressPath::new(Coin::Cosmos, 0, 0, 0).unwrap();
        assert!(keys.eth_personal_sign(&cosmos, b"x").is_err());
        let mut bad_v = signature;
        bad_v[64] = 29;
        assert!(recover_personal_signer(b"Sign in to shardhub", &bad_v).is_err());
        let key = SigningKey::from_slice(&[1; 32]).unwrap();
        assert!(personal_sign(&key, &vec![0; PERSONAL_MESSAGE_MAX_BYTES + 1]).is_err());
    }

    proptest! {
        #[test]
        fn personal_signatures_recover_the_signer(
            secret in any::<[u8; 32]>(),
            message in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let Ok(key) = SigningKey::from_slice(&secret) else { return Ok(()) };
            let signature = personal_sign(&key, &message).unwrap();
            prop_assert_eq!(recover_personal_signer(&message, &signature).unwrap(), eth_address(key.verifying_key()));
        }
    }
}
