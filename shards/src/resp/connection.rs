//! PING, ECHO, HELLO, SELECT, QUIT: the connection's own commands.

use bytes::Bytes;
use shardhub_net::resp::{errors, Protocol, Reply};

use super::session::Session;
use crate::runtime::Answer;
use shardhub_core::keyspace::parse_i64 as parse_int;

/// The Redis version whose behaviour shardhub's RESP front end follows, for clients that
/// detect features by version.
pub const REDIS_COMPAT_VERSION: &str = "7.0.0";

pub fn ping(args: &[Bytes]) -> Answer<Reply> {
    match args.len() {
        1 => Reply::status("PONG").into(),
        2 => Reply::Bulk(args[1].clone()).into(),
        _ => errors::wrong_arity("ping").into(),
    }
}

pub fn echo(args: &[Bytes]) -> Answer<Reply> {
    Reply::Bulk(args[1].clone()).into()
}

pub fn select(args: &[Bytes]) -> Answer<Reply> {
    match parse_int(&args[1]) {
        None => Reply::error(errors::NOT_INTEGER).into(),
        Some(0) => Reply::OK.into(),
        Some(_) => Reply::error(errors::DB_INDEX_OUT_OF_RANGE).into(),
    }
}

pub fn quit(session: &mut Session) -> Answer<Reply> {
    session.closing = true;
    Reply::OK.into()
}

/// Client names may not hold spaces, newlines or other special characters (as in Redis).
pub fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|&b| (b'!'..=b'~').contains(&b))
}

pub const INVALID_CLIENT_NAME: &str = "ERR Client names cannot contain spaces, newlines or special characters.";

/// HELLO [protover [AUTH username password] [SETNAME clientname]]
pub fn hello(session: &mut Session, args: &[Bytes]) -> Answer<Reply> {
    let mut protocol = session.protocol;
    let mut next = 1;
    if args.len() >= 2 {
        next = 2;
        match parse_int(&args[1]) {
            None => return Reply::error("ERR Protocol version is not an integer or out of range").into(),
            Some(2) => protocol = Protocol::Resp2,
            Some(3) => protocol = Protocol::Resp3,
            Some(_) => return Reply::error(errors::NOPROTO).into(),
        }
    }
    let mut name = None;
    let mut j = next;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let opt = &args[j];
        if opt.eq_ignore_ascii_case(b"AUTH") && more >= 2 {
            // No passwords are configured: the default user needs none, as in a stock Redis.
            if !args[j + 1].eq_ignore_ascii_case(b"default") {
                return Reply::error("WRONGPASS invalid username-password pair or user is disabled.").into();
            }
            j += 3;
        } else if opt.eq_ignore_ascii_case(b"SETNAME") && more >= 1 {
            if !valid_client_name(&args[j + 1]) {
                return Reply::error(INVALID_CLIENT_NAME).into();
            }
            name = Some(args[j + 1].clone());
            j += 2;
        } else {
            return Reply::error(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(opt)
            ))
            .into();
        }
    }
    session.protocol = protocol;
    {
        let mut state = session.client.state.borrow_mut();
        state.protocol = protocol.number();
        if let Some(name) = name {
            state.name = (!name.is_empty()).then(|| Bytes::copy_from_slice(&name));
        }
    }
    Reply::Map(vec![
        (Reply::bulk_str("server"), Reply::bulk_str("shardhub")),
        (Reply::bulk_str("version"), Reply::bulk_str(REDIS_COMPAT_VERSION)),
        (Reply::bulk_str("proto"), Reply::Int(protocol.number())),
        (Reply::bulk_str("id"), Reply::Int(session.client.id as i64)),
        (Reply::bulk_str("mode"), Reply::bulk_str("standalone")),
        (Reply::bulk_str("role"), Reply::bulk_str("master")),
        (Reply::bulk_str("modules"), Reply::Array(Vec::new())),
    ])
    .into()
}
