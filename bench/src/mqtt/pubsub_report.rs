//! The result of a `fanin` or `fanout` run; also its JSON form (names carry their units
//! last). One "message" in the per-message figures is one delivery to one subscriber: in a
//! fan-out of 1 -> 100 a published message is 100 deliveries, and it is the deliveries that
//! cost the broker its work.

use serde::Serialize;
use shardhub_net::mqtt::{QoS, ReasonCode};

use crate::common::percentiles::{new_histogram, Percentiles};
use crate::mqtt::publisher::PublisherStats;
use crate::mqtt::subscriber::{SubscriberStats, LATENCY_US_MAX};

/// The per-connection stats of a run, added up.
#[derive(Debug, Default, PartialEq)]
pub struct PubSubTotals {
    pub published: u64,
    pub accepted: u64,
    pub no_subscribers: u64,
    pub refused: u64,
    pub first_refusal: Option<ReasonCode>,
    pub unacked: u64,
    pub delivered: u64,
    pub out_of_order: u64,
    pub foreign: u64,
    /// The lowest QoS any SUBACK granted.
    pub granted_qos: Option<QoS>,
    pub latency_us: Percentiles,
}

impl PubSubTotals {
    pub fn of(publishers: &[PublisherStats], subscribers: &[SubscriberStats]) -> Self {
        let mut totals = Self::default();
        for p in publishers {
            totals.published += p.sent;
            totals.accepted += p.accepted;
            totals.no_subscribers += p.no_subscribers;
            totals.refused += p.refused;
            totals.first_refusal = totals.first_refusal.or(p.first_refusal);
            totals.unacked += p.unacked;
        }
        let mut latency_us = new_histogram(LATENCY_US_MAX);
        for s in subscribers {
            latency_us.add(&s.latency_us).expect("histograms of equal bounds add");
            totals.delivered += s.delivered;
            totals.out_of_order += s.out_of_order;
            totals.foreign += s.foreign;
            totals.granted_qos = Some(totals.granted_qos.map_or(s.granted_qos, |q| q.min(s.granted_qos)));
        }
        totals.latency_us = Percentiles::of(&latency_us);
        totals
    }
}

/// What the run was, as the command line said.
pub struct PubSubShape {
    pub label: Option<String>,
    /// "fanin" or "fanout".
    pub kind: &'static str,
    pub version: &'static str,
    pub qos: QoS,
    pub publishers: usize,
    pub subscribers: usize,
    pub filter: String,
    pub share_group: Option<String>,
    pub payload_bytes: usize,
    pub inflight: Option<usize>,
    pub backlog_max: u64,
    pub threads: usize,
}

/// Times and CPU of the run.
pub struct PubSubTiming {
    /// `(first publish, last publish, last delivery)`, nanoseconds on one clock.
    pub span_ns: (u64, u64, u64),
    pub elapsed_s: f64,
    pub server_cpu_ns: Option<u64>,
    pub server_cpu_method: Option<&'static str>,
    pub client_cpu_us: u64,
}

#[derive(Debug, Serialize)]
pub struct PubSubReport {
    label: Option<String>,
    kind: &'static str,
    version: &'static str,
    qos: u8,
    publishers: usize,
    subscribers: usize,
    filter: String,
    share_group: Option<String>,
    payload_bytes: usize,
    /// QoS 1: unacknowledged PUBLISHes each publisher keeps.
    inflight: Option<usize>,
    /// Named as the flag (`--max-backlog`) that set it.
    #[serde(rename = "max_backlog")]
    backlog_max: u64,
    threads: usize,
    published: u64,
    accepted: u64,
    no_subscribers: u64,
    refused: u64,
    first_refusal: Option<String>,
    unacked: u64,
    expected_deliveries: u64,
    delivered: u64,
    lost: u64,
    out_of_order: u64,
    foreign: u64,
    granted_qos: Option<u8>,
    publish_s: f64,
    delivery_s: f64,
    elapsed_s: f64,
    published_per_s: f64,
    delivered_per_s: f64,
    p50_us: u64,
    p90_us: u64,
    p99_us: u64,
    p999_us: u64,
    max_us: u64,
    /// Server CPU over the run per delivery, and per published message.
    server_cpu_us_per_msg: Option<f64>,
    server_cpu_us_per_published: Option<f64>,
    server_cpu_method: Option<&'static str>,
    client_cpu_us_per_msg: f64,
    /// QoS 1 lost nothing (QoS 0 always passes: it may lose).
    pass: bool,
}

