//! `shardhub-bench mqtt`: load for an MQTT broker (shardhub's IoT gateway, or Mosquitto as
//! the reference), spoken through `shardhub_net::mqtt`'s codec.
//!
//! - `connect`: a ramp of idle connections; connect latency, failures by reason, and the
//!   server's resident memory per connection (`connect_load`, `connect_ramp`,
//!   `connect_report`, `server_rss`).
//! - `fanin`: P publishers into S subscribers of one topic pattern; `fanout`: one publisher
//!   into N subscribers (`pubsub_load`, `publisher`, `subscriber`, `pubsub_report`).
//! - The client side: `client` (a connection), `flow` (acknowledgement windows),
//!   `packet_ids`, `payload`, `publish_template`; `args` (flags every subcommand takes),
//!   `open_files`.

pub mod args;
pub mod client;
pub mod connect_load;
pub mod connect_ramp;
pub mod connect_report;
pub mod flow;
pub mod open_files;
pub mod packet_ids;
pub mod payload;
pub mod publish_template;
pub mod publisher;
pub mod pubsub_load;
pub mod pubsub_report;
pub mod server_rss;
pub mod subscriber;

use crate::common::error::BenchError;
use connect_load::MqttConnectArgs;
use pubsub_load::{FaninArgs, FanoutArgs};

#[derive(Debug, clap::Args)]
pub struct MqttArgs {
    #[command(subcommand)]
    pub command: MqttCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum MqttCommand {
    /// Ramp up idle connections (CONNECT/CONNACK) and measure the server's memory per
    /// connection.
    Connect(MqttConnectArgs),
    /// P publishers into S subscribers of one topic pattern (or one shared group).
    Fanin(FaninArgs),
    /// One publisher into N subscribers.
    Fanout(FanoutArgs),
}

pub fn run(args: MqttArgs) -> Result<(), BenchError> {
    match args.command {
        MqttCommand::Connect(args) => connect_load::run(args),
        MqttCommand::Fanin(args) => pubsub_load::run_fanin(args),
        MqttCommand::Fanout(args) => pubsub_load::run_fanout(args),
    }
}
