//! The JSON bodies of the wallet endpoints, parsed into the crypto crate's types. Pure: every
//! refusal is an [`ApiError`] with the code of what was wrong, before any key is touched.

use serde::Deserialize;
use serde_json::Value;
use shardhub_crypto::hd::{
    decode_hex, decode_hex_array, parse_eth_address, parse_quantity, AccessListItem, AddressPath, BtcAddress, BtcSpend,
    Coin, EthFee, EthTransaction, HdError, OutPoint, P2wpkhInput, SighashType, TxOut, SEQUENCE_FINAL, U256,
};

use super::error::ApiError;

/// A number given as a JSON integer, a decimal string or a `0x`-hex string.
#[derive(Deserialize)]
#[serde(untagged)]
enum Quantity {
    Number(u64),
    Text(String),
}

impl Quantity {
    fn u256(&self, field: &'static str) -> Result<U256, ApiError> {
        match self {
            Quantity::Number(n) => Ok(U256::from(*n)),
            Quantity::Text(t) => Ok(parse_quantity(field, t)?),
        }
    }

    fn u64(&self, field: &'static str) -> Result<u64, ApiError> {
        u64::try_from(self.u256(field)?).map_err(|_| HdError::AmountOverflow { field }.into())
    }
}

/// An account or index: a JSON integer below 2^31 (checked by [`AddressPath::new`]).
fn index(value: Option<u64>, field: &'static str) -> Result<u32, ApiError> {
    let v = value.unwrap_or(0);
    u32::try_from(v).map_err(|_| HdError::Path(field).into())
}

/// `POST /v1/wallets`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateWallet {
    pub mnemonic: Option<String>,
    #[serde(default)]
    pub passphrase: String,
}

/// What a refused create body is told. Not serde's words: they quote the input (an unknown
/// field's name, a value of the wrong type), and this input may hold a mnemonic anywhere.
pub const CREATE_WALLET_SHAPE: &str =
    "the body is {\"mnemonic\": string, \"passphrase\": string}, both optional, and nothing else";

/// Parses a `POST /v1/wallets` body (empty: a new random wallet); a refusal repeats nothing
/// of it.
pub fn create_wallet(body: &[u8]) -> Result<CreateWallet, ApiError> {
    let body = if body.is_empty() { &b"{}"[..] } else { body };
    serde_json::from_slice(body).map_err(|_| ApiError::bad_json(CREATE_WALLET_SHAPE))
}

/// The query of `GET /v1/wallets/{id}/address`.
pub fn address_query(query: Option<&str>) -> Result<AddressPath, ApiError> {
    let (mut coin, mut account, mut change, mut index) = (None, 0u32, 0u32, 0u32);
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let number = |field: &'static str| -> Result<u32, ApiError> {
            let n: u64 = value.parse().map_err(|_| HdError::Path(field))?;
            u32::try_from(n).map_err(|_| HdError::Path(field).into())
        };
        match key {
            "coin" => coin = Some(api_coin(value)?),
            "account" => account = number("account must be a number below 2^31")?,
            "change" => change = number("change must be 0 or 1")?,
            "index" => index = number("index must be a number below 2^31")?,
            _ => return Err(ApiError::bad_json(format!("unknown query parameter {key:?}"))),
        }
    }
    let coin = coin.ok_or_else(|| ApiError::bad_json("the query needs coin=btc|btc-segwit|eth|cosmos"))?;
    Ok(AddressPath::new(coin, account, change, index)?)
}

