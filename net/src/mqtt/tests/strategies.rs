//! proptest strategies for packets that are valid in MQTT 5.0, covering every field and
//! property; [`super::fit_for_v311`] turns them into 3.1.1 packets.

use proptest::collection::vec;
use proptest::option::of;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::Union;

use super::*;

fn text() -> impl Strategy<Value = MqttStr> {
    "[a-zA-Z0-9 /_.ü水-]{0,12}".prop_map(|t| s(&t))
}

fn topic_name() -> impl Strategy<Value = MqttStr> {
    "[a-z0-9$ü]{1,6}(/[a-z0-9]{0,6}){0,3}".prop_map(|t| s(&t))
}

/// Filters are not checked by the decoder, so any text will do, wildcards included; '$'
/// is left out so that No Local never lands on a shared subscription by chance.
fn topic_filter() -> impl Strategy<Value = MqttStr> {
    "[a-z0-9/+#]{1,12}".prop_map(|t| s(&t))
}

fn binary() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..24).prop_map(Bytes::from)
}

fn users() -> impl Strategy<Value = Vec<UserProperty>> {
    vec(
        (text(), text()).prop_map(|(name, value)| UserProperty { name, value }),
        0..3,
    )
}

fn qos() -> impl Strategy<Value = QoS> {
    select(vec![QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce])
}

fn packet_id() -> impl Strategy<Value = PacketId> {
    (1..=u16::MAX).prop_map(pid)
}

fn nonzero16() -> impl Strategy<Value = NonZeroU16> {
    (1..=u16::MAX).prop_map(nz16)
}

fn nonzero32() -> impl Strategy<Value = NonZeroU32> {
    (1..=u32::MAX).prop_map(nz32)
}

fn subscription_id() -> impl Strategy<Value = NonZeroU32> {
    (1..=varint::VARINT_MAX).prop_map(nz32)
}

fn reason_for(packet: PacketType) -> impl Strategy<Value = ReasonCode> {
    select(
        (0..=255u8)
            .map(ReasonCode)
            .filter(|c| c.allowed_in(packet))
            .collect::<Vec<_>>(),
    )
}

fn connect_properties() -> impl Strategy<Value = ConnectProperties> {
    (
        of(any::<u32>()),
        of(nonzero16()),
        of(nonzero32()),
        of(any::<u16>()),
        of(any::<bool>()),
        of(any::<bool>()),
        of(text()),
        of(binary()),
        users(),
    )
        .prop_map(
            |(sei, rm, mps, tam, rri, rpi, method, data, user_properties)| ConnectProperties {
                session_expiry_interval: sei,
                receive_maximum: rm,
                maximum_packet_size: mps,
                topic_alias_maximum: tam,
                request_response_information: rri,
                request_problem_information: rpi,
                // Authentication Data needs a method.
                authentication_method: if data.is_some() {
                    Some(method.unwrap_or_default())
                } else {
                    method
                },
                authentication_data: data,
                user_properties,
            },
        )
}

fn will() -> impl Strategy<Value = Will> {
    (
        topic_name(),
        binary(),
        qos(),
        any::<bool>(),
        (
            of(any::<u32>()),
            of(any::<bool>()),
            of(any::<u32>()),
            of(text()),
            of(topic_name()),
            of(binary()),
            users(),
        ),
    )
        .prop_map(
            |(topic, payload, qos, retain, (delay, pfi, mei, ct, rt, cd, user_properties))| Will {
                topic,
                payload,
                qos,
                retain,
                properties: WillProperties {
                    will_delay_interval: delay,
                    payload_format_indicator: pfi,
                    message_expiry_interval: mei,
                    content_type: ct,
                    response_topic: rt,
                    correlation_data: cd,
                    user_properties,
                },
            },
        )
}

