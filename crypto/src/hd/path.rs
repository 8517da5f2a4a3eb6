//! BIP-32 derivation paths in text (`m/44'/0'/0'/0/7`), and the BIP-44 shape of an address path.
//!
//! The text form is canonical: one text per path (no leading zeros, no signs, no spaces), so a
//! path can be compared or cached by its text. Hardened steps are written `'`, `h` or `H` on
//! input and `'` on output.

use std::fmt;
use std::str::FromStr;

use bip32::ChildNumber;

use super::coin::Coin;
use super::error::HdError;

/// Indices at or above this are hardened; an index written in a path must stay below it.
pub const HARDENED: u32 = ChildNumber::HARDENED_FLAG;

/// A validated BIP-32 path from the master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivationPath {
    steps: Vec<ChildNumber>,
}

impl DerivationPath {
    /// BIP-32 serializes depth in one byte.
    pub const DEPTH_MAX: usize = 255;

    /// The master key itself, `m`.
    pub fn master() -> DerivationPath {
        DerivationPath { steps: Vec::new() }
    }

    pub fn parse(text: &str) -> Result<DerivationPath, HdError> {
        let mut parts = text.split('/');
        if parts.next() != Some("m") {
            return Err(HdError::Path("must start with \"m\""));
        }
        let mut steps = Vec::new();
        for part in parts {
            if steps.len() == Self::DEPTH_MAX {
                return Err(HdError::Path("deeper than 255 levels"));
            }
            steps.push(parse_step(part)?);
        }
        Ok(DerivationPath { steps })
    }

    pub fn steps(&self) -> &[ChildNumber] {
        &self.steps
    }

    pub fn depth(&self) -> usize {
        self.steps.len()
    }

    /// This path with one more step; `index` must be below 2^31.
    pub fn child(&self, index: u32, hardened: bool) -> Result<DerivationPath, HdError> {
        if self.steps.len() == Self::DEPTH_MAX {
            return Err(HdError::Path("deeper than 255 levels"));
        }
        let step = ChildNumber::new(index, hardened).map_err(|_| HdError::Path("index must be below 2^31"))?;
        let mut steps = self.steps.clone();
        steps.push(step);
        Ok(DerivationPath { steps })
    }
}

fn parse_step(part: &str) -> Result<ChildNumber, HdError> {
    let (digits, hardened) = match part.strip_suffix(['\'', 'h', 'H']) {
        Some(digits) => (digits, true),
        None => (part, false),
    };
    if digits.is_empty() {
        return Err(HdError::Path("empty step"));
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HdError::Path("a step is not a decimal index"));
    }
    if digits.len() > 1 && digits.starts_with('0') {
        return Err(HdError::Path("a step has a leading zero"));
    }
    // Ten digits hold every u32; more overflow, which the range check below reports.
    let index = if digits.len() > 10 {
        u64::MAX
    } else {
        digits.parse::<u64>().unwrap_or(u64::MAX)
    };
    let index = u32::try_from(index)
        .ok()
        .filter(|i| *i < HARDENED)
        .ok_or(HdError::Path("index must be below 2^31"))?;
    ChildNumber::new(index, hardened).map_err(|_| HdError::Path("index must be below 2^31"))
}

impl FromStr for DerivationPath {
    type Err = HdError;

    fn from_str(text: &str) -> Result<DerivationPath, HdError> {
        DerivationPath::parse(text)
    }
}

impl fmt::Display for DerivationPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("m")?;
        for step in &self.steps {
            write!(f, "/{}{}", step.index(), if step.is_hardened() { "'" } else { "" })?;
        }
        Ok(())
    }
}

/// The BIP-44 shape `m/purpose'/coin_type'/account'/change/index` of a coin's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddressPath {
    pub coin: Coin,
    /// Hardened in the path; below 2^31.
    pub account: u32,
    /// 0 for receive addresses, 1 for change (BIP-44 "external"/"internal" chain).
    pub change: u32,
    /// Not hardened, below 2^31.
    pub index: u32,
}

impl AddressPath {
    pub fn new(coin: Coin, account: u32, change: u32, index: u32) -> Result<AddressPath, HdError> {
        if account >= HARDENED {
            return Err(HdError::Path("account must be below 2^31"));
        }
        if change > 1 {
            return Err(HdError::Path("change must be 0 (receive) or 1 (change)"));
        }
        if index >= HARDENED {
            return Err(HdError::Path("index must be below 2^31"));
        }
        Ok(AddressPath {
            coin,
            account,
            change,
            index,
        })
    }

    /// Parses `m/purpose'/coin_type'/account'/change/index` and finds the coin from the first
    /// two levels.
    pub fn parse(text: &str) -> Result<AddressPath, HdError> {
        let path = DerivationPath::parse(text)?;
        let [purpose, coin_type, account, change, index] = path.steps() else {
            return Err(HdError::Path("expected m/purpose'/coin_type'/account'/change/index"));
        };
        if !(purpose.is_hardened() && coin_type.is_hardened() && account.is_hardened()) {
            return Err(HdError::Path("purpose, coin type and account must be hardened"));
        }
        if change.is_hardened() || index.is_hardened() {
            return Err(HdError::Path("change and index must not be hardened"));
        }
        let coin = Coin::from_purpose_and_type(purpose.index(), coin_type.index()).ok_or(HdError::UnknownCoin)?;
        AddressPath::new(coin, account.index(), change.index(), index.index())
    }

