//! The on-disk shape of a shard's append-only log: framed records. What goes inside a record
//! belongs to the state machine that writes it (see [`crate::seckill::Event`]); this module
//! frames bytes so that a torn or corrupted write is told apart from a good record, and
//! encodes an event into a record body ([`encode_record`]).

mod frame;
mod record;

pub use frame::{encode_frame, encode_frame_with, good_frame_after, FrameError, FrameReader, FRAME_HEADER_BYTES};
pub use record::encode_record;
