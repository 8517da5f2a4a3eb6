//! The body of a record: a state machine's event in postcard's compact form.

use serde::Serialize;

/// Appends `value` in postcard form to `out` (a log buffer).
pub fn encode_record<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail: postcard's only errors are for fixed buffers.
    let written = std::mem::take(out);
    *out = postcard::to_extend(value, written).expect("encoding into a Vec");
}