impl PubSubReport {
    pub fn new(shape: PubSubShape, totals: PubSubTotals, timing: PubSubTiming) -> Self {
        let expected_deliveries = if shape.share_group.is_some() {
            totals.accepted
        } else {
            totals.accepted * shape.subscribers as u64
        };
        let lost = expected_deliveries.saturating_sub(totals.delivered);
        let (first_ns, last_publish_ns, last_delivery_ns) = timing.span_ns;
        let seconds = |until_ns: u64| until_ns.saturating_sub(first_ns) as f64 / 1e9;
        let (publish_s, delivery_s) = if totals.published == 0 {
            (0.0, 0.0)
        } else {
            (seconds(last_publish_ns), seconds(last_delivery_ns))
        };
        let rate = |count: u64, s: f64| if s > 0.0 { count as f64 / s } else { 0.0 };
        let per = |us: f64, count: u64| if count > 0 { us / count as f64 } else { 0.0 };
        let server_cpu_us = timing.server_cpu_ns.map(|ns| ns as f64 / 1000.0);
        Self {
            label: shape.label,
            kind: shape.kind,
            version: shape.version,
            qos: shape.qos.bits(),
            publishers: shape.publishers,
            subscribers: shape.subscribers,
            filter: shape.filter,
            share_group: shape.share_group,
            payload_bytes: shape.payload_bytes,
            inflight: shape.inflight,
            backlog_max: shape.backlog_max,
            threads: shape.threads,
            published: totals.published,
            accepted: totals.accepted,
            no_subscribers: totals.no_subscribers,
            refused: totals.refused,
            first_refusal: totals.first_refusal.map(|code| code.to_string()),
            unacked: totals.unacked,
            expected_deliveries,
            delivered: totals.delivered,
            lost,
            out_of_order: totals.out_of_order,
            foreign: totals.foreign,
            granted_qos: totals.granted_qos.map(QoS::bits),
            publish_s,
            delivery_s,
            elapsed_s: timing.elapsed_s,
            published_per_s: rate(totals.published, publish_s),
            delivered_per_s: rate(totals.delivered, delivery_s),
            p50_us: totals.latency_us.p50,
            p90_us: totals.latency_us.p90,
            p99_us: totals.latency_us.p99,
            p999_us: totals.latency_us.p999,
            max_us: totals.latency_us.max,
            server_cpu_us_per_msg: server_cpu_us.map(|us| per(us, totals.delivered)),
            server_cpu_us_per_published: server_cpu_us.map(|us| per(us, totals.published)),
            server_cpu_method: timing.server_cpu_method,
            client_cpu_us_per_msg: per(timing.client_cpu_us as f64, totals.delivered),
            pass: shape.qos == QoS::AtMostOnce || lost == 0,
        }
    }

    /// The line that explains a failed run.
    pub fn failure_line(&self) -> Option<String> {
        (!self.pass).then(|| {
            format!(
                "FAIL: QoS {} lost {} of {} deliveries the broker had acknowledged",
                self.qos, self.lost, self.expected_deliveries
            )
        })
    }