fn connect() -> impl Strategy<Value = Packet> {
    (
        any::<bool>(),
        any::<u16>(),
        text(),
        of(will()),
        of(text()),
        of(binary()),
        connect_properties(),
    )
        .prop_map(
            |(clean_start, keep_alive, client_id, will, username, password, properties)| {
                Packet::Connect(Box::new(Connect {
                    protocol_version: V5,
                    clean_start,
                    keep_alive,
                    client_id,
                    will,
                    username,
                    password,
                    properties,
                }))
            },
        )
}

fn connack() -> impl Strategy<Value = Packet> {
    let first = (
        of(any::<u32>()),
        of(nonzero16()),
        of(select(vec![QoS::AtMostOnce, QoS::AtLeastOnce])),
        of(any::<bool>()),
        of(nonzero32()),
        of(text()),
        of(any::<u16>()),
        of(text()),
        users(),
    );
    let second = (
        of(any::<bool>()),
        of(any::<bool>()),
        of(any::<bool>()),
        of(any::<u16>()),
        of(text()),
        of(text()),
        of(text()),
        of(binary()),
    );
    (any::<bool>(), reason_for(PacketType::ConnAck), first, second).prop_map(
        |(
            session_present,
            reason_code,
            (sei, rm, mq, ra, mps, aci, tam, rs, up),
            (wsa, sia, ssa, ska, ri, sr, am, ad),
        )| {
            Packet::ConnAck(Box::new(ConnAck {
                session_present: session_present && reason_code == ReasonCode::SUCCESS,
                reason_code,
                properties: ConnAckProperties {
                    session_expiry_interval: sei,
                    receive_maximum: rm,
                    maximum_qos: mq,
                    retain_available: ra,
                    maximum_packet_size: mps,
                    assigned_client_identifier: aci,
                    topic_alias_maximum: tam,
                    reason_string: rs,
                    user_properties: up,
                    wildcard_subscription_available: wsa,
                    subscription_identifiers_available: sia,
                    shared_subscription_available: ssa,
                    server_keep_alive: ska,
                    response_information: ri,
                    server_reference: sr,
                    authentication_method: am,
                    authentication_data: ad,
                },
            }))
        },
    )
}

fn publish() -> impl Strategy<Value = Packet> {
    let properties = (
        of(any::<bool>()),
        of(any::<u32>()),
        of(nonzero16()),
        of(topic_name()),
        of(binary()),
        users(),
        vec(subscription_id(), 0..3),
        of(text()),
    );
    (
        qos(),
        any::<bool>(),
        any::<bool>(),
        topic_name(),
        any::<bool>(),
        packet_id(),
        properties,
        binary(),
    )
        .prop_map(
            |(qos, dup, retain, topic, aliased, id, (pfi, mei, alias, rt, cd, up, sids, ct), payload)| {
                let at_most_once = qos == QoS::AtMostOnce;
                // An aliased PUBLISH may leave its topic empty.
                let topic = if aliased && alias.is_some() {
                    MqttStr::EMPTY
                } else {
                    topic
                };
                Packet::Publish(Publish {
                    dup: dup && !at_most_once,
                    qos,
                    retain,
                    topic,
                    packet_id: if at_most_once { None } else { Some(id) },
                    properties: PublishProperties {
                        payload_format_indicator: pfi,
                        message_expiry_interval: mei,
                        topic_alias: alias,
                        response_topic: rt,
                        correlation_data: cd,
                        user_properties: up,
                        subscription_identifiers: sids,
                        content_type: ct,
                    },
                    payload,
                })
            },
        )
}

fn ack_properties() -> impl Strategy<Value = AckProperties> {
    (of(text()), users()).prop_map(|(reason_string, user_properties)| AckProperties {
        reason_string,
        user_properties,
    })
}

fn ack(packet: PacketType) -> impl Strategy<Value = Ack> {
    (packet_id(), reason_for(packet), ack_properties()).prop_map(|(packet_id, reason_code, properties)| Ack {
        packet_id,
        reason_code,
        properties,
    })
}

