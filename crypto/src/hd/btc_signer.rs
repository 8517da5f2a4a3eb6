//! Signing a Bitcoin spend of P2WPKH outputs into a complete segwit transaction.
//!
//! The request names, per input, the output it spends, that output's amount (BIP-143 signs
//! it) and the wallet path of the key that owns it. Amounts are checked before anything is
//! signed: each below MAX_MONEY, the sums without overflow, and the outputs not above the
//! inputs (the difference is the fee). Every signature is verified under Bitcoin's rules
//! before the transaction is returned.

use std::collections::HashSet;

use k256::ecdsa::SigningKey;

use super::address::{compressed_public_key, hash160};
use super::btc_tx::{display_hash, OutPoint, Transaction, TxIn, TxOut};
use super::coin::Coin;
use super::ecdsa_verify::verify_bitcoin;
use super::error::HdError;
use super::path::AddressPath;
use super::sighash::{bip143_sighash, p2wpkh_script_code, SighashBase, SighashType};
use super::signing::sign_digest_low_s;
use super::wallet_keys::WalletKeys;

/// 21 million BTC in satoshis: no amount, and no sum of amounts, may exceed it.
pub const MAX_MONEY_SAT: u64 = 21_000_000 * 100_000_000;
/// Bounds on one request; a standard transaction of P2WPKH inputs holds about 1,460 inputs,
/// far more than a light wallet spends at once.
pub const BTC_SPEND_MAX_INPUTS: usize = 500;
pub const BTC_SPEND_MAX_OUTPUTS: usize = 500;
/// Sequence of an input that opts out of replace-by-fee and lock time: final.
pub const SEQUENCE_FINAL: u32 = 0xffff_ffff;

/// One P2WPKH output of the wallet being spent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct P2wpkhInput {
    pub previous_output: OutPoint,
    /// The value of the output being spent; BIP-143 signs it, so a wrong amount yields an
    /// invalid signature rather than an unintended fee.
    pub amount_sat: u64,
    pub sequence: u32,
    pub sighash: SighashType,
    /// The key that owns the output: an `m/84'/0'/...` path.
    pub path: AddressPath,
}

/// What to sign. `version` 2 and `lock_time` 0 are the usual values ([`BtcSpend::new`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BtcSpend {
    pub version: u32,
    pub lock_time: u32,
    pub inputs: Vec<P2wpkhInput>,
    pub outputs: Vec<TxOut>,
}

impl BtcSpend {
    pub fn new(inputs: Vec<P2wpkhInput>, outputs: Vec<TxOut>) -> BtcSpend {
        BtcSpend {
            version: 2,
            lock_time: 0,
            inputs,
            outputs,
        }
    }
}

/// A signed transaction, ready for `sendrawtransaction`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedBtcTransaction {
    pub transaction: Transaction,
    /// The network serialization, with witnesses.
    pub raw: Vec<u8>,
    /// Internal byte order; [`SignedBtcTransaction::txid_hex`] gives the display form.
    pub txid: [u8; 32],
    pub wtxid: [u8; 32],
    pub fee_sat: u64,
    pub weight: usize,
    pub vsize: usize,
}

impl SignedBtcTransaction {
    pub fn raw_hex(&self) -> String {
        faster_hex::hex_string(&self.raw)
    }

    pub fn txid_hex(&self) -> String {
        display_hash(&self.txid)
    }

    pub fn wtxid_hex(&self) -> String {
        display_hash(&self.wtxid)
    }
}

/// Sums amounts, each and the total at most MAX_MONEY.
fn sum_amounts(amounts: impl Iterator<Item = u64>, field: &'static str) -> Result<u64, HdError> {
    let mut total = 0u64;
    for amount in amounts {
        total = total
            .checked_add(amount)
            .filter(|t| amount <= MAX_MONEY_SAT && *t <= MAX_MONEY_SAT)
            .ok_or(HdError::AmountOverflow { field })?;
    }
    Ok(total)
}

