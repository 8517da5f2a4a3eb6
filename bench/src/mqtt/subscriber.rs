//! One subscriber connection of a `fanin`/`fanout` run: reads PUBLISHes, acknowledges the
//! QoS 1 ones, times each from the send time in its payload, and checks each publisher's
//! sequence numbers arrive in increasing order.
//!
//! It stops when every publisher has finished and it holds everything the broker accepted
//! (each message for a plain subscription; the group's share for a shared one), or when
//! nothing has arrived for [`DRAIN_QUIET`] after the publishers finished: the rest is lost,
//! and the report says how much.

use std::time::Duration;

use hdrhistogram::Histogram;
use shardhub_net::mqtt::{Ack, Packet, QoS};
use tokio::time::MissedTickBehavior;

use crate::common::percentiles::new_histogram;
use crate::mqtt::client::{ClientError, MqttClient};
use crate::mqtt::flow::PubSubFlow;
use crate::mqtt::payload::{now_ns, PayloadStamp};

/// Highest latency the histogram tells apart: one minute.
pub const LATENCY_US_MAX: u64 = 60_000_000;
/// How often a waiting subscriber looks at the run's state.
const POLL: Duration = Duration::from_millis(50);
/// Silence after the publishers finished that ends the wait for missing messages.
pub const DRAIN_QUIET: Duration = Duration::from_secs(2);

/// What one subscriber received.
pub struct SubscriberStats {
    pub latency_us: Histogram<u64>,
    pub delivered: u64,
    /// A sequence number at or below one already seen from the same publisher: a duplicate
    /// or a reordering.
    pub out_of_order: u64,
    /// Messages without our stamp or from a publisher index we do not know.
    pub foreign: u64,
    /// What the SUBACK granted.
    pub granted_qos: QoS,
}

pub struct Subscriber<'a> {
    pub index: usize,
    pub client: MqttClient,
    pub flow: &'a PubSubFlow,
    pub publishers: usize,
    pub granted_qos: QoS,
}

impl Subscriber<'_> {
    pub async fn drive(mut self) -> Result<SubscriberStats, ClientError> {
        let mut stats = SubscriberStats {
            latency_us: new_histogram(LATENCY_US_MAX),
            delivered: 0,
            out_of_order: 0,
            foreign: 0,
            granted_qos: self.granted_qos,
        };
        let mut next_seq = vec![0u64; self.publishers];
        let mut last_arrival_ns = now_ns();
        let mut publishers_done_ns = None;
        // One timer for the whole run, not one per read: it wakes the loop to check for the
        // end of the run and for a due PINGREQ while nothing arrives.
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        while !self.flow.subscriber_satisfied(self.index) && !self.flow.is_aborted() {
            tokio::select! {
                read = self.client.read_more() => {
                    read?;
                    let arrived_ns = now_ns();
                    let received = self.take_packets(arrived_ns, &mut next_seq, &mut stats)?;
                    self.client.flush().await?;
                    if received > 0 {
                        stats.delivered += received;
                        self.flow.add_delivered(self.index, received, arrived_ns);
                        last_arrival_ns = arrived_ns;
                    }
                }
                _ = tick.tick() => {
                    if self.client.queue_ping_if_due(std::time::Instant::now()) {
                        self.client.flush().await?;
                    }
                    if self.flow.expected().is_some() {
                        let now_ns = now_ns();
                        let done_ns = *publishers_done_ns.get_or_insert(now_ns);
                        if now_ns.saturating_sub(last_arrival_ns.max(done_ns)) >= DRAIN_QUIET.as_nanos() as u64 {
                            break;
                        }
                    }
                }
            }
        }
        self.client.disconnect().await;
        Ok(stats)
    }

    /// Takes every whole packet off the read buffer: times and checks each PUBLISH and
    /// queues its PUBACK. Returns how many PUBLISHes there were.
    fn take_packets(
        &mut self,
        arrived_ns: u64,
        next_seq: &mut [u64],
        stats: &mut SubscriberStats,
    ) -> Result<u64, ClientError> {
        let mut received = 0;
        while let Some(packet) = self.client.next_packet()? {
            match packet {
                Packet::Publish(publish) => {
                    received += 1;
                    if let Some(id) = publish.packet_id {
                        self.client.queue(&Packet::PubAck(Ack::new(id)));
                    }
                    match PayloadStamp::read(&publish.payload) {
                        Some(stamp) if (stamp.publisher as usize) < next_seq.len() => {
                            stats.latency_us.saturating_record(stamp.latency_us(arrived_ns));
                            let next = &mut next_seq[stamp.publisher as usize];
                            if stamp.seq < *next {
                                stats.out_of_order += 1;
                            } else {
                                *next = stamp.seq + 1;
                            }
                        }
                        _ => stats.foreign += 1,
                    }
                }
                Packet::PingResp => {}
                other => {
                    return Err(ClientError::Unexpected {
                        got: other.packet_type(),
                        waiting_for: "PUBLISH",
                    })
                }
            }
        }
        Ok(received)
    }
}
