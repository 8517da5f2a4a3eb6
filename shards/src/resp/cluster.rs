//! CLUSTER KEYSLOT: lets clients and tests see the slot a key hashes to.

use bytes::Bytes;
use shardhub_net::resp::Reply;

use crate::runtime::Answer;

pub fn cluster(args: &[Bytes]) -> Answer<Reply> {
    if args[1].eq_ignore_ascii_case(b"KEYSLOT") {
        Reply::Int(i64::from(shardhub_core::key_hash_slot(&args[2]))).into()
    } else {
        Reply::Array(
            [
                "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "KEYSLOT <key>",
                "    Return the hash slot for <key>.",
                "HELP",
                "    Print this help.",
            ]
            .into_iter()
            .map(Reply::status)
            .collect(),
        )
        .into()
    }
}
