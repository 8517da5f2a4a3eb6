//! A wallet's key tree: the master private key from the seed, and a bounded cache of the
//! account-level extended public keys, so that a new address costs one non-hardened public
//! derivation instead of five (two of them private and hardened).
//!
//! Private keys are derived on demand for signing, used inside this crate, and dropped (the
//! `bip32`/`k256` key types zeroize themselves); no method returns one.

use std::fmt;

use bip32::{ChildNumber, XPrv, XPub};
use k256::ecdsa::SigningKey;

use super::address::{address_for, compressed_public_key};
use super::coin::Coin;
use super::error::HdError;
use super::ext_key::parse_xprv;
use super::mnemonic::Mnemonic;
use super::path::{AddressPath, DerivationPath};
use super::seed::Seed;

/// How many (coin, account) entries one wallet caches. An account past this evicts the oldest
/// entry: the cache must not grow with requests, and a wallet rarely uses more accounts.
pub const ACCOUNT_CACHE_MAX: usize = 16;

/// One address of the wallet, with what the caller needs to show or watch it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedAddress {
    pub path: AddressPath,
    pub address: String,
    /// SEC1 compressed public key, lower-case hex (66 digits).
    pub public_key: String,
}

/// The cached public keys of one account: the account key and its two chains.
struct AccountChains {
    coin: Coin,
    account: u32,
    account_xpub: XPub,
    /// `[receive (change = 0), change (change = 1)]`.
    chains: [XPub; 2],
}

pub struct WalletKeys {
    master: XPrv,
    /// Oldest first; at most [`ACCOUNT_CACHE_MAX`] entries.
    accounts: Vec<AccountChains>,
}

impl WalletKeys {
    pub fn from_seed(seed: &Seed) -> Result<WalletKeys, HdError> {
        // The seed length is checked by `Seed`; the only other failure is a master key that is
        // zero or past the curve order (probability below 2^-127).
        let master = XPrv::new(seed.as_bytes()).map_err(|_| HdError::InvalidChild)?;
        Ok(WalletKeys {
            master,
            accounts: Vec::new(),
        })
    }

    pub fn from_mnemonic(mnemonic: &Mnemonic, passphrase: &str) -> Result<WalletKeys, HdError> {
        WalletKeys::from_seed(&mnemonic.to_seed(passphrase))
    }

    /// Imports a root extended private key (`xprv`, `zprv`...). A key below the root is
    /// refused: every path here starts at `m`.
    pub fn from_root_xprv(text: &str) -> Result<WalletKeys, HdError> {
        let master = parse_xprv(text)?;
        if master.attrs().depth != 0 {
            return Err(HdError::ExtendedKey("not a root key (depth is not 0)"));
        }
        Ok(WalletKeys {
            master,
            accounts: Vec::new(),
        })
    }

    /// The address at `m/purpose'/coin'/account'/change/index`.
    pub fn address(&mut self, coin: Coin, account: u32, change: u32, index: u32) -> Result<DerivedAddress, HdError> {
        self.address_at(AddressPath::new(coin, account, change, index)?)
    }

    pub fn address_at(&mut self, path: AddressPath) -> Result<DerivedAddress, HdError> {
        let chain = &self.account_chains(path.coin, path.account)?.chains[path.change as usize];
        let key = chain
            .derive_child(ChildNumber(path.index))
            .map_err(|_| HdError::InvalidChild)?;
        let compressed = compressed_public_key(key.public_key());
        Ok(DerivedAddress {
            path,
            address: address_for(path.coin, key.public_key()),
            public_key: faster_hex::hex_string(&compressed),
        })
    }

    /// The account's extended public key, `zpub` for BIP-84 and `xpub` otherwise: what a
    /// watch-only wallet imports to derive the same addresses.
    pub fn account_xpub(&mut self, coin: Coin, account: u32) -> Result<String, HdError> {
        let entry = self.account_chains(coin, account)?;
        Ok(entry.account_xpub.to_string(coin.xpub_prefix()))
    }

    /// The cached chains of an account, derived (three hardened private steps, two public
    /// ones) on first use.
    fn account_chains(&mut self, coin: Coin, account: u32) -> Result<&AccountChains, HdError> {
        if let Some(i) = self
            .accounts
            .iter()
            .position(|a| a.coin == coin && a.account == account)
        {
            return Ok(&self.accounts[i]);
        }
        let path = AddressPath::new(coin, account, 0, 0)?.account_path();
        let account_xpub = derive_private(&self.master, &path)?.public_key();
        let receive = account_xpub
            .derive_child(ChildNumber(0))
            .map_err(|_| HdError::InvalidChild)?;
        let change = account_xpub
            .derive_child(ChildNumber(1))
            .map_err(|_| HdError::InvalidChild)?;
        if self.accounts.len() == ACCOUNT_CACHE_MAX {
            self.accounts.remove(0);
        }
        self.accounts.push(AccountChains {
            coin,
            account,
            account_xpub,
            chains: [receive, change],
        });
        Ok(self.accounts.last().expect("just pushed"))
    }

