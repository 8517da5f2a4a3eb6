//! GET, SET, INCR/DECR and friends, MGET, MSET.

use std::rc::Rc;

use bytes::Bytes;
use shardhub_core::keyspace::{SetCondition, SetExpiry};
use shardhub_core::{KeyOp, KeyReply};
use shardhub_net::resp::{errors, Reply};

use super::route::{fan_out, key_answer, keyspace_error, parse_int, unexpected};
use super::KvService;
use crate::runtime::{unix_ms, Answer};

pub fn get(kv: &Rc<KvService>, args: &[Bytes]) -> Answer<Reply> {
    let key = args[1].clone();
    key_answer(kv.on_key_owner(&args[1], KeyOp::Get(key)), |r| match r {
        KeyReply::Value(Some(v)) => Reply::Bulk(v),
        KeyReply::Value(None) => Reply::Null,
        KeyReply::Err(e) => keyspace_error(e, "get"),
        other => unexpected(other),
    })
}

/// SET key value [NX | XX] [GET] [EX s | PX ms | EXAT unix-s | PXAT unix-ms | KEEPTTL]
pub fn set(kv: &Rc<KvService>, args: &[Bytes]) -> Answer<Reply> {
    let options = match SetOptions::parse(&args[3..], unix_ms()) {
        Ok(o) => o,
        Err(reply) => return reply.into(),
    };
    let op = KeyOp::Set {
        key: args[1].clone(),
        value: args[2].clone(),
        expiry: options.expiry,
        condition: options.condition,
        get: options.get,
    };
    key_answer(kv.on_key_owner(&args[1], op), |r| match r {
        KeyReply::Ok => Reply::OK,
        KeyReply::NotWritten => Reply::Null,
        KeyReply::Value(Some(v)) => Reply::Bulk(v),
        KeyReply::Value(None) => Reply::Null,
        KeyReply::Err(e) => keyspace_error(e, "set"),
        other => unexpected(other),
    })
}

