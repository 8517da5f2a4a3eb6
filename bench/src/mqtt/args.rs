//! The flags every `mqtt` subcommand takes.

use shardhub_net::mqtt::ProtocolVersion;

use crate::common::report_args::ReportArgs;

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
    #[command(flatten)]
    pub report: ReportArgs,
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
