"""Everything the suite assumes about the broker that the MQTT specification does not fix,
in one place, so the broker team can align (or argue) with it.

- SUITE_DEFAULTS: the settings every test's broker runs with (both brokers get the same
  values, translated for Mosquitto in brokers.py); a test changes them with
  @pytest.mark.broker_config(mqtt={...}, shadow={...}).
- The reason codes and observable choices below are asserted against shardhub. Where the
  specification leaves a choice, tests against Mosquitto accept any code the specification
  allows (SPEC_ALLOWED), and tests against shardhub demand shardhub's choice (SHARDHUB).
"""

from __future__ import annotations

# --- settings ---------------------------------------------------------------------------
# The [mqtt] and [shadow] keys of shardhub.toml (the contract with the broker) and the
# values the suite runs with unless a test asks otherwise. Mosquitto gets the same values
# for the keys it has (see brokers.MOSQUITTO_KEYS).
SUITE_DEFAULTS: dict[str, dict] = {
    "mqtt": {
        "auth": "anonymous",
        "keep_alive_max_secs": 600,        # mosquitto: max_keepalive
        "receive_maximum": 20,             # mosquitto: max_inflight_messages (both ways)
        "max_inflight": 20,                # mosquitto: max_inflight_messages
        "max_queued_messages": 1000,       # mosquitto: max_queued_messages
        "max_packet_bytes": 1048576,       # mosquitto: max_packet_size
        "topic_alias_maximum": 10,         # mosquitto: max_topic_alias
    },
    "shadow": {},
}

# The HS256 secret token-mode tests configure and sign with.
TOKEN_SECRET = "integration-test-secret-0123456789abcdef"

# --- CONNACK codes for authentication (shardhub, token mode) -------------------------------
# MQTT 5 reason codes and the MQTT 3.1.1 return codes they map to.
AUTH_BAD_TOKEN_V5 = 0x86       # bad signature, not a JWT, wrong algorithm, no password
AUTH_BAD_TOKEN_V311 = 4        # "bad user name or password"
AUTH_NOT_ALLOWED_V5 = 0x87     # expired token, sub != client id, unknown role
AUTH_NOT_ALLOWED_V311 = 5      # "not authorized"
BAD_AUTH_METHOD = 0x8C         # CONNECT with an Authentication Method the server lacks

# --- ACL (shardhub, token mode) ---------------------------------------------------------------
ACL_SUBACK_DENIED = 0x87       # SUBACK for a filter outside the device's namespace
ACL_PUBACK_DENIED = 0x87       # PUBACK for a QoS 1 publish outside the namespace
# A denied QoS 0 publish is dropped and counted: some /metrics sample whose name matches
# this pattern increases.
ACL_DENIED_METRIC = r"^shardhub_mqtt_\w*denied\w*"

# --- limits (shardhub) -----------------------------------------------------------------------
SUBSCRIPTIONS_LIMIT_SUBACK = 0x97   # max_subscriptions_per_client exceeded: quota exceeded
PUBLISH_RATE_PUBACK = 0x97          # publishes_per_sec exceeded, QoS 1: quota exceeded
CONNECTIONS_LIMIT_CONNACK = {0x97}  # max_connections_per_shard exceeded (0x9F would be
                                    # "connection rate exceeded"; the config doc says 0x97)
RECEIVE_MAXIMUM_EXCEEDED = 0x93     # client exceeds our Receive Maximum (spec, §3.3.4)
PACKET_TOO_LARGE = 0x95             # client exceeds our Maximum Packet Size (spec, §3.1.2.11.4)
SESSION_TAKEN_OVER = 0x8E           # old connection on takeover (spec, §3.1.4)
SERVER_SHUTTING_DOWN = 0x8B         # to connected v5 clients on SIGTERM (optional in MQTT)
KEEP_ALIVE_TIMEOUT = 0x8D           # optional DISCONNECT before the keep-alive close
# Offline queue overflow: the oldest message is dropped (Mosquitto drops the newest; MQTT
# leaves it open), and the drop is counted in a /metrics sample matching this pattern.
QUEUE_DROPS_OLDEST = True
QUEUE_DROPPED_METRIC = r"^shardhub_mqtt_\w*dropped\w*"
# Server-assigned outgoing topic aliases (optional in MQTT; Mosquitto 2.0 never assigns).
SERVER_ASSIGNS_TOPIC_ALIASES = True