    pub fn human(&self) -> String {
        let ms = |us: u64| us as f64 / 1000.0;
        let version = if self.version == "5" { "MQTT 5.0" } else { "MQTT 3.1.1" };
        let target = match &self.share_group {
            Some(group) => format!("shared group {group}, one member per message"),
            None => "every subscriber gets every message".to_string(),
        };
        let server_cpu = match (
            self.server_cpu_us_per_msg,
            self.server_cpu_us_per_published,
            self.server_cpu_method,
        ) {
            (Some(per_msg), Some(per_published), Some(method)) => {
                format!("{per_msg:.2} per delivery, {per_published:.2} per publish (from {method})")
            }
            _ => "- (no --server-pid)".to_string(),
        };
        let mut out = format!(
            "label:              {}\n\
             test:               {}, {version}, QoS {}{}\n\
             connections:        {} publisher(s) -> {} subscriber(s) on {} ({target}), {} client thread(s)\n\
             payload:            {} bytes\n\
             published:          {} (accepted {}, refused {}, unacked {})\n",
            self.label.as_deref().unwrap_or("-"),
            self.kind,
            self.qos,
            self.inflight
                .map(|n| format!(", {n} in flight per publisher"))
                .unwrap_or_default(),
            self.publishers,
            self.subscribers,
            self.filter,
            self.threads,
            self.payload_bytes,
            self.published,
            self.accepted,
            self.refused,
            self.unacked,
        );
        if let Some(refusal) = &self.first_refusal {
            out += &format!("first refusal:      PUBACK {refusal}\n");
        }
        out += &format!(
            "delivered:          {} of {} expected (lost {}, out of order {}, foreign {})\n\
             seconds:            {:.3} publishing, {:.3} to the last delivery\n\
             messages/s:         {:.0} published, {:.0} delivered\n\
             latency ms:         p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}\n\
             server CPU us/msg:  {server_cpu}\n\
             client CPU us/msg:  {:.2} per delivery\n",
            self.delivered,
            self.expected_deliveries,
            self.lost,
            self.out_of_order,
            self.foreign,
            self.publish_s,
            self.delivery_s,
            self.published_per_s,
            self.delivered_per_s,
            ms(self.p50_us),
            ms(self.p90_us),
            ms(self.p99_us),
            ms(self.p999_us),
            ms(self.max_us),
            self.client_cpu_us_per_msg,
        );
        if let Some(granted) = self.granted_qos.filter(|&g| g < self.qos) {
            out += &format!("note:               the broker granted only QoS {granted} to a subscriber\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(share_group: Option<&str>, qos: QoS) -> PubSubShape {
        PubSubShape {
            label: Some("shardhub-1s".into()),
            kind: "fanin",
            version: "5",
            qos,
            publishers: 2,
            subscribers: 4,
            filter: "bench/+/data".into(),
            share_group: share_group.map(str::to_string),
            payload_bytes: 64,
            inflight: (qos == QoS::AtLeastOnce).then_some(16),
            backlog_max: 500,
            threads: 1,
        }
    }

    fn totals(accepted: u64, delivered: u64) -> PubSubTotals {
        PubSubTotals {
            published: accepted,
            accepted,
            delivered,
            granted_qos: Some(QoS::AtLeastOnce),
            latency_us: Percentiles {
                p50: 1500,
                p90: 2000,
                p99: 2500,
                p999: 3000,
                max: 4000,
            },
            ..PubSubTotals::default()
        }
    }

    fn timing() -> PubSubTiming {
        PubSubTiming {
            span_ns: (1_000_000_000, 3_000_000_000, 5_000_000_000),
            elapsed_s: 4.5,
            server_cpu_ns: Some(8_000_000),
            server_cpu_method: Some("schedstat"),
            client_cpu_us: 4000,
        }
    }

    #[test]
    fn every_subscriber_expects_every_accepted_message() {
        let report = PubSubReport::new(shape(None, QoS::AtLeastOnce), totals(1000, 4000), timing());
        assert_eq!((report.expected_deliveries, report.lost, report.pass), (4000, 0, true));
        assert_eq!(report.published_per_s, 500.0, "1000 published over 2 s");
        assert_eq!(report.delivered_per_s, 1000.0, "4000 delivered over 4 s");
        assert_eq!(report.server_cpu_us_per_msg, Some(2.0));
        assert_eq!(report.server_cpu_us_per_published, Some(8.0));
        assert_eq!(report.client_cpu_us_per_msg, 1.0);
        assert_eq!(report.failure_line(), None);
    }

    #[test]
    fn a_shared_group_expects_each_message_once() {
        let report = PubSubReport::new(shape(Some("g"), QoS::AtLeastOnce), totals(1000, 1000), timing());
        assert_eq!((report.expected_deliveries, report.lost), (1000, 0));
        assert!(report.human().contains("shared group g, one member per message"));
    }

    #[test]
    fn qos1_losses_fail_and_qos0_losses_do_not() {
        let lossy = PubSubReport::new(shape(None, QoS::AtLeastOnce), totals(1000, 3990), timing());
        assert!(!lossy.pass);
        assert_eq!(
            lossy.failure_line().unwrap(),
            "FAIL: QoS 1 lost 10 of 4000 deliveries the broker had acknowledged"
        );
        let qos0 = PubSubReport::new(shape(None, QoS::AtMostOnce), totals(1000, 3990), timing());
        assert!(qos0.pass);
        assert_eq!(qos0.lost, 10);
    }

    #[test]
    fn human_report_lines() {
        let report = PubSubReport::new(shape(None, QoS::AtLeastOnce), totals(1000, 4000), timing());
        let text = report.human();
        for line in [
            "label:              shardhub-1s\n",
            "test:               fanin, MQTT 5.0, QoS 1, 16 in flight per publisher\n",
            "published:          1000 (accepted 1000, refused 0, unacked 0)\n",
            "delivered:          4000 of 4000 expected (lost 0, out of order 0, foreign 0)\n",
            "messages/s:         500 published, 1000 delivered\n",
            "latency ms:         p50 1.500  p90 2.000  p99 2.500  p99.9 3.000  max 4.000\n",
            "server CPU us/msg:  2.00 per delivery, 8.00 per publish (from schedstat)\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(!text.contains("first refusal"));
    }

    #[test]
    fn json_has_the_fields_the_script_reads() {
        let report = PubSubReport::new(shape(None, QoS::AtMostOnce), totals(10, 40), timing());
        let json: serde_json::Value = serde_json::to_value(&report).unwrap();
        for key in [
            "label",
            "kind",
            "qos",
            "published_per_s",
            "delivered_per_s",
            "p50_us",
            "p99_us",
            "server_cpu_us_per_msg",
            "lost",
            "pass",
        ] {
            assert!(json.get(key).is_some(), "{key}");
        }
        assert_eq!(json["inflight"], serde_json::Value::Null);
    }

    #[test]
    fn totals_add_up_and_keep_the_lowest_granted_qos() {
        let publishers = [
            PublisherStats {
                sent: 10,
                accepted: 9,
                refused: 1,
                first_refusal: Some(ReasonCode::QUOTA_EXCEEDED),
                ..PublisherStats::default()
            },
            PublisherStats {
                sent: 5,
                accepted: 5,
                ..PublisherStats::default()
            },
        ];
        let subscriber = |delivered, granted_qos, latency_us: u64| {
            let mut histogram = new_histogram(LATENCY_US_MAX);
            histogram.saturating_record(latency_us);
            SubscriberStats {
                latency_us: histogram,
                delivered,
                out_of_order: 1,
                foreign: 0,
                granted_qos,
            }
        };
        let subscribers = [
            subscriber(14, QoS::AtLeastOnce, 100),
            subscriber(13, QoS::AtMostOnce, 300),
        ];
        let totals = PubSubTotals::of(&publishers, &subscribers);
        assert_eq!((totals.published, totals.accepted, totals.refused), (15, 14, 1));
        assert_eq!(totals.first_refusal, Some(ReasonCode::QUOTA_EXCEEDED));
        assert_eq!((totals.delivered, totals.out_of_order), (27, 2));
        assert_eq!(totals.granted_qos, Some(QoS::AtMostOnce));
        assert_eq!(totals.latency_us.max, 300);
        let report = PubSubReport::new(shape(None, QoS::AtLeastOnce), totals, timing());
        assert!(report
            .human()
            .contains("first refusal:      PUBACK 0x97 (Quota exceeded)\n"));
        assert!(report.human().contains("the broker granted only QoS 0"));
    }
}