/// Checks the amounts and returns the fee.
fn check_amounts(spend: &BtcSpend) -> Result<u64, HdError> {
    let inputs_sat = sum_amounts(spend.inputs.iter().map(|i| i.amount_sat), "inputs.amount")?;
    let outputs_sat = sum_amounts(spend.outputs.iter().map(|o| o.value_sat), "outputs.amount")?;
    if outputs_sat > inputs_sat {
        return Err(HdError::OutputsExceedInputs {
            inputs_sat,
            outputs_sat,
        });
    }
    Ok(inputs_sat - outputs_sat)
}

fn check_shape(spend: &BtcSpend) -> Result<(), HdError> {
    let field = |field, reason| HdError::TxField { field, reason };
    if spend.inputs.is_empty() || spend.inputs.len() > BTC_SPEND_MAX_INPUTS {
        return Err(field("inputs", "between 1 and 500 inputs"));
    }
    if spend.outputs.is_empty() || spend.outputs.len() > BTC_SPEND_MAX_OUTPUTS {
        return Err(field("outputs", "between 1 and 500 outputs"));
    }
    let mut seen = HashSet::with_capacity(spend.inputs.len());
    for (index, input) in spend.inputs.iter().enumerate() {
        if input.path.coin != Coin::BtcSegwit {
            return Err(HdError::Path("P2WPKH inputs are spent from m/84'/0' paths"));
        }
        if !seen.insert(input.previous_output) {
            return Err(field("inputs", "the same output is spent twice"));
        }
        // SINGLE with no output at the input's index would sign no output at all.
        if input.sighash.base == SighashBase::Single && index >= spend.outputs.len() {
            return Err(field("sighash", "SINGLE needs an output at the input's index"));
        }
    }
    if spend
        .outputs
        .iter()
        .any(|o| o.script_pubkey.is_empty() || o.script_pubkey.len() > 10_000)
    {
        return Err(field("outputs.script", "empty or longer than 10,000 bytes"));
    }
    Ok(())
}

/// Signs `spend`; `key_for` gives the private key of each input's path.
pub fn sign_p2wpkh_spend(
    spend: &BtcSpend,
    key_for: impl Fn(&AddressPath) -> Result<SigningKey, HdError>,
) -> Result<SignedBtcTransaction, HdError> {
    check_shape(spend)?;
    let fee_sat = check_amounts(spend)?;
    let inputs = spend
        .inputs
        .iter()
        .map(|input| TxIn {
            previous_output: input.previous_output,
            script_sig: Vec::new(),
            sequence: input.sequence,
            witness: Vec::new(),
        })
        .collect();
    let mut tx = Transaction {
        version: spend.version,
        inputs,
        outputs: spend.outputs.clone(),
        lock_time: spend.lock_time,
    };
    // Witnesses are not part of any BIP-143 digest, so each input is signed against the
    // transaction as it stands, and the witnesses are filled in afterwards.
    let mut witnesses = Vec::with_capacity(spend.inputs.len());
    for (index, input) in spend.inputs.iter().enumerate() {
        let key = key_for(&input.path)?;
        let public_key = compressed_public_key(key.verifying_key());
        let script_code = p2wpkh_script_code(&hash160(&public_key));
        let digest = bip143_sighash(&tx, index, &script_code, input.amount_sat, input.sighash)?;
        let (signature, _) = sign_digest_low_s(&key, &digest);
        let der = signature.to_der();
        verify_bitcoin(&public_key, &digest, der.as_bytes())?;
        let mut signature_item = der.as_bytes().to_vec();
        signature_item.push(input.sighash.to_byte());
        witnesses.push(vec![signature_item, public_key.to_vec()]);
    }
    for (input, witness) in tx.inputs.iter_mut().zip(witnesses) {
        input.witness = witness;
    }
    let raw = tx.serialize();
    Ok(SignedBtcTransaction {
        txid: tx.txid(),
        wtxid: tx.wtxid(),
        weight: tx.weight(),
        vsize: tx.vsize(),
        raw,
        fee_sat,
        transaction: tx,
    })
}

