//! The three wallet operations `shardhub-bench wallet` measures, and their fixed inputs.
//!
//! The inputs are written once here and used twice: as the JSON of the HTTP requests (plain
//! and inside secure records) and as shardhub-crypto's own types for the in-process loop, so
//! that `raw` and the HTTP loads sign the same transactions and derive the same addresses.
//!
//! - `address`: the BIP-84 receive address `m/84'/0'/0'/0/i`, a new `i` per request: one
//!   non-hardened public derivation on the server (the account's chain keys are cached).
//! - `sign-eth`: a fixed EIP-1559 transfer from `m/44'/60'/0'/0/0`, a new nonce per request.
//! - `sign-btc`: one P2WPKH input of `m/84'/0'/0'/0/0` (100,000 sat) to one bc1 output
//!   (90,000 sat); the same transaction every time.

use std::fmt::Write as _;

use serde_json::Value;
use shardhub_crypto::hd::{
    parse_eth_address, AddressPath, BtcAddress, BtcSpend, Coin, EthFee, EthTransaction, HdError, OutPoint, P2wpkhInput,
    SighashType, TxOut, SEQUENCE_FINAL, U256,
};

/// The BIP-39 test mnemonic: every bench wallet is this one, so every run signs with the
/// same keys (and the addresses can be checked against any BIP-84 tool).
pub const MNEMONIC: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

/// Ethereum: chain 1, 21,000 gas, 1 ETH to a fixed address, 2 gwei tip under a 100 gwei cap.
const ETH_CHAIN_ID: u64 = 1;
const ETH_GAS_LIMIT: u64 = 21_000;
const ETH_TO: &str = "0x3535353535353535353535353535353535353535";
const ETH_VALUE_WEI: u128 = 1_000_000_000_000_000_000;
const ETH_MAX_PRIORITY_FEE_WEI: u64 = 2_000_000_000;
const ETH_MAX_FEE_WEI: u64 = 100_000_000_000;

/// Bitcoin: any fixed outpoint will do, nothing checks it against a chain (display order).
const BTC_TXID: &str = "8f3a1c0e5d2b4a69788796a5b4c3d2e1f0112233445566778899aabbccddeeff";
const BTC_VOUT: u32 = 1;
const BTC_INPUT_SAT: u64 = 100_000;
/// BIP-173's P2WPKH example address.
const BTC_TO: &str = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4";
const BTC_OUTPUT_SAT: u64 = 90_000;

/// Indices and nonces wrap here: BIP-32 non-hardened indices are below 2^31.
const INDEX_LIMIT: u64 = 1 << 31;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum WalletOp {
    Address,
    SignEth,
    SignBtc,
}

/// One request as the wallet API takes it: over plain HTTP, or as a secure record's
/// `{"method", "path", "body"}`.
#[derive(Debug, Default)]
pub struct WalletRequest {
    pub method: &'static str,
    /// Path and query.
    pub path: String,
    /// The JSON body; empty for none.
    pub body: String,
}

impl WalletOp {
    pub fn name(self) -> &'static str {
        match self {
            WalletOp::Address => "address",
            WalletOp::SignEth => "sign-eth",
            WalletOp::SignBtc => "sign-btc",
        }
    }

    /// The fields a 200 answer must carry, each a non-empty string (docs/wallet.md).
    pub fn answer_fields(self) -> &'static [&'static str] {
        match self {
            WalletOp::Address => &["path", "address", "public_key"],
            WalletOp::SignEth => &["raw_tx", "tx_hash", "from"],
            WalletOp::SignBtc => &["raw_tx", "txid", "wtxid"],
        }
    }

    /// Rewrites `request` (its buffers are reused) as request number `n` of this op on
    /// wallet `wallet_id`: `n` is the address index or the Ethereum nonce.
    pub fn write_request(self, wallet_id: &str, n: u64, request: &mut WalletRequest) {
        request.path.clear();
        request.body.clear();
        let n = n % INDEX_LIMIT;
        // Writing into a String cannot fail.
        match self {
            WalletOp::Address => {
                request.method = "GET";
                let _ = write!(
                    request.path,
                    "/v1/wallets/{wallet_id}/address?coin=btc-segwit&account=0&change=0&index={n}"
                );
            }
            WalletOp::SignEth => {
                request.method = "POST";
                let _ = write!(request.path, "/v1/wallets/{wallet_id}/sign/eth");
                let _ = write!(
                    request.body,
                    r#"{{"account":0,"index":0,"tx":{{"type":2,"chain_id":{ETH_CHAIN_ID},"nonce":{n},"max_priority_fee_per_gas":"{ETH_MAX_PRIORITY_FEE_WEI}","max_fee_per_gas":"{ETH_MAX_FEE_WEI}","gas_limit":{ETH_GAS_LIMIT},"to":"{ETH_TO}","value":"{ETH_VALUE_WEI}","data":"0x"}}}}"#
                );
            }
            WalletOp::SignBtc => {
                request.method = "POST";
                let _ = write!(request.path, "/v1/wallets/{wallet_id}/sign/btc");
                let _ = write!(
                    request.body,
                    r#"{{"inputs":[{{"txid":"{BTC_TXID}","vout":{BTC_VOUT},"amount_sat":{BTC_INPUT_SAT},"account":0,"change":0,"index":0,"sighash":"ALL"}}],"outputs":[{{"address":"{BTC_TO}","amount_sat":{BTC_OUTPUT_SAT}}}],"version":2,"locktime":0}}"#
                );
            }
        }
    }

    /// Checks a 200 answer's body: every field of [`WalletOp::answer_fields`] is there.
    pub fn check_answer(self, body: &Value) -> Result<(), String> {
        for field in self.answer_fields() {
            match body.get(field) {
                Some(Value::String(s)) if !s.is_empty() => {}
                Some(other) => return Err(format!("field {field:?} is {other}, not a non-empty string")),
                None => return Err(format!("field {field:?} is missing")),
            }
        }
        Ok(())
    }
}

