//! Wallet cryptography of shardhub: BIP-39/32/44/84 keys, addresses, transaction signing,
//! the SM2 key exchange and SM4-GCM channel, SPV header and Merkle checks.
//!
//! Pure, like `shardhub-core`: no I/O, no clocks, randomness passed in. It depends on nothing
//! else of ours.
//!
//! - [`hd`]: BIP-39 mnemonics and seeds, BIP-32 derivation over secp256k1, the BIP-44/84
//!   paths and the addresses of Bitcoin (P2PKH, P2WPKH), Ethereum and Cosmos, and
//!   transaction signing for Ethereum (legacy/EIP-155, EIP-1559, EIP-191) and Bitcoin
//!   (P2WPKH over BIP-143).
//! - [`gm`]: the Chinese national standards: SM2 signatures and the GM/T 0003.3 key
//!   exchange, SM3, SM4-GCM, and the keystore's encryption.
//! - [`custody`]: a wallet seed sealed into a keystore record and opened back.

pub mod custody;
pub mod gm;
pub mod hd;
#[cfg(test)]
mod test_vectors;
