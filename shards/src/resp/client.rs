//! CLIENT ID | SETNAME | GETNAME | LIST | INFO | HELP.

use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;
use shardhub_net::resp::{errors, Reply};

use super::clients::ClientListFilter;
use super::connection::{valid_client_name, INVALID_CLIENT_NAME};
use super::front::{RespFront, RespMsg, RespReply};
use super::server::help;
use super::session::Session;
use crate::runtime::{Answer, MeshBusy, Service};
use shardhub_core::keyspace::parse_i64 as parse_int;

pub fn client(front: &Rc<RespFront>, session: &mut Session, args: &[Bytes]) -> Answer<Reply> {
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
            Bytes::from(format!("{}\n", session.client.line(Instant::now(), front.ctx().id))),
        )
        .into(),
        b"LIST" => list(front, args),
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
fn list(front: &Rc<RespFront>, args: &[Bytes]) -> Answer<Reply> {
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
    let mut answers = Vec::new();
    for owner in 0..front.ctx().shard_count() as u16 {
        match front.on_owner(owner, RespMsg::ClientList(filter.clone())) {
            Ok(answer) => answers.push(answer),
            Err(MeshBusy) => return Reply::error(errors::BUSY).into(),
        }
    }
    Answer::later(async move {
        let mut text = String::new();
        for answer in answers {
            if let RespReply::ClientList(lines) = answer.get().await {
                for line in lines {
                    text.push_str(&line);
                    text.push('\n');
                }
            }
        }
        Reply::Verbatim("txt", Bytes::from(text))
    })
}