/// The request body of `POST /v1/wallets` that imports [`MNEMONIC`].
pub fn create_wallet_body() -> String {
    format!(r#"{{"mnemonic":"{MNEMONIC}"}}"#)
}

/// The Ethereum transaction of request `n` (nonce `n`), as the server parses it.
pub fn eth_transaction(n: u64) -> Result<EthTransaction, HdError> {
    Ok(EthTransaction {
        chain_id: ETH_CHAIN_ID,
        nonce: n % INDEX_LIMIT,
        gas_limit: ETH_GAS_LIMIT,
        to: Some(parse_eth_address(ETH_TO)?),
        value: U256::from(ETH_VALUE_WEI),
        data: Vec::new(),
        fee: EthFee::Eip1559 {
            max_priority_fee_per_gas: U256::from(ETH_MAX_PRIORITY_FEE_WEI),
            max_fee_per_gas: U256::from(ETH_MAX_FEE_WEI),
            access_list: Vec::new(),
        },
    })
}

/// The key `sign-eth` signs with.
pub fn eth_signer_path() -> Result<AddressPath, HdError> {
    AddressPath::new(Coin::Eth, 0, 0, 0)
}

/// The spend `sign-btc` signs, as the server parses it.
pub fn btc_spend() -> Result<BtcSpend, HdError> {
    let input = P2wpkhInput {
        previous_output: OutPoint::from_display_txid("txid", BTC_TXID, BTC_VOUT)?,
        amount_sat: BTC_INPUT_SAT,
        sequence: SEQUENCE_FINAL,
        sighash: SighashType::ALL,
        path: AddressPath::new(Coin::BtcSegwit, 0, 0, 0)?,
    };
    let output = TxOut {
        value_sat: BTC_OUTPUT_SAT,
        script_pubkey: BtcAddress::parse(BTC_TO)?.script_pubkey(),
    };
    Ok(BtcSpend::new(vec![input], vec![output]))
}

/// The address index of request `n`, as `write_request` puts it in the query.
pub fn address_index(n: u64) -> u32 {
    (n % INDEX_LIMIT) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use shardhub_crypto::hd::{Mnemonic, WalletKeys};

    fn keys() -> WalletKeys {
        WalletKeys::from_mnemonic(&Mnemonic::parse(MNEMONIC).unwrap(), "").unwrap()
    }

    #[test]
    fn request_bodies_are_json_with_the_fixed_inputs() {
        let mut request = WalletRequest::default();
        WalletOp::SignEth.write_request("ab", 7, &mut request);
        assert_eq!(
            (request.method, request.path.as_str()),
            ("POST", "/v1/wallets/ab/sign/eth")
        );
        let body: Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(body["tx"]["nonce"], 7);
        assert_eq!(body["tx"]["value"], ETH_VALUE_WEI.to_string());
        WalletOp::SignBtc.write_request("ab", 7, &mut request);
        let body: Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(body["inputs"][0]["amount_sat"], BTC_INPUT_SAT);
        assert_eq!(body["outputs"][0]["address"], BTC_TO);
        WalletOp::Address.write_request("ab", (1 << 31) + 5, &mut request);
        assert_eq!(request.method, "GET");
        assert!(request.path.ends_with("&index=5"), "{}", request.path);
        assert!(request.body.is_empty());
        assert_eq!(address_index((1 << 31) + 5), 5);
    }

    #[test]
    fn raw_inputs_sign_and_derive() {
        let mut keys = keys();
        let first = keys.address(Coin::BtcSegwit, 0, 0, address_index(0)).unwrap();
        assert_eq!(first.address, "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu");
        let eth = keys
            .sign_eth_transaction(&eth_signer_path().unwrap(), &eth_transaction(3).unwrap())
            .unwrap();
        assert_eq!(eth.from_address(), "0x9858EfFD232B4033E47d90003D41EC34EcaEda94");
        let btc = keys.sign_btc_transaction(&btc_spend().unwrap()).unwrap();
        assert_eq!(btc.fee_sat, BTC_INPUT_SAT - BTC_OUTPUT_SAT);
        assert_eq!(btc.transaction.inputs[0].previous_output.vout, BTC_VOUT);
    }

    #[test]
    fn answers_need_every_field_as_a_string() {
        let good = json!({"raw_tx": "02", "txid": "aa", "wtxid": "bb"});
        assert_eq!(WalletOp::SignBtc.check_answer(&good), Ok(()));
        let missing = json!({"raw_tx": "02", "txid": "aa"});
        assert!(WalletOp::SignBtc.check_answer(&missing).unwrap_err().contains("wtxid"));
        let empty = json!({"path": "", "address": "bc1q", "public_key": "02"});
        assert!(WalletOp::Address.check_answer(&empty).is_err());
        assert!(WalletOp::SignEth.check_answer(&json!(null)).is_err());
    }

    #[test]
    fn create_body_is_json() {
        let body: Value = serde_json::from_str(&create_wallet_body()).unwrap();
        assert_eq!(body["mnemonic"], MNEMONIC);
    }
}
