//! A connection's socket as the broker writes to it: packets are sent at once with a
//! non-blocking `send`, from whichever task produced them; only what the kernel would not
//! take waits in `pending`, and the connection task then waits for the socket to drain.
//!
//! So an idle connection holds no buffer at all, and a delivery costs one system call and no
//! task wake-up while the client keeps up.

use std::cell::{Cell, RefCell};
use std::os::fd::RawFd;

use bytes::{Buf, BytesMut};
use shardhub_net::mqtt::{Packet, ProtocolVersion, ReasonCode};

use super::signal::Signal;

/// Unsent bytes one connection may hold before it counts as stuck and is closed.
const PENDING_BYTES_MAX: usize = 4 * 1024 * 1024;

thread_local! {
    /// Where packets are encoded before `send`; one per shard thread.
    static ENCODE_BUF: RefCell<BytesMut> = RefCell::new(BytesMut::with_capacity(64 * 1024));
}

/// Why the broker wants a connection closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseRequest {
    /// Another connection took the session (DISCONNECT 0x8E).
    TakenOver,
    /// The server is shutting down (DISCONNECT 0x8B).
    ShuttingDown,
}

pub struct ConnIo {
    fd: RawFd,
    version: Cell<ProtocolVersion>,
    pending: RefCell<BytesMut>,
    /// The socket failed or `pending` overflowed: the connection task closes it.
    broken: Cell<bool>,
    close: Cell<Option<CloseRequest>>,
    /// Wakes the connection task: bytes are pending, the socket broke, or a close is asked.
    pub signal: Signal,
}

impl ConnIo {
    pub fn new(fd: RawFd, version: ProtocolVersion) -> Self {
        Self {
            fd,
            version: Cell::new(version),
            pending: RefCell::new(BytesMut::new()),
            broken: Cell::new(false),
            close: Cell::new(None),
            signal: Signal::default(),
        }
    }

    pub fn version(&self) -> ProtocolVersion {
        self.version.get()
    }

    pub fn is_broken(&self) -> bool {
        self.broken.get()
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.borrow().is_empty()
    }

    pub fn close_request(&self) -> Option<CloseRequest> {
        self.close.get()
    }

    pub fn request_close(&self, why: CloseRequest) {
        self.close.set(Some(why));
        self.signal.raise();
    }

    /// Encodes and sends `packets` in order. A packet that cannot be encoded (a bug, or a
    /// reason code 3.1.1 cannot carry) is skipped.
    pub fn send(&self, packets: &[Packet]) {
        if packets.is_empty() || self.broken.get() {
            return;
        }
        let version = self.version.get();
        ENCODE_BUF.with_borrow_mut(|buf| {
            buf.clear();
            for packet in packets {
                if let Err(e) = packet.encode(version, buf) {
                    tracing::debug!(error = %e, "packet not sent");
                }
            }
            self.write(buf);
        });
    }

    pub fn send_one(&self, packet: Packet) {
        self.send(std::slice::from_ref(&packet));
    }

    /// Sends what `pending` holds; call when the socket is writable.
    pub fn flush(&self) {
        let mut pending = self.pending.borrow_mut();
        match send_some(self.fd, &pending) {
            Ok(n) => {
                pending.advance(n);
                if pending.is_empty() {
                    // Give the memory back: a drained connection holds no buffer.
                    *pending = BytesMut::new();
                }
            }
            Err(_) => self.broken.set(true),
        }
    }

    fn write(&self, bytes: &[u8]) {
        let mut pending = self.pending.borrow_mut();
        let sent = if pending.is_empty() {
            match send_some(self.fd, bytes) {
                Ok(n) => n,
                Err(_) => {
                    self.broken.set(true);
                    self.signal.raise();
                    return;
                }
            }
        } else {
            0
        };
        if sent < bytes.len() {
            if pending.len() + bytes.len() - sent > PENDING_BYTES_MAX {
                self.broken.set(true);
            } else {
                pending.extend_from_slice(&bytes[sent..]);
            }
            self.signal.raise();
        }
    }
}

/// One non-blocking `send`: bytes taken (0 when the socket is full), or why it failed.
fn send_some(fd: RawFd, bytes: &[u8]) -> std::io::Result<usize> {
    let mut sent = 0;
    while sent < bytes.len() {
        // SAFETY: `bytes[sent..]` is valid for reads of its length; `fd` is the connection's
        // socket, open for as long as the connection task (which owns the stream) runs.
        let n = unsafe {
            libc::send(
                fd,
                bytes[sent..].as_ptr().cast(),
                bytes.len() - sent,
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        if n >= 0 {
            sent += n as usize;
            continue;
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EAGAIN) => break,
            Some(libc::EINTR) => continue,
            _ => return Err(e),
        }
    }
    Ok(sent)
}

/// One non-blocking `recv` into `buf`: bytes read (0 at end of stream), None when nothing is
/// there now, or why it failed.
pub fn recv_some(fd: RawFd, buf: &mut [u8]) -> std::io::Result<Option<usize>> {
    loop {
        // SAFETY: `buf` is valid for writes of its length.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
        if n >= 0 {
            return Ok(Some(n as usize));
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EAGAIN) => return Ok(None),
            Some(libc::EINTR) => continue,
            _ => return Err(e),
        }
    }
}

/// The DISCONNECT a v5 client gets before the server closes; 3.1.1 has none.
pub fn disconnect(version: ProtocolVersion, reason: ReasonCode) -> Option<Packet> {
    (version == ProtocolVersion::V5).then(|| {
        Packet::Disconnect(shardhub_net::mqtt::Disconnect {
            reason_code: reason,
            properties: Default::default(),
        })
    })
}
