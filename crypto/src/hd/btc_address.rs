//! Bitcoin mainnet destination addresses and their output scripts: P2PKH and P2SH
//! (base58check), P2WPKH and P2WSH (bech32, BIP-173) and P2TR (bech32m, BIP-350).
//!
//! Witness versions 2 to 16 decode as valid bech32m but have no spending rules yet; sending
//! to one could burn funds, so they are refused.

use std::fmt;
use std::str::FromStr;

use bech32::Fe32;

use super::address::{base58check_hash, BTC_HRP, P2PKH_VERSION, P2SH_VERSION};
use super::error::HdError;

/// Longest segwit address (BIP-173 limit); base58 addresses are shorter.
const ADDRESS_MAX_LEN: usize = 90;

// Script opcodes used by the standard output templates.
const OP_0: u8 = 0x00;
const OP_1: u8 = 0x51;
const OP_DUP: u8 = 0x76;
const OP_HASH160: u8 = 0xa9;
const OP_EQUAL: u8 = 0x87;
const OP_EQUALVERIFY: u8 = 0x88;
const OP_CHECKSIG: u8 = 0xac;

/// A mainnet destination, by the hash or key its output script commits to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BtcAddress {
    P2pkh([u8; 20]),
    P2sh([u8; 20]),
    P2wpkh([u8; 20]),
    P2wsh([u8; 32]),
    /// The x-only output key of a taproot output.
    P2tr([u8; 32]),
}

impl BtcAddress {
    pub fn parse(text: &str) -> Result<BtcAddress, HdError> {
        if text.len() > ADDRESS_MAX_LEN {
            return Err(HdError::Address("too long"));
        }
        let lower_prefix = text.get(..3).map(str::to_ascii_lowercase);
        if lower_prefix.as_deref() == Some("bc1") {
            return parse_segwit(text);
        }
        if lower_prefix
            .as_deref()
            .is_some_and(|p| p.starts_with("tb1") || p.starts_with("bcr"))
        {
            return Err(HdError::Address("not a mainnet address"));
        }
        let payload = bs58::decode(text).with_check(None).into_vec().map_err(|e| match e {
            bs58::decode::Error::InvalidChecksum { .. } => HdError::Address("base58 checksum does not match"),
            _ => HdError::Address("neither bech32 nor base58check"),
        })?;
        let (&version, hash) = payload.split_first().ok_or(HdError::Address("empty payload"))?;
        let hash: [u8; 20] = hash
            .try_into()
            .map_err(|_| HdError::Address("base58 payload is not 21 bytes"))?;
        match version {
            P2PKH_VERSION => Ok(BtcAddress::P2pkh(hash)),
            P2SH_VERSION => Ok(BtcAddress::P2sh(hash)),
            _ => Err(HdError::Address(
                "unknown base58 version (not a mainnet P2PKH or P2SH address)",
            )),
        }
    }

    /// The `scriptPubKey` of an output paying this address.
    pub fn script_pubkey(&self) -> Vec<u8> {
        match self {
            BtcAddress::P2pkh(hash) => {
                let mut script = vec![OP_DUP, OP_HASH160, 20];
                script.extend_from_slice(hash);
                script.extend_from_slice(&[OP_EQUALVERIFY, OP_CHECKSIG]);
                script
            }
            BtcAddress::P2sh(hash) => {
                let mut script = vec![OP_HASH160, 20];
                script.extend_from_slice(hash);
                script.push(OP_EQUAL);
                script
            }
            BtcAddress::P2wpkh(hash) => witness_script(OP_0, hash),
            BtcAddress::P2wsh(hash) => witness_script(OP_0, hash),
            BtcAddress::P2tr(key) => witness_script(OP_1, key),
        }
    }
}

fn witness_script(version_opcode: u8, program: &[u8]) -> Vec<u8> {
    let mut script = Vec::with_capacity(2 + program.len());
    script.push(version_opcode);
    script.push(program.len() as u8);
    script.extend_from_slice(program);
    script
}

