//! The owner side: a wallet op run on the shard that holds the wallet (or the secure
//! client's sessions). Key material is touched here and only here.

use std::rc::Rc;
use std::time::Instant;

use serde::Serialize;
use serde_json::json;
use shardhub_crypto::hd::Mnemonic;
use shardhub_net::http::Status;

use super::error::ApiError;
use super::message::{WalletAnswer, WalletOp, WalletReply, WalletSource};
use super::WalletService;
use crate::runtime::{Answer, Service};

/// Runs `op` on `owner`, here or through the mesh, and waits for its answer.
pub async fn call(wallet: &Rc<WalletService>, owner: u16, op: WalletOp) -> WalletReply {
    match wallet.on_owner(owner, op) {
        Ok(answer) => answer.get().await,
        Err(_) => Err(ApiError::unavailable("the owner shard is busy; retry")),
    }
}

/// The owner's answer when it is gone (the process is going down).
pub fn unanswered() -> WalletReply {
    Err(ApiError::unavailable("the owner shard did not answer"))
}

/// Runs an op on the wallet's owner: now, or (a new wallet) once its record is fsynced.
pub fn handle(wallet: &Rc<WalletService>, op: WalletOp) -> Answer<WalletReply> {
    let Some(book) = &wallet.book else {
        return Answer::Now(Err(super::disabled()));
    };
    let limits = wallet.session_limits();
    let reply = match op {
        WalletOp::Create { id, source, passphrase } => {
            let mnemonic = match source {
                WalletSource::Mnemonic(words) => Mnemonic::parse(&words),
                WalletSource::Entropy(entropy) => Mnemonic::from_entropy(&*entropy),
            };
            let created = mnemonic.map_err(ApiError::from).and_then(|m| {
                let wallets_max = wallet.ctx.config().wallet.wallets_per_shard_max;
                book.create(id.clone(), m.to_seed(&passphrase), wallets_max)
            });
            let lsn = match created {
                Ok(lsn) => lsn,
                Err(e) => return Answer::Now(Err(e)),
            };
            let wallet = wallet.clone();
            return Answer::later(async move {
                let book = wallet.book.as_ref().expect("checked above");
                if !book.durable(&id, lsn).await {
                    return Err(ApiError::unavailable("the wallet log failed; the wallet was not saved"));
                }
                Ok(WalletAnswer::Json(
                    Status::Created,
                    json!({ "wallet_id": id }).to_string(),
                ))
            });
        }
        WalletOp::Address { id, path } => book.with_keys(&id, |keys| keys.address_at(path)).and_then(|a| {
            json(&AddressAnswer {
                path: a.path.to_string(),
                address: a.address,
                public_key: a.public_key,
            })
        }),
        WalletOp::SignEth { id, sign } => book
            .with_keys(&id, |keys| keys.sign_eth_transaction(&sign.path, &sign.tx))
            .and_then(|s| {
                json(&SignEthAnswer {
                    raw_tx: s.raw_hex(),
                    tx_hash: s.hash_hex(),
                    from: s.from_address(),
                })
            }),
        WalletOp::SignBtc { id, spend } => {
            book.with_keys(&id, |keys| keys.sign_btc_transaction(&spend))
                .and_then(|s| {
                    json(&SignBtcAnswer {
                        raw_tx: s.raw_hex(),
                        txid: s.txid_hex(),
                        wtxid: s.wtxid_hex(),
                    })
                })
        }
        WalletOp::SignMessage { id, sign } => book
            .with_keys(&id, |keys| keys.eth_personal_sign(&sign.path, &sign.message))
            .and_then(|signature| {
                json(&SignMessageAnswer {
                    signature: format!("0x{}", faster_hex::hex_string(&signature)),
                })
            }),
        WalletOp::OpenSession {
            session,
            client_id,
            public_key,
            responder,
        } => {
            let evicted =
                wallet
                    .sessions
                    .borrow_mut()
                    .insert(session, client_id, public_key, responder, Instant::now(), limits);
            wallet.metrics.borrow_mut().sessions_evicted += evicted as u64;
            Ok(WalletAnswer::Json(Status::NoContent, String::new()))
        }
        WalletOp::Confirm { session, confirmation } => wallet
            .sessions
            .borrow_mut()
            .confirm(&session, &confirmation, Instant::now(), limits)
            .map(|()| WalletAnswer::Json(Status::NoContent, String::new())),
        WalletOp::Record { session, seq, ct } => {
            let clients = &wallet.shared.clients;
            wallet
                .sessions
                .borrow_mut()
                .open_record(&session, seq, &ct, Instant::now(), limits, |id, key| {
                    clients.is_registered(id, key)
                })
                .map(WalletAnswer::Opened)
        }
    };
    Answer::Now(reply)
}

// The answers' bodies (docs/wallet.md), serialized straight from these rather than built as
// `serde_json::Value` maps first: one allocation per answer instead of one per field and key.

#[derive(Serialize)]
struct AddressAnswer {
    path: String,
    address: String,
    public_key: String,
}

#[derive(Serialize)]
struct SignEthAnswer {
    raw_tx: String,
    tx_hash: String,
    from: String,
}

#[derive(Serialize)]
struct SignBtcAnswer {
    raw_tx: String,
    txid: String,
    wtxid: String,
}

#[derive(Serialize)]
struct SignMessageAnswer {
    signature: String,
}

/// A 200 answer with `answer` as its body.
fn json<T: Serialize>(answer: &T) -> WalletReply {
    let body = serde_json::to_string(answer).expect("string fields always serialize");
    Ok(WalletAnswer::Json(Status::Ok, body))
}
