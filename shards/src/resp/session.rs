//! What one RESP connection's commands read and change.

use std::rc::Rc;

use shardhub_net::resp::Protocol;

use super::clients::ClientInfo;

/// Per-connection state that commands read and change.
pub struct Session {
    pub client: Rc<ClientInfo>,
    pub protocol: Protocol,
    /// Set by QUIT: close after this reply.
    pub closing: bool,
}