fn parse_segwit(text: &str) -> Result<BtcAddress, HdError> {
    // Checks the checksum kind per version (bech32 for v0, bech32m after), mixed case, and the
    // program length rules of BIP-141.
    let (hrp, version, program) =
        bech32::segwit::decode(text).map_err(|_| HdError::Address("invalid bech32 segwit address"))?;
    if hrp != BTC_HRP {
        return Err(HdError::Address("not a mainnet address"));
    }
    match (version.to_u8(), program.len()) {
        (0, 20) => Ok(BtcAddress::P2wpkh(program.try_into().expect("20 bytes"))),
        (0, 32) => Ok(BtcAddress::P2wsh(program.try_into().expect("32 bytes"))),
        (1, 32) => Ok(BtcAddress::P2tr(program.try_into().expect("32 bytes"))),
        (0, _) => Err(HdError::Address("v0 program must be 20 or 32 bytes")),
        _ => Err(HdError::Address("unsupported witness version or program length")),
    }
}

impl fmt::Display for BtcAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let segwit = |version: Fe32, program: &[u8]| {
            bech32::segwit::encode(BTC_HRP, version, program).expect("valid version and program length")
        };
        let text = match self {
            BtcAddress::P2pkh(hash) => base58check_hash(P2PKH_VERSION, hash),
            BtcAddress::P2sh(hash) => base58check_hash(P2SH_VERSION, hash),
            BtcAddress::P2wpkh(hash) => segwit(Fe32::Q, hash),
            BtcAddress::P2wsh(hash) => segwit(Fe32::Q, hash),
            BtcAddress::P2tr(key) => segwit(Fe32::P, key),
        };
        f.write_str(&text)
    }
}

impl FromStr for BtcAddress {
    type Err = HdError;

    fn from_str(text: &str) -> Result<BtcAddress, HdError> {
        BtcAddress::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn spec_addresses_give_their_scripts() {
        // BIP-173 and BIP-350 examples, the genesis coinbase address and a well-known P2SH.
        let cases = [
            (
                "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
                "0014751e76e8199196d454941c45d1b3a323f1433bd6",
            ),
            (
                "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3",
                "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262",
            ),
            (
                "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
                "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
            ),
            (
                "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
                "76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888ac",
            ),
            (
                "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
                "a914b472a266d0bd89c13706a4132ccfb16f7c3b9fcb87",
            ),
        ];
        for (text, script) in cases {
            let address = BtcAddress::parse(text).unwrap();
            assert_eq!(hex::encode(address.script_pubkey()), script, "{text}");
            // Bech32 prints in lower case; base58 is case-sensitive and prints as given.
            let canonical = if text.to_lowercase().starts_with("bc1") {
                text.to_lowercase()
            } else {
                text.to_string()
            };
            assert_eq!(address.to_string(), canonical);
        }
    }

    #[test]
    fn malformed_and_foreign_addresses_are_refused() {
        for bad in [
            "",
            "bc1",
            // BIP-173 invalid examples: bad checksum, mixed case, wrong program length.
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5",
            "bc1QW508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
            "bc1zw508d6qejxtdg4y5r3zarvaryvqyzf3du",
            "bc1rw5uspcuh",
            // BIP-350: a v0 program with a bech32m checksum, and a v1 with bech32.
            "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv4",
            "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd",
            // A future witness version (v16), valid bech32m: refused on purpose.
            "BC1SW50QGDZ25J",
            // Testnet and regtest.
            "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx",
            "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn",
            "2MzQwSSnBHWHqSAqtTVQ6v47XtaisrJa1Vc",
            // Base58: a changed character breaks the checksum; Litecoin's L prefix.
            "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb",
            "LVg2kJoFNg45Nbpy53h7Fe1wKyeXVRhMH9",
            "0OIl",
            &"1".repeat(91),
        ] {
            assert!(matches!(BtcAddress::parse(bad), Err(HdError::Address(_))), "{bad:?}");
        }
    }

    fn any_address() -> impl Strategy<Value = BtcAddress> {
        prop_oneof![
            any::<[u8; 20]>().prop_map(BtcAddress::P2pkh),
            any::<[u8; 20]>().prop_map(BtcAddress::P2sh),
            any::<[u8; 20]>().prop_map(BtcAddress::P2wpkh),
            any::<[u8; 32]>().prop_map(BtcAddress::P2wsh),
            any::<[u8; 32]>().prop_map(BtcAddress::P2tr),
        ]
    }

    proptest! {
        #[test]
        fn formatted_addresses_parse_back(address in any_address()) {
            prop_assert_eq!(BtcAddress::parse(&address.to_string()), Ok(address));
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,100}") {
            let _ = BtcAddress::parse(&text);
        }
    }
}
