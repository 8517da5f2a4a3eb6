//! MQTT. Until the broker exists (the IoT gateway work), the listener answers every CONNECT
//! with "server unavailable" in the client's own protocol version, so devices see a clear,
//! retryable refusal instead of a silent port.

pub mod unavailable;

pub use unavailable::{refuse_connect, Refusal};
