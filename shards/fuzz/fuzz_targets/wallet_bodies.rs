//! Runs arbitrary bytes as wallet request bodies through parsing and signing; each must end
//! in a signature by the path's key or a 4xx refusal that echoes no secret. The body lives
//! in `shardhub::wallet::fuzzing`, where the crate's tests also run it under proptest.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    shardhub::wallet::fuzzing::bodies(data);
});
