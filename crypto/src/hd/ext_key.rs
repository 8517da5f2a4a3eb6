//! Strict parsing of serialized BIP-32 extended keys (`xprv...`, `zpub...`).
//!
//! The `bip32` crate decodes the 78 bytes but accepts a few encodings BIP-32 test vector 5
//! declares invalid (a depth-0 key with a parent fingerprint or a child number, an unknown
//! version). Every rule of vector 5 is checked here first, then the crate builds the key.

use bip32::{XPrv, XPub};
use k256::ecdsa::{SigningKey, VerifyingKey};
use zeroize::Zeroizing;

use super::error::HdError;

/// Serialized length without the checksum.
const EXTENDED_KEY_LEN: usize = 78;

/// The version bytes this wallet knows: mainnet and testnet, BIP-32/49/84, private and public.
const PRIVATE_VERSIONS: [u32; 4] = [0x0488_ade4, 0x0435_8394, 0x049d_7878, 0x04b2_430c];
const PUBLIC_VERSIONS: [u32; 4] = [0x0488_b21e, 0x0435_87cf, 0x049d_7cb2, 0x04b2_4746];

/// A decoded extended key.
pub enum ExtendedKey {
    Private(XPrv),
    Public(XPub),
}

impl ExtendedKey {
    pub fn parse(text: &str) -> Result<ExtendedKey, HdError> {
        let is_private = check_encoding(text)?;
        if is_private {
            let key = text
                .parse::<XPrv>()
                .map_err(|_| HdError::ExtendedKey("private key out of range"))?;
            Ok(ExtendedKey::Private(key))
        } else {
            let key = text
                .parse::<XPub>()
                .map_err(|_| HdError::ExtendedKey("public key is not on the curve"))?;
            Ok(ExtendedKey::Public(key))
        }
    }
}

/// Parses an extended public key (`xpub`, `ypub`, `zpub`, `tpub`...); private keys are refused
/// so that a watch-only import never carries a secret by mistake.
pub fn parse_xpub(text: &str) -> Result<XPub, HdError> {
    match ExtendedKey::parse(text)? {
        ExtendedKey::Public(key) => Ok(key),
        ExtendedKey::Private(_) => Err(HdError::ExtendedKey("expected a public key, got a private one")),
    }
}

pub(crate) fn parse_xprv(text: &str) -> Result<XPrv, HdError> {
    match ExtendedKey::parse(text)? {
        ExtendedKey::Private(key) => Ok(key),
        ExtendedKey::Public(_) => Err(HdError::ExtendedKey("expected a private key, got a public one")),
    }
}

/// Checks every rule of BIP-32's serialization; returns whether the key is private.
fn check_encoding(text: &str) -> Result<bool, HdError> {
    // 78 bytes and a 4-byte checksum are at most 112 base58 characters; refuse longer input
    // before decoding it.
    if text.len() > 112 {
        return Err(HdError::ExtendedKey("too long"));
    }
    let bytes = Zeroizing::new(bs58::decode(text).with_check(None).into_vec().map_err(|e| match e {
        bs58::decode::Error::InvalidChecksum { .. } => HdError::ExtendedKey("invalid checksum"),
        _ => HdError::ExtendedKey("not base58check"),
    })?);
    if bytes.len() != EXTENDED_KEY_LEN {
        return Err(HdError::ExtendedKey("wrong length"));
    }
    let version = u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes"));
    let depth = bytes[4];
    let parent_fingerprint = &bytes[5..9];
    let child_number = &bytes[9..13];
    let key = &bytes[45..78];
    if depth == 0 && parent_fingerprint != [0; 4] {
        return Err(HdError::ExtendedKey("zero depth with a non-zero parent fingerprint"));
    }
    if depth == 0 && child_number != [0; 4] {
        return Err(HdError::ExtendedKey("zero depth with a non-zero child number"));
    }
    if PRIVATE_VERSIONS.contains(&version) {
        if key[0] != 0 {
            return Err(HdError::ExtendedKey("private version with a public key"));
        }
        SigningKey::from_slice(&key[1..]).map_err(|_| HdError::ExtendedKey("private key not in 1..n-1"))?;
        Ok(true)
    } else if PUBLIC_VERSIONS.contains(&version) {
        if key[0] != 0x02 && key[0] != 0x03 {
            return Err(HdError::ExtendedKey(
                "public version with a private key or a bad prefix",
            ));
        }
        VerifyingKey::from_sec1_bytes(key).map_err(|_| HdError::ExtendedKey("public key is not on the curve"))?;
        Ok(false)
    } else {
        Err(HdError::ExtendedKey("unknown version"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_vectors::wallet_vectors;
    use bip32::Prefix;

    #[test]
    fn bip32_vector_5_keys_are_all_refused() {
        let vectors = wallet_vectors();
        let cases = vectors["bip32_invalid_ext_keys"].as_array().unwrap();
        assert_eq!(cases.len(), 16);
        for case in cases {
            let text = case["key"].as_str().unwrap();
            let reason = case["reason"].as_str().unwrap();
            let result = ExtendedKey::parse(text);
            assert!(matches!(result, Err(HdError::ExtendedKey(_))), "accepted: {reason}");
        }
    }

    #[test]
    fn bip32_vector_keys_parse_and_print_back() {
        let vectors = wallet_vectors();
        let mut checked = 0;
        for vector in vectors["bip32"].as_array().unwrap() {
            for chain in vector["chains"].as_array().unwrap() {
                let xpub = chain["xpub"].as_str().unwrap();
                let xprv = chain["xprv"].as_str().unwrap();
                assert_eq!(parse_xpub(xpub).unwrap().to_string(Prefix::XPUB), xpub);
                assert_eq!(parse_xprv(xprv).unwrap().to_string(Prefix::XPRV).as_str(), xprv);
                assert!(matches!(parse_xpub(xprv), Err(HdError::ExtendedKey(_))));
                assert!(matches!(parse_xprv(xpub), Err(HdError::ExtendedKey(_))));
                checked += 1;
            }
        }
        assert_eq!(checked, 17);
    }

    #[test]
    fn garbage_is_refused_without_panicking() {
        for bad in ["", "xpub", "0OIl", &"z".repeat(113), &"1".repeat(112)] {
            assert!(
                matches!(ExtendedKey::parse(bad), Err(HdError::ExtendedKey(_))),
                "{bad:?}"
            );
        }
    }
}