/// `POST /v1/wallets/{id}/sign/eth`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignEthBody {
    account: Option<u64>,
    index: Option<u64>,
    tx: EthTxBody,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EthTxBody {
    #[serde(rename = "type", default)]
    kind: u8,
    chain_id: Quantity,
    nonce: Quantity,
    gas_price: Option<Quantity>,
    max_fee_per_gas: Option<Quantity>,
    max_priority_fee_per_gas: Option<Quantity>,
    gas_limit: Quantity,
    to: Option<String>,
    value: Option<Quantity>,
    data: Option<String>,
    access_list: Option<Vec<AccessListBody>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessListBody {
    address: String,
    #[serde(default)]
    storage_keys: Vec<String>,
}

pub struct SignEth {
    pub path: AddressPath,
    pub tx: EthTransaction,
}

pub fn sign_eth(body: &[u8]) -> Result<SignEth, ApiError> {
    let b: SignEthBody = json(body)?;
    let path = AddressPath::new(
        Coin::Eth,
        index(b.account, "account must be below 2^31")?,
        0,
        index(b.index, "index must be below 2^31")?,
    )?;
    let t = b.tx;
    let fee = match t.kind {
        0 => {
            if t.access_list.is_some() || t.max_fee_per_gas.is_some() || t.max_priority_fee_per_gas.is_some() {
                return Err(tx_field("type", "a type 0 transaction takes gas_price only"));
            }
            let gas_price = t
                .gas_price
                .ok_or_else(|| ApiError::bad_json("tx.gas_price is missing"))?;
            EthFee::Legacy {
                gas_price: gas_price.u256("gas_price")?,
            }
        }
        2 => {
            if t.gas_price.is_some() {
                return Err(tx_field(
                    "type",
                    "a type 2 transaction takes max_fee_per_gas, not gas_price",
                ));
            }
            let max_fee = t
                .max_fee_per_gas
                .ok_or_else(|| ApiError::bad_json("tx.max_fee_per_gas is missing"))?;
            let priority = t
                .max_priority_fee_per_gas
                .ok_or_else(|| ApiError::bad_json("tx.max_priority_fee_per_gas is missing"))?;
            let mut access_list = Vec::new();
            for item in t.access_list.unwrap_or_default() {
                let mut storage_keys = Vec::with_capacity(item.storage_keys.len());
                for key in &item.storage_keys {
                    storage_keys.push(decode_hex_array::<32>("access_list.storage_keys", key)?);
                }
                access_list.push(AccessListItem {
                    address: parse_eth_address(&item.address)?,
                    storage_keys,
                });
            }
            EthFee::Eip1559 {
                max_priority_fee_per_gas: priority.u256("max_priority_fee_per_gas")?,
                max_fee_per_gas: max_fee.u256("max_fee_per_gas")?,
                access_list,
            }
        }
        _ => return Err(tx_field("type", "must be 0 (legacy) or 2 (EIP-1559)")),
    };
    let tx = EthTransaction {
        chain_id: t.chain_id.u64("chain_id")?,
        nonce: t.nonce.u64("nonce")?,
        gas_limit: t.gas_limit.u64("gas_limit")?,
        to: t.to.as_deref().map(parse_eth_address).transpose()?,
        value: t.value.map(|v| v.u256("value")).transpose()?.unwrap_or(U256::ZERO),
        data: match &t.data {
            Some(d) => decode_hex("data", d)?,
            None => Vec::new(),
        },
        fee,
    };
    Ok(SignEth { path, tx })
}

/// `POST /v1/wallets/{id}/sign/btc`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignBtcBody {
    inputs: Vec<BtcInputBody>,
    outputs: Vec<BtcOutputBody>,
    version: Option<u32>,
    locktime: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BtcInputBody {
    txid: String,
    vout: u32,
    amount_sat: Quantity,
    account: Option<u64>,
    change: Option<u64>,
    index: Option<u64>,
    sighash: Option<Value>,
    sequence: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BtcOutputBody {
    address: String,
    amount_sat: Quantity,
}

pub fn sign_btc(body: &[u8]) -> Result<BtcSpend, ApiError> {
    let b: SignBtcBody = json(body)?;
    let mut inputs = Vec::with_capacity(b.inputs.len());
    for input in b.inputs {
        let mut txid = decode_hex_array::<32>("txid", &input.txid)?;
        // Given in display order, as explorers show it; the outpoint holds internal order.
        txid.reverse();
        let sighash = match &input.sighash {
            None => SighashType::parse("ALL")?,
            Some(Value::String(name)) => SighashType::parse(name)?,
            Some(Value::Number(n)) => {
                let byte = n
                    .as_u64()
                    .and_then(|n| u8::try_from(n).ok())
                    .ok_or_else(|| tx_field("sighash", "not a sighash type byte"))?;
                SighashType::from_byte(byte)?
            }
            Some(_) => return Err(ApiError::bad_json("inputs[].sighash must be a name or a number")),
        };
        inputs.push(P2wpkhInput {
            previous_output: OutPoint { txid, vout: input.vout },
            amount_sat: input.amount_sat.u64("amount_sat")?,
            sequence: input.sequence.unwrap_or(SEQUENCE_FINAL),
            sighash,
            path: AddressPath::new(
                Coin::BtcSegwit,
                index(input.account, "account must be below 2^31")?,
                index(input.change, "change must be 0 or 1")?,
                index(input.index, "index must be below 2^31")?,
            )?,
        });
    }
    let mut outputs = Vec::with_capacity(b.outputs.len());
    for output in b.outputs {
        outputs.push(TxOut {
            value_sat: output.amount_sat.u64("amount_sat")?,
            script_pubkey: BtcAddress::parse(&output.address)?.script_pubkey(),
        });
    }
    let mut spend = BtcSpend::new(inputs, outputs);
    spend.version = b.version.unwrap_or(spend.version);
    spend.lock_time = b.locktime.unwrap_or(spend.lock_time);
    Ok(spend)
}

/// `POST /v1/wallets/{id}/sign/message`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignMessageBody {
    coin: String,
    account: Option<u64>,
    index: Option<u64>,
    message: String,
}

pub struct SignMessage {
    pub path: AddressPath,
    pub message: Vec<u8>,
}

pub fn sign_message(body: &[u8]) -> Result<SignMessage, ApiError> {
    let b: SignMessageBody = json(body)?;
    if api_coin(&b.coin)? != Coin::Eth {
        return Err(ApiError::new(
            shardhub_net::http::Status::BadRequest,
            "unknown_coin",
            "message signing is for coin \"eth\" (EIP-191)",
        ));
    }
    let path = AddressPath::new(
        Coin::Eth,
        index(b.account, "account must be below 2^31")?,
        0,
        index(b.index, "index must be below 2^31")?,
    )?;
    let message = if b.message.starts_with("0x") {
        decode_hex("message", &b.message)?
    } else {
        b.message.into_bytes()
    };
    Ok(SignMessage { path, message })
}

/// A coin by the API's four names (the crypto crate also takes the test vectors' aliases).
fn api_coin(name: &str) -> Result<Coin, ApiError> {
    match name {
        "btc" | "btc-segwit" | "eth" | "cosmos" => Ok(Coin::parse(name)?),
        _ => Err(HdError::UnknownCoin.into()),
    }
}

/// Parses a body, naming the field serde stopped at.
pub fn json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    // The plain parse first: serde_path_to_error's bookkeeping only serves to word a refusal,
    // so a body that parses never pays for it, and one that does not is parsed again with it.
    if let Ok(value) = serde_json::from_slice(body) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de)
        .map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." {
                ApiError::bad_json(format!("body: {inner}"))
            } else {
                ApiError::bad_json(format!("{path}: {inner}"))
            }
        })
        .and_then(|value| {
            de.end().map_err(|e| ApiError::bad_json(format!("body: {e}")))?;
            Ok(value)
        })
}

