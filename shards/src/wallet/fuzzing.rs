//! The body of the cargo-fuzz target `wallet_bodies` (`shards/fuzz/`), kept in the crate so
//! that its tests drive it with proptest on stable Rust. Built only for tests and for the
//! `fuzzing` feature.
//!
//! A wallet request body goes from the app's bytes to [`super::request`]'s parse and on to
//! the signer. Whatever the bytes, the way through must end in a signature by the key the
//! path names or in a 4xx refusal, and no refusal may echo a mnemonic or passphrase.

use std::cell::RefCell;

use serde_json::Value;
use shardhub_crypto::hd::{recover_personal_signer, Mnemonic, WalletKeys};
use zeroize::Zeroizing;

use super::error::ApiError;
use super::request;

/// The BIP-39 test mnemonic, with the passphrase of its published vectors.
const TEST_MNEMONIC: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
const TEST_PASSPHRASE: &str = "TREZOR";

/// Shortest secret that is checked for in refusals: shorter strings occur in the messages'
/// own words ("mnemonic", "word").
const ECHO_BYTES_MIN: usize = 12;

thread_local! {
    static KEYS: RefCell<WalletKeys> = RefCell::new(
        WalletKeys::from_mnemonic(&Mnemonic::parse(TEST_MNEMONIC).expect("test mnemonic"), TEST_PASSPHRASE)
            .expect("test keys"),
    );
}

/// The first byte picks the endpoint, the rest is its body (for the address endpoint, its
/// query string). Panics on any violation.
pub fn bodies(data: &[u8]) {
    let Some((&endpoint, body)) = data.split_first() else {
        return;
    };
    KEYS.with_borrow_mut(|keys| match endpoint % 5 {
        0 => create(body),
        1 => sign_eth(keys, body),
        2 => sign_btc(keys, body),
        3 => sign_message(keys, body),
        _ => address(keys, body),
    });
}

/// A refusal is the client's fault (4xx), with a code and a message to show.
fn check_refusal(error: &ApiError) {
    assert!((400..500).contains(&error.status.code()), "{error:?}");
    assert!(!error.code.is_empty() && !error.message.is_empty(), "{error:?}");
}

/// `POST /v1/wallets`: a mnemonic that parses makes keys; a refusal names neither the
/// mnemonic nor the passphrase.
fn create(body: &[u8]) {
    let result = request::create_wallet(body).and_then(|c| {
        let passphrase = Zeroizing::new(c.passphrase);
        match c.mnemonic {
            Some(words) => Mnemonic::parse(&words)
                .and_then(|m| WalletKeys::from_mnemonic(&m, &passphrase))
                .map(drop)
                .map_err(ApiError::from),
            None => Ok(()),
        }
    });
    if let Err(error) = result {
        check_refusal(&error);
        for secret in secrets(body) {
            let echoed = error.message.contains(&secret) && !request::CREATE_WALLET_SHAPE.contains(&secret);
            assert!(!echoed, "a refusal echoed a secret: {error:?}");
        }
    }
}

/// The strings a create body carries as its mnemonic and passphrase.
fn secrets(body: &[u8]) -> Vec<String> {
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    ["mnemonic", "passphrase"]
        .iter()
        .filter_map(|name| fields.get(*name)?.as_str())
        .filter(|s| s.len() >= ECHO_BYTES_MIN)
        .map(str::to_owned)
        .collect()
}

/// `POST /v1/wallets/{id}/sign/eth`: what parses is signed by the key of its path.
fn sign_eth(keys: &mut WalletKeys, body: &[u8]) {
    let signed = request::sign_eth(body).and_then(|s| {
        let signed = keys.sign_eth_transaction(&s.path, &s.tx)?;
        let from = keys.address_at(s.path)?.address;
        Ok((signed, from))
    });
    match signed {
        Ok((signed, from)) => assert_eq!(signed.from_address(), from),
        Err(error) => check_refusal(&error),
    }
}

/// `POST /v1/wallets/{id}/sign/btc`: what parses signs or is refused as the client's error.
fn sign_btc(keys: &mut WalletKeys, body: &[u8]) {
    let signed = request::sign_btc(body).and_then(|spend| Ok(keys.sign_btc_transaction(&spend)?));
    match signed {
        Ok(signed) => assert_eq!(signed.txid_hex().len(), 64),
        Err(error) => check_refusal(&error),
    }
}

