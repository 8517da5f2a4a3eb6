//! INFO, DBSIZE, COMMAND, CONFIG GET.

use std::fmt::Write;
use std::rc::Rc;

use bytes::Bytes;
use shardhub_net::resp::{errors, CommandSpec, Reply, COMMANDS};

use super::connection::REDIS_COMPAT_VERSION;
use super::front::{RespFront, RespMsg, RespReply, ShardStats};
use crate::runtime::shared::Shared;
use crate::runtime::{Answer, MeshBusy, Service};

pub fn dbsize(front: &Rc<RespFront>) -> Answer<Reply> {
    every_shard(
        front,
        || RespMsg::Stats,
        |replies| Reply::Int(stats_of(replies).iter().map(|s| s.keys as i64).sum()),
    )
}

fn stats_of(replies: Vec<RespReply>) -> Vec<ShardStats> {
    replies
        .into_iter()
        .filter_map(|r| match r {
            RespReply::Stats(s) => Some(s),
            _ => None,
        })
        .collect()
}

/// Asks every shard's front end for `msg()` and combines the replies.
pub fn every_shard(
    front: &Rc<RespFront>,
    msg: fn() -> RespMsg,
    combine: impl FnOnce(Vec<RespReply>) -> Reply + 'static,
) -> Answer<Reply> {
    let mut answers = Vec::with_capacity(front.ctx().shard_count());
    for owner in 0..front.ctx().shard_count() as u16 {
        match front.on_owner(owner, msg()) {
            Ok(answer) => answers.push(answer),
            Err(MeshBusy) => return Reply::error(errors::BUSY).into(),
        }
    }
    Answer::later(async move {
        let mut replies = Vec::with_capacity(answers.len());
        for answer in answers {
            replies.push(answer.get().await);
        }
        combine(replies)
    })
}

const DEFAULT_SECTIONS: &[&str] = &["server", "clients", "stats", "keyspace"];

/// INFO [section ...]: Redis's sections with per-shard lines added.
pub fn info(front: &Rc<RespFront>, args: &[Bytes]) -> Answer<Reply> {
    let mut sections: Vec<String> = args[1..]
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    if sections.is_empty()
        || sections
            .iter()
            .any(|s| s == "default" || s == "all" || s == "everything")
    {
        sections = DEFAULT_SECTIONS.iter().map(|s| s.to_string()).collect();
    }
    let shared = front.ctx().shared.clone();
    every_shard(
        front,
        || RespMsg::Stats,
        move |replies| {
            let stats = stats_of(replies);
            let mut out = String::new();
            for section in DEFAULT_SECTIONS.iter().filter(|s| sections.iter().any(|x| x == *s)) {
                if !out.is_empty() {
                    out.push_str("\r\n");
                }
                match *section {
                    "server" => server_section(&mut out, &shared, &stats),
                    "clients" => clients_section(&mut out, &stats),
                    "stats" => stats_section(&mut out, &stats),
                    _ => keyspace_section(&mut out, &stats),
                }
            }
            Reply::Verbatim("txt", Bytes::from(out))
        },
    )
}

fn server_section(out: &mut String, shared: &Shared, stats: &[ShardStats]) {
    let uptime = shared.started.elapsed().as_secs();
    let _ = write!(
        out,
        "# Server\r\nredis_version:{REDIS_COMPAT_VERSION}\r\nshardhub_version:{}\r\nredis_mode:standalone\r\n\
         os:{} {}\r\narch_bits:64\r\nprocess_id:{}\r\nrun_id:{}\r\ntcp_port:{}\r\nuptime_in_seconds:{uptime}\r\n\
         uptime_in_days:{}\r\nshards:{}\r\n",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH,
        std::process::id(),
        shared.run_id,
        shared.ports.resp,
        uptime / 86_400,
        shared.shard_count,
    );
    for s in stats {
        let _ = write!(out, "shard{}_driver:{}\r\n", s.shard, s.driver);
    }
}

fn clients_section(out: &mut String, stats: &[ShardStats]) {
    let total: u64 = stats.iter().map(|s| s.connected_clients).sum();
    let _ = write!(out, "# Clients\r\nconnected_clients:{total}\r\n");
    for s in stats {
        let _ = write!(out, "shard{}_connected_clients:{}\r\n", s.shard, s.connected_clients);
    }
}

