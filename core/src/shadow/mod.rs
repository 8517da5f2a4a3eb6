//! Device shadows, after the AWS IoT Device Shadow service: for each device a JSON document of
//! the state an application wants (`desired`) and the state the device last reported
//! (`reported`), with per-field timestamps, a version, and the `delta` between the two. One
//! shard owns a device's shadow.
//!
//! - [`ShadowStore`]: the state machine. Commands ([`ShadowStore::update`], [`ShadowStore::get`],
//!   [`ShadowStore::delete`]) check, build a [`ShadowEvent`], log it through an
//!   [`EventSink`](crate::EventSink), then apply it; replay applies logged events the same way.
//! - [`json`]: RFC 7386 merge patches, metadata, delta, the measures behind the limits.
//! - The replies the broker publishes: [`UpdateReplies`] (`/update/accepted`, `/update/delta`,
//!   `/update/documents`), [`Shadow::get_accepted`], [`Deleted::accepted`], [`rejected`] (on
//!   `.../rejected`, `{"code", "message"}` of a [`crate::error::ShadowError`]).
//!
//! Choices where AWS leaves room, all documented where they are made:
//! - a section left empty by an update is removed, as `"desired": null` removes it;
//! - `delta` is published when the update changed desired or reported and the delta is not
//!   empty; it is the whole delta, not only the fields this update touched;
//! - versions continue across a delete for `tombstone_ms` (48 hours, as AWS);
//! - depth counts the section as level 1 and arrays as levels; the parser refuses nesting
//!   beyond 128 levels as invalid JSON;
//! - `get` replies carry the time of the reply, documents the time of the update;
//! - a shard's full shadow table answers 429 "Too many shadows" (AWS's code for a limit;
//!   MQTT 5's 0x97 "quota exceeded" on an acknowledgment).
//!
//! Device names are opaque strings: a named shadow is the caller's `{thing}/{name}`.

mod event;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod json;
#[cfg(test)]
mod proptests;
mod request;
mod store;
#[cfg(test)]
mod tests;

pub use event::ShadowEvent;
pub use request::{client_token, CLIENT_TOKEN_BYTES_MAX};
pub use store::{rejected, Deleted, Shadow, ShadowLimits, ShadowStore, UpdateReplies};