# --- malformed packets --------------------------------------------------------------------------
# For each case: (codes the specification allows in the DISCONNECT, shardhub's code).
MALFORMED: dict[str, tuple[set[int], int]] = {
    # §2.1.3: invalid fixed-header flags "MUST be treated as malformed".
    "reserved_flags": ({0x81}, 0x81),
    # §3.3.1.2: QoS 3 is a Malformed Packet.
    "publish_qos3": ({0x81}, 0x81),
    # §3.3.2.1 [MQTT-3.3.2-2]: the spec names no code; Malformed, Protocol Error and
    # Topic Name invalid are all defensible. shardhub (net/src/mqtt/error.rs) uses 0x90.
    "publish_wildcard": ({0x81, 0x82, 0x90}, 0x90),
    # §3.3.2.3.4 [MQTT-3.3.2-8]: alias 0 is not permitted; no code named. 0x94 "Topic Alias
    # invalid" is the closest; Mosquitto answers 0x81.
    "topic_alias_zero": ({0x81, 0x82, 0x94}, 0x94),
    # §3.3.2.3.4: an alias above the receiver's Topic Alias Maximum -> 0x94 by name.
    "topic_alias_too_big": ({0x94}, 0x94),
    # §1.5.4 [MQTT-1.5.4-1]: ill-formed UTF-8 is a Malformed Packet.
    "invalid_utf8": ({0x81}, 0x81),
    # §1.5.4 [MQTT-1.5.4-2]: U+0000 in a string is a Malformed Packet.
    "utf8_null": ({0x81}, 0x81),
    # §2.2.2.2: "It is a Protocol Error to include ... more than once".
    "duplicate_property": ({0x82}, 0x82),
    # §3.8.3.1 [MQTT-3.8.3-4]: No Local on a shared subscription is a Protocol Error.
    "shared_no_local": ({0x82}, 0x82),
    # §3.3.1.1 [MQTT-3.3.1-2]: DUP set on a QoS 0 PUBLISH (a wrong fixed-header flag).
    "publish_qos0_dup": ({0x81}, 0x81),
    # §2.2.1 [MQTT-2.2.1-3]: QoS > 0 needs a non-zero Packet Identifier; no code named.
    "packet_id_zero": ({0x81, 0x82}, 0x82),
    # §2.2.2.2: an identifier that is not a property, or not valid for the packet type, makes
    # a Malformed Packet.
    "unknown_property": ({0x81}, 0x81),
    "property_not_allowed": ({0x81}, 0x81),
    # §3.1 [MQTT-3.1.0-2]: a second CONNECT is a Protocol Error.
    "second_connect": ({0x82}, 0x82),
    # §1.5.5 / §2.1.4: a Remaining Length longer than four bytes is malformed.
    "remaining_length_too_long": ({0x81}, 0x81),
    # §2.1.2: packet type 0 is reserved ("Forbidden").
    "reserved_packet_type": ({0x81, 0x82}, 0x81),
    # §3.8.2.1.2: "It is a Protocol Error if the Subscription Identifier has a value of 0".
    "subscription_identifier_zero": ({0x81, 0x82}, 0x82),
    # §3.3.2.3.4: an empty topic with an alias that has no mapping is a Protocol Error.
    "unknown_topic_alias": ({0x82}, 0x82),
    # §4.12 [MQTT-4.12.0-7]: AUTH from a client whose CONNECT named no Authentication Method.
    "auth_without_enhanced_auth": ({0x82, 0x8C}, 0x82),
    # §1.5.4 in CONNECT: answered in the CONNACK (optional), then the connection closes.
    "connect_invalid_utf8": ({0x81, 0x85}, 0x81),
}

# Invalid topic filters in SUBSCRIBE (§4.7.1, §4.7.3): the specification allows either a
# SUBACK with 0x8F for that filter (3.1.1: 0x80), or treating the packet as malformed
# (DISCONNECT). shardhub answers the SUBACK and keeps the connection (Mosquitto disconnects).
INVALID_FILTER_SUBACK = 0x8F
INVALID_FILTER_SUBACK_V311 = 0x80
INVALID_FILTER_DISCONNECT = {0x81, 0x82, 0x8F}
INVALID_FILTER_SHARDHUB_ANSWERS_SUBACK = True

# --- device shadows (shardhub) ------------------------------------------------------------------
SHADOW_BAD_JSON = 400
SHADOW_NOT_FOUND = 404
SHADOW_VERSION_CONFLICT = 409
SHADOW_TOO_LARGE = 413
