//! CLIENT ID | SETNAME | GETNAME | LIST | INFO | HELP.

use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;
use shardhub_net::resp::{errors, Reply};

use super::connection::{valid_client_name, INVALID_CLIENT_NAME};
use super::server::help;
use super::{parse_int, Outcome, Session};
use crate::clients::ClientListFilter;
use crate::mesh::MeshBusy;
use crate::shard::Shard;
use crate::shard_op::{ShardOp, ShardReply};

pub fn client(shard: &Rc<Shard>, session: &mut Session, args: &[Bytes]) -> Outcome {
    let sub = args[1].to_ascii_uppercase();
    match sub.as_slice() {
        b"ID" => Reply::Int(session.client.id as i64).into(),
        b"SETNAME" => {
            if !valid_client_name(&args[2]) {
                return Reply::error(INVALID_CLIENT_NAME).into();
            }
            let name = (!args[2].is_empty()).then(|| Bytes::copy_from_slice(&args[2]));
            session.client.state.borrow_mut().name = name;
            Reply::OK.into()
        }
        b"GETNAME" => match &session.client.state.borrow().name {
            Some(name) => Reply::Bulk(name.clone()).into(),
            None => Reply::Null.into(),
        },
        b"INFO" => Reply::Verbatim(
            "txt",
            Bytes::from(format!("{}\n", session.client.line(Instant::now(), shard.id))),
        )
        .into(),
        b"LIST" => list(shard, args),
        _ => help(
            "CLIENT",
            &[
                "ID",
                "SETNAME <name>",
                "GETNAME",
                "LIST [TYPE NORMAL] [ID <id> ...]",
                "INFO",
            ],
        ),
    }
}

/// CLIENT LIST [TYPE NORMAL] [ID id ...], gathered from every shard.
fn list(shard: &Rc<Shard>, args: &[Bytes]) -> Outcome {
    let mut filter = ClientListFilter::All;
    let mut i = 2;
    while i < args.len() {
        if args[i].eq_ignore_ascii_case(b"TYPE") && i + 1 < args.len() {
            if !args[i + 1].eq_ignore_ascii_case(b"NORMAL") {
                return Reply::error(format!(
                    "ERR Unknown client type '{}'",
                    String::from_utf8_lossy(&args[i + 1])
                ))
                .into();
            }
            i += 2;
        } else if args[i].eq_ignore_ascii_case(b"ID") && i + 1 < args.len() {
            let mut ids = Vec::new();
            for arg in &args[i + 1..] {
                match parse_int(arg) {
                    Some(id) if id > 0 => ids.push(id as u64),
                    _ => return Reply::error("ERR Invalid client ID").into(),
                }
            }
            filter = ClientListFilter::Ids(ids);
            i = args.len();
        } else {
            return Reply::error(errors::SYNTAX).into();
        }
    }
    let mut routed = Vec::new();
    for owner in 0..shard.shared.shard_count as u16 {
        match shard.call(owner, ShardOp::ClientList(filter.clone())) {
            Ok(r) => routed.push(r),
            Err(MeshBusy) => return Reply::error(errors::BUSY).into(),
        }
    }
    Outcome::Later(Box::pin(async move {
        let mut text = String::new();
        for r in routed {
            if let ShardReply::ClientList(lines) = r.get().await {
                for line in lines {
                    text.push_str(&line);
                    text.push('\n');
                }
            }
        }
        Reply::Verbatim("txt", Bytes::from(text))
    }))
}