    /// The private key at `path`, for signing inside this crate only.
    pub(crate) fn signing_key(&self, path: &AddressPath) -> Result<SigningKey, HdError> {
        Ok(derive_private(&self.master, &path.to_derivation_path())?
            .private_key()
            .clone())
    }

    #[cfg(test)]
    pub(crate) fn master_xprv_for_tests(&self) -> zeroize::Zeroizing<String> {
        self.master.to_string(bip32::Prefix::XPRV)
    }

    #[cfg(test)]
    pub(crate) fn derive_for_tests(&self, path: &DerivationPath) -> XPrv {
        derive_private(&self.master, path).unwrap()
    }
}

fn derive_private(master: &XPrv, path: &DerivationPath) -> Result<XPrv, HdError> {
    let mut key = master.clone();
    for step in path.steps() {
        key = key.derive_child(*step).map_err(|_| HdError::InvalidChild)?;
    }
    Ok(key)
}

/// Redacted: shows only which accounts are cached.
impl fmt::Debug for WalletKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cached: Vec<_> = self.accounts.iter().map(|a| (a.coin, a.account)).collect();
        f.debug_struct("WalletKeys")
            .field("master", &"redacted")
            .field("cached_accounts", &cached)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_vectors::{hex_of, wallet_vectors};
    use bip32::Prefix;

    fn keys_of(case: &serde_json::Value) -> WalletKeys {
        let mnemonic = Mnemonic::parse(case["mnemonic"].as_str().unwrap()).unwrap();
        WalletKeys::from_mnemonic(&mnemonic, case["passphrase"].as_str().unwrap_or("")).unwrap()
    }

    /// Checks one address vector through the cached public path and the private path.
    fn check_address_case(case: &serde_json::Value) {
        let mut keys = keys_of(case);
        let coin = Coin::parse(case["coin"].as_str().unwrap()).unwrap();
        let field = |name: &str| u32::try_from(case[name].as_u64().unwrap()).unwrap();
        let derived = keys
            .address(coin, field("account"), field("change"), field("index"))
            .unwrap();
        let path = case["path"].as_str().unwrap();
        assert_eq!(derived.path.to_string(), path);
        assert_eq!(derived.address, case["address"].as_str().unwrap(), "{path}");
        assert_eq!(derived.public_key, case["pubkey_hex"].as_str().unwrap(), "{path}");
        let private = keys.signing_key(&derived.path).unwrap();
        assert_eq!(
            hex_of(&private.to_bytes()),
            case["privkey_hex"].as_str().unwrap(),
            "{path}"
        );
        if let Some(seed) = case["seed_hex"].as_str() {
            let seed = Seed::from_bytes(&hex::decode(seed).unwrap()).unwrap();
            let mut from_seed = WalletKeys::from_seed(&seed).unwrap();
            assert_eq!(from_seed.address_at(derived.path).unwrap(), derived);
        }
    }

    #[test]
    fn bip32_vectors_1_to_4() {
        let vectors = wallet_vectors();
        let mut chains = 0;
        for vector in vectors["bip32"].as_array().unwrap() {
            let seed = Seed::from_bytes(&hex::decode(vector["seed_hex"].as_str().unwrap()).unwrap()).unwrap();
            let keys = WalletKeys::from_seed(&seed).unwrap();
            for chain in vector["chains"].as_array().unwrap() {
                let path = DerivationPath::parse(chain["path"].as_str().unwrap()).unwrap();
                let xprv = keys.derive_for_tests(&path);
                assert_eq!(
                    xprv.to_string(Prefix::XPRV).as_str(),
                    chain["xprv"].as_str().unwrap(),
                    "{path}"
                );
                assert_eq!(
                    xprv.public_key().to_string(Prefix::XPUB),
                    chain["xpub"].as_str().unwrap(),
                    "{path}"
                );
                chains += 1;
            }
        }
        assert_eq!(chains, 17);
    }

    #[test]
    fn address_vectors() {
        let vectors = wallet_vectors();
        let cases = vectors["addresses"].as_array().unwrap();
        assert_eq!(cases.len(), 20);
        cases.iter().for_each(check_address_case);
    }

    #[test]
    fn random_derivation_vectors() {
        let vectors = wallet_vectors();
        let cases = vectors["random_derivations"].as_array().unwrap();
        assert_eq!(cases.len(), 20);
        for case in cases {
            let entropy = hex::decode(case["entropy_hex"].as_str().unwrap()).unwrap();
            let mnemonic = Mnemonic::from_entropy(&entropy).unwrap();
            assert_eq!(mnemonic.phrase().as_str(), case["mnemonic"].as_str().unwrap());
            check_address_case(case);
        }
    }

    #[test]
    fn bip84_spec_vectors() {
        let vectors = wallet_vectors();
        let cases = vectors["bip84_spec"].as_array().unwrap();
        assert_eq!(cases.len(), 3);
        for case in cases {
            let mut keys = keys_of(case);
            let root = WalletKeys::from_root_xprv(case["root_zprv"].as_str().unwrap()).unwrap();
            assert_eq!(
                root.master.to_string(Prefix::ZPRV).as_str(),
                case["root_zprv"].as_str().unwrap()
            );
            assert_eq!(
                keys.master.to_string(Prefix::ZPRV).as_str(),
                case["root_zprv"].as_str().unwrap()
            );
            assert_eq!(
                keys.account_xpub(Coin::BtcSegwit, 0).unwrap(),
                case["account_xpub"].as_str().unwrap()
            );
            let path = AddressPath::parse(case["path"].as_str().unwrap()).unwrap();
            let derived = keys.address_at(path).unwrap();
            assert_eq!(derived.address, case["address"].as_str().unwrap());
            assert_eq!(derived.public_key, case["pubkey_hex"].as_str().unwrap());
            // WIF: base58check(0x80 || key || 0x01), the 0x01 marking a compressed key.
            let private = keys.signing_key(&path).unwrap();
            let mut wif = vec![0x80];
            wif.extend_from_slice(&private.to_bytes());
            wif.push(0x01);
            assert_eq!(
                bs58::encode(wif).with_check().into_string(),
                case["wif"].as_str().unwrap()
            );
        }
    }

    #[test]
    fn the_cache_is_bounded_and_gives_the_same_answers() {
        let mnemonic = Mnemonic::from_entropy(&[0; 16]).unwrap();
        let mut keys = WalletKeys::from_mnemonic(&mnemonic, "").unwrap();
        let first = keys.address(Coin::Eth, 0, 0, 0).unwrap();
        for account in 0..(ACCOUNT_CACHE_MAX as u32 + 5) {
            keys.address(Coin::Btc, account, 1, 3).unwrap();
        }
        assert_eq!(keys.accounts.len(), ACCOUNT_CACHE_MAX);
        assert!(!keys.accounts.iter().any(|a| a.coin == Coin::Eth));
        assert_eq!(keys.address(Coin::Eth, 0, 0, 0).unwrap(), first);
        assert_eq!(first.address, "0x9858EfFD232B4033E47d90003D41EC34EcaEda94");
    }

    #[test]
    fn bad_paths_and_non_root_keys_are_refused() {
        let mut keys = WalletKeys::from_mnemonic(&Mnemonic::from_entropy(&[1; 32]).unwrap(), "").unwrap();
        assert!(matches!(keys.address(Coin::Btc, 0, 2, 0), Err(HdError::Path(_))));
        assert!(matches!(keys.address(Coin::Btc, 1 << 31, 0, 0), Err(HdError::Path(_))));
        assert!(matches!(keys.address(Coin::Btc, 0, 0, 1 << 31), Err(HdError::Path(_))));
        let child = concat!(
            "xprv9uHRZZhk6KAJC1avXpDAp4MDc3sQKNxDiPvvkX8Br5ngLNv1TxvUx",
            "t4cV1rGL5hj6KCesnDYUhd7oWgT11eZG7XnxHrnYeSvkzY7d2bhkJ7"
        );
        assert!(matches!(
            WalletKeys::from_root_xprv(child),
            Err(HdError::ExtendedKey(_))
        ));
        let xpub = concat!(
            "xpub661MyMwAqRbcFtXgS5sYJABqqG9YLmC4Q1Rdap9gSE8NqtwybGheP",
            "Y2gZ29ESFjqJoCu1Rupje8YtGqsefD265TMg7usUDFdp6W1EGMcet8"
        );
        assert!(matches!(WalletKeys::from_root_xprv(xpub), Err(HdError::ExtendedKey(_))));
    }

    #[test]
    fn debug_shows_no_key_material() {
        let mut keys = WalletKeys::from_mnemonic(&Mnemonic::from_entropy(&[0; 16]).unwrap(), "").unwrap();
        keys.address(Coin::Btc, 0, 0, 0).unwrap();
        let shown = format!("{keys:?}");
        assert!(shown.contains("redacted") && !shown.contains("xprv"), "{shown}");
    }
}
