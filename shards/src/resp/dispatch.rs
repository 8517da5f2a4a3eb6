//! From a framed request to its answer: `dispatch` checks the name and arity against the
//! command table (so errors read exactly as Redis's), then hands the request to the service
//! whose command it is — the key space, flash sales — or to the connection and server
//! commands of the RESP front end itself.
//!
//! A command either answers at once or later (it waits for other shards); the connection
//! driver keeps answers in request order either way.

use std::rc::Rc;

use shardhub_net::resp::{errors, CommandId, CommandSpec, Reply, Request};

use super::front::RespFront;
use super::session::Session;
use super::{client, cluster, connection, mesh_ping, server};
use crate::kv::{keys, strings};
use crate::runtime::Answer;
use crate::seckill::front as seckill;
use crate::seckill::message::SeckillOp;

/// The command index (for metrics) and what to answer.
/// `now` is when the request was framed; it stamps the client's last activity (the driver
/// already read the clock for latency, so the hot path reads it once).
pub fn dispatch(
    front: &Rc<RespFront>,
    session: &mut Session,
    request: Request,
    now: std::time::Instant,
) -> (Option<usize>, Answer<Reply>) {
    let Some(spec) = CommandSpec::lookup(request.name()) else {
        return (None, Answer::Now(errors::unknown_command(&request.args)));
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
    let (kv, sk) = (&front.kv, &front.seckill);
    let outcome = match spec.id {
        CommandId::Ping => connection::ping(args),
        CommandId::Echo => connection::echo(args),
        CommandId::Hello => connection::hello(session, args),
        CommandId::Select => connection::select(args),
        CommandId::Quit => connection::quit(session),
        CommandId::Info => server::info(front, args),
        CommandId::Dbsize => server::dbsize(front),
        CommandId::Command => server::command(args),
        CommandId::Config => server::config(front, args),
        CommandId::Client => client::client(front, session, args),
        CommandId::Get => strings::get(kv, args),
        CommandId::Set => strings::set(kv, args),
        CommandId::Incr => strings::incr_by(kv, &args[1], 1),
        CommandId::Decr => strings::incr_by(kv, &args[1], -1),
        CommandId::Incrby => strings::incrby(kv, args, false),
        CommandId::Decrby => strings::incrby(kv, args, true),
        CommandId::Mget => strings::mget(kv, args),
        CommandId::Mset => strings::mset(kv, args),
        CommandId::Del => keys::del(kv, args),
        CommandId::Exists => keys::exists(kv, args),
        CommandId::Expire => keys::expire(kv, args, keys::Unit::Seconds),
        CommandId::Pexpire => keys::expire(kv, args, keys::Unit::Milliseconds),
        CommandId::Ttl => keys::ttl(kv, args, keys::Unit::Seconds),
        CommandId::Pttl => keys::ttl(kv, args, keys::Unit::Milliseconds),
        CommandId::Cluster => cluster::cluster(args),
        CommandId::Mesh => mesh_ping::mesh(front, args),
        CommandId::StockSet => seckill::stock_set(sk, args),
        CommandId::StockAdd => seckill::stock_add(sk, args),
        CommandId::StockGet => seckill::stock_get(sk, args),
        CommandId::SeckillBuy => seckill::buy(sk, args),
        CommandId::OrderPay => seckill::order(sk, args, SeckillOp::Pay),
        CommandId::OrderCancel => seckill::order(sk, args, SeckillOp::Cancel),
        CommandId::OrderGet => seckill::order(sk, args, SeckillOp::OrderGet),
        CommandId::OrderPayment => seckill::payment(sk, args),
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