fn stats_section(out: &mut String, stats: &[ShardStats]) {
    let sum = |f: fn(&ShardStats) -> u64| stats.iter().map(f).sum::<u64>();
    let _ = write!(
        out,
        "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ntotal_net_input_bytes:{}\r\n\
         total_net_output_bytes:{}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\nmesh_requests_sent:{}\r\n\
         mesh_requests_received:{}\r\nmesh_busy:{}\r\n",
        sum(|s| s.total_connections),
        sum(|s| s.commands_processed),
        sum(|s| s.net_input_bytes),
        sum(|s| s.net_output_bytes),
        sum(|s| s.rejected_connections),
        sum(|s| s.expired_keys),
        sum(|s| s.mesh_requests_sent),
        sum(|s| s.mesh_requests_received),
        sum(|s| s.mesh_busy),
    );
    for s in stats {
        let _ = write!(
            out,
            "shard{}:connections_received={},commands_processed={},net_input_bytes={},net_output_bytes={},\
             mesh_requests_sent={},mesh_requests_received={},mesh_busy={}\r\n",
            s.shard,
            s.total_connections,
            s.commands_processed,
            s.net_input_bytes,
            s.net_output_bytes,
            s.mesh_requests_sent,
            s.mesh_requests_received,
            s.mesh_busy,
        );
    }
}

fn keyspace_section(out: &mut String, stats: &[ShardStats]) {
    out.push_str("# Keyspace\r\n");
    let keys: u64 = stats.iter().map(|s| s.keys).sum();
    let expires: u64 = stats.iter().map(|s| s.expires).sum();
    if keys > 0 {
        let _ = write!(out, "db0:keys={keys},expires={expires},avg_ttl=0\r\n");
    }
    for s in stats {
        let _ = write!(out, "shard{}:keys={},expires={}\r\n", s.shard, s.keys, s.expires);
    }
}

/// COMMAND, COMMAND COUNT|DOCS|INFO|LIST|HELP.
pub fn command(args: &[Bytes]) -> Answer<Reply> {
    if args.len() == 1 {
        return Reply::Array(COMMANDS.iter().map(command_info).collect()).into();
    }
    let sub = &args[1];
    let named = |names: &[Bytes]| -> Vec<Option<&'static CommandSpec>> {
        names.iter().map(|n| CommandSpec::lookup(n)).collect()
    };
    if sub.eq_ignore_ascii_case(b"COUNT") {
        Reply::Int(COMMANDS.len() as i64).into()
    } else if sub.eq_ignore_ascii_case(b"LIST") {
        if args.len() > 2 {
            return Reply::error(errors::SYNTAX).into();
        }
        Reply::Array(COMMANDS.iter().map(|c| Reply::bulk_str(c.name)).collect()).into()
    } else if sub.eq_ignore_ascii_case(b"INFO") {
        let specs: Vec<_> = if args.len() == 2 {
            COMMANDS.iter().map(Some).collect()
        } else {
            named(&args[2..])
        };
        Reply::Array(specs.into_iter().map(|s| s.map_or(Reply::Null, command_info)).collect()).into()
    } else if sub.eq_ignore_ascii_case(b"DOCS") {
        let specs: Vec<_> = if args.len() == 2 {
            COMMANDS.iter().collect()
        } else {
            named(&args[2..]).into_iter().flatten().collect()
        };
        Reply::Map(
            specs
                .into_iter()
                .map(|s| (Reply::bulk_str(s.name), command_docs(s)))
                .collect(),
        )
        .into()
    } else {
        help(
            "COMMAND",
            &[
                "COUNT",
                "DOCS [<command-name> ...]",
                "INFO [<command-name> ...]",
                "LIST",
            ],
        )
    }
}

