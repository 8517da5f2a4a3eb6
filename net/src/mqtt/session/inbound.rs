//! Client to server: incoming topic aliases and QoS 2 exchanges awaiting PUBREL.

use crate::mqtt::packet::{PacketId, Publish};
use crate::mqtt::reason::ReasonCode;
use crate::mqtt::string::MqttStr;

/// A client broke a rule of the session; the server disconnects with `reason_code()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundError {
    /// An alias of 0 or above our Topic Alias Maximum.
    TopicAliasInvalid,
    /// An alias used before the client set it, or no topic and no alias.
    UnknownTopicAlias,
    /// More unacknowledged QoS 2 PUBLISHes than our Receive Maximum.
    ReceiveMaximumExceeded,
}

impl InboundError {
    pub fn reason_code(self) -> ReasonCode {
        match self {
            InboundError::TopicAliasInvalid => ReasonCode::TOPIC_ALIAS_INVALID,
            InboundError::UnknownTopicAlias => ReasonCode::PROTOCOL_ERROR,
            InboundError::ReceiveMaximumExceeded => ReasonCode::RECEIVE_MAXIMUM_EXCEEDED,
        }
    }
}

#[derive(Debug, Default)]
pub struct Inbound {
    receive_maximum: u16,
    topic_alias_maximum: u16,
    /// Topic per alias (alias n at index n - 1), grown as aliases are set, so a client that
    /// uses none costs nothing.
    aliases: Vec<Option<MqttStr>>,
    /// QoS 2 packet ids whose PUBREC went out and whose PUBREL has not come.
    awaiting_release: Vec<PacketId>,
}

impl Inbound {
    /// A new connection's state: aliases never outlive their connection.
    pub fn new(receive_maximum: u16, topic_alias_maximum: u16) -> Self {
        Self {
            receive_maximum,
            topic_alias_maximum,
            aliases: Vec::new(),
            awaiting_release: Vec::new(),
        }
    }

    /// Keeps the QoS 2 exchanges of a resumed session, with this connection's limits.
    pub fn reconnected(&mut self, receive_maximum: u16, topic_alias_maximum: u16) {
        self.receive_maximum = receive_maximum;
        self.topic_alias_maximum = topic_alias_maximum;
        self.aliases = Vec::new();
    }

    /// Replaces a topic alias by its topic, or records the alias a PUBLISH sets.
    pub fn resolve_topic(&mut self, publish: &mut Publish) -> Result<(), InboundError> {
        let Some(alias) = publish.properties.topic_alias.take() else {
            return if publish.topic.as_str().is_empty() {
                Err(InboundError::UnknownTopicAlias)
            } else {
                Ok(())
            };
        };
        if alias.get() > self.topic_alias_maximum {
            return Err(InboundError::TopicAliasInvalid);
        }
        let at = usize::from(alias.get()) - 1;
        if publish.topic.as_str().is_empty() {
            let known = self.aliases.get(at).cloned().flatten();
            publish.topic = known.ok_or(InboundError::UnknownTopicAlias)?;
        } else {
            if self.aliases.len() <= at {
                self.aliases.resize(at + 1, None);
            }
            // Its own copy: the alias outlives the read buffer the topic arrived in.
            self.aliases[at] = Some(publish.topic.to_owned_copy());
        }
        Ok(())
    }

    /// A QoS 2 PUBLISH arrived: true when it is new (route it), false when it resends one
    /// whose PUBREC we already sent (route nothing, answer PUBREC again).
    pub fn begin_exactly_once(&mut self, id: PacketId) -> Result<bool, InboundError> {
        if self.awaiting_release.contains(&id) {
            return Ok(false);
        }
        if self.awaiting_release.len() >= usize::from(self.receive_maximum) {
            return Err(InboundError::ReceiveMaximumExceeded);
        }
        self.awaiting_release.push(id);
        Ok(true)
    }

    /// PUBREL: whether the exchange was known (PUBCOMP success, else 0x92).
    pub fn release(&mut self, id: PacketId) -> bool {
        match self.awaiting_release.iter().position(|&p| p == id) {
            Some(at) => {
                self.awaiting_release.swap_remove(at);
                true
            }
            None => false,
        }
    }

    pub fn awaiting_release(&self) -> usize {
        self.awaiting_release.len()
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU16;

    use super::*;

    fn id(n: u16) -> PacketId {
        NonZeroU16::new(n).unwrap()
    }

    fn publish(topic: &'static str, alias: Option<u16>) -> Publish {
        let mut p = Publish {
            topic: MqttStr::from_static(topic),
            ..Publish::default()
        };
        p.properties.topic_alias = alias.and_then(NonZeroU16::new);
        p
    }

    #[test]
    fn aliases_are_set_then_used_and_bounded() {
        let mut inbound = Inbound::new(10, 2);
        let mut p = publish("a/b", Some(2));
        inbound.resolve_topic(&mut p).unwrap();
        let mut p = publish("", Some(2));
        inbound.resolve_topic(&mut p).unwrap();
        assert_eq!(p.topic.as_str(), "a/b");
        assert!(p.properties.topic_alias.is_none());
        let mut p = publish("", Some(1));
        assert_eq!(inbound.resolve_topic(&mut p), Err(InboundError::UnknownTopicAlias));
        let mut p = publish("x", Some(3));
        assert_eq!(inbound.resolve_topic(&mut p), Err(InboundError::TopicAliasInvalid));
        let mut p = publish("", None);
        assert_eq!(inbound.resolve_topic(&mut p), Err(InboundError::UnknownTopicAlias));
    }

    #[test]
    fn exactly_once_is_bounded_by_receive_maximum_and_dedups_resends() {
        let mut inbound = Inbound::new(2, 0);
        assert_eq!(inbound.begin_exactly_once(id(1)), Ok(true));
        assert_eq!(inbound.begin_exactly_once(id(1)), Ok(false));
        assert_eq!(inbound.begin_exactly_once(id(2)), Ok(true));
        assert_eq!(
            inbound.begin_exactly_once(id(3)),
            Err(InboundError::ReceiveMaximumExceeded)
        );
        assert!(inbound.release(id(1)));
        assert!(!inbound.release(id(1)));
        assert_eq!(inbound.begin_exactly_once(id(3)), Ok(true));
    }
}
