//! `shardhub-bench`: the load harness of shardhub (see README.md).
//!
//! - `resp`: redis-benchmark-style pipelined load of one command template, with latency
//!   percentiles and server and client CPU microseconds per request.
//! - `seckill`: flash-sale load (SECKILL.BUY, or Redis with the reference Lua script) with
//!   an end-of-run audit of the stock counts.
//! - `mesh`: load on the server's cross-shard mesh through `MESH PING`, timed by the server.
//! - `mqtt`: MQTT connection ramps, fan-in and fan-out.
//! - `wallet`: the light wallet's HTTP API, plain or through the SM2/SM4 secure channel,
//!   beside the same operations in-process (the per-core ceiling).
//! - `kafka-produce`: a plain Kafka producer with the outbox relay's settings, the ceiling
//!   the relay's events per second are measured against; `pipeline-latency`: a BUY's reply
//!   to its row committed in PostgreSQL by `shardhub sink`.
//! - `tokio-ping-server`: the reference tokio current-thread-per-core ping server that
//!   shardhub's runtime is measured against.
//!
//! Client side, the harness speaks RESP through `shardhub_net::resp`'s codecs, MQTT through
//! `shardhub_net::mqtt`'s, and the wallet's secure channel through `shardhub_crypto::gm`.

mod common;
mod kafka;
mod mqtt;
mod resp;
mod seckill;
mod wallet;

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
    Resp(resp::load::RespArgs),
    /// Flash-sale load: SECKILL.BUY (or Redis's Lua stock script), then an audit of the stock.
    Seckill(seckill::args::SeckillArgs),
    /// Cross-shard mesh round trips through `MESH PING`, as measured by the server.
    Mesh(resp::mesh_probe::MeshArgs),
    /// MQTT load: connection ramp (memory per connection), fan-in and fan-out.
    Mqtt(mqtt::MqttArgs),
    /// Light-wallet load: addresses and ETH/BTC signatures, in-process, plain HTTP or secure channel.
    Wallet(wallet::load::WalletArgs),
    /// A plain Kafka producer with the relay's settings: the ceiling the relay is measured against.
    KafkaProduce(kafka::ProduceArgs),
    /// The order pipeline end to end: a SECKILL.BUY's reply to its row in PostgreSQL, at a steady rate.
    PipelineLatency(kafka::latency::LatencyArgs),
    /// Reference RESP ping server: one tokio current-thread runtime per thread.
    TokioPingServer(resp::ping_server::PingServerArgs),
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Resp(args) => resp::load::run(args),
        Command::Seckill(args) => seckill::load::run(args),
        Command::Mesh(args) => resp::mesh_probe::run(args),
        Command::Mqtt(args) => mqtt::run(args),
        Command::Wallet(args) => wallet::load::run(args),
        Command::KafkaProduce(args) => kafka::run(args),
        Command::PipelineLatency(args) => kafka::latency::run(args),
        Command::TokioPingServer(args) => resp::ping_server::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shardhub-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
