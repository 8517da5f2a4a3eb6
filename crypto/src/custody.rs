//! Seeds at rest: a wallet's seed sealed into a keystore record under a [`KeystoreKey`], and
//! opened back. The seed's bytes never leave this crate; the server only moves sealed records.

use crate::gm::{KeystoreError, KeystoreKey};
use crate::hd::Seed;

/// Seals `seed` under `key`; `nonce` is 12 fresh random bytes.
pub fn seal_seed(key: &KeystoreKey, seed: &Seed, nonce: &[u8; 12]) -> Result<Vec<u8>, KeystoreError> {
    key.seal(seed.as_bytes(), nonce)
}

/// Opens a record written by [`seal_seed`].
pub fn open_seed(key: &KeystoreKey, record: &[u8]) -> Result<Seed, KeystoreError> {
    let bytes = key.open(record)?;
    Seed::from_bytes(&bytes).map_err(|_| KeystoreError::Corrupt("the sealed seed is not 16 to 64 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gm::{KdfParams, Passphrase};
    use crate::hd::{Coin, Mnemonic, WalletKeys};

    #[test]
    fn a_sealed_seed_opens_to_the_same_keys_and_a_flipped_bit_is_refused() {
        let key = KeystoreKey::derive(
            &Passphrase::from("p"),
            &KdfParams::argon2id(64, 1, 1).unwrap(),
            &[7; 16],
        )
        .unwrap();
        let mnemonic = Mnemonic::parse(
            "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
        )
        .unwrap();
        let seed = mnemonic.to_seed("");
        let mut record = seal_seed(&key, &seed, &[1; 12]).unwrap();
        let opened = open_seed(&key, &record).unwrap();
        let address = |s: &Seed| {
            WalletKeys::from_seed(s)
                .unwrap()
                .address(Coin::Eth, 0, 0, 0)
                .unwrap()
                .address
        };
        assert_eq!(address(&opened), address(&seed));
        record[70] ^= 1;
        assert!(open_seed(&key, &record).is_err());
    }
}
