//! Ethereum transactions: legacy with EIP-155 replay protection, and EIP-1559 (type 2) with
//! access lists (EIP-2930), RLP-encoded with `alloy-rlp` and signed with RFC 6979, low S.
//!
//! Quantities are `U256` (ruint), parsed from decimal or `0x` hex text by [`parse_quantity`]
//! so that JSON callers never pass wei through a float.

use alloy_rlp::Encodable;
use k256::ecdsa::SigningKey;
use ruint::aliases::U256;

use super::coin::Coin;
use super::error::HdError;
use super::eth_address::{eth_address, eth_checksum_address, keccak256};
use super::path::AddressPath;
use super::signing::sign_digest_low_s;
use super::wallet_keys::WalletKeys;

/// The type byte of EIP-1559 transactions (EIP-2718 envelope).
const EIP1559_TYPE: u8 = 0x02;
/// Geth refuses transactions larger than this (`txMaxSize`); so do we.
pub const ETH_TX_MAX_BYTES: usize = 128 * 1024;

/// The fee model, which is also the transaction type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EthFee {
    /// A legacy transaction signed with EIP-155 (`v = 35 + 2 * chain_id + parity`).
    Legacy { gas_price: U256 },
    /// An EIP-1559 (type 2) transaction.
    Eip1559 {
        max_priority_fee_per_gas: U256,
        max_fee_per_gas: U256,
        access_list: Vec<AccessListItem>,
    },
}

/// One EIP-2930 access list entry: an account and the storage slots the transaction touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessListItem {
    pub address: [u8; 20],
    pub storage_keys: Vec<[u8; 32]>,
}

impl Encodable for AccessListItem {
    fn encode(&self, out: &mut dyn alloy_rlp::BufMut) {
        let fields: [&dyn Encodable; 2] = [&self.address, &self.storage_keys];
        alloy_rlp::encode_list::<_, dyn Encodable>(&fields, out);
    }

    fn length(&self) -> usize {
        let fields: [&dyn Encodable; 2] = [&self.address, &self.storage_keys];
        alloy_rlp::list_length::<_, dyn Encodable>(&fields)
    }
}

/// An unsigned transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EthTransaction {
    /// EIP-155 chain id; 1 is mainnet. Zero is refused: it would sign for every chain.
    pub chain_id: u64,
    /// EIP-2681 bounds the nonce to 64 bits.
    pub nonce: u64,
    pub gas_limit: u64,
    /// `None` creates a contract from `data`.
    pub to: Option<[u8; 20]>,
    pub value: U256,
    pub data: Vec<u8>,
    pub fee: EthFee,
}

/// A signed transaction, ready for `eth_sendRawTransaction`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedEthTransaction {
    /// The network encoding: RLP for legacy, `0x02 || RLP` for type 2.
    pub raw: Vec<u8>,
    /// Keccak-256 of `raw`: the transaction hash explorers show.
    pub hash: [u8; 32],
    /// The digest that was signed.
    pub signing_hash: [u8; 32],
    pub from: [u8; 20],
    /// EIP-155 `v` for legacy transactions, the y parity (0 or 1) for type 2.
    pub v: u64,
    pub r: [u8; 32],
    pub s: [u8; 32],
}

impl SignedEthTransaction {
    pub fn raw_hex(&self) -> String {
        format!("0x{}", faster_hex::hex_string(&self.raw))
    }

    pub fn hash_hex(&self) -> String {
        format!("0x{}", faster_hex::hex_string(&self.hash))
    }

    /// The sender, EIP-55 checksummed.
    pub fn from_address(&self) -> String {
        eth_checksum_address(&self.from)
    }
}

/// Parses a quantity written in decimal (`"1000000000"`) or `0x` hex (`"0x3b9aca00"`).
/// Signs, spaces, underscores and fractions are refused; values past 2^256 - 1 are an
/// [`HdError::AmountOverflow`].
pub fn parse_quantity(field: &'static str, text: &str) -> Result<U256, HdError> {
    let (digits, radix, is_digit): (&str, u64, fn(&u8) -> bool) =
        match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            Some(hex_digits) => (hex_digits, 16, u8::is_ascii_hexdigit),
            None => (text, 10, u8::is_ascii_digit),
        };
    if digits.is_empty() || !digits.as_bytes().iter().all(is_digit) {
        return Err(HdError::TxField {
            field,
            reason: "not a decimal or 0x-hex quantity",
        });
    }
    // Only the digits above were let through, so the one failure left is overflow.
    U256::from_str_radix(digits, radix).map_err(|_| HdError::AmountOverflow { field })
}

