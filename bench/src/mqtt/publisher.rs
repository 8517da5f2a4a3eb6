//! One publisher connection of a `fanin`/`fanout` run.
//!
//! - QoS 0: writes `--batch` PUBLISHes per write for as long as the run lasts and the
//!   backlog gate (flow.rs) lets it; between writes it reads, without waiting, whatever
//!   the server sent (a PINGRESP, or a DISCONNECT that ends the run with its reason).
//! - QoS 1: keeps up to `--inflight` PUBLISHes unacknowledged (less if the server's Receive
//!   Maximum is lower) and refills the window as PUBACKs arrive. A PUBACK with a failure
//!   code (for example 0x97 from a per-client rate limit) counts the message as refused: it
//!   is not expected at the subscribers. At the end it waits for the acks still owed.
//!
//! Every PUBLISH carries its send time, publisher index and sequence number in the payload
//! (payload.rs); all PUBLISHes of one write share one send time.

use std::time::Duration;

use shardhub_net::mqtt::{Packet, ReasonCode};
use tokio::time::Instant;

use crate::common::run_limit::RunLimit;
use crate::mqtt::client::{ClientError, MqttClient};
use crate::mqtt::flow::PubSubFlow;
use crate::mqtt::packet_ids::PacketIdPool;
use crate::mqtt::payload::{now_ns, PayloadStamp};
use crate::mqtt::publish_template::PublishTemplate;

/// How long a publisher waits, after the run, for the PUBACKs it is still owed.
const ACK_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// What one publisher did.
#[derive(Debug, Default)]
pub struct PublisherStats {
    pub sent: u64,
    /// Accepted by the broker: every message at QoS 0, PUBACK below 0x80 at QoS 1.
    pub accepted: u64,
    /// PUBACK 0x10: accepted, but the broker knew no subscriber for it.
    pub no_subscribers: u64,
    pub refused: u64,
    pub first_refusal: Option<ReasonCode>,
    /// Never acknowledged within [`ACK_DRAIN_TIMEOUT`] after the run.
    pub unacked: u64,
}

pub struct Publisher<'a> {
    pub index: u32,
    pub client: MqttClient,
    pub template: PublishTemplate,
    pub flow: &'a PubSubFlow,
    /// QoS 0: PUBLISHes per write.
    pub batch: usize,
    /// QoS 1: the window; `None` for QoS 0.
    pub window: Option<usize>,
}

impl Publisher<'_> {
    pub async fn drive(self, limit: &RunLimit) -> Result<PublisherStats, ClientError> {
        match self.window {
            None => self.drive_qos0(limit).await,
            Some(window) => self.drive_qos1(limit, window).await,
        }
    }

    async fn drive_qos0(mut self, limit: &RunLimit) -> Result<PublisherStats, ClientError> {
        let mut stats = PublisherStats::default();
        let mut last_sent_ns = 0;
        loop {
            self.flow.wait_for_room(self.batch as u64).await;
            let batch = limit.claim(self.batch);
            if batch == 0 || self.flow.is_aborted() {
                break;
            }
            let sent_ns = now_ns();
            self.append(batch, None, sent_ns, &mut stats.sent);
            self.flow.add_published(batch as u64, sent_ns);
            self.client.flush().await?;
            last_sent_ns = now_ns();
            while self.client.try_read_more()? {}
            while let Some(packet) = self.client.next_packet()? {
                expect_ping_response(packet, "nothing (QoS 0 publisher)")?;
            }
        }
        stats.accepted = stats.sent;
        self.flow.publisher_finished(stats.accepted, last_sent_ns);
        self.client.disconnect().await;
        Ok(stats)
    }

    async fn drive_qos1(mut self, limit: &RunLimit, window: usize) -> Result<PublisherStats, ClientError> {
        let mut stats = PublisherStats::default();
        let mut ids = PacketIdPool::default();
        let mut last_sent_ns = 0;
        let mut drain_deadline = None;
        loop {
            let room = window - ids.in_flight();
            if drain_deadline.is_none() && room > 0 {
                self.flow.wait_for_room(room as u64).await;
                let batch = limit.claim(room);
                if batch == 0 || self.flow.is_aborted() {
                    drain_deadline = Some(Instant::now() + ACK_DRAIN_TIMEOUT);
                } else {
                    let sent_ns = now_ns();
                    self.append(batch, Some(&mut ids), sent_ns, &mut stats.sent);
                    self.flow.add_published(batch as u64, sent_ns);
                    self.client.flush().await?;
                    last_sent_ns = now_ns();
                }
            }
            if ids.in_flight() == 0 {
                if drain_deadline.is_some() {
                    break;
                }
                continue;
            }
            match drain_deadline {
                None => self.client.read_more().await?,
                Some(deadline) => match tokio::time::timeout_at(deadline, self.client.read_more()).await {
                    Ok(read) => read?,
                    Err(_) => break,
                },
            }
            while let Some(packet) = self.client.next_packet()? {
                let Packet::PubAck(ack) = packet else {
                    expect_ping_response(packet, "PUBACK")?;
                    continue;
                };
                if !ids.release(ack.packet_id) {
                    return Err(ClientError::Unexpected {
                        got: shardhub_net::mqtt::PacketType::PubAck,
                        waiting_for: "a PUBACK for a packet id in flight",
                    });
                }
                if ack.reason_code.is_error() {
                    stats.refused += 1;
                    stats.first_refusal.get_or_insert(ack.reason_code);
                    self.flow.add_refused(1);
                } else {
                    stats.accepted += 1;
                    if ack.reason_code == ReasonCode::NO_MATCHING_SUBSCRIBERS {
                        stats.no_subscribers += 1;
                    }
                }
            }
        }
        stats.unacked = ids.in_flight() as u64;
        self.flow.publisher_finished(stats.accepted, last_sent_ns);
        self.client.disconnect().await;
        Ok(stats)
    }

    /// Appends `count` PUBLISHes to the write buffer, numbering them on from `*seq`.
    fn append(&mut self, count: usize, mut ids: Option<&mut PacketIdPool>, sent_ns: u64, seq: &mut u64) {
        for _ in 0..count {
            let packet_id = ids
                .as_deref_mut()
                .map(|ids| ids.take().expect("the window is at most 65535 ids"));
            let stamp = PayloadStamp {
                sent_ns,
                publisher: self.index,
                seq: *seq,
            };
            self.template.append(self.client.write_buf(), packet_id, &stamp);
            *seq += 1;
        }
    }
}

/// A PINGRESP is fine anywhere; anything else where `waiting_for` was expected is not.
fn expect_ping_response(packet: Packet, waiting_for: &'static str) -> Result<(), ClientError> {
    match packet {
        Packet::PingResp => Ok(()),
        other => Err(ClientError::Unexpected {
            got: other.packet_type(),
            waiting_for,
        }),
    }
}