fn subscribe() -> impl Strategy<Value = Packet> {
    let options =
        (qos(), any::<bool>(), any::<bool>(), 0..3u8).prop_map(|(qos, no_local, rap, rh)| SubscriptionOptions {
            qos,
            no_local,
            retain_as_published: rap,
            retain_handling: RetainHandling::from_bits(rh).unwrap_or_default(),
        });
    let filters = vec(
        (topic_filter(), options).prop_map(|(filter, options)| Subscription { filter, options }),
        1..4,
    );
    (packet_id(), of(subscription_id()), users(), filters).prop_map(|(packet_id, sid, user_properties, filters)| {
        Packet::Subscribe(Subscribe {
            packet_id,
            properties: SubscribeProperties {
                subscription_identifier: sid,
                user_properties,
            },
            filters,
        })
    })
}

fn suback() -> impl Strategy<Value = Packet> {
    (packet_id(), ack_properties(), vec(reason_for(PacketType::SubAck), 1..4)).prop_map(
        |(packet_id, properties, reason_codes)| {
            Packet::SubAck(SubAck {
                packet_id,
                properties,
                reason_codes,
            })
        },
    )
}

fn unsubscribe() -> impl Strategy<Value = Packet> {
    (packet_id(), users(), vec(topic_filter(), 1..4)).prop_map(|(packet_id, user_properties, filters)| {
        Packet::Unsubscribe(Unsubscribe {
            packet_id,
            properties: UnsubscribeProperties { user_properties },
            filters,
        })
    })
}

fn unsuback() -> impl Strategy<Value = Packet> {
    (
        packet_id(),
        ack_properties(),
        vec(reason_for(PacketType::UnsubAck), 1..4),
    )
        .prop_map(|(packet_id, properties, reason_codes)| {
            Packet::UnsubAck(UnsubAck {
                packet_id,
                properties,
                reason_codes,
            })
        })
}

fn disconnect() -> impl Strategy<Value = Packet> {
    (
        reason_for(PacketType::Disconnect),
        of(any::<u32>()),
        of(text()),
        users(),
        of(text()),
    )
        .prop_map(|(reason_code, sei, rs, up, sr)| {
            Packet::Disconnect(Disconnect {
                reason_code,
                properties: DisconnectProperties {
                    session_expiry_interval: sei,
                    reason_string: rs,
                    user_properties: up,
                    server_reference: sr,
                },
            })
        })
}

fn auth() -> impl Strategy<Value = Packet> {
    (
        reason_for(PacketType::Auth),
        of(text()),
        of(binary()),
        of(text()),
        users(),
    )
        .prop_map(|(reason_code, method, data, rs, up)| {
            // Continuing or restarting needs a method, and so does data.
            let needs_method = reason_code != ReasonCode::SUCCESS || data.is_some();
            let method = if needs_method {
                Some(method.unwrap_or_else(|| s("m")))
            } else {
                method
            };
            Packet::Auth(Auth {
                reason_code,
                properties: AuthProperties {
                    authentication_method: method,
                    authentication_data: data,
                    reason_string: rs,
                    user_properties: up,
                },
            })
        })
}

/// Any packet valid in MQTT 5.0.
pub(crate) fn packet_v5() -> impl Strategy<Value = Packet> {
    Union::new(vec![
        connect().boxed(),
        connack().boxed(),
        publish().boxed(),
        ack(PacketType::PubAck).prop_map(Packet::PubAck).boxed(),
        ack(PacketType::PubRec).prop_map(Packet::PubRec).boxed(),
        ack(PacketType::PubRel).prop_map(Packet::PubRel).boxed(),
        ack(PacketType::PubComp).prop_map(Packet::PubComp).boxed(),
        subscribe().boxed(),
        suback().boxed(),
        unsubscribe().boxed(),
        unsuback().boxed(),
        Just(Packet::PingReq).boxed(),
        Just(Packet::PingResp).boxed(),
        disconnect().boxed(),
        auth().boxed(),
    ])
}
