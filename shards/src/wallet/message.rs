//! What a shard asks of a wallet's (or a secure client's) owner shard over the mesh, and
//! the answers.

use shardhub_crypto::gm::{Confirmation, Responder};
use shardhub_crypto::hd::{AddressPath, BtcSpend};
use shardhub_net::http::Status;
use zeroize::Zeroizing;

use super::error::ApiError;
use super::request::{SignEth, SignMessage};
use super::secure::OpenedRecord;

pub enum WalletOp {
    Create {
        id: String,
        source: WalletSource,
        /// The BIP-39 passphrase.
        passphrase: Zeroizing<String>,
    },
    Address {
        id: String,
        path: AddressPath,
    },
    SignEth {
        id: String,
        sign: Box<SignEth>,
    },
    SignBtc {
        id: String,
        spend: Box<BtcSpend>,
    },
    SignMessage {
        id: String,
        sign: SignMessage,
    },
    /// A handshake's pending session, to keep on the client id's owner.
    OpenSession {
        session: String,
        client_id: String,
        public_key: String,
        responder: Box<Responder>,
    },
    Confirm {
        session: String,
        confirmation: Confirmation,
    },
    Record {
        session: String,
        seq: u64,
        ct: Vec<u8>,
    },
}

/// Where a new wallet's mnemonic comes from. The words travel to the owner shard, which is
/// the only one to derive the seed.
pub enum WalletSource {
    Mnemonic(Zeroizing<String>),
    /// 256 bits from the operating system; the mnemonic is made from them and never shown.
    Entropy(Zeroizing<[u8; 32]>),
}

pub enum WalletAnswer {
    /// A JSON body (or none, for 204).
    Json(Status, String),
    /// An accepted secure-channel record.
    Opened(OpenedRecord),
}

pub type WalletReply = Result<WalletAnswer, ApiError>;
