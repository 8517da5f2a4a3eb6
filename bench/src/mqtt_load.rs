//! `shardhub-bench mqtt`: load for an MQTT broker (shardhub's IoT gateway, or Mosquitto as
//! the reference), spoken through `shardhub_net::mqtt`'s codec.
//!
//! - `connect`: a ramp of idle connections; connect latency, failures by reason, and the
//!   server's resident memory per connection (mqtt_connect_load.rs).
//! - `fanin`: P publishers into S subscribers of one topic pattern (mqtt_pubsub_load.rs).
//! - `fanout`: one publisher into N subscribers (mqtt_pubsub_load.rs).

use shardhub_net::mqtt::ProtocolVersion;

use crate::bench_error::BenchError;
use crate::mqtt_connect_load::{self, MqttConnectArgs};
use crate::mqtt_open_files;
use crate::mqtt_pubsub_load::{self, FaninArgs, FanoutArgs};

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

/// Flags every `mqtt` subcommand takes.
#[derive(Debug, clap::Args)]
pub struct MqttCommonArgs {
    /// Broker address, HOST:PORT.
    #[arg(long, default_value = "127.0.0.1:1883")]
    pub addr: String,
    /// Speak MQTT 3.1.1 instead of 5.0.
    #[arg(long)]
    pub v311: bool,
    /// Keep alive in CONNECT, seconds (0: off). A 5.0 server may answer with its own.
    #[arg(long, default_value_t = 60)]
    pub keep_alive: u16,
    /// Server process whose CPU time (and, for `connect`, resident memory) is measured.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Free text that names the run in the report (for example the server's name).
    #[arg(long)]
    pub label: Option<String>,
    /// Print one JSON object on one line instead of the human-readable block.
    #[arg(long)]
    pub json: bool,
}

impl MqttCommonArgs {
    pub fn version(&self) -> ProtocolVersion {
        if self.v311 {
            ProtocolVersion::V311
        } else {
            ProtocolVersion::V5
        }
    }

    /// The version as the reports name it.
    pub fn version_name(&self) -> &'static str {
        if self.v311 {
            "3.1.1"
        } else {
            "5"
        }
    }
}

pub fn run(args: MqttArgs) -> Result<(), BenchError> {
    match args.command {
        MqttCommand::Connect(args) => mqtt_connect_load::run(args),
        MqttCommand::Fanin(args) => mqtt_pubsub_load::run_fanin(args),
        MqttCommand::Fanout(args) => mqtt_pubsub_load::run_fanout(args),
    }
}

/// Raises this process's open-file limit as far as it goes, and warns on stderr if
/// `connections` still will not fit. Returns the soft limit now in force.
pub fn raise_open_files(connections: u64) -> Option<u64> {
    match mqtt_open_files::raise_to_hard_limit() {
        Ok((soft, hard)) => {
            if let Some(warning) = mqtt_open_files::shortfall_warning(connections, soft, hard) {
                eprintln!("{warning}");
            }
            Some(soft)
        }
        Err(e) => {
            eprintln!("warning: cannot raise RLIMIT_NOFILE: {e}");
            None
        }
    }
}
