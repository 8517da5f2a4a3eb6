//! The coins the wallet derives keys for, each with its BIP-44/84 purpose and SLIP-44 coin type.

use std::fmt;
use std::str::FromStr;

use bip32::Prefix;

use super::error::HdError;

/// A coin and the address kind its paths produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Coin {
    /// Bitcoin legacy P2PKH, `m/44'/0'`.
    Btc,
    /// Bitcoin native segwit P2WPKH, `m/84'/0'`.
    BtcSegwit,
    /// Ethereum (and EVM chains: the chain id is in the transaction), `m/44'/60'`.
    Eth,
    /// Cosmos Hub, `m/44'/118'`.
    Cosmos,
}

impl Coin {
    pub const ALL: [Coin; 4] = [Coin::Btc, Coin::BtcSegwit, Coin::Eth, Coin::Cosmos];

    /// Parses the API name. "btc84" is accepted for "btc-segwit" (the name the test vectors use).
    pub fn parse(name: &str) -> Result<Coin, HdError> {
        match name {
            "btc" => Ok(Coin::Btc),
            "btc-segwit" | "btc84" => Ok(Coin::BtcSegwit),
            "eth" => Ok(Coin::Eth),
            "cosmos" => Ok(Coin::Cosmos),
            _ => Err(HdError::UnknownCoin),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Coin::Btc => "btc",
            Coin::BtcSegwit => "btc-segwit",
            Coin::Eth => "eth",
            Coin::Cosmos => "cosmos",
        }
    }

    /// The first (hardened) path level: 84 for native segwit (BIP-84), 44 otherwise (BIP-44).
    pub fn purpose(self) -> u32 {
        match self {
            Coin::BtcSegwit => 84,
            Coin::Btc | Coin::Eth | Coin::Cosmos => 44,
        }
    }

    /// The SLIP-44 coin type, the second (hardened) path level.
    pub fn coin_type(self) -> u32 {
        match self {
            Coin::Btc | Coin::BtcSegwit => 0,
            Coin::Eth => 60,
            Coin::Cosmos => 118,
        }
    }

    /// The coin whose paths start `m/purpose'/coin_type'`, if any.
    pub fn from_purpose_and_type(purpose: u32, coin_type: u32) -> Option<Coin> {
        Coin::ALL
            .into_iter()
            .find(|c| c.purpose() == purpose && c.coin_type() == coin_type)
    }

    /// The version bytes for this coin's extended public keys: BIP-84 defines `zpub` so that
    /// an importing wallet knows to derive P2WPKH addresses; everything else uses `xpub`.
    pub(crate) fn xpub_prefix(self) -> Prefix {
        match self {
            Coin::BtcSegwit => Prefix::ZPUB,
            Coin::Btc | Coin::Eth | Coin::Cosmos => Prefix::XPUB,
        }
    }
}

impl FromStr for Coin {
    type Err = HdError;

    fn from_str(name: &str) -> Result<Coin, HdError> {
        Coin::parse(name)
    }
}

impl fmt::Display for Coin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for coin in Coin::ALL {
            assert_eq!(Coin::parse(coin.as_str()), Ok(coin));
            assert_eq!(coin.to_string().parse::<Coin>(), Ok(coin));
            assert_eq!(
                Coin::from_purpose_and_type(coin.purpose(), coin.coin_type()),
                Some(coin)
            );
        }
        assert_eq!(Coin::parse("btc84"), Ok(Coin::BtcSegwit));
        for bad in ["", "BTC", "bitcoin", "ltc", "eth ", "btc_segwit"] {
            assert_eq!(Coin::parse(bad), Err(HdError::UnknownCoin), "{bad:?}");
        }
        assert_eq!(Coin::from_purpose_and_type(49, 0), None);
        assert_eq!(Coin::from_purpose_and_type(84, 60), None);
    }
}
