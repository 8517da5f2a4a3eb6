//! The receive addresses of the wallet's own keys, one format per [`Coin`]:
//! P2PKH base58check (`1...`), P2WPKH bech32 v0 (`bc1q...`), EIP-55 (`0x...`) and Cosmos
//! bech32 (`cosmos1...`).

use bech32::{Bech32, Hrp};
use k256::ecdsa::VerifyingKey;
use ripemd::Ripemd160;
use sha2::{Digest, Sha256};

use super::coin::Coin;
use super::eth_address::{eth_address, eth_checksum_address};

/// Version byte of mainnet P2PKH addresses.
pub(crate) const P2PKH_VERSION: u8 = 0x00;
/// Version byte of mainnet P2SH addresses.
pub(crate) const P2SH_VERSION: u8 = 0x05;
/// Human-readable part of mainnet segwit addresses (BIP-173).
pub(crate) const BTC_HRP: Hrp = bech32::hrp::BC;
/// Human-readable part of Cosmos Hub account addresses.
const COSMOS_HRP: Hrp = Hrp::parse_unchecked("cosmos");

/// RIPEMD-160 of SHA-256: the key hash of P2PKH, P2WPKH and Cosmos addresses.
pub fn hash160(data: &[u8]) -> [u8; 20] {
    Ripemd160::digest(Sha256::digest(data)).into()
}

/// Base58check of a version byte and a 20-byte hash.
pub(crate) fn base58check_hash(version: u8, hash: &[u8; 20]) -> String {
    let mut payload = [0u8; 21];
    payload[0] = version;
    payload[1..].copy_from_slice(hash);
    bs58::encode(payload).with_check().into_string()
}

/// The address of `public_key` in `coin`'s format.
pub fn address_for(coin: Coin, public_key: &VerifyingKey) -> String {
    let compressed = compressed_public_key(public_key);
    match coin {
        Coin::Btc => base58check_hash(P2PKH_VERSION, &hash160(&compressed)),
        Coin::BtcSegwit => p2wpkh_address(&compressed),
        Coin::Eth => eth_checksum_address(&eth_address(public_key)),
        Coin::Cosmos => bech32::encode::<Bech32>(COSMOS_HRP, &hash160(&compressed))
            .expect("20 bytes under a 6-letter prefix fit bech32's length limit"),
    }
}

/// Native segwit v0 address of a compressed key (BIP-84).
pub fn p2wpkh_address(compressed: &[u8; 33]) -> String {
    bech32::segwit::encode_v0(BTC_HRP, &hash160(compressed)).expect("a 20-byte v0 program is valid")
}

/// SEC1 compressed encoding (33 bytes), the form every one of these coins hashes.
pub fn compressed_public_key(public_key: &VerifyingKey) -> [u8; 33] {
    let point = public_key.to_sec1_point(true);
    point
        .as_bytes()
        .try_into()
        .expect("a compressed secp256k1 point is 33 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(hex_text: &str) -> VerifyingKey {
        VerifyingKey::from_sec1_bytes(&hex::decode(hex_text).unwrap()).unwrap()
    }

    #[test]
    fn known_addresses_of_the_abandon_about_mnemonic() {
        // m/44'/0'/0'/0/0, m/84'/0'/0'/0/0, m/44'/60'/0'/0/0 and m/44'/118'/0'/0/0.
        let cases = [
            (
                Coin::Btc,
                "03aaeb52dd7494c361049de67cc680e83ebcbbbdbeb13637d92cd845f70308af5e",
                "1LqBGSKuX5yYUonjxT5qGfpUsXKYYWeabA",
            ),
            (
                Coin::BtcSegwit,
                "0330d54fd0dd420a6e5f8d3624f5f3482cae350f79d5f0753bf5beef9c2d91af3c",
                "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu",
            ),
            (
                Coin::Eth,
                "0237b0bb7a8288d38ed49a524b5dc98cff3eb5ca824c9f9dc0dfdb3d9cd600f299",
                "0x9858EfFD232B4033E47d90003D41EC34EcaEda94",
            ),
            (
                Coin::Cosmos,
                "024f4e2ad99c34d60b9ba6283c9431a8418af8673212961f97a77b6377fcd05b62",
                "cosmos19rl4cm2hmr8afy4kldpxz3fka4jguq0auqdal4",
            ),
        ];
        for (coin, public_key, address) in cases {
            assert_eq!(address_for(coin, &key(public_key)), address, "{coin}");
        }
    }
}
