//! DEL, EXISTS, EXPIRE, PEXPIRE, TTL, PTTL.

use std::rc::Rc;

use bytes::Bytes;
use shardhub_core::keyspace::{ExpireCondition, Ttl};
use shardhub_core::{KeyOp, KeyReply};
use shardhub_net::resp::{errors, Reply};

use super::route::{fan_out, key_answer, parse_int, unexpected, ShardReplies};
use super::KvService;
use crate::runtime::{unix_ms, Answer};

#[derive(Clone, Copy, PartialEq)]
pub enum Unit {
    Seconds,
    Milliseconds,
}

fn sum(replies: ShardReplies, _total: usize) -> Reply {
    let mut n = 0;
    for (_, reply) in replies {
        match reply {
            KeyReply::Int(i) => n += i,
            other => return unexpected(other),
        }
    }
    Reply::Int(n)
}

pub fn del(kv: &Rc<KvService>, args: &[Bytes]) -> Answer<Reply> {
    let items = args[1..].iter().map(|k| (k.clone(), ())).collect();
    fan_out(kv, items, |g| KeyOp::Del(g.into_iter().map(|(k, ())| k).collect()), sum)
}

pub fn exists(kv: &Rc<KvService>, args: &[Bytes]) -> Answer<Reply> {
    let items = args[1..].iter().map(|k| (k.clone(), ())).collect();
    fan_out(
        kv,
        items,
        |g| KeyOp::Exists(g.into_iter().map(|(k, ())| k).collect()),
        sum,
    )
}

/// EXPIRE key seconds [NX | XX | GT | LT] and PEXPIRE, with Redis 7's checks in its order:
/// options first, then the number, then overflow.
pub fn expire(kv: &Rc<KvService>, args: &[Bytes], unit: Unit) -> Answer<Reply> {
    let command = if unit == Unit::Seconds { "expire" } else { "pexpire" };
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in &args[3..] {
        if opt.eq_ignore_ascii_case(b"NX") {
            nx = true;
        } else if opt.eq_ignore_ascii_case(b"XX") {
            xx = true;
        } else if opt.eq_ignore_ascii_case(b"GT") {
            gt = true;
        } else if opt.eq_ignore_ascii_case(b"LT") {
            lt = true;
        } else {
            return Reply::error(format!("ERR Unsupported option {}", String::from_utf8_lossy(opt))).into();
        }
    }
    if nx && (xx || gt || lt) {
        return Reply::error(errors::EXPIRE_NX_XX_GT_LT).into();
    }
    if gt && lt {
        return Reply::error(errors::EXPIRE_GT_LT).into();
    }
    let condition = match (nx, xx, gt, lt) {
        (true, ..) => ExpireCondition::IfNone,
        (_, _, true, _) => ExpireCondition::IfGreater,
        (_, _, _, true) => ExpireCondition::IfLess,
        (_, true, ..) => ExpireCondition::IfSome,
        _ => ExpireCondition::Always,
    };
    let Some(mut when) = parse_int(&args[2]) else {
        return Reply::error(errors::NOT_INTEGER).into();
    };
    if unit == Unit::Seconds {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
            return errors::invalid_expire(command).into();
        }
        when *= 1000;
    }
    let now = unix_ms() as i64;
    let Some(at) = when.checked_add(now) else {
        return errors::invalid_expire(command).into();
    };
    // XX with GT: the GT check already requires an expiry, as in Redis.
    let op = KeyOp::Expire {
        key: args[1].clone(),
        at_ms: at.max(0) as u64,
        condition,
    };
    key_answer(kv.on_key_owner(&args[1], op), |r| match r {
        KeyReply::Int(i) => Reply::Int(i),
        other => unexpected(other),
    })
}

pub fn ttl(kv: &Rc<KvService>, args: &[Bytes], unit: Unit) -> Answer<Reply> {
    let finish: fn(KeyReply) -> Reply = match unit {
        Unit::Seconds => |r| match r {
            KeyReply::Ttl(Ttl::RemainingMs(ms)) => Reply::Int(((ms + 500) / 1000) as i64),
            other => ttl_special(other),
        },
        Unit::Milliseconds => |r| match r {
            KeyReply::Ttl(Ttl::RemainingMs(ms)) => Reply::Int(ms as i64),
            other => ttl_special(other),
        },
    };
    key_answer(kv.on_key_owner(&args[1], KeyOp::Ttl(args[1].clone())), finish)
}

fn ttl_special(reply: KeyReply) -> Reply {
    match reply {
        KeyReply::Ttl(Ttl::Missing) => Reply::Int(-2),
        KeyReply::Ttl(Ttl::Persistent) => Reply::Int(-1),
        other => unexpected(other),
    }
}
