//! How a key command reaches its owners: one key's owner ([`key_answer`]), or every shard
//! owning some of a command's keys, with the replies put back in request order
//! ([`fan_out`]).

use std::rc::Rc;

use bytes::Bytes;
use shardhub_core::{KeyOp, KeyReply, KeyspaceError, ShardId};
use shardhub_net::resp::{errors, Reply};

use super::{KvReply, KvService};
use crate::runtime::{Answer, MeshBusy, Service};

/// An operation sent to its owner: its answer, or the mesh was full.
pub type Routed = Result<Answer<KvReply>, MeshBusy>;

/// Turns a routed key-space request into a RESP answer, finishing the reply with `finish`.
pub fn key_answer(routed: Routed, finish: fn(KeyReply) -> Reply) -> Answer<Reply> {
    match routed {
        Err(MeshBusy) => Reply::error(errors::BUSY).into(),
        Ok(answer) => answer.map(move |reply| match reply {
            Some(k) => finish(k),
            None => Reply::error(errors::SHUTTING_DOWN),
        }),
    }
}

/// The Redis error for a refused key-space operation.
pub fn keyspace_error(e: KeyspaceError, command: &str) -> Reply {
    match e {
        KeyspaceError::WrongType => Reply::error(errors::WRONGTYPE),
        KeyspaceError::NotInteger => Reply::error(errors::NOT_INTEGER),
        KeyspaceError::Overflow => Reply::error(errors::OVERFLOW),
        KeyspaceError::InvalidExpire => errors::invalid_expire(command),
        KeyspaceError::Full => Reply::error(errors::OOM),
    }
}

/// A reply the command did not expect from the key space (a bug, said as an error).
pub fn unexpected(reply: KeyReply) -> Reply {
    Reply::error(format!("ERR internal: unexpected shard reply {reply:?}"))
}

/// Each owner shard's reply, with the positions (in the request) of the keys it handled.
pub type ShardReplies = Vec<(Vec<usize>, KeyReply)>;

/// Keys grouped by owner shard: the owner, the keys' positions in the request, the items.
type OwnerGroup<T> = (ShardId, Vec<usize>, Vec<(Bytes, T)>);

/// Sends `op(keys)` to every shard owning some of `items`, and merges the replies with
/// `merge`, which gets each shard's reply with the positions (in `items`) of the keys it
/// handled, and how many items there were.
pub fn fan_out<T: 'static>(
    kv: &Rc<KvService>,
    items: Vec<(Bytes, T)>,
    op: fn(Vec<(Bytes, T)>) -> KeyOp,
    merge: fn(ShardReplies, usize) -> Reply,
) -> Answer<Reply> {
    let total = items.len();
    let mut groups: Vec<OwnerGroup<T>> = Vec::new();
    for (position, (key, value)) in items.into_iter().enumerate() {
        let owner = kv.ctx().owner_of_key(&key);
        match groups.iter_mut().find(|g| g.0 == owner) {
            Some(g) => {
                g.1.push(position);
                g.2.push((key, value));
            }
            None => groups.push((owner, vec![position], vec![(key, value)])),
        }
    }
    let mut answers = Vec::with_capacity(groups.len());
    for (owner, positions, group) in groups {
        match kv.on_owner(owner, op(group)) {
            Ok(answer) => answers.push((positions, answer)),
            Err(MeshBusy) => return Reply::error(errors::BUSY).into(),
        }
    }
    if answers.iter().all(|(_, a)| a.is_now()) {
        // Every owner answered at once (one shard, or keys all local): no future.
        let replies: Option<ShardReplies> = answers
            .into_iter()
            .map(|(positions, answer)| match answer {
                Answer::Now(Some(k)) => Some((positions, k)),
                _ => None,
            })
            .collect();
        return match replies {
            Some(replies) => Answer::Now(merge(replies, total)),
            None => Reply::error(errors::SHUTTING_DOWN).into(),
        };
    }
    Answer::later(async move {
        let mut replies = Vec::with_capacity(answers.len());
        for (positions, answer) in answers {
            match answer.get().await {
                Some(k) => replies.push((positions, k)),
                None => return Reply::error(errors::SHUTTING_DOWN),
            }
        }
        merge(replies, total)
    })
}

/// Parses an argument as Redis's `getLongLongFromObject` does.
pub fn parse_int(arg: &[u8]) -> Option<i64> {
    shardhub_core::keyspace::parse_i64(arg)
}