fn command_info(spec: &'static CommandSpec) -> Reply {
    Reply::Array(vec![
        Reply::bulk_str(spec.name),
        Reply::Int(i64::from(spec.arity)),
        Reply::Set(spec.flags.iter().map(|f| Reply::status(f)).collect()),
        Reply::Int(i64::from(spec.first_key)),
        Reply::Int(i64::from(spec.last_key)),
        Reply::Int(i64::from(spec.step)),
        Reply::Set(Vec::new()),
        Reply::Set(Vec::new()),
        Reply::Array(Vec::new()),
        Reply::Array(
            spec.subcommands
                .iter()
                .map(|s| {
                    Reply::Array(vec![
                        Reply::Bulk(Bytes::from(format!("{}|{}", spec.name, s.name))),
                        Reply::Int(i64::from(s.arity)),
                        Reply::Set(Vec::new()),
                        Reply::Int(0),
                        Reply::Int(0),
                        Reply::Int(0),
                        Reply::Set(Vec::new()),
                        Reply::Set(Vec::new()),
                        Reply::Array(Vec::new()),
                        Reply::Array(Vec::new()),
                    ])
                })
                .collect(),
        ),
    ])
}

fn command_docs(spec: &'static CommandSpec) -> Reply {
    let mut fields = vec![
        (Reply::bulk_str("summary"), Reply::bulk_str(spec.summary)),
        (Reply::bulk_str("since"), Reply::bulk_str(spec.since)),
        (Reply::bulk_str("group"), Reply::bulk_str(spec.group)),
    ];
    if !spec.subcommands.is_empty() {
        let subs = spec
            .subcommands
            .iter()
            .map(|s| {
                (
                    Reply::Bulk(Bytes::from(format!("{}|{}", spec.name, s.name))),
                    Reply::Map(vec![
                        (Reply::bulk_str("summary"), Reply::bulk_str(s.summary)),
                        (Reply::bulk_str("since"), Reply::bulk_str(spec.since)),
                        (Reply::bulk_str("group"), Reply::bulk_str(spec.group)),
                    ]),
                )
            })
            .collect();
        fields.push((Reply::bulk_str("subcommands"), Reply::Map(subs)));
    }
    Reply::Map(fields)
}

/// CONFIG GET parameter [parameter ...]: the few parameters tools such as redis-benchmark
/// ask about, answered with what shardhub really does. Glob patterns `*` and `?` work.
pub fn config(front: &Rc<RespFront>, args: &[Bytes]) -> Answer<Reply> {
    if !args[1].eq_ignore_ascii_case(b"GET") {
        return help("CONFIG", &["GET <pattern>"]);
    }
    let config = front.ctx().config();
    let shared = &front.ctx().shared;
    let params: Vec<(&str, String)> = vec![
        ("save", String::new()),
        ("appendonly", "no".into()),
        ("databases", "1".into()),
        (
            "maxclients",
            (config.limits.connections_per_shard_max * shared.shard_count).to_string(),
        ),
        ("proto-max-bulk-len", config.limits.bulk_bytes_max.to_string()),
        ("port", shared.ports.resp.to_string()),
        (
            "hz",
            (1000 / config.keyspace.active_expire_interval_ms.max(1)).to_string(),
        ),
    ];
    let mut found = Vec::new();
    for (name, value) in &params {
        if args[2..]
            .iter()
            .any(|p| glob_match(&p.to_ascii_lowercase(), name.as_bytes()))
        {
            found.push((Reply::bulk_str(name), Reply::Bulk(Bytes::from(value.clone()))));
        }
    }
    Reply::Map(found).into()
}

fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.first(), text.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob_match(&pattern[1..], text) || (!text.is_empty() && glob_match(pattern, &text[1..])),
        (Some(b'?'), Some(_)) => glob_match(&pattern[1..], &text[1..]),
        (Some(p), Some(t)) if p == t => glob_match(&pattern[1..], &text[1..]),
        _ => false,
    }
}

pub fn help(command: &str, lines: &[&str]) -> Answer<Reply> {
    let mut out = vec![Reply::Status(
        format!("{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:").into(),
    )];
    out.extend(lines.iter().map(|l| Reply::Status(l.to_string().into())));
    out.push(Reply::status("HELP"));
    out.push(Reply::status("    Print this help."));
    Reply::Array(out).into()
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn glob() {
        assert!(glob_match(b"*", b"save"));
        assert!(glob_match(b"s?ve", b"save"));
        assert!(glob_match(b"*only", b"appendonly"));
        assert!(!glob_match(b"save", b"saves"));
    }
}