fn tx_field(field: &'static str, reason: &'static str) -> ApiError {
    HdError::TxField { field, reason }.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_take_numbers_decimal_and_hex_and_refuse_the_rest() {
        let body = br#"{"account":0,"index":1,"tx":{"type":2,"chain_id":1,"nonce":"0x10","max_fee_per_gas":"100","max_priority_fee_per_gas":"0x2","gas_limit":21000,"to":"0x3535353535353535353535353535353535353535","value":"1000000000000000000"}}"#;
        let s = sign_eth(body).unwrap();
        assert_eq!((s.tx.chain_id, s.tx.nonce, s.tx.gas_limit), (1, 16, 21000));
        assert_eq!(s.path.to_string(), "m/44'/60'/0'/0/1");
        let overflow =
            br#"{"tx":{"type":0,"chain_id":1,"nonce":"18446744073709551616","gas_price":"1","gas_limit":1}}"#;
        assert_eq!(sign_eth(overflow).err().unwrap().code, "amount_overflow");
        let bad_hex = br#"{"tx":{"type":0,"chain_id":1,"nonce":0,"gas_price":"1","gas_limit":1,"data":"0xzz"}}"#;
        assert_eq!(sign_eth(bad_hex).err().unwrap().code, "bad_hex");
        let missing = br#"{"tx":{"type":0,"chain_id":1}}"#;
        let e = sign_eth(missing).err().unwrap();
        assert_eq!(e.code, "bad_json");
        assert!(e.message.contains("tx"), "{}", e.message);
    }

    #[test]
    fn address_queries_name_what_is_wrong() {
        assert_eq!(
            address_query(Some("coin=eth&index=5")).unwrap().to_string(),
            "m/44'/60'/0'/0/5"
        );
        assert_eq!(address_query(Some("coin=doge")).err().unwrap().code, "unknown_coin");
        assert_eq!(address_query(Some("coin=btc84")).err().unwrap().code, "unknown_coin");
        assert_eq!(
            address_query(Some("coin=eth&index=2147483648")).err().unwrap().code,
            "bad_path"
        );
        assert_eq!(address_query(Some("coin=eth&change=2")).err().unwrap().code, "bad_path");
        assert_eq!(address_query(None).err().unwrap().code, "bad_json");
    }

    #[test]
    fn btc_bodies_map_txid_order_sighash_and_addresses() {
        let body = br#"{"inputs":[{"txid":"00000000000000000000000000000000000000000000000000000000000000ff","vout":1,"amount_sat":1000,"sighash":"NONE|ANYONECANPAY"}],"outputs":[{"address":"bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu","amount_sat":"900"}]}"#;
        let spend = sign_btc(body).unwrap();
        assert_eq!(spend.inputs[0].previous_output.txid[0], 0xff);
        assert_eq!(spend.inputs[0].sighash.to_byte(), 0x82);
        assert_eq!(spend.outputs[0].value_sat, 900);
        let bad = br#"{"inputs":[],"outputs":[{"address":"bc1qnotanaddress","amount_sat":1}]}"#;
        assert_eq!(sign_btc(bad).err().unwrap().code, "bad_address");
    }
}
