//! HD wallets over secp256k1: BIP-39 mnemonics, BIP-32 keys, the BIP-44/84 addresses of
//! Bitcoin, Ethereum and Cosmos, and transaction signing for Ethereum and Bitcoin.
//!
//! Pure: no I/O, no clocks, no randomness of its own (entropy for a new mnemonic is passed
//! in). secp256k1 is k256 only. Secrets (mnemonic words, seeds, private keys) are zeroized on
//! drop, print as "redacted", and no public function returns one.
//!
//! # Using it
//!
//! ```
//! use shardhub_crypto::hd::{Coin, Mnemonic, WalletKeys};
//!
//! let mnemonic = Mnemonic::parse(
//!     "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
//! )?;
//! let mut keys = WalletKeys::from_mnemonic(&mnemonic, "")?;
//! let first = keys.address(Coin::BtcSegwit, 0, 0, 0)?;
//! assert_eq!(first.address, "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu");
//! assert_eq!(first.path.to_string(), "m/84'/0'/0'/0/0");
//! # Ok::<(), shardhub_crypto::hd::HdError>(())
//! ```
//!
//! - [`WalletKeys`] (`wallet_keys.rs`): the key tree of one wallet. [`WalletKeys::address`]
//!   caches the two chain keys of each account (bounded, [`ACCOUNT_CACHE_MAX`]), so a new
//!   address costs one non-hardened public derivation. Signing:
//!   [`WalletKeys::sign_eth_transaction`], [`WalletKeys::eth_personal_sign`],
//!   [`WalletKeys::sign_btc_transaction`]; [`WalletKeys::account_xpub`] for watch-only export.
//! - [`Mnemonic`] (`mnemonic.rs`): English BIP-39, 12 to 24 words, NFKD, passphrase;
//!   [`Seed`] (`seed.rs`): 16 to 64 zeroizing bytes.
//! - [`Coin`] (`coin.rs`): `btc` (m/44'/0', P2PKH), `btc-segwit` (m/84'/0', P2WPKH), `eth`
//!   (m/44'/60'), `cosmos` (m/44'/118').
//! - [`DerivationPath`], [`AddressPath`] (`path.rs`): canonical path text, BIP-44 shape.
//! - [`ExtendedKey`], [`parse_xpub`] (`ext_key.rs`): strict xprv/xpub parsing (BIP-32
//!   vector 5's rules).
//! - `address.rs`: our own addresses per coin ([`address_for`]); [`BtcAddress`]
//!   (`btc_address.rs`): destination parsing (P2PKH, P2SH, P2WPKH, P2WSH, P2TR) and output
//!   scripts; `eth_address.rs`: EIP-55 ([`eth_checksum_address`], [`parse_eth_address`]).
//! - Ethereum: [`EthTransaction`] and [`sign_eth_transaction`] (`eth_tx.rs`: legacy with
//!   EIP-155, EIP-1559 with access lists, RLP via alloy-rlp, [`parse_quantity`] for decimal or
//!   hex wei); [`personal_sign`] and [`recover_personal_signer`] (`eth_message.rs`, EIP-191).
//! - Bitcoin: [`Transaction`] (`btc_tx.rs`: segwit serialization, strict decoding, txid,
//!   wtxid, weight); [`bip143_sighash`] and [`SighashType`] (`sighash.rs`: all six types);
//!   [`BtcSpend`] and [`sign_p2wpkh_spend`] (`btc_signer.rs`: amount checks against
//!   overflow, MAX_MONEY and outputs above inputs, then signing and self-verification).
//! - [`verify_bitcoin`], [`parse_der_strict`] (`ecdsa_verify.rs`): strict-DER, low-S
//!   verification, checked against Wycheproof's secp256k1 Bitcoin suite. `signing.rs`: RFC 6979
//!   signing normalized to low S.
//! - [`HdError`] (`error.rs`): one error type; [`HdError::code`] gives each kind a stable code
//!   for the HTTP layer. [`decode_hex`] (`hex_field.rs`) names the field it refuses.
//!
//! Tests sit beside the code and read the known-answer files from `../shared/data/` (or the
//! copy in `crypto/testdata/`), failing if neither is there.

mod address;
mod btc_address;
mod btc_signer;
mod btc_tx;
mod coin;
mod ecdsa_verify;
mod error;
mod eth_address;
mod eth_message;
mod eth_tx;
mod ext_key;
mod hex_field;
mod mnemonic;
mod path;
mod seed;
mod sighash;
mod signing;
mod wallet_keys;

pub use address::{address_for, compressed_public_key, hash160, p2wpkh_address};
pub use btc_address::BtcAddress;
pub use btc_signer::{
    sign_p2wpkh_spend, BtcSpend, P2wpkhInput, SignedBtcTransaction, BTC_SPEND_MAX_INPUTS, BTC_SPEND_MAX_OUTPUTS,
    MAX_MONEY_SAT, SEQUENCE_FINAL,
};
pub use btc_tx::{display_hash, OutPoint, Transaction, TxIn, TxOut, BTC_TX_MAX_BYTES};
pub use coin::Coin;
pub use ecdsa_verify::{parse_der_strict, verify_bitcoin};
pub use error::HdError;
pub use eth_address::{eth_address, eth_checksum_address, parse_eth_address};
pub use eth_message::{personal_message_hash, personal_sign, recover_personal_signer, PERSONAL_MESSAGE_MAX_BYTES};
pub use eth_tx::{
    parse_quantity, parse_u64_quantity, sign_eth_transaction, AccessListItem, EthFee, EthTransaction,
    SignedEthTransaction, ETH_TX_MAX_BYTES,
};
pub use ext_key::{parse_xpub, ExtendedKey};
pub use hex_field::{decode_hex, decode_hex_array};
pub use mnemonic::Mnemonic;
pub use path::{AddressPath, DerivationPath, HARDENED};
pub use ruint::aliases::U256;
pub use seed::Seed;
pub use sighash::{bip143_sighash, p2wpkh_script_code, SighashBase, SighashType};
pub use wallet_keys::{DerivedAddress, WalletKeys, ACCOUNT_CACHE_MAX};
