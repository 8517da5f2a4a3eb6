//! SUBSCRIBE and UNSUBSCRIBE: what the protocol decides per filter — its syntax, the
//! client's quota, the server's policy, whether retained messages go out — before the server
//! records the subscriptions, and the acknowledgements after.

use std::num::NonZeroU32;

use crate::mqtt::packet::{Packet, PacketId, QoS, RetainHandling, SubAck, Subscribe, UnsubAck, Unsubscribe};
use crate::mqtt::reason::ReasonCode;
use crate::mqtt::string::MqttStr;
use crate::mqtt::topic::validate_topic_filter;

use super::{Policy, Subscribed};

/// A subscription's options, as a broker keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubOptions {
    pub qos: QoS,
    pub no_local: bool,
    pub retain_as_published: bool,
    /// The SUBSCRIBE's Subscription Identifier, sent with every matching message.
    pub id: Option<NonZeroU32>,
}

/// One filter of a SUBSCRIBE, decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterPlan {
    pub filter: MqttStr,
    pub options: SubOptions,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Record it; send the matching retained messages after the SUBACK when asked.
    Accept { wants_retained: bool },
    /// Refused with this reason code (its subscription, if any, stays as it was).
    Refuse(ReasonCode),
}

/// A SUBSCRIBE with every filter decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribePlan {
    pub packet_id: PacketId,
    pub filters: Vec<FilterPlan>,
}

impl SubscribePlan {
    /// Decides each filter in order: syntax (0x8F), the policy (0x87), the quota of
    /// `subscriptions_max` counting what this SUBSCRIBE adds (0x97). A filter the session
    /// holds already (or that an earlier filter of this packet added) replaces its options.
    pub fn new(subscribe: Subscribe, held: &dyn Subscribed, subscriptions_max: usize, policy: &dyn Policy) -> Self {
        let id = subscribe.properties.subscription_identifier;
        let mut count = held.count();
        let mut added: Vec<&str> = Vec::new();
        let mut filters = Vec::with_capacity(subscribe.filters.len());
        for sub in &subscribe.filters {
            let filter = sub.filter.as_str();
            let options = SubOptions {
                qos: sub.options.qos,
                no_local: sub.options.no_local,
                retain_as_published: sub.options.retain_as_published,
                id,
            };
            let existed = held.holds(filter) || added.contains(&filter);
            let verdict = if validate_topic_filter(filter).is_err() {
                Verdict::Refuse(ReasonCode::TOPIC_FILTER_INVALID)
            } else if !policy.may_subscribe(filter) {
                Verdict::Refuse(ReasonCode::NOT_AUTHORIZED)
            } else if !existed && count >= subscriptions_max {
                Verdict::Refuse(ReasonCode::QUOTA_EXCEEDED)
            } else {
                if !existed {
                    count += 1;
                    added.push(filter);
                }
                let wants_retained = match sub.options.retain_handling {
                    RetainHandling::OnSubscribe => true,
                    RetainHandling::OnNewSubscribe => !existed,
                    RetainHandling::Never => false,
                };
                Verdict::Accept { wants_retained }
            };
            filters.push(FilterPlan {
                filter: sub.filter.clone(),
                options,
                verdict,
            });
        }
        SubscribePlan {
            packet_id: subscribe.packet_id,
            filters,
        }
    }

    /// The SUBACK: `recorded[i]` says whether the server could record filter `i` it was
    /// told to accept (a full subscription store answers 0x97).
    pub fn suback(&self, recorded: &[bool]) -> Packet {
        let reason_codes = self
            .filters
            .iter()
            .zip(recorded.iter().copied().chain(std::iter::repeat(false)))
            .map(|(plan, recorded)| match plan.verdict {
                Verdict::Refuse(reason) => reason,
                Verdict::Accept { .. } if recorded => granted(plan.options.qos),
                Verdict::Accept { .. } => ReasonCode::QUOTA_EXCEEDED,
            })
            .collect();
        Packet::SubAck(SubAck {
            packet_id: self.packet_id,
            properties: Default::default(),
            reason_codes,
        })
    }
}

fn granted(qos: QoS) -> ReasonCode {
    match qos {
        QoS::AtMostOnce => ReasonCode::GRANTED_QOS_0,
        QoS::AtLeastOnce => ReasonCode::GRANTED_QOS_1,
        QoS::ExactlyOnce => ReasonCode::GRANTED_QOS_2,
    }
}

/// Answers an UNSUBSCRIBE: a filter of bad syntax is 0x8F; `remove` takes each other filter
/// out of the session and says whether it held it (0x00, else 0x11).
pub fn unsubscribe(unsubscribe: &Unsubscribe, mut remove: impl FnMut(&str) -> bool) -> Packet {
    let reason_codes = unsubscribe
        .filters
        .iter()
        .map(|filter| {
            let filter = filter.as_str();
            if validate_topic_filter(filter).is_err() {
                ReasonCode::TOPIC_FILTER_INVALID
            } else if remove(filter) {
                ReasonCode::SUCCESS
            } else {
                ReasonCode::NO_SUBSCRIPTION_EXISTED
            }
        })
        .collect();
    Packet::UnsubAck(UnsubAck {
        packet_id: unsubscribe.packet_id,
        properties: Default::default(),
        reason_codes,
    })
}
