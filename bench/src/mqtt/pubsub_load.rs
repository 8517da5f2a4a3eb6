//! `shardhub-bench mqtt fanin` and `mqtt fanout`: publishers publish into subscribers that
//! all subscribe to the same topic pattern, and the run reports messages per second both
//! ways, end-to-end latency, losses and server CPU per delivered message.
//!
//! - Publisher `i` publishes to `bench/{i}/data`; every subscriber subscribes to
//!   `bench/+/data` (each gets every message), or with `--share GROUP` to
//!   `$share/GROUP/bench/+/data` (each message goes to one member of the group).
//! - `fanin` is P publishers into S subscribers; `fanout` is one publisher into N.
//! - Subscribers are connected and subscribed (SUBACK received) before the clock starts.
//!   A refused subscription ends the run with the SUBACK's code, so a broker without shared
//!   subscriptions says 0x9E at once instead of leaving the run waiting for messages.
//! - Publishers are paced by the backlog gate of flow.rs.
//!
//! The connections run on `--threads` tokio current-thread runtimes through the same
//! runner as the RESP load (connection_runner.rs): setup barrier, stall detection, server
//! CPU over the run.

use std::net::SocketAddr;
use std::sync::Arc;

use shardhub_net::mqtt::{ProtocolVersion, QoS, ReasonCode};

use crate::common::client_connection::ClientConnection;
use crate::common::connection_runner::{ConnectionRunner, ConnectionWorkload, RunOptions};
use crate::common::error::BenchError;
use crate::common::load_args::seconds_to_duration;
use crate::common::run_limit::RunLimit;
use crate::mqtt::args::MqttCommonArgs;
use crate::mqtt::client::{ConnectOptions, MqttClient};
use crate::mqtt::flow::PubSubFlow;
use crate::mqtt::open_files::raise_open_files;
use crate::mqtt::publish_template::PublishTemplate;
use crate::mqtt::publisher::{Publisher, PublisherStats};
use crate::mqtt::pubsub_report::{PubSubReport, PubSubShape, PubSubTiming, PubSubTotals};
use crate::mqtt::subscriber::{Subscriber, SubscriberStats};

/// Seconds a run lasts when neither `--duration` nor `--messages` is given.
const DEFAULT_DURATION_S: f64 = 5.0;
/// Read buffer growth for subscribers, which receive batches of PUBLISHes.
const SUBSCRIBER_READ_CHUNK: usize = 64 * 1024;
/// Publishers mostly read acknowledgements.
const PUBLISHER_READ_CHUNK: usize = 4 * 1024;

/// Flags `fanin` and `fanout` share.
#[derive(Debug, clap::Args)]
pub struct PubSubArgs {
    /// QoS of the PUBLISHes and of the subscriptions: 0 or 1.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=1))]
    pub qos: u8,
    /// QoS 1: unacknowledged PUBLISHes each publisher keeps (capped by the server's Receive
    /// Maximum).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    pub inflight: u16,
    /// QoS 0: PUBLISHes each publisher writes per write.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=65535))]
    pub batch: u32,
    /// Payload size; the first 20 bytes carry the send time, publisher and sequence number.
    #[arg(long, default_value_t = 64)]
    pub payload_bytes: usize,
    /// Seconds to publish for [default: 5 unless --messages is given].
    #[arg(long, conflicts_with = "messages")]
    pub duration: Option<f64>,
    /// Publish exactly this many messages (over all publishers) instead.
    #[arg(long)]
    pub messages: Option<u64>,
    /// Subscribe as members of the shared subscription `$share/GROUP/bench/+/data`.
    #[arg(long, value_name = "GROUP")]
    pub share: Option<String>,
    /// Publishers wait while more deliveries than this are owed to the subscribers (an
    /// accepted message owes one to each subscriber, or one to a shared group); keep it
    /// below the broker's per-session queue (max_queued_messages), which drops when full.
    #[arg(long = "max-backlog", default_value_t = 400, value_parser = clap::value_parser!(u64).range(1..))]
    pub backlog_max: u64,
    /// Client threads, each a tokio current-thread runtime.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: u32,
    #[command(flatten)]
    pub common: MqttCommonArgs,
}

#[derive(Debug, clap::Args)]
pub struct FaninArgs {
    /// Publisher connections.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    pub publishers: u32,
    /// Subscriber connections.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    pub subscribers: u32,
    #[command(flatten)]
    pub pubsub: PubSubArgs,
}

#[derive(Debug, clap::Args)]
pub struct FanoutArgs {
    /// Subscriber connections, all receiving the one publisher's messages.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub subscribers: u32,
    #[command(flatten)]
    pub pubsub: PubSubArgs,
}

pub fn run_fanin(args: FaninArgs) -> Result<(), BenchError> {
    run(
        "fanin",
        args.publishers as usize,
        args.subscribers as usize,
        args.pubsub,
    )
}

pub fn run_fanout(args: FanoutArgs) -> Result<(), BenchError> {
    run("fanout", 1, args.subscribers as usize, args.pubsub)
}

