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
//! - `tokio-ping-server`: the reference tokio current-thread-per-core ping server that
//!   shardhub's runtime is measured against.
//!
//! Client side, the harness speaks RESP through `shardhub_net::resp`'s codecs, MQTT through
//! `shardhub_net::mqtt`'s, and the wallet's secure channel through `shardhub_crypto::gm`.

mod bench_error;
mod buy_outcome;
mod buy_request;
mod chance;
mod client_connection;
mod client_wait;
mod command_template;
mod connection_runner;
mod control_session;
mod decimal;
mod fast_rng;
mod load_args;
mod mesh_probe;
mod mqtt_client;
mod mqtt_connect_load;
mod mqtt_connect_ramp;
mod mqtt_connect_report;
mod mqtt_flow;
mod mqtt_load;
mod mqtt_open_files;
mod mqtt_packet_ids;
mod mqtt_payload;
mod mqtt_publish_template;
mod mqtt_publisher;
mod mqtt_pubsub_load;
mod mqtt_pubsub_report;
mod mqtt_server_rss;
mod mqtt_subscriber;
mod order_ledger;
mod percentiles;
mod ping_server;
mod process_cpu_clock;
mod request_scan;
mod resp_load;
mod resp_reply;
mod run_limit;
mod seckill_load;
mod seckill_report;
mod seckill_setup;
mod seckill_target;
mod seckill_workload;
mod stock_audit;
mod stock_levels;
mod wallet_channel;
mod wallet_http;
mod wallet_load;
mod wallet_op;
mod wallet_raw;
mod wallet_report;
mod wallet_secure;

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
    /// Flash-sale load: SECKILL.BUY (or Redis's Lua stock script), then an audit of the stock.
    Seckill(seckill_load::SeckillArgs),
    /// Cross-shard mesh round trips through `MESH PING`, as measured by the server.
    Mesh(mesh_probe::MeshArgs),
    /// MQTT load: connection ramp (memory per connection), fan-in and fan-out.
    Mqtt(mqtt_load::MqttArgs),
    /// Light-wallet load: addresses and ETH/BTC signatures, in-process, plain HTTP or secure channel.
    Wallet(wallet_load::WalletArgs),
    /// Reference RESP ping server: one tokio current-thread runtime per thread.
    TokioPingServer(ping_server::PingServerArgs),
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Resp(args) => resp_load::run(args),
        Command::Seckill(args) => seckill_load::run(args),
        Command::Mesh(args) => mesh_probe::run(args),
        Command::Mqtt(args) => mqtt_load::run(args),
        Command::Wallet(args) => wallet_load::run(args),
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
