//! Ethereum addresses: the last 20 bytes of Keccak-256 of the uncompressed public key, written
//! with the EIP-55 mixed-case checksum.

use k256::ecdsa::VerifyingKey;
use sha3::{Digest, Keccak256};

use super::error::HdError;

pub(crate) fn keccak256(data: &[u8]) -> [u8; 32] {
    Keccak256::digest(data).into()
}

/// The 20-byte address of a public key.
pub fn eth_address(public_key: &VerifyingKey) -> [u8; 20] {
    let point = public_key.to_sec1_point(false);
    // Uncompressed SEC1 is 0x04 || x || y; Ethereum hashes x || y.
    let hash = keccak256(&point.as_bytes()[1..]);
    hash[12..].try_into().expect("20 bytes")
}

/// EIP-55: a hex letter is upper-case where the matching nibble of Keccak-256 of the
/// lower-case hex is 8 or more.
pub fn eth_checksum_address(address: &[u8; 20]) -> String {
    let lower = faster_hex::hex_string(address);
    let hash = keccak256(lower.as_bytes());
    let mut out = String::with_capacity(42);
    out.push_str("0x");
    for (i, c) in lower.chars().enumerate() {
        let nibble = (hash[i / 2] >> if i % 2 == 0 { 4 } else { 0 }) & 0x0f;
        out.push(if nibble >= 8 { c.to_ascii_uppercase() } else { c });
    }
    out
}

/// Parses `0x` + 40 hex digits. All-lower or all-upper case carries no checksum and is
/// accepted; mixed case must be a correct EIP-55 checksum, so a mistyped letter is caught.
pub fn parse_eth_address(text: &str) -> Result<[u8; 20], HdError> {
    let digits = text
        .strip_prefix("0x")
        .ok_or(HdError::Address("Ethereum addresses start with 0x"))?;
    if digits.len() != 40 {
        return Err(HdError::Address("Ethereum addresses have 40 hex digits"));
    }
    let bytes: [u8; 20] = hex::decode(digits)
        .map_err(|_| HdError::Address("Ethereum address is not hex"))?
        .try_into()
        .expect("40 hex digits are 20 bytes");
    let has_lower = digits.bytes().any(|b| b.is_ascii_lowercase());
    let has_upper = digits.bytes().any(|b| b.is_ascii_uppercase());
    if has_lower && has_upper && eth_checksum_address(&bytes)[2..] != *digits {
        return Err(HdError::Address("EIP-55 checksum does not match"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn eip55_examples() {
        // The examples of EIP-55 itself.
        for text in [
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
            "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
            "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
        ] {
            let bytes = parse_eth_address(text).unwrap();
            assert_eq!(eth_checksum_address(&bytes), text);
            assert_eq!(parse_eth_address(&text.to_lowercase()), Ok(bytes));
            assert_eq!(parse_eth_address(&format!("0x{}", text[2..].to_uppercase())), Ok(bytes));
        }
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for bad in [
            "",
            "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe",
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAedd",
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg",
            // One letter's case flipped: the checksum catches it.
            "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        ] {
            assert!(matches!(parse_eth_address(bad), Err(HdError::Address(_))), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn checksummed_addresses_parse_back(bytes in any::<[u8; 20]>()) {
            prop_assert_eq!(parse_eth_address(&eth_checksum_address(&bytes)), Ok(bytes));
        }
    }
}