/// `POST /v1/wallets/{id}/sign/message`: the signature recovers to the path's address.
fn sign_message(keys: &mut WalletKeys, body: &[u8]) {
    let signed = request::sign_message(body).and_then(|s| {
        let signature = keys.eth_personal_sign(&s.path, &s.message)?;
        let signer = recover_personal_signer(&s.message, &signature)?;
        Ok((signer, keys.address_at(s.path)?.address))
    });
    match signed {
        Ok((signer, from)) => assert_eq!(shardhub_crypto::hd::eth_checksum_address(&signer), from),
        Err(error) => check_refusal(&error),
    }
}

/// `GET /v1/wallets/{id}/address?...`: a query that parses derives an address.
fn address(keys: &mut WalletKeys, query: &[u8]) {
    let query = String::from_utf8_lossy(query);
    match request::address_query(Some(&query)).and_then(|path| Ok(keys.address_at(path)?)) {
        Ok(derived) => assert!(!derived.address.is_empty()),
        Err(error) => check_refusal(&error),
    }
}

#[cfg(test)]
mod tests {
    use proptest::collection::vec;
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    /// Quantities as apps send them, and now and then as they must not.
    fn quantity() -> impl Strategy<Value = Value> {
        prop_oneof![
            3 => any::<u64>().prop_map(Value::from),
            3 => any::<u64>().prop_map(|n| json!(n.to_string())),
            3 => any::<u64>().prop_map(|n| json!(format!("0x{n:x}"))),
            1 => Just(json!("0x")),
            1 => Just(json!("-1")),
            1 => Just(json!("115792089237316195423570985008687907853269984665640564039457584007913129639936")),
            1 => Just(json!(1.5)),
        ]
    }

    /// `0x` hex of exactly `bytes` bytes, mostly; of another length, or not hex, sometimes.
    fn hex(bytes: usize) -> impl Strategy<Value = String> {
        prop_oneof![
            6 => vec(any::<u8>(), bytes).prop_map(|b| format!("0x{}", hex::encode(b))),
            1 => vec(any::<u8>(), 0..bytes * 2).prop_map(|b| format!("0x{}", hex::encode(b))),
            1 => "0x[0-9a-fA-F]{0,9}",
            1 => "[0-9a-z]{0,8}",
        ]
    }

    fn index() -> impl Strategy<Value = Value> {
        prop_oneof![
            8 => (0u64..3).prop_map(Value::from),
            1 => Just(json!(2147483647u64)),
            1 => Just(json!(2147483648u64)),
            1 => Just(json!(-1)),
        ]
    }

    fn eth_body() -> impl Strategy<Value = Value> {
        (
            prop_oneof![4 => Just(0u8), 4 => Just(2u8), 1 => Just(1u8)],
            quantity(),
            prop::option::of(quantity()),
            prop::option::of(hex(20)),
            prop::option::of(hex(64)),
            index(),
            prop::option::of(vec((hex(20), vec(hex(32), 0..2)), 0..2)),
        )
            .prop_map(|(kind, fee, value, to, data, index, access)| {
                let mut tx = json!({"type": kind, "chain_id": 1, "nonce": 0, "gas_limit": 21000});
                if kind == 0 {
                    tx["gas_price"] = fee;
                } else {
                    tx["max_fee_per_gas"] = fee.clone();
                    tx["max_priority_fee_per_gas"] = fee;
                }
                if let Some(v) = value {
                    tx["value"] = v;
                }
                if let Some(to) = to {
                    tx["to"] = json!(to);
                }
                if let Some(data) = data {
                    tx["data"] = json!(data);
                }
                if let Some(list) = access {
                    let items: Vec<Value> = list
                        .into_iter()
                        .map(|(a, keys)| json!({"address": a, "storage_keys": keys}))
                        .collect();
                    tx["access_list"] = json!(items);
                }
                json!({"index": index, "tx": tx})
            })
    }