/// [`parse_quantity`] for the fields bounded to 64 bits (chain id, nonce, gas limit).
pub fn parse_u64_quantity(field: &'static str, text: &str) -> Result<u64, HdError> {
    let value = parse_quantity(field, text)?;
    u64::try_from(value).map_err(|_| HdError::AmountOverflow { field })
}

impl EthTransaction {
    fn check(&self) -> Result<(), HdError> {
        if self.chain_id == 0 {
            return Err(HdError::TxField {
                field: "chainId",
                reason: "must not be 0",
            });
        }
        // v = 35 + 2 * chain_id + 1 must fit the u64 we return.
        if self.chain_id > (u64::MAX - 36) / 2 {
            return Err(HdError::AmountOverflow { field: "chainId" });
        }
        if let EthFee::Eip1559 {
            max_priority_fee_per_gas,
            max_fee_per_gas,
            ..
        } = &self.fee
        {
            if max_priority_fee_per_gas > max_fee_per_gas {
                return Err(HdError::TxField {
                    field: "maxPriorityFeePerGas",
                    reason: "must not exceed maxFeePerGas",
                });
            }
        }
        Ok(())
    }

    /// The fields both encodings share, in the order each type lists them.
    fn to_field(&self) -> &[u8] {
        self.to.as_ref().map_or(&[][..], |address| &address[..])
    }

    /// The payload that is hashed and signed. EIP-155: a legacy transaction carries the
    /// chain id and two empty values where v, r, s will go; a type 2 one carries nothing.
    pub fn signing_payload(&self) -> Vec<u8> {
        match &self.fee {
            EthFee::Legacy { .. } => self.encode(&[&self.chain_id, &0u8, &0u8]),
            EthFee::Eip1559 { .. } => self.encode(&[]),
        }
    }

    fn signed_payload(&self, v: u64, r: U256, s: U256) -> Vec<u8> {
        self.encode(&[&v, &r, &s])
    }

    /// The type byte (type 2) and the RLP list of the transaction's fields in the order its
    /// type lists them, followed by `tail`.
    fn encode(&self, tail: &[&dyn Encodable]) -> Vec<u8> {
        let mut out = Vec::with_capacity(200 + self.data.len());
        let to = self.to_field();
        let data = &self.data[..];
        let mut fields: Vec<&dyn Encodable> = match &self.fee {
            EthFee::Legacy { gas_price } => {
                vec![&self.nonce, gas_price, &self.gas_limit, &to, &self.value, &data]
            }
            EthFee::Eip1559 {
                max_priority_fee_per_gas,
                max_fee_per_gas,
                access_list,
            } => {
                out.push(EIP1559_TYPE);
                vec![
                    &self.chain_id,
                    &self.nonce,
                    max_priority_fee_per_gas,
                    max_fee_per_gas,
                    &self.gas_limit,
                    &to,
                    &self.value,
                    &data,
                    access_list,
                ]
            }
        };
        fields.extend_from_slice(tail);
        alloy_rlp::encode_list::<_, dyn Encodable>(&fields, &mut out);
        out
    }
}

/// Signs `tx` with `key`.
pub fn sign_eth_transaction(key: &SigningKey, tx: &EthTransaction) -> Result<SignedEthTransaction, HdError> {
    tx.check()?;
    let signing_hash = keccak256(&tx.signing_payload());
    let (signature, recovery_id) = sign_digest_low_s(key, &signing_hash);
    let parity = u64::from(recovery_id.is_y_odd());
    let v = match tx.fee {
        EthFee::Legacy { .. } => 35 + 2 * tx.chain_id + parity,
        EthFee::Eip1559 { .. } => parity,
    };
    let (r, s): ([u8; 32], [u8; 32]) = (signature.r().to_bytes().into(), signature.s().to_bytes().into());
    let raw = tx.signed_payload(v, U256::from_be_bytes(r), U256::from_be_bytes(s));
    if raw.len() > ETH_TX_MAX_BYTES {
        return Err(HdError::TxField {
            field: "data",
            reason: "transaction larger than 128 KiB",
        });
    }
    Ok(SignedEthTransaction {
        hash: keccak256(&raw),
        raw,
        signing_hash,
        from: eth_address(key.verifying_key()),
        v,
        r,
        s,
    })
}

