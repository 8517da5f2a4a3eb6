//! Runs arbitrary bytes as a sequence of shadow updates and deletes; refusals must change
//! nothing, accepted updates must keep the bounds, and the log and a snapshot must each
//! rebuild the store. The body lives in `shardhub_core::shadow::fuzzing`, where the crate's
//! tests also run it under proptest.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    shardhub_core::shadow::fuzzing::update_requests(data);
});