/// The filter every subscriber subscribes to.
pub fn subscription_filter(share: Option<&str>) -> Result<String, BenchError> {
    const FILTER: &str = "bench/+/data";
    match share {
        None => Ok(FILTER.to_string()),
        Some(group) if group.is_empty() || group.contains(['/', '+', '#']) => Err(BenchError::Usage(format!(
            "--share {group:?}: a share name is not empty and has no '/', '+' or '#'"
        ))),
        Some(group) => Ok(format!("$share/{group}/{FILTER}")),
    }
}

fn run(kind: &'static str, publishers: usize, subscribers: usize, args: PubSubArgs) -> Result<(), BenchError> {
    let addr = ClientConnection::resolve(&args.common.addr)?;
    let filter = subscription_filter(args.share.as_deref())?;
    let qos = QoS::from_bits(args.qos).expect("clap allows 0 and 1");
    let version = args.common.version();
    // Checks the payload size before anything connects.
    PublishTemplate::new(version, "bench/0/data", qos, args.payload_bytes)?;
    raise_open_files((publishers + subscribers) as u64);
    let duration = match (args.duration, args.messages) {
        (Some(seconds), _) => Some(seconds_to_duration(seconds)?),
        (None, Some(_)) => None,
        (None, None) => Some(seconds_to_duration(DEFAULT_DURATION_S)?),
    };
    let (runner, limit, server_cpu_method) = ConnectionRunner::plan(RunOptions {
        threads: args.threads as usize,
        connections: publishers + subscribers,
        duration,
        requests: args.messages,
        server_pid: args.common.report.server_pid,
    })?;
    let flow = Arc::new(PubSubFlow::new(
        publishers,
        subscribers,
        args.share.is_some(),
        args.backlog_max,
    ));
    let workload = Arc::new(PubSubWorkload {
        addr,
        version,
        qos,
        keep_alive_s: args.common.keep_alive,
        publishers,
        subscribers,
        filter: filter.clone(),
        payload_bytes: args.payload_bytes,
        batch: args.batch as usize,
        inflight: usize::from(args.inflight),
        flow: flow.clone(),
        client_id_prefix: format!("bench-{}", std::process::id()),
    });
    let outcome = runner.run(workload, Arc::new(limit))?;

    let mut publisher_stats = Vec::new();
    let mut subscriber_stats = Vec::new();
    for stats in outcome.stats {
        match stats {
            PubSubStats::Publisher(p) => publisher_stats.push(p),
            PubSubStats::Subscriber(s) => subscriber_stats.push(s),
        }
    }
    let shape = PubSubShape {
        label: args.common.report.label.clone(),
        kind,
        version: args.common.version_name(),
        qos,
        publishers,
        subscribers,
        filter,
        share_group: args.share.clone(),
        payload_bytes: args.payload_bytes,
        inflight: (qos == QoS::AtLeastOnce).then_some(usize::from(args.inflight)),
        backlog_max: args.backlog_max,
        threads: args.threads as usize,
    };
    let timing = PubSubTiming {
        span_ns: flow.span_ns(),
        elapsed_s: outcome.elapsed.as_secs_f64(),
        server_cpu_ns: outcome.server_cpu_ns,
        server_cpu_method,
        client_cpu_us: outcome.client_cpu_us,
    };
    let report = PubSubReport::new(shape, PubSubTotals::of(&publisher_stats, &subscriber_stats), timing);
    if args.common.report.json {
        println!("{}", serde_json::to_string(&report).expect("a report serializes"));
    } else {
        print!("{}", report.human());
    }
    match report.failure_line() {
        None => Ok(()),
        Some(line) => {
            eprintln!("{line}");
            Err(BenchError::AuditFailed { failed: 1, checks: 1 })
        }
    }
}

struct PubSubWorkload {
    addr: SocketAddr,
    version: ProtocolVersion,
    qos: QoS,
    keep_alive_s: u16,
    publishers: usize,
    subscribers: usize,
    filter: String,
    payload_bytes: usize,
    batch: usize,
    inflight: usize,
    flow: Arc<PubSubFlow>,
    /// Client ids are `{prefix}-s{i}` and `{prefix}-p{i}`: unique per process, so a run
    /// never takes over another run's sessions.
    client_id_prefix: String,
}

enum PubSubConn {
    Subscriber {
        index: usize,
        client: MqttClient,
        granted_qos: QoS,
    },
    Publisher {
        index: usize,
        client: MqttClient,
        template: PublishTemplate,
        window: usize,
    },
}

enum PubSubStats {
    Publisher(PublisherStats),
    Subscriber(SubscriberStats),
}

impl PubSubWorkload {
    fn options(&self, client_id: String) -> ConnectOptions {
        ConnectOptions {
            version: self.version,
            keep_alive_s: self.keep_alive_s,
            client_id,
            source: None,
        }
    }

