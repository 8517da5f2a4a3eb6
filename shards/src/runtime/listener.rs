//! Binding the per-shard SO_REUSEPORT listeners.
//!
//! All of a protocol's listeners are bound on the main thread before the shards start: the
//! first to the configured address, the others to the port the first really got, so port 0
//! (tests) gives one port shared by every shard, and a bind error stops start-up cleanly.
//! The kernel then spreads incoming connections across the shards' sockets.
//!
//! SO_REUSEPORT would also let a second shardhub (another data directory, same port) join the
//! group and silently take half the traffic, so a fixed port is first probed with a plain
//! socket, which fails with "address in use" while anyone listens there.

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

/// How long a fixed port that is "in use" is tried again before start-up gives up.
const BIND_RETRY_MS_MAX: u64 = 5_000;
const BIND_RETRY_PAUSE: Duration = Duration::from_millis(50);

/// A listener that could not be bound: the protocol, the address asked for, and why.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen for {protocol} on {addr}: {source}")]
pub struct BindError {
    pub protocol: &'static str,
    pub addr: String,
    #[source]
    pub source: std::io::Error,
}

pub fn bind_reuseport(
    protocol: &'static str,
    addr: &str,
    count: usize,
    backlog: u32,
) -> Result<Vec<TcpListener>, BindError> {
    let bind_error = |source| BindError {
        protocol,
        addr: addr.to_string(),
        source,
    };
    let mut target: SocketAddr = addr.parse().map_err(|_| {
        bind_error(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not an IP address and port",
        ))
    })?;
    if target.port() != 0 {
        probe(target).map_err(bind_error)?;
    }
    let mut listeners = Vec::with_capacity(count);
    for _ in 0..count {
        let socket = Socket::new(Domain::for_address(target), Type::STREAM, Some(Protocol::TCP)).map_err(bind_error)?;
        socket.set_reuse_address(true).map_err(bind_error)?;
        socket.set_reuse_port(true).map_err(bind_error)?;
        socket.set_nonblocking(true).map_err(bind_error)?;
        socket.set_nodelay(true).map_err(bind_error)?;
        socket.bind(&target.into()).map_err(bind_error)?;
        socket.listen(backlog.min(i32::MAX as u32) as i32).map_err(bind_error)?;
        let listener: TcpListener = socket.into();
        target = listener.local_addr().map_err(bind_error)?;
        listeners.push(listener);
    }
    Ok(listeners)
}

/// Binds a plain socket to a fixed address, to find out whether anyone listens there. A
/// restart right after the process was killed can find the old sockets still being torn
/// down ("address in use" for a moment), so "in use" is retried for [`BIND_RETRY_MS_MAX`]
/// before it is believed: a live listener elsewhere then fails the start 5 s late.
fn probe(target: SocketAddr) -> std::io::Result<()> {
    let deadline = Instant::now() + Duration::from_millis(BIND_RETRY_MS_MAX);
    loop {
        let probe = Socket::new(Domain::for_address(target), Type::STREAM, Some(Protocol::TCP))?;
        probe.set_reuse_address(true)?;
        match probe.bind(&target.into()) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < deadline => {
                std::thread::sleep(BIND_RETRY_PAUSE);
            }
            Err(e) => return Err(e),
        }
    }
}
