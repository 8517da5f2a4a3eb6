//! BIP-39 mnemonics in English: parsing with the checksum, creation from entropy the caller
//! supplies (this crate draws no randomness), and the seed with its passphrase.
//!
//! The `bip39` crate does the work; its `unicode-normalization` feature applies NFKD to both the
//! phrase and the passphrase, as BIP-39 requires (the vectors include a passphrase with
//! accents and kanji).

use std::fmt;

use bip39::Language;
use zeroize::Zeroizing;

use super::error::HdError;
use super::seed::Seed;

/// A checked English mnemonic; its words are zeroized on drop (the `bip39` crate's `zeroize`
/// feature) and never printed by `Debug`.
pub struct Mnemonic {
    inner: bip39::Mnemonic,
}

impl Mnemonic {
    /// The entropy sizes BIP-39 defines, in bytes: 12, 15, 18, 21 and 24 words.
    pub const ENTROPY_LENS: [usize; 5] = [16, 20, 24, 28, 32];

    /// Parses a phrase of 12 to 24 words separated by any whitespace. Upper-case letters are
    /// folded: the list is lower-case and users retype phrases from paper.
    pub fn parse(phrase: &str) -> Result<Mnemonic, HdError> {
        let folded = Zeroizing::new(phrase.to_lowercase());
        let inner = bip39::Mnemonic::parse_in(Language::English, folded.as_str()).map_err(map_bip39_error)?;
        Ok(Mnemonic { inner })
    }

    /// Encodes entropy (16, 20, 24, 28 or 32 bytes, from the caller's CSPRNG) as words.
    pub fn from_entropy(entropy: &[u8]) -> Result<Mnemonic, HdError> {
        if !Self::ENTROPY_LENS.contains(&entropy.len()) {
            return Err(HdError::EntropyLength { bytes: entropy.len() });
        }
        let inner = bip39::Mnemonic::from_entropy_in(Language::English, entropy).map_err(map_bip39_error)?;
        Ok(Mnemonic { inner })
    }

    pub fn word_count(&self) -> usize {
        self.inner.word_count()
    }

    /// The words joined by single spaces, for showing to the user once at creation.
    pub fn phrase(&self) -> Zeroizing<String> {
        let mut phrase = Zeroizing::new(String::with_capacity(24 * 9));
        for (i, word) in self.inner.words().enumerate() {
            if i > 0 {
                phrase.push(' ');
            }
            phrase.push_str(word);
        }
        phrase
    }

    /// PBKDF2-HMAC-SHA512 of the words with salt "mnemonic" + NFKD(passphrase), 2048 rounds.
    pub fn to_seed(&self, passphrase: &str) -> Seed {
        let bytes = Zeroizing::new(self.inner.to_seed(passphrase));
        Seed::from_bytes(&bytes[..]).expect("a BIP-39 seed is 64 bytes")
    }
}

fn map_bip39_error(error: bip39::Error) -> HdError {
    match error {
        bip39::Error::BadWordCount(words) => HdError::MnemonicLength { words },
        bip39::Error::UnknownWord(position) => HdError::MnemonicWord { position },
        bip39::Error::BadEntropyBitCount(bits) => HdError::EntropyLength { bytes: bits / 8 },
        bip39::Error::InvalidChecksum => HdError::MnemonicChecksum,
        // Only English is enabled, so no phrase can be read in two languages.
        bip39::Error::AmbiguousLanguages(_) => HdError::MnemonicWord { position: 0 },
    }
}

/// Redacted: a mnemonic must never reach a log.
impl fmt::Debug for Mnemonic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mnemonic({} words, redacted)", self.word_count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hd::wallet_keys::WalletKeys;
    use crate::test_vectors::{hex_of, wallet_vectors};

    #[test]
    fn bip39_vectors_reproduce_words_seed_and_master_key() {
        let vectors = wallet_vectors();
        let cases = vectors["bip39"].as_array().unwrap();
        assert_eq!(cases.len(), 24);
        for case in cases {
            let entropy = hex::decode(case["entropy_hex"].as_str().unwrap()).unwrap();
            let words = case["mnemonic"].as_str().unwrap();
            let from_entropy = Mnemonic::from_entropy(&entropy).unwrap();
            assert_eq!(from_entropy.phrase().as_str(), words);
            let parsed = Mnemonic::parse(words).unwrap();
            assert_eq!(parsed.phrase().as_str(), words);
            let seed = parsed.to_seed(case["passphrase"].as_str().unwrap());
            assert_eq!(hex_of(seed.as_bytes()), case["seed_hex"].as_str().unwrap(), "{words}");
            let keys = WalletKeys::from_seed(&seed).unwrap();
            assert_eq!(
                keys.master_xprv_for_tests().as_str(),
                case["bip32_xprv"].as_str().unwrap()
            );
        }
    }

    #[test]
    fn nfkd_passphrases_match_the_reference_seeds() {
        // The random_derivations set uses "pässwörd 日本"; composed and decomposed spellings
        // of the same text must give one seed.
        let vectors = wallet_vectors();
        let case = vectors["random_derivations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["passphrase"].as_str().unwrap().contains('ä'))
            .unwrap();
        let mnemonic = Mnemonic::parse(case["mnemonic"].as_str().unwrap()).unwrap();
        let composed = case["passphrase"].as_str().unwrap();
        let decomposed = composed.replace('ä', "a\u{308}").replace('ö', "o\u{308}");
        assert_ne!(composed, decomposed);
        let expected = case["seed_hex"].as_str().unwrap();
        assert_eq!(hex_of(mnemonic.to_seed(composed).as_bytes()), expected);
        assert_eq!(hex_of(mnemonic.to_seed(&decomposed).as_bytes()), expected);
    }

    #[test]
    fn whitespace_and_case_are_forgiven() {
        let words = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
        let messy = format!("  {}\n", words.to_uppercase().replace(' ', " \t "));
        assert_eq!(Mnemonic::parse(&messy).unwrap().phrase().as_str(), words);
    }

    #[test]
    fn bad_checksum_word_and_length_have_their_own_errors() {
        let twelve = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon";
        // The last word carries the checksum: "abandon" in place of "about" breaks it.
        assert_eq!(
            Mnemonic::parse(&format!("{twelve} abandon")).unwrap_err(),
            HdError::MnemonicChecksum
        );
        assert_eq!(
            Mnemonic::parse(&format!("{twelve} abuot")).unwrap_err(),
            HdError::MnemonicWord { position: 11 }
        );
        assert_eq!(
            Mnemonic::parse(twelve).unwrap_err(),
            HdError::MnemonicLength { words: 11 }
        );
        assert_eq!(Mnemonic::parse("").unwrap_err(), HdError::MnemonicLength { words: 0 });
        let thirteen = format!("{twelve} about about");
        assert_eq!(
            Mnemonic::parse(&thirteen).unwrap_err(),
            HdError::MnemonicLength { words: 13 }
        );
        let twenty_seven = vec!["abandon"; 27].join(" ");
        assert_eq!(
            Mnemonic::parse(&twenty_seven).unwrap_err(),
            HdError::MnemonicLength { words: 27 }
        );
        for bytes in [0, 15, 17, 33, 64] {
            assert_eq!(
                Mnemonic::from_entropy(&vec![0; bytes]).unwrap_err(),
                HdError::EntropyLength { bytes }
            );
        }
    }

    #[test]
    fn debug_does_not_print_the_words() {
        let mnemonic = Mnemonic::from_entropy(&[0; 16]).unwrap();
        let shown = format!("{mnemonic:?}");
        assert!(!shown.contains("abandon"), "{shown}");
    }
}
