//! Feeds arbitrary bytes to the HTTP/1.1 request parser, whole and cut in pieces; both
//! readings must agree, refusals must be 4xx and every request must re-encode to itself. The
//! body lives in `shardhub_net::http::fuzzing`, where the crate's tests also run it under
//! proptest.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    shardhub_net::http::fuzzing::parse_stream(data);
});