impl WalletKeys {
    /// Signs a spend of this wallet's P2WPKH outputs.
    pub fn sign_btc_transaction(&self, spend: &BtcSpend) -> Result<SignedBtcTransaction, HdError> {
        sign_p2wpkh_spend(spend, |path| self.signing_key(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hd::btc_address::BtcAddress;
    use crate::hd::mnemonic::Mnemonic;
    use crate::hd::sighash::SighashBase;
    use proptest::prelude::*;

    fn wallet() -> WalletKeys {
        let mnemonic = Mnemonic::parse(
            "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
        )
        .unwrap();
        WalletKeys::from_mnemonic(&mnemonic, "").unwrap()
    }

    fn input(n: u8, amount_sat: u64, sighash: SighashType, index: u32) -> P2wpkhInput {
        P2wpkhInput {
            previous_output: OutPoint {
                txid: [n; 32],
                vout: u32::from(n),
            },
            amount_sat,
            sequence: SEQUENCE_FINAL - 2,
            sighash,
            path: AddressPath::new(Coin::BtcSegwit, 0, 0, index).unwrap(),
        }
    }

    fn pay(address: &str, value_sat: u64) -> TxOut {
        TxOut {
            value_sat,
            script_pubkey: BtcAddress::parse(address).unwrap().script_pubkey(),
        }
    }

    #[test]
    fn a_signed_spend_is_a_complete_valid_segwit_transaction() {
        let mut keys = wallet();
        let all_types: Vec<SighashType> = [0x01, 0x02, 0x03, 0x81, 0x82, 0x83]
            .into_iter()
            .map(|b| SighashType::from_byte(b).unwrap())
            .collect();
        let inputs: Vec<_> = all_types
            .iter()
            .enumerate()
            .map(|(i, t)| input(i as u8 + 1, 100_000, *t, i as u32))
            .collect();
        let outputs = vec![
            pay(
                "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
                150_000,
            ),
            pay("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", 100_000),
            pay("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", 100_000),
            pay(
                "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3",
                100_000,
            ),
            pay("bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", 100_000),
            pay("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", 49_000),
        ];
        let spend = BtcSpend::new(inputs.clone(), outputs);
        let signed = keys.sign_btc_transaction(&spend).unwrap();
        assert_eq!(signed.fee_sat, 1_000);
        // Pinned bytes (RFC 6979 makes them deterministic), checked with embit 0.8.0, an
        // independent implementation: it parses them, recomputes the BIP-143 digest of each
        // of the six inputs (one per sighash type) and verifies every signature.
        let expected_raw = concat!(
            "0200000000010601010101010101010101010101010101010101010101010101010101010101010100000000fdffffff",
            "02020202020202020202020202020202020202020202020202020202020202020200000000fdffffff03030303030303",
            "030303030303030303030303030303030303030303030303030300000000fdffffff0404040404040404040404040404",
            "0404040404040404040404040404040404040400000000fdffffff050505050505050505050505050505050505050505",
            "05050505050505050505050500000000fdffffff06060606060606060606060606060606060606060606060606060606",
            "060606060600000000fdffffff06f04902000000000022512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28",
            "d959f2815b16f81798a0860100000000001976a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888aca086010000",
            "00000017a914b472a266d0bd89c13706a4132ccfb16f7c3b9fcb87a0860100000000002200201863143c14c5166804bd",
            "19203356da136c985678cd4d27a1b8c6329604903262a086010000000000160014c0cebcd6c3d3ca8c75dc5ec62ebe55",
            "330ef910e268bf000000000000160014751e76e8199196d454941c45d1b3a323f1433bd60247304402207a58e768832a",
            "7225c856da51a1b74a24433a5a3c72a0e83cbde55ed5f815552402206b09ac1a69a40eb02cc25a1d0afea6be2528e5db",
            "30287fe184da52d5461238f001210330d54fd0dd420a6e5f8d3624f5f3482cae350f79d5f0753bf5beef9c2d91af3c02",
            "4730440220420b23a01f1e63485140091de98841f4c2c0579bcb0be418638eea47a35767ae02203a8ab47642ea348719",
            "1b7a83885bd9e5871396bc1ba49319e5b85fe5bae378b1022103e775fd51f0dfb8cd865d9ff1cca2a158cf651fe997fd",
            "c9fee9c1d3b5e995ea7702483045022100c6457f8fe974d2c12b939bd972a4cb9f39dc42d9d78ffb7a8ab02a0e738d42",
            "7302202edf358bfd69d914ccaccb2a1d43990380633f8af714f0403e576b20981e5c150321038ffea936b2df76bf3122",
            "0ebd56a34b30c6b86f40d3bd92664e2f5f98488dddfa02483045022100ea9ba5af58f66f2a02d4ca925dae12993e6e0d",
            "32ed7c0ed3904cfedf4f5d84380220659d2e5cae1e7741582ae87f8e48847dad90367f9938f7b17666785b82a98ad281",
            "2103de7490bcca92a2fb57d782c3fd60548ce3a842cad6f3a8d4e76d1f2ff7fcdb89024830450221009021047d87bf25",
            "1ca0f7cbc8e2e515ea68b737daad71677285ae8933a08cc58f0220294ea8b08bf3d92945920b7fc99c84632ed1f1f2d8",
            "e6ee0a6051efd516e99f36822103995137c8eb3b223c904259e9b571a8939a0ec99b0717684c3936407ca8538c1b0247",
            "304402206f9b2f958884bbd69697d05b87d992f4826389fff618c991b4e119daa5ef06be02206eecc612b8fa45854632",
            "318bc3c32b1baf3523168dccb69037afe1c511a2ea2883210284ae0efbe5cb35b24036d48d49d3c55a84fa75552bd162",
            "fc3a2a55e2997dd45900000000",
        );
        assert_eq!(signed.raw_hex(), expected_raw);
        assert_eq!(
            signed.txid_hex(),
            "ab3647a21da3650b9c9bd6a3e9ff59493c97ad9f17c9d9501238265a3b30c7d9"
        );
        assert_eq!(
            signed.wtxid_hex(),
            "79917d8210773f1afe85d77756c9e908e9d3078054e50c6cf66f3512b7fbe34f"
        );

        // The bytes decode back to the same transaction, and the ids are the hashes of the
        // two serializations.
        let decoded = Transaction::decode(&signed.raw).unwrap();
        assert_eq!(decoded, signed.transaction);
        assert_ne!(signed.txid, signed.wtxid);
        assert_eq!(signed.txid_hex().len(), 64);
        assert!(signed.vsize < signed.raw.len() && signed.vsize == signed.weight.div_ceil(4));

        // Each witness is [signature || type, key], the key is the one of the input's path
        // and the signature verifies against the recomputed BIP-143 digest.
        for (index, (tx_input, spec)) in decoded.inputs.iter().zip(&inputs).enumerate() {
            assert!(tx_input.script_sig.is_empty());
            let [signature, public_key] = &tx_input.witness[..] else {
                panic!("witness of input {index}")
            };
            let expected_key = keys.address_at(spec.path).unwrap().public_key;
            assert_eq!(hex::encode(public_key), expected_key);
            let (type_byte, der) = signature.split_last().unwrap();
            assert_eq!(*type_byte, spec.sighash.to_byte());
            let script_code = p2wpkh_script_code(&hash160(public_key));
            let digest = bip143_sighash(&decoded, index, &script_code, spec.amount_sat, spec.sighash).unwrap();
            assert_eq!(verify_bitcoin(public_key, &digest, der), Ok(()));
        }
    }

    #[test]
    fn amounts_are_checked_before_signing() {
        let keys = wallet();
        let one = |amount| vec![input(1, amount, SighashType::ALL, 0)];
        let out = |value| vec![pay("bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", value)];
        assert_eq!(
            keys.sign_btc_transaction(&BtcSpend::new(one(1_000), out(1_001))),
            Err(HdError::OutputsExceedInputs {
                inputs_sat: 1_000,
                outputs_sat: 1_001
            })
        );
        assert_eq!(
            keys.sign_btc_transaction(&BtcSpend::new(one(MAX_MONEY_SAT + 1), out(1))),
            Err(HdError::AmountOverflow { field: "inputs.amount" })
        );
        assert_eq!(
            keys.sign_btc_transaction(&BtcSpend::new(one(u64::MAX), out(1))),
            Err(HdError::AmountOverflow { field: "inputs.amount" })
        );
        // Two amounts each below MAX_MONEY whose sum is above it.
        let two = vec![
            input(1, MAX_MONEY_SAT, SighashType::ALL, 0),
            input(2, 1, SighashType::ALL, 1),
        ];
        assert_eq!(
            keys.sign_btc_transaction(&BtcSpend::new(two, out(1))),
            Err(HdError::AmountOverflow { field: "inputs.amount" })
        );
        let mut outputs = out(u64::MAX / 2);
        outputs.extend(out(u64::MAX / 2));
        assert_eq!(
            keys.sign_btc_transaction(&BtcSpend::new(one(1_000), outputs)),
            Err(HdError::AmountOverflow {
                field: "outputs.amount"
            })
        );
        // Spending everything (no fee) is allowed; the caller decides the fee.
        assert_eq!(
            keys.sign_btc_transaction(&BtcSpend::new(one(1_000), out(1_000)))
                .unwrap()
                .fee_sat,
            0
        );
    }

    #[test]
    fn malformed_spends_are_refused() {
        let keys = wallet();
        let out = vec![pay("bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", 1)];
        let refused = |spend: BtcSpend| keys.sign_btc_transaction(&spend).unwrap_err();
        assert!(matches!(
            refused(BtcSpend::new(vec![], out.clone())),
            HdError::TxField { field: "inputs", .. }
        ));
        assert!(matches!(
            refused(BtcSpend::new(vec![input(1, 10, SighashType::ALL, 0)], vec![])),
            HdError::TxField { field: "outputs", .. }
        ));
        let twice = vec![input(1, 10, SighashType::ALL, 0), input(1, 10, SighashType::ALL, 1)];
        assert!(matches!(
            refused(BtcSpend::new(twice, out.clone())),
            HdError::TxField { field: "inputs", .. }
        ));
        let single = SighashType {
            base: SighashBase::Single,
            anyone_can_pay: false,
        };
        let unmatched = vec![input(1, 10, SighashType::ALL, 0), input(2, 10, single, 1)];
        assert!(matches!(
            refused(BtcSpend::new(unmatched, out.clone())),
            HdError::TxField { field: "sighash", .. }
        ));
        let mut legacy = input(1, 10, SighashType::ALL, 0);
        legacy.path.coin = Coin::Btc;
        assert!(matches!(
            refused(BtcSpend::new(vec![legacy], out.clone())),
            HdError::Path(_)
        ));
        let empty_script = vec![TxOut {
            value_sat: 1,
            script_pubkey: vec![],
        }];
        assert!(matches!(
            refused(BtcSpend::new(vec![input(1, 10, SighashType::ALL, 0)], empty_script)),
            HdError::TxField {
                field: "outputs.script",
                ..
            }
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn fee_is_inputs_minus_outputs(
            amounts in proptest::collection::vec(1u64..MAX_MONEY_SAT / 1000, 1..4),
            keep in 0u64..1000,
        ) {
            let keys = wallet();
            let inputs: Vec<_> =
                amounts.iter().enumerate().map(|(i, a)| input(i as u8, *a, SighashType::ALL, i as u32)).collect();
            let total: u64 = amounts.iter().sum();
            let paid = total.saturating_sub(keep);
            let spend = BtcSpend::new(inputs, vec![pay("bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", paid)]);
            let signed = keys.sign_btc_transaction(&spend).unwrap();
            prop_assert_eq!(signed.fee_sat, total - paid);
            prop_assert_eq!(Transaction::decode(&signed.raw).unwrap(), signed.transaction);
        }
    }
}