impl WalletKeys {
    /// Signs `tx` with the key at `path`, which must be an Ethereum path (`m/44'/60'/...`).
    pub fn sign_eth_transaction(
        &self,
        path: &AddressPath,
        tx: &EthTransaction,
    ) -> Result<SignedEthTransaction, HdError> {
        if path.coin != Coin::Eth {
            return Err(HdError::Path("not an Ethereum path"));
        }
        sign_eth_transaction(&self.signing_key(path)?, tx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hd::eth_address::parse_eth_address;
    use crate::hd::hex_field::{decode_hex, decode_hex_array};
    use crate::hd::mnemonic::Mnemonic;
    use crate::test_vectors::{integer_text, wallet_vectors};
    use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};
    use serde_json::Value;

    fn quantity(value: &Value, field: &'static str) -> U256 {
        parse_quantity(field, &integer_text(&value[field])).unwrap()
    }

    fn small(value: &Value, field: &'static str) -> u64 {
        parse_u64_quantity(field, &integer_text(&value[field])).unwrap()
    }

    fn tx_of(json: &Value) -> EthTransaction {
        let fee = if json["type"].as_u64() == Some(2) {
            let access_list = json["accessList"]
                .as_array()
                .unwrap()
                .iter()
                .map(|item| AccessListItem {
                    address: parse_eth_address(item["address"].as_str().unwrap()).unwrap(),
                    storage_keys: item["storageKeys"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|k| decode_hex_array("storageKeys", k.as_str().unwrap()).unwrap())
                        .collect(),
                })
                .collect();
            EthFee::Eip1559 {
                max_priority_fee_per_gas: quantity(json, "maxPriorityFeePerGas"),
                max_fee_per_gas: quantity(json, "maxFeePerGas"),
                access_list,
            }
        } else {
            EthFee::Legacy {
                gas_price: quantity(json, "gasPrice"),
            }
        };
        EthTransaction {
            chain_id: small(json, "chainId"),
            nonce: small(json, "nonce"),
            gas_limit: small(json, "gas"),
            to: json["to"].as_str().map(|t| parse_eth_address(t).unwrap()),
            value: quantity(json, "value"),
            data: decode_hex("data", json["data"].as_str().unwrap()).unwrap(),
            fee,
        }
    }

    #[test]
    fn eth_tx_vectors_reproduce_byte_for_byte() {
        let vectors = wallet_vectors();
        let cases = vectors["eth_tx"].as_array().unwrap();
        assert_eq!(cases.len(), 16);
        let mut fields_checked = 0;
        for (i, case) in cases.iter().enumerate() {
            let key = SigningKey::from_slice(&decode_hex("key", case["key"].as_str().unwrap()).unwrap()).unwrap();
            let tx = tx_of(&case["tx"]);
            let signed = sign_eth_transaction(&key, &tx).unwrap();
            assert_eq!(signed.raw_hex(), case["raw_tx"].as_str().unwrap(), "case {i}");
            let hex32 = |name: &str| case[name].as_str().map(|h| decode_hex_array::<32>("v", h).unwrap());
            for (name, got) in [
                ("signing_hash", signed.signing_hash),
                ("r", signed.r),
                ("s", signed.s),
                ("tx_hash", signed.hash),
            ] {
                if let Some(expected) = hex32(name) {
                    assert_eq!(got, expected, "case {i} {name}");
                    fields_checked += 1;
                }
            }
            if let Some(v) = case["v"].as_u64() {
                assert_eq!(signed.v, v, "case {i}");
                fields_checked += 1;
            }
            if let Some(sender) = case["sender"].as_str() {
                assert_eq!(signed.from_address(), sender, "case {i}");
                fields_checked += 1;
            }
            // Whatever the vector lists, the signature recovers the sender.
            let signature = Signature::from_scalars(signed.r, signed.s).unwrap();
            let parity = if signed.v > 1 { (signed.v - 35) % 2 } else { signed.v };
            let recovery_id = RecoveryId::new(parity == 1, false);
            let recovered = VerifyingKey::recover_from_prehash(&signed.signing_hash, &signature, recovery_id).unwrap();
            assert_eq!(eth_address(&recovered), signed.from);
        }
        // EIP-155's example lists signing hash, v, r, s; the five computed cases list those,
        // the tx hash and the sender; the ten ethereumjs cases list only the raw bytes.
        assert_eq!(fields_checked, 4 + 5 * 6);
    }

    #[test]
    fn quantities_parse_in_decimal_and_hex_and_overflow_is_typed() {
        assert_eq!(parse_quantity("value", "0").unwrap(), U256::ZERO);
        assert_eq!(
            parse_quantity("value", "1000000000").unwrap(),
            U256::from(1_000_000_000u64)
        );
        assert_eq!(
            parse_quantity("value", "0x3b9aca00").unwrap(),
            U256::from(1_000_000_000u64)
        );
        assert_eq!(parse_quantity("value", &U256::MAX.to_string()).unwrap(), U256::MAX);
        assert_eq!(
            parse_quantity("value", &format!("0x{}", "f".repeat(64))).unwrap(),
            U256::MAX
        );
        let past_max = "115792089237316195423570985008687907853269984665640564039457584007913129639936";
        assert_eq!(
            parse_quantity("value", past_max),
            Err(HdError::AmountOverflow { field: "value" })
        );
        assert_eq!(
            parse_quantity("value", &format!("0x1{}", "0".repeat(64))),
            Err(HdError::AmountOverflow { field: "value" })
        );
        assert_eq!(
            parse_u64_quantity("nonce", "18446744073709551616"),
            Err(HdError::AmountOverflow { field: "nonce" })
        );
        for bad in ["", "0x", "-1", "+1", "1.5", "1e18", " 1", "1_000", "0xg", "٣"] {
            assert!(
                matches!(
                    parse_quantity("value", bad),
                    Err(HdError::TxField { field: "value", .. })
                ),
                "{bad:?}"
            );
        }
    }

    fn sample_tx(fee: EthFee) -> EthTransaction {
        EthTransaction {
            chain_id: 1,
            nonce: 0,
            gas_limit: 21_000,
            to: Some([0x35; 20]),
            value: U256::from(1u8),
            data: vec![],
            fee,
        }
    }

    #[test]
    fn bad_fields_are_refused() {
        let key = SigningKey::from_slice(&[0x46; 32]).unwrap();
        let mut tx = sample_tx(EthFee::Legacy {
            gas_price: U256::from(1u8),
        });
        tx.chain_id = 0;
        assert!(matches!(
            sign_eth_transaction(&key, &tx),
            Err(HdError::TxField { field: "chainId", .. })
        ));
        tx.chain_id = u64::MAX;
        assert_eq!(
            sign_eth_transaction(&key, &tx),
            Err(HdError::AmountOverflow { field: "chainId" })
        );
        let tx = sample_tx(EthFee::Eip1559 {
            max_priority_fee_per_gas: U256::from(2u8),
            max_fee_per_gas: U256::from(1u8),
            access_list: vec![],
        });
        assert!(matches!(sign_eth_transaction(&key, &tx), Err(HdError::TxField { .. })));
        let mut big = sample_tx(EthFee::Legacy {
            gas_price: U256::from(1u8),
        });
        big.data = vec![0; ETH_TX_MAX_BYTES];
        assert!(matches!(
            sign_eth_transaction(&key, &big),
            Err(HdError::TxField { field: "data", .. })
        ));
    }

    #[test]
    fn wallet_signs_with_the_key_of_the_path() {
        let mnemonic = Mnemonic::from_entropy(&[0; 16]).unwrap();
        let keys = WalletKeys::from_mnemonic(&mnemonic, "").unwrap();
        let tx = sample_tx(EthFee::Legacy {
            gas_price: U256::from(1u8),
        });
        let path = AddressPath::new(Coin::Eth, 0, 0, 0).unwrap();
        let signed = keys.sign_eth_transaction(&path, &tx).unwrap();
        assert_eq!(signed.from_address(), "0x9858EfFD232B4033E47d90003D41EC34EcaEda94");
        let btc = AddressPath::new(Coin::Btc, 0, 0, 0).unwrap();
        assert!(matches!(keys.sign_eth_transaction(&btc, &tx), Err(HdError::Path(_))));
    }
}