    /// `m/purpose'/coin_type'/account'`, whose extended public key the wallet caches.
    pub fn account_path(&self) -> DerivationPath {
        let steps = [
            ChildNumber(self.coin.purpose() | HARDENED),
            ChildNumber(self.coin.coin_type() | HARDENED),
            ChildNumber(self.account | HARDENED),
        ];
        DerivationPath { steps: steps.to_vec() }
    }

    pub fn to_derivation_path(&self) -> DerivationPath {
        let mut path = self.account_path();
        path.steps.push(ChildNumber(self.change));
        path.steps.push(ChildNumber(self.index));
        path
    }
}

impl FromStr for AddressPath {
    type Err = HdError;

    fn from_str(text: &str) -> Result<AddressPath, HdError> {
        AddressPath::parse(text)
    }
}

impl fmt::Display for AddressPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_derivation_path(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn paths_parse_in_every_hardened_spelling_and_print_canonically() {
        assert_eq!(DerivationPath::parse("m").unwrap(), DerivationPath::master());
        let path = DerivationPath::parse("m/0H/1/2h/2/1000000000").unwrap();
        assert_eq!(path.to_string(), "m/0'/1/2'/2/1000000000");
        assert_eq!(path.depth(), 5);
        assert!(path.steps()[0].is_hardened() && !path.steps()[1].is_hardened());
        assert_eq!(DerivationPath::parse("m/2147483647'").unwrap().steps()[0].0, u32::MAX);
    }

    #[test]
    fn malformed_paths_are_refused() {
        for bad in [
            "",
            "M/0",
            "/0",
            "0/1",
            "m/",
            "m//1",
            "m/1/",
            "m/-1",
            "m/+1",
            "m/01",
            "m/ 1",
            "m/1 ",
            "m/1''",
            "m/'",
            "m/2147483648",
            "m/2147483648'",
            "m/4294967296",
            "m/99999999999999999999999",
            "m/0x10",
            "m/1/a",
        ] {
            assert!(matches!(DerivationPath::parse(bad), Err(HdError::Path(_))), "{bad:?}");
        }
        let deepest = format!("m{}", "/0".repeat(255));
        assert_eq!(DerivationPath::parse(&deepest).unwrap().depth(), 255);
        assert!(DerivationPath::parse(&format!("{deepest}/0")).is_err());
        assert!(DerivationPath::parse(&deepest).unwrap().child(0, false).is_err());
    }

    #[test]
    fn address_paths_check_the_bip44_shape() {
        let path = AddressPath::parse("m/84'/0'/3'/1/19").unwrap();
        assert_eq!(
            path,
            AddressPath {
                coin: Coin::BtcSegwit,
                account: 3,
                change: 1,
                index: 19
            }
        );
        assert_eq!(path.to_string(), "m/84'/0'/3'/1/19");
        assert_eq!(path.account_path().to_string(), "m/84'/0'/3'");
        assert_eq!(AddressPath::parse("m/44'/118'/0'/0/0").unwrap().coin, Coin::Cosmos);
        assert_eq!(AddressPath::parse("m/44'/60'/0'/0/0").unwrap().coin, Coin::Eth);
        assert_eq!(AddressPath::parse("m/44'/2'/0'/0/0"), Err(HdError::UnknownCoin));
        assert_eq!(AddressPath::parse("m/49'/0'/0'/0/0"), Err(HdError::UnknownCoin));
        for bad in [
            "m/44'/0'/0'/0",
            "m/44'/0'/0'/0/0/0",
            "m/44/0'/0'/0/0",
            "m/44'/0'/0/0/0",
            "m/44'/0'/0'/0'/0",
            "m/44'/0'/0'/0/0'",
            "m/44'/0'/0'/2/0",
        ] {
            assert!(matches!(AddressPath::parse(bad), Err(HdError::Path(_))), "{bad:?}");
        }
        assert!(AddressPath::new(Coin::Btc, HARDENED, 0, 0).is_err());
        assert!(AddressPath::new(Coin::Btc, 0, 0, HARDENED).is_err());
        assert!(AddressPath::new(Coin::Btc, 0, 2, 0).is_err());
    }

    proptest! {
        #[test]
        fn printed_paths_parse_back(steps in proptest::collection::vec((0u32..HARDENED, any::<bool>()), 0..20)) {
            let mut path = DerivationPath::master();
            for (index, hardened) in steps {
                path = path.child(index, hardened).unwrap();
            }
            prop_assert_eq!(DerivationPath::parse(&path.to_string()).unwrap(), path);
        }

        #[test]
        fn address_paths_round_trip(
            coin in 0usize..4,
            account in 0u32..HARDENED,
            change in 0u32..2,
            index in 0u32..HARDENED,
        ) {
            let path = AddressPath::new(Coin::ALL[coin], account, change, index).unwrap();
            prop_assert_eq!(AddressPath::parse(&path.to_string()).unwrap(), path);
        }
    }
}
