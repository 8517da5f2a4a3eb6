//! Feeds arbitrary bytes to the MQTT decoder in both protocol versions; whatever decodes
//! must re-encode and decode to the same packet. The body lives in
//! `shardhub_net::mqtt::fuzzing`, where the crate's tests also run it under proptest.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    shardhub_net::mqtt::fuzzing::decode_round_trip(data);
});
