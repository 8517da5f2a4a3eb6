//! How a load connection waits for its answer: asleep in the runtime's poll until the socket
//! is readable, or spinning on non-blocking reads.
//!
//! The difference is who pays for the wake-up. On loopback the kernel delivers the server's
//! answer inside the server's `send`, so waking a sleeping client (an inter-processor
//! interrupt on this VM, about 5 us) is billed to the server's CPU. A client across a
//! network, as behind the L4 balancers of a deployment, is never woken by the server's CPU.
//! `spin` keeps the client awake so the server's figure is its own work; it costs the
//! client a whole core, so it suits one client thread on a host with a core to spare.

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientWait {
    /// Block in the runtime until the socket is readable (what ordinary clients do).
    #[default]
    Sleep,
    /// Retry non-blocking reads, yielding to the other connections in between.
    Spin,
}

impl ClientWait {
    pub fn name(self) -> &'static str {
        match self {
            ClientWait::Sleep => "sleep",
            ClientWait::Spin => "spin",
        }
    }
}
