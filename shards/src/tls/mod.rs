//! TLS for the listeners (docs/tls.md): rustls configurations loaded from PEM files and
//! reloaded live, and the transport the protocol drivers read and write through.

mod error;
mod listeners;
mod server_config;
mod session;
mod transport;

pub use error::TlsError;
pub use listeners::TlsListeners;
pub use session::{Opened, TlsSession};
pub use transport::{TlsStream, Transport};

/// How long a client has to finish its TLS handshake.
pub const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
