//! The owner side: a wallet op run on the shard that holds the wallet (or the secure
//! client's sessions). Key material is touched here and only here.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Instant;

use serde::Serialize;
use serde_json::json;
use shardhub_crypto::hd::Mnemonic;
use shardhub_net::http::Status;

use super::error::ApiError;
use super::op::{WalletAnswer, WalletOp, WalletReply, WalletSource};
use crate::shard::Shard;
use crate::shard_op::{ShardOp, ShardReply};

/// An op's answer: now, or once the new wallet's record is fsynced.
pub enum Handled {
    Now(WalletReply),
    Later(Pin<Box<dyn Future<Output = WalletReply>>>),
}

/// Runs `op` on `owner`: here, or through the mesh.
pub async fn call(shard: &Rc<Shard>, owner: u16, op: WalletOp) -> WalletReply {
    if owner == shard.id {
        return match handle(shard, op) {
            Handled::Now(reply) => reply,
            Handled::Later(future) => future.await,
        };
    }
    let pending = shard
        .mesh
        .call(owner, ShardOp::Wallet(op))
        .map_err(|_| ApiError::unavailable("the owner shard is busy; retry"))?;
    match pending.await {
        ShardReply::Wallet(reply) => reply,
        _ => Err(ApiError::unavailable("the owner shard did not answer")),
    }
}

pub fn handle(shard: &Rc<Shard>, op: WalletOp) -> Handled {
    let wallet = &shard.wallet;
    let Some(book) = &wallet.book else {
        return Handled::Now(Err(super::disabled()));
    };
    let reply = match op {
        WalletOp::Create { id, source, passphrase } => {
            let mnemonic = match source {
                WalletSource::Mnemonic(words) => Mnemonic::parse(&words),
                WalletSource::Entropy(entropy) => Mnemonic::from_entropy(&*entropy),
            };
            let created = mnemonic
                .map_err(ApiError::from)
                .and_then(|m| book.create(id.clone(), m.to_seed(&passphrase), wallet.max_wallets.get()));
            let lsn = match created {
                Ok(lsn) => lsn,
                Err(e) => return Handled::Now(Err(e)),
            };
            let shard = shard.clone();
            return Handled::Later(Box::pin(async move {
                let book = shard.wallet.book.as_ref().expect("checked above");
                if !book.durable(&id, lsn).await {
                    return Err(ApiError::unavailable("the wallet log failed; the wallet was not saved"));
                }
                Ok(WalletAnswer::Json(
                    Status::Created,
                    json!({ "wallet_id": id }).to_string(),
                ))
            }));
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
            let evicted = wallet.sessions.borrow_mut().insert(
                session,
                client_id,
                public_key,
                responder,
                Instant::now(),
                wallet.limits.get(),
            );
            wallet.metrics.borrow_mut().sessions_evicted += evicted as u64;
            Ok(WalletAnswer::Json(Status::NoContent, String::new()))
        }
        WalletOp::Confirm { session, confirmation } => wallet
            .sessions
            .borrow_mut()
            .confirm(&session, &confirmation, Instant::now(), wallet.limits.get())
            .map(|()| WalletAnswer::Json(Status::NoContent, String::new())),
        WalletOp::Record { session, seq, ct } => {
            let clients = &shard.shared.wallet.clients;
            wallet
                .sessions
                .borrow_mut()
                .open_record(&session, seq, &ct, Instant::now(), wallet.limits.get(), |id, key| {
                    clients.is_registered(id, key)
                })
                .map(WalletAnswer::Opened)
        }
    };
    Handled::Now(reply)
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