    fn btc_body() -> impl Strategy<Value = Value> {
        let amount = |low, high| prop_oneof![6 => (low..high).prop_map(Value::from), 1 => quantity()];
        let input = (
            hex(32),
            any::<u32>(),
            amount(100_000u64, 100_000_000),
            index(),
            prop_oneof![
                3 => Just(json!("ALL")),
                1 => Just(json!("NONE|ANYONECANPAY")),
                1 => Just(json!(3)),
                1 => Just(json!(0x84)),
                1 => Just(json!(7)),
            ],
        )
            .prop_map(|(txid, vout, amount, index, sighash)| {
                let txid = txid.trim_start_matches("0x").to_string();
                json!({"txid": txid, "vout": vout, "amount_sat": amount, "index": index, "sighash": sighash})
            });
        let output = (
            prop_oneof![
                3 => Just("bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"),
                1 => Just("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"),
                1 => Just("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"),
                1 => Just("bc1qnotanaddress"),
            ],
            amount(0, 100_000),
        )
            .prop_map(|(address, amount)| json!({"address": address, "amount_sat": amount}));
        (vec(input, 1..3), vec(output, 1..3))
            .prop_map(|(inputs, outputs)| json!({"inputs": inputs, "outputs": outputs}))
    }

    fn message_body() -> impl Strategy<Value = Value> {
        (
            prop_oneof![4 => Just("eth"), 1 => Just("btc"), 1 => Just("doge")],
            index(),
            prop_oneof!["[ -~]{0,40}", hex(40),],
        )
            .prop_map(|(coin, index, message)| json!({"coin": coin, "index": index, "message": message}))
    }

    fn create_body() -> impl Strategy<Value = Value> {
        let words: Vec<&str> = TEST_MNEMONIC.split(' ').collect();
        (
            any::<prop::sample::Index>(),
            "[a-z]{3,8}",
            prop::bool::weighted(0.3),
            "[ -~]{0,20}",
        )
            .prop_map(move |(at, word, change, passphrase)| {
                let mut words = words.clone();
                if change {
                    let at = at.index(words.len());
                    words[at] = &word;
                }
                json!({"mnemonic": words.join(" "), "passphrase": passphrase})
            })
    }

    fn query() -> impl Strategy<Value = Value> {
        "coin=(eth|btc|btc-segwit|cosmos|doge)(&account=[0-9]{1,3})?(&change=[0-2])?(&index=[0-9]{1,10})?"
            .prop_map(Value::from)
    }

    /// One request: the endpoint byte and a body of its kind, sometimes with a byte changed.
    fn request() -> impl Strategy<Value = Vec<u8>> {
        let body = prop_oneof![
            create_body().prop_map(|b| (0u8, b)),
            eth_body().prop_map(|b| (1u8, b)),
            btc_body().prop_map(|b| (2u8, b)),
            message_body().prop_map(|b| (3u8, b)),
            query().prop_map(|b| (4u8, b)),
        ];
        (
            body,
            prop::option::weighted(0.1, (any::<prop::sample::Index>(), any::<u8>())),
        )
            .prop_map(|((endpoint, body), damage)| {
                let mut bytes = vec![endpoint];
                match body {
                    Value::String(query) => bytes.extend_from_slice(query.as_bytes()),
                    body => bytes.extend_from_slice(body.to_string().as_bytes()),
                }
                if let Some((at, byte)) = damage.filter(|_| bytes.len() > 1) {
                    let at = at.index(bytes.len() - 1) + 1;
                    bytes[at] = byte;
                }
                bytes
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_bytes_are_refused_as_the_clients_error(data in vec(any::<u8>(), 0..200)) {
            bodies(&data);
        }

        #[test]
        fn wallet_bodies_sign_with_their_path_or_are_refused(data in request()) {
            bodies(&data);
        }
    }

    #[test]
    fn a_refused_mnemonic_is_not_echoed() {
        let body = json!({"mnemonic": "abandon abandon abandon zzzz abandon abandon abandon abandon abandon abandon abandon about"});
        let mut data = vec![0u8];
        data.extend_from_slice(body.to_string().as_bytes());
        bodies(&data);
        // Found by the fuzzer: serde names an unknown field, and a mnemonic can be one.
        for body in [
            &br#"{"mnemonic": "a secret phrase here", "extra": 1}"#[..],
            br#"{"abandon abandon abandon about": ""}"#,
            br#"{"passphrase": ["a secret phrase here"]}"#,
        ] {
            let refusal = request::create_wallet(body).err().unwrap();
            assert_eq!(refusal.message, request::CREATE_WALLET_SHAPE, "{body:?}");
        }
        bodies(include_bytes!("../../fuzz/seeds/wallet_bodies/found-echoed-field-name"));
    }
}
