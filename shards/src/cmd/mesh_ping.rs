//! MESH PING <shard>: one round trip through the mesh, timed on the server, for
//! `shardhub-bench mesh`. The connection's own shard answers 0 without using the mesh.

use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;
use shardhub_net::resp::{errors, Reply};

use super::{parse_int, Outcome};
use crate::mesh::MeshBusy;
use crate::shard::Shard;
use crate::shard_op::ShardOp;

pub fn mesh(shard: &Rc<Shard>, args: &[Bytes]) -> Outcome {
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
    let target = match parse_int(&args[2]) {
        Some(t) if t >= 0 && (t as usize) < shard.shared.shard_count => t as u16,
        _ => return Reply::error("ERR shard index out of range").into(),
    };
    if target == shard.id {
        return Reply::Int(0).into();
    }
    let start = Instant::now();
    match shard.mesh.call(target, ShardOp::Ping) {
        Err(MeshBusy) => Reply::error(errors::BUSY).into(),
        Ok(reply) => Outcome::Later(Box::pin(async move {
            let _ = reply.await;
            Reply::Int(start.elapsed().as_nanos() as i64)
        })),
    }
}
