//! MESH PING <shard>: one round trip through the mesh, timed on the server, for
//! `shardhub-bench mesh`. The connection's own shard answers 0 without using the mesh.

use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;
use shardhub_net::resp::{errors, Reply};

use super::front::RespFront;
use crate::admin::AdminMsg;
use crate::runtime::{Answer, MeshBusy, Service};
use shardhub_core::keyspace::parse_i64 as parse_int;

pub fn mesh(front: &Rc<RespFront>, args: &[Bytes]) -> Answer<Reply> {
    if !args[1].eq_ignore_ascii_case(b"PING") {
        return Reply::Array(
            [
                "MESH PING <shard>",
                "    Round trip to <shard> through the mesh; replies with nanoseconds.",
            ]
            .into_iter()
            .map(Reply::status)
            .collect(),
        )
        .into();
    }
    let ctx = front.ctx();
    let target = match parse_int(&args[2]) {
        Some(t) if t >= 0 && (t as usize) < ctx.shard_count() => t as u16,
        _ => return Reply::error("ERR shard index out of range").into(),
    };
    if target == ctx.id {
        return Reply::Int(0).into();
    }
    let start = Instant::now();
    match front.admin.on_owner(target, AdminMsg::Ping) {
        Err(MeshBusy) => Reply::error(errors::BUSY).into(),
        Ok(answer) => Answer::later(async move {
            let _ = answer.get().await;
            Reply::Int(start.elapsed().as_nanos() as i64)
        }),
    }
}
