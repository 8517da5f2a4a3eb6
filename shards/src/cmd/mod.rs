//! RESP commands: one file per command family, in the style of mini-redis. `dispatch` checks
//! the name and arity against the command table (so errors read exactly as Redis's), then
//! hands the request to its family.
//!
//! A command either answers at once (`Outcome::Now`) or waits for other shards
//! (`Outcome::Later`); the connection driver keeps answers in request order either way.

mod client;
mod cluster;
mod connection;
mod keys;
mod mesh_ping;
mod seckill;
mod server;
mod strings;

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use bytes::Bytes;
use shardhub_core::{KeyReply, KeyspaceError};
use shardhub_net::resp::{errors, CommandId, CommandSpec, Protocol, Reply, Request};

use crate::clients::ClientInfo;
use crate::mesh::MeshBusy;
use crate::shard::{Routed, Shard};
use crate::shard_op::{SeckillOp, ShardOp, ShardReply};

/// Per-connection state that commands read and change.
pub struct Session {
    pub client: Rc<ClientInfo>,
    pub protocol: Protocol,
    /// Set by QUIT: close after this reply.
    pub closing: bool,
}

pub enum Outcome {
    Now(Reply),
    Later(Pin<Box<dyn Future<Output = Reply>>>),
}

impl From<Reply> for Outcome {
    fn from(reply: Reply) -> Self {
        Outcome::Now(reply)
    }
}

/// The command index (for metrics) and what to answer.
/// `now` is when the request was framed; it stamps the client's last activity (the driver
/// already read the clock for latency, so the hot path reads it once).
pub fn dispatch(
    shard: &Rc<Shard>,
    session: &mut Session,
    request: Request,
    now: std::time::Instant,
) -> (Option<usize>, Outcome) {
    let Some(spec) = CommandSpec::lookup(request.name()) else {
        return (None, Outcome::Now(errors::unknown_command(&request.args)));
    };
    let index = COMMAND_INDEX[spec.id as usize];
    let args = &request.args;
    if !CommandSpec::arity_ok(spec.arity, args.len()) {
        return (Some(index), errors::wrong_arity(spec.name).into());
    }
    if !spec.subcommands.is_empty() {
        let Some(sub) = spec.subcommand(&args[1]) else {
            return (Some(index), errors::unknown_subcommand(&args[0], &args[1]).into());
        };
        if !CommandSpec::arity_ok(sub.arity, args.len()) {
            return (
                Some(index),
                errors::wrong_arity(&format!("{}|{}", spec.name, sub.name)).into(),
            );
        }
    }
    {
        let mut state = session.client.state.borrow_mut();
        state.last_command = spec.name;
        state.last_active = now;
    }
    let outcome = match spec.id {
        CommandId::Ping => connection::ping(args),
        CommandId::Echo => connection::echo(args),
        CommandId::Hello => connection::hello(session, args),
        CommandId::Select => connection::select(args),
        CommandId::Quit => connection::quit(session),
        CommandId::Info => server::info(shard, args),
        CommandId::Dbsize => server::dbsize(shard),
        CommandId::Command => server::command(args),
        CommandId::Config => server::config(shard, args),
        CommandId::Client => client::client(shard, session, args),
        CommandId::Get => strings::get(shard, args),
        CommandId::Set => strings::set(shard, args),
        CommandId::Incr => strings::incr_by(shard, &args[1], 1),
        CommandId::Decr => strings::incr_by(shard, &args[1], -1),
        CommandId::Incrby => strings::incrby(shard, args, false),
        CommandId::Decrby => strings::incrby(shard, args, true),
        CommandId::Mget => strings::mget(shard, args),
        CommandId::Mset => strings::mset(shard, args),
        CommandId::Del => keys::del(shard, args),
        CommandId::Exists => keys::exists(shard, args),
        CommandId::Expire => keys::expire(shard, args, keys::Unit::Seconds),
        CommandId::Pexpire => keys::expire(shard, args, keys::Unit::Milliseconds),
        CommandId::Ttl => keys::ttl(shard, args, keys::Unit::Seconds),
        CommandId::Pttl => keys::ttl(shard, args, keys::Unit::Milliseconds),
        CommandId::Cluster => cluster::cluster(args),
        CommandId::Mesh => mesh_ping::mesh(shard, args),
        CommandId::StockSet => seckill::stock_set(shard, args),
        CommandId::StockAdd => seckill::stock_add(shard, args),
        CommandId::StockGet => seckill::stock_get(shard, args),
        CommandId::SeckillBuy => seckill::buy(shard, args),
        CommandId::OrderPay => seckill::order(shard, args, SeckillOp::Pay),
        CommandId::OrderCancel => seckill::order(shard, args, SeckillOp::Cancel),
        CommandId::OrderGet => seckill::order(shard, args, SeckillOp::OrderGet),
    };
    (Some(index), outcome)
}

/// Position of each command in `COMMANDS`, by `CommandId` discriminant.
static COMMAND_INDEX: std::sync::LazyLock<Vec<usize>> = std::sync::LazyLock::new(|| {
    let ids = shardhub_net::resp::COMMANDS.iter().map(|c| c.id as usize);
    let mut index = vec![0; ids.clone().max().map_or(0, |m| m + 1)];
    for (position, id) in ids.enumerate() {
        index[id] = position;
    }
    index
});

