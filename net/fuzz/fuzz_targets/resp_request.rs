//! Feeds arbitrary bytes to the RESP request parser, whole and cut in pieces; both readings
//! must agree and every request must re-encode to itself. The body lives in
//! `shardhub_net::resp::fuzzing`, where the crate's tests also run it under proptest.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    shardhub_net::resp::fuzzing::parse_stream(data);
});