#[derive(Debug, PartialEq)]
struct SetOptions {
    expiry: SetExpiry,
    condition: SetCondition,
    get: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum ExpireKind {
    Ex,
    Px,
    ExAt,
    PxAt,
}

impl SetOptions {
    /// Parses the options as Redis 7 does: conflicting flags are a syntax error before any
    /// number is looked at; then the expiry must be a positive integer that does not overflow.
    fn parse(opts: &[Bytes], now_ms: u64) -> Result<SetOptions, Reply> {
        let mut condition = SetCondition::Always;
        let mut get = false;
        let mut keep_ttl = false;
        let mut expire: Option<(ExpireKind, &Bytes)> = None;
        let mut i = 0;
        while i < opts.len() {
            let opt = &opts[i];
            let next = opts.get(i + 1);
            let is = |name: &[u8]| opt.eq_ignore_ascii_case(name);
            let other_expire = |kind: ExpireKind| expire.is_some_and(|(k, _)| k != kind);
            if is(b"NX") && condition != SetCondition::IfPresent {
                condition = SetCondition::IfAbsent;
            } else if is(b"XX") && condition != SetCondition::IfAbsent {
                condition = SetCondition::IfPresent;
            } else if is(b"GET") {
                get = true;
            } else if is(b"KEEPTTL") && expire.is_none() {
                keep_ttl = true;
            } else if let (Some(kind), Some(value)) = (expire_kind(opt), next) {
                if keep_ttl || other_expire(kind) {
                    return Err(Reply::error(errors::SYNTAX));
                }
                expire = Some((kind, value));
                i += 1;
            } else {
                return Err(Reply::error(errors::SYNTAX));
            }
            i += 1;
        }
        let expiry = match expire {
            None if keep_ttl => SetExpiry::Keep,
            None => SetExpiry::Persist,
            Some((kind, value)) => SetExpiry::AtMs(expire_at_ms(kind, value, now_ms)?),
        };
        Ok(SetOptions { expiry, condition, get })
    }
}

fn expire_kind(opt: &[u8]) -> Option<ExpireKind> {
    [
        (&b"EX"[..], ExpireKind::Ex),
        (b"PX", ExpireKind::Px),
        (b"EXAT", ExpireKind::ExAt),
        (b"PXAT", ExpireKind::PxAt),
    ]
    .into_iter()
    .find(|(name, _)| opt.eq_ignore_ascii_case(name))
    .map(|(_, kind)| kind)
}

fn expire_at_ms(kind: ExpireKind, value: &[u8], now_ms: u64) -> Result<u64, Reply> {
    let n = parse_int(value).ok_or_else(|| Reply::error(errors::NOT_INTEGER))?;
    let seconds = matches!(kind, ExpireKind::Ex | ExpireKind::ExAt);
    if n <= 0 || (seconds && n > i64::MAX / 1000) {
        return Err(errors::invalid_expire("set"));
    }
    let mut ms = if seconds { n * 1000 } else { n };
    if matches!(kind, ExpireKind::Ex | ExpireKind::Px) {
        ms = ms
            .checked_add(now_ms as i64)
            .ok_or_else(|| errors::invalid_expire("set"))?;
    }
    Ok(ms as u64)
}

pub fn incr_by(kv: &Rc<KvService>, key: &Bytes, delta: i64) -> Answer<Reply> {
    key_answer(kv.on_key_owner(key, KeyOp::IncrBy(key.clone(), delta)), |r| match r {
        KeyReply::Int(v) => Reply::Int(v),
        KeyReply::Err(e) => keyspace_error(e, "incrby"),
        other => unexpected(other),
    })
}

/// INCRBY key n / DECRBY key n
pub fn incrby(kv: &Rc<KvService>, args: &[Bytes], negate: bool) -> Answer<Reply> {
    let Some(n) = parse_int(&args[2]) else {
        return Reply::error(errors::NOT_INTEGER).into();
    };
    let delta = if negate {
        match n.checked_neg() {
            Some(d) => d,
            None => return Reply::error(errors::DECREMENT_OVERFLOW).into(),
        }
    } else {
        n
    };
    incr_by(kv, &args[1], delta)
}

pub fn mget(kv: &Rc<KvService>, args: &[Bytes]) -> Answer<Reply> {
    let items = args[1..].iter().map(|k| (k.clone(), ())).collect();
    fan_out(
        kv,
        items,
        |group| KeyOp::MGet(group.into_iter().map(|(k, ())| k).collect()),
        |replies, total| {
            let mut values = vec![Reply::Null; total];
            for (positions, reply) in replies {
                let KeyReply::Values(found) = reply else {
                    return unexpected(reply);
                };
                for (position, value) in positions.into_iter().zip(found) {
                    values[position] = value.map_or(Reply::Null, Reply::Bulk);
                }
            }
            Reply::Array(values)
        },
    )
}

/// MSET is atomic per shard. Keys on several shards are written shard by shard, which is
/// observable only by a reader racing the write across shards (see docs/resp.md).
pub fn mset(kv: &Rc<KvService>, args: &[Bytes]) -> Answer<Reply> {
    if args.len().is_multiple_of(2) {
        return errors::wrong_arity("mset").into();
    }
    let items = args[1..].chunks(2).map(|kv| (kv[0].clone(), kv[1].clone())).collect();
    fan_out(kv, items, KeyOp::MSet, |replies, _| {
        for (_, reply) in replies {
            if let KeyReply::Err(e) = reply {
                return keyspace_error(e, "mset");
            }
        }
        Reply::OK
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(opts: &[&str]) -> Result<SetOptions, Reply> {
        let opts: Vec<Bytes> = opts.iter().map(|s| Bytes::copy_from_slice(s.as_bytes())).collect();
        SetOptions::parse(&opts, 1_000)
    }

    #[test]
    fn set_options_follow_redis() {
        assert_eq!(parse(&["ex", "10"]).unwrap().expiry, SetExpiry::AtMs(11_000));
        assert_eq!(parse(&["PXAT", "5"]).unwrap().expiry, SetExpiry::AtMs(5));
        assert_eq!(parse(&["NX", "GET"]).unwrap().condition, SetCondition::IfAbsent);
        assert_eq!(parse(&["KEEPTTL"]).unwrap().expiry, SetExpiry::Keep);
        assert_eq!(parse(&["EX", "1", "EX", "2"]).unwrap().expiry, SetExpiry::AtMs(3_000));
        let syntax = Reply::error(errors::SYNTAX);
        assert_eq!(parse(&["NX", "XX"]).unwrap_err(), syntax);
        assert_eq!(parse(&["EX", "1", "PX", "2"]).unwrap_err(), syntax);
        assert_eq!(parse(&["KEEPTTL", "EX", "1"]).unwrap_err(), syntax);
        assert_eq!(parse(&["EX"]).unwrap_err(), syntax);
        assert_eq!(parse(&["EX", "x", "NX", "XX"]).unwrap_err(), syntax);
        assert_eq!(parse(&["EX", "x"]).unwrap_err(), Reply::error(errors::NOT_INTEGER));
        assert_eq!(parse(&["EX", "0"]).unwrap_err(), errors::invalid_expire("set"));
        assert_eq!(
            parse(&["EX", "9223372036854775807"]).unwrap_err(),
            errors::invalid_expire("set")
        );
    }
}