/// Turns a routed key-space request into an outcome, finishing the reply with `finish`.
fn key_outcome(routed: Result<Routed, MeshBusy>, finish: fn(KeyReply) -> Reply) -> Outcome {
    let done = move |reply| match key_reply(reply) {
        Ok(k) => finish(k),
        Err(unavailable) => unavailable,
    };
    match routed {
        Err(MeshBusy) => Reply::error(errors::BUSY).into(),
        Ok(Routed::Local(reply)) => Outcome::Now(done(reply)),
        Ok(Routed::Remote(future)) => Outcome::Later(Box::pin(async move { done(future.await) })),
    }
}

/// The key-space answer in a shard's reply; anything else means the owner could not answer
/// (only while the process goes down).
fn key_reply(reply: ShardReply) -> Result<KeyReply, Reply> {
    match reply {
        ShardReply::Key(k) => Ok(k),
        _ => Err(Reply::error(errors::SHUTTING_DOWN)),
    }
}

/// The Redis error for a refused key-space operation.
fn keyspace_error(e: KeyspaceError, command: &str) -> Reply {
    match e {
        KeyspaceError::WrongType => Reply::error(errors::WRONGTYPE),
        KeyspaceError::NotInteger => Reply::error(errors::NOT_INTEGER),
        KeyspaceError::Overflow => Reply::error(errors::OVERFLOW),
        KeyspaceError::InvalidExpire => errors::invalid_expire(command),
        KeyspaceError::Full => Reply::error(errors::OOM),
    }
}

/// Each owner shard's reply, with the positions (in the request) of the keys it handled.
type ShardReplies = Vec<(Vec<usize>, KeyReply)>;

/// Keys grouped by owner shard: the owner, the keys' positions in the request, the items.
type OwnerGroup<T> = (u16, Vec<usize>, Vec<(Bytes, T)>);

/// Sends `op(keys)` to every shard owning some of `keys`, and merges the replies with `merge`,
/// which gets each shard's reply with the positions (in `keys`) of the keys it handled.
fn fan_out<T: 'static>(
    shard: &Shard,
    items: Vec<(Bytes, T)>,
    op: fn(Vec<(Bytes, T)>) -> ShardOp,
    merge: fn(ShardReplies, usize) -> Reply,
) -> Outcome {
    let total = items.len();
    let mut groups: Vec<OwnerGroup<T>> = Vec::new();
    for (position, (key, value)) in items.into_iter().enumerate() {
        let owner = shard.shared.slots.owner_of_key(&key);
        match groups.iter_mut().find(|g| g.0 == owner) {
            Some(g) => {
                g.1.push(position);
                g.2.push((key, value));
            }
            None => groups.push((owner, vec![position], vec![(key, value)])),
        }
    }
    let mut routed = Vec::with_capacity(groups.len());
    for (owner, positions, group) in groups {
        match shard.call(owner, op(group)) {
            Ok(r) => routed.push((positions, r)),
            Err(MeshBusy) => return Reply::error(errors::BUSY).into(),
        }
    }
    if routed.iter().all(|(_, r)| matches!(r, Routed::Local(_))) {
        let mut replies = Vec::with_capacity(routed.len());
        for (positions, r) in routed {
            let Routed::Local(reply) = r else {
                unreachable!("checked all local")
            };
            match key_reply(reply) {
                Ok(k) => replies.push((positions, k)),
                Err(unavailable) => return unavailable.into(),
            }
        }
        return Outcome::Now(merge(replies, total));
    }
    Outcome::Later(Box::pin(async move {
        let mut replies = Vec::with_capacity(routed.len());
        for (positions, r) in routed {
            match key_reply(r.get().await) {
                Ok(k) => replies.push((positions, k)),
                Err(unavailable) => return unavailable,
            }
        }
        merge(replies, total)
    }))
}

/// Asks every shard for `op()` and combines the replies.
fn all_shards(
    shard: &Rc<Shard>,
    op: fn() -> ShardOp,
    combine: impl FnOnce(Vec<ShardReply>) -> Reply + 'static,
) -> Outcome {
    let mut routed = Vec::with_capacity(shard.shared.shard_count);
    for owner in 0..shard.shared.shard_count as u16 {
        match shard.call(owner, op()) {
            Ok(r) => routed.push(r),
            Err(MeshBusy) => return Reply::error(errors::BUSY).into(),
        }
    }
    Outcome::Later(Box::pin(async move {
        let mut replies = Vec::with_capacity(routed.len());
        for r in routed {
            replies.push(r.get().await);
        }
        combine(replies)
    }))
}

/// Parses an argument as Redis's `getLongLongFromObject` does.
fn parse_int(arg: &[u8]) -> Option<i64> {
    shardhub_core::keyspace::parse_i64(arg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_an_index() {
        for (position, spec) in shardhub_net::resp::COMMANDS.iter().enumerate() {
            assert_eq!(COMMAND_INDEX[spec.id as usize], position);
        }
    }
}
