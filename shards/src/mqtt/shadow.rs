//! Device shadows on the broker: requests on `$shadow/{device}/update|get|delete` (and the
//! HTTP API) run on the device's owner shard, and the answers are published on the AWS IoT
//! reply topics (`.../accepted`, `.../rejected`, `/update/delta`, `/update/documents`) once
//! the change is durable.

use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::{json, Value};
use shardhub_core::shadow::{client_token, rejected};
use shardhub_net::mqtt::session::Message;
use shardhub_net::mqtt::{MqttStr, QoS};

use super::broker::Broker;
use super::message::{MqttReply, ShadowAction};
use crate::runtime::unix_ms;

/// The shadow request a topic names: `$shadow/{device}/{update|get|delete}`. `Err` for any
/// other `$shadow/` topic (the reply topics are the server's to publish).
pub fn request_topic(topic: &str) -> Option<Result<(&str, ShadowAction), ()>> {
    let rest = topic.strip_prefix("$shadow/")?;
    let mut parts = rest.split('/');
    let (Some(device), Some(action), None) = (parts.next(), parts.next(), parts.next()) else {
        return Some(Err(()));
    };
    let action = match action {
        "update" => ShadowAction::Update,
        "get" => ShadowAction::Get,
        "delete" => ShadowAction::Delete,
        _ => return Some(Err(())),
    };
    if device.is_empty() {
        return Some(Err(()));
    }
    Some(Ok((device, action)))
}

impl Broker {
    /// Runs one shadow request on the device's owner shard, publishes its replies, and returns
    /// the reply document with its status (for HTTP).
    pub async fn run_shadow(self: Rc<Self>, action: ShadowAction, device: String, request: Bytes) -> MqttReply {
        let broker = self;
        let store = &broker.store;
        let now = unix_ms();
        let token = client_token(&request);
        let token = token.as_deref();
        // Reads go on from the state the log holds; changes wait for a restart.
        if store.failed() && !matches!(action, ShadowAction::Get) {
            let body =
                json!({"code": 503, "message": "shadow log failed; restart the server", "timestamp": now / 1000});
            return MqttReply::Shadow { status: 503, body };
        }
        let (outcome, lsn) = match action {
            ShadowAction::Update => {
                let (result, lsn) = store.shadow(|s, sink| s.update(&device, &request, now, sink));
                let outcome = result.map(|r| {
                    let mut replies = vec![("update/accepted", r.accepted.clone())];
                    replies.extend(r.delta.map(|d| ("update/delta", d)));
                    replies.push(("update/documents", r.documents));
                    (r.accepted, replies)
                });
                (outcome, lsn)
            }
            ShadowAction::Get => {
                let result = store.shadows.borrow().get(&device).map(|s| s.get_accepted(now, token));
                (result.map(|doc| (doc.clone(), vec![("get/accepted", doc)])), 0)
            }
            ShadowAction::Delete => {
                let (result, lsn) = store.shadow(|s, sink| s.delete(&device, now, sink));
                let outcome = result.map(|d| {
                    let doc = d.accepted(token);
                    (doc.clone(), vec![("delete/accepted", doc)])
                });
                (outcome, lsn)
            }
        };
        match outcome {
            Ok((body, replies)) => {
                // Nothing is announced that a crash could take back (a GET logs nothing).
                if lsn != 0 && !store.durable(lsn).await {
                    return MqttReply::Failed;
                }
                for (suffix, doc) in replies {
                    publish(&broker, &device, suffix, &doc);
                }
                MqttReply::Shadow { status: 200, body }
            }
            Err(e) => {
                let body = rejected(&e, now, token);
                publish(&broker, &device, &format!("{}/rejected", action.topic_word()), &body);
                MqttReply::Shadow { status: e.code(), body }
            }
        }
    }
}

fn publish(broker: &Broker, device: &str, suffix: &str, doc: &Value) {
    let Ok(topic) = MqttStr::from_bytes(format!("$shadow/{device}/{suffix}").into()) else {
        return;
    };
    let mut message = Message {
        topic,
        payload: Bytes::from(doc.to_string()),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: Default::default(),
        expires_at_ms: None,
        origin: 0,
    };
    message.properties.payload_format_indicator = Some(true);
    message.properties.content_type = Some(MqttStr::from_static("application/json"));
    broker.route(Arc::new(message));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_three_request_topics_are_requests() {
        assert_eq!(
            request_topic("$shadow/d1/update"),
            Some(Ok(("d1", ShadowAction::Update)))
        );
        assert_eq!(request_topic("$shadow/d1/get"), Some(Ok(("d1", ShadowAction::Get))));
        assert_eq!(
            request_topic("$shadow/d1/delete"),
            Some(Ok(("d1", ShadowAction::Delete)))
        );
        for reply in [
            "$shadow/d1/update/accepted",
            "$shadow/d1",
            "$shadow//update",
            "$shadow/d1/patch",
        ] {
            assert_eq!(request_topic(reply), Some(Err(())), "{reply}");
        }
        assert_eq!(request_topic("devices/d1/update"), None);
    }
}