    async fn connect_subscriber(&self, index: usize) -> Result<PubSubConn, BenchError> {
        let who = format!("subscriber {index}");
        let options = self.options(format!("{}-s{index}", self.client_id_prefix));
        let (mut client, _) = MqttClient::connect(self.addr, &options, SUBSCRIBER_READ_CHUNK)
            .await
            .map_err(|e| e.into_bench(self.addr, &who))?;
        let code = client
            .subscribe(&self.filter, self.qos)
            .await
            .map_err(|e| e.into_bench(self.addr, &who))?;
        if code.is_error() {
            return Err(BenchError::UnexpectedReply {
                addr: self.addr,
                reply: suback_refusal(&self.filter, code, self.version),
            });
        }
        Ok(PubSubConn::Subscriber {
            index,
            client,
            granted_qos: QoS::from_bits(code.0).unwrap_or(QoS::AtMostOnce),
        })
    }

    async fn connect_publisher(&self, index: usize) -> Result<PubSubConn, BenchError> {
        let who = format!("publisher {index}");
        let options = self.options(format!("{}-p{index}", self.client_id_prefix));
        let (client, connack) = MqttClient::connect(self.addr, &options, PUBLISHER_READ_CHUNK)
            .await
            .map_err(|e| e.into_bench(self.addr, &who))?;
        let server_receive_maximum = connack
            .properties
            .receive_maximum
            .map_or(usize::MAX, |n| n.get().into());
        let template = PublishTemplate::new(
            self.version,
            &format!("bench/{index}/data"),
            self.qos,
            self.payload_bytes,
        )?;
        Ok(PubSubConn::Publisher {
            index,
            client,
            template,
            window: self.inflight.min(server_receive_maximum),
        })
    }
}

/// Why a SUBACK refused our filter, in words; a missing shared-subscription feature is
/// named as such, because the remedy is a different broker build, not a different load.
pub fn suback_refusal(filter: &str, code: ReasonCode, version: ProtocolVersion) -> String {
    let shared = filter.starts_with("$share/");
    if code == ReasonCode::SHARED_SUBSCRIPTIONS_NOT_SUPPORTED {
        format!("the server does not support shared subscriptions: SUBACK {code} for {filter}")
    } else if shared && version == ProtocolVersion::V311 {
        format!(
            "SUBACK 0x80 (failure) for {filter}: a 3.1.1 SUBACK cannot say why; \
             the server may not support shared subscriptions (try without --v311 to see the 5.0 reason code)"
        )
    } else {
        format!("SUBACK {code} for {filter}")
    }
}

impl ConnectionWorkload for PubSubWorkload {
    type Conn = PubSubConn;
    type Stats = PubSubStats;

    async fn connect(&self, index: usize) -> Result<PubSubConn, BenchError> {
        // Subscribers have the lower indices, so their SUBSCRIBEs go out first.
        let result = if index < self.subscribers {
            self.connect_subscriber(index).await
        } else {
            self.connect_publisher(index - self.subscribers).await
        };
        if result.is_err() {
            self.flow.abort();
        }
        result
    }

    async fn drive(&self, conn: PubSubConn, limit: &RunLimit) -> Result<PubSubStats, BenchError> {
        let addr = self.addr;
        let result = match conn {
            PubSubConn::Subscriber {
                index,
                client,
                granted_qos,
            } => Subscriber {
                index,
                client,
                flow: &self.flow,
                publishers: self.publishers,
                granted_qos,
            }
            .drive()
            .await
            .map(PubSubStats::Subscriber)
            .map_err(|e| e.into_bench(addr, &format!("subscriber {index}"))),
            PubSubConn::Publisher {
                index,
                client,
                template,
                window,
            } => Publisher {
                index: index as u32,
                client,
                template,
                flow: &self.flow,
                batch: self.batch,
                window: (self.qos == QoS::AtLeastOnce).then_some(window),
            }
            .drive(limit)
            .await
            .map(PubSubStats::Publisher)
            .map_err(|e| e.into_bench(addr, &format!("publisher {index}"))),
        };
        if result.is_err() {
            self.flow.abort();
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_plain_and_shared() {
        assert_eq!(subscription_filter(None).unwrap(), "bench/+/data");
        assert_eq!(subscription_filter(Some("g1")).unwrap(), "$share/g1/bench/+/data");
        for bad in ["", "a/b", "+", "x#"] {
            assert!(subscription_filter(Some(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn shared_subscription_refusals_say_so() {
        let filter = "$share/g/bench/+/data";
        let v5 = suback_refusal(
            filter,
            ReasonCode::SHARED_SUBSCRIPTIONS_NOT_SUPPORTED,
            ProtocolVersion::V5,
        );
        assert_eq!(
            v5,
            "the server does not support shared subscriptions: SUBACK 0x9e (Shared Subscriptions not supported) \
             for $share/g/bench/+/data"
        );
        let v311 = suback_refusal(filter, ReasonCode::UNSPECIFIED_ERROR, ProtocolVersion::V311);
        assert!(v311.contains("may not support shared subscriptions"), "{v311}");
        let quota = suback_refusal("bench/+/data", ReasonCode::QUOTA_EXCEEDED, ProtocolVersion::V5);
        assert_eq!(quota, "SUBACK 0x97 (Quota exceeded) for bench/+/data");
    }
}
