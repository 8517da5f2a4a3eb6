//! `shardhub-bench`: the load harness of shardhub (see README.md).
//!
//! - `resp`: redis-benchmark-style pipelined load of one command template, with latency
//!   percentiles and server and client CPU microseconds per request.
//! - `mesh`: load on the server's cross-shard mesh through `MESH PING`, timed by the server.
//! - `tokio-ping-server`: the reference tokio current-thread-per-core ping server that
//!   shardhub's runtime is measured against.
//!
//! Client side, the harness speaks RESP through `shardhub_net::resp`'s codecs.

mod bench_error;
mod client_connection;
mod command_template;
mod connection_runner;
mod fast_rng;
mod mesh_probe;
mod percentiles;
mod ping_server;
mod process_cpu_clock;
mod request_scan;
mod resp_load;
mod run_limit;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "shardhub-bench",
    version,
    about = "Load harness for shardhub and its reference peers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Pipelined load of one RESP command template (like redis-benchmark -P).
    Resp(resp_load::RespArgs),
    /// Cross-shard mesh round trips through `MESH PING`, as measured by the server.
    Mesh(mesh_probe::MeshArgs),
    /// Reference RESP ping server: one tokio current-thread runtime per thread.
    TokioPingServer(ping_server::PingServerArgs),
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Resp(args) => resp_load::run(args),
        Command::Mesh(args) => mesh_probe::run(args),
        Command::TokioPingServer(args) => ping_server::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shardhub-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
