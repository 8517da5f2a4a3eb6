//! A connection's socket as the broker writes to it. Packets are encoded into the
//! connection's `pending` bytes by whichever task produced them, and the shard's
//! [`WriteBatch`] flusher sends each connection's bytes with one non-blocking `send` once the
//! producing task yields: the eight deliveries one read of a publisher's packets makes to a
//! subscriber leave in one segment, not eight. What the kernel does not take stays pending,
//! and the connection task waits for the socket to drain.
//!
//! A connection with nothing to send holds no buffer at all.
//!
//! Over TLS (`listen.mqtts`) packets are sealed into records as they are queued, so
//! `pending` holds ciphertext in the order it must go out, and the flusher sends it as is.

use std::cell::{Cell, RefCell};
use std::os::fd::RawFd;
use std::rc::Rc;

use bytes::{Buf, BytesMut};
use shardhub_net::mqtt::{Packet, ProtocolVersion, ReasonCode};

use crate::runtime::signal::Signal;
use crate::tls::TlsSession;

/// Unsent bytes one connection may hold before it counts as stuck and is closed.
const PENDING_BYTES_MAX: usize = 4 * 1024 * 1024;

thread_local! {
    /// Where packets are encoded before `send`; one per shard thread.
    static ENCODE_BUF: RefCell<BytesMut> = RefCell::new(BytesMut::with_capacity(64 * 1024));
}

/// The connections of one shard with bytes waiting for the flusher.
#[derive(Default)]
pub struct WriteBatch {
    dirty: RefCell<Vec<Rc<ConnIo>>>,
    signal: Signal,
}

/// Sends every dirty connection's bytes, once per scheduling round of the shard: it runs
/// after the tasks that were ready when the first packet was queued.
pub async fn flusher(batch: Rc<WriteBatch>) {
    loop {
        batch.signal.wait().await;
        let dirty = std::mem::take(&mut *batch.dirty.borrow_mut());
        for io in dirty {
            io.queued.set(false);
            io.flush();
        }
    }
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
    /// The TLS session, on `listen.mqtts`: every byte sent is sealed by it.
    tls: Option<Rc<TlsSession>>,
    version: Cell<ProtocolVersion>,
    /// None: send at once (a refusal right before closing).
    batch: Option<Rc<WriteBatch>>,
    /// On the batch's dirty list.
    queued: Cell<bool>,
    /// The socket is closed (or about to be): nothing may be sent on its descriptor, which
    /// the kernel may already have given to another connection.
    closed: Cell<bool>,
    pending: RefCell<BytesMut>,
    /// The socket failed or `pending` overflowed: the connection task closes it.
    broken: Cell<bool>,
    close: Cell<Option<CloseRequest>>,
    /// Wakes the connection task: bytes are pending, the socket broke, or a close is asked.
    pub signal: Signal,
}

impl ConnIo {
    pub fn new(
        fd: RawFd,
        version: ProtocolVersion,
        batch: Option<Rc<WriteBatch>>,
        tls: Option<Rc<TlsSession>>,
    ) -> Self {
        Self {
            fd,
            tls,
            version: Cell::new(version),
            batch,
            queued: Cell::new(false),
            closed: Cell::new(false),
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

    /// Queues `packets` in order for the batch flusher (or sends them now without a batch).
    /// A packet that cannot be encoded (a bug, or a reason code 3.1.1 cannot carry) is
    /// skipped.
    pub fn send(self: &Rc<Self>, packets: &[Packet]) {
        if packets.is_empty() || self.broken.get() || self.closed.get() {
            return;
        }
        let Some(batch) = &self.batch else {
            self.send_now(packets);
            return;
        };
        {
            let mut pending = self.pending.borrow_mut();
            match &self.tls {
                None => encode(self.version.get(), packets, &mut pending),
                Some(tls) => {
                    let sealed = ENCODE_BUF.with_borrow_mut(|buf| {
                        buf.clear();
                        encode(self.version.get(), packets, buf);
                        tls.seal(buf, &mut pending)
                    });
                    if sealed.is_err() {
                        self.broken.set(true);
                        self.signal.raise();
                        return;
                    }
                }
            }
            if pending.len() > PENDING_BYTES_MAX {
                self.broken.set(true);
                self.signal.raise();
                return;
            }
        }
        if !self.queued.replace(true) {
            batch.dirty.borrow_mut().push(self.clone());
            batch.signal.raise();
        }
    }

    pub fn send_one(self: &Rc<Self>, packet: Packet) {
        self.send(std::slice::from_ref(&packet));
    }

    /// Sends at once, after what is pending.
    fn send_now(&self, packets: &[Packet]) {
        ENCODE_BUF.with_borrow_mut(|buf| {
            buf.clear();
            encode(self.version.get(), packets, buf);
            match &self.tls {
                None => self.write(buf),
                Some(tls) => {
                    let mut sealed = BytesMut::new();
                    match tls.seal(buf, &mut sealed) {
                        Ok(()) => self.write(&sealed),
                        Err(_) => self.broken.set(true),
                    }
                }
            }
        });
    }

    /// The TLS session, on `listen.mqtts`.
    pub fn tls(&self) -> Option<&TlsSession> {
        self.tls.as_deref()
    }

    /// Sends TLS records the session answered a read with (alerts, key updates), after what
    /// is pending.
    pub fn send_records(&self, records: &[u8]) {
        if !records.is_empty() && !self.closed.get() {
            self.write(records);
        }
    }

    /// Sends what `pending` holds: from the flusher, when the socket is writable, and before
    /// the connection closes. What the kernel does not take wakes the connection task to
    /// wait for the socket.
    pub fn flush(&self) {
        if self.closed.get() {
            return;
        }
        let mut pending = self.pending.borrow_mut();
        if pending.is_empty() {
            return;
        }
        match send_some(self.fd, &pending) {
            Ok(n) => {
                pending.advance(n);
                if pending.is_empty() {
                    // Give the memory back: a drained connection holds no buffer.
                    *pending = BytesMut::new();
                } else {
                    self.signal.raise();
                }
            }
            Err(_) => {
                self.broken.set(true);
                self.signal.raise();
            }
        }
    }

    /// Sends what is left and forgets the descriptor, before the socket is closed.
    pub fn close(&self) {
        self.flush();
        self.closed.set(true);
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

fn encode(version: ProtocolVersion, packets: &[Packet], out: &mut BytesMut) {
    for packet in packets {
        if let Err(e) = packet.encode(version, out) {
            tracing::debug!(error = %e, "packet not sent");
        }
    }
}

/// One non-blocking `send`: bytes taken (0 when the socket is full), or why it failed.
pub fn send_some(fd: RawFd, bytes: &[u8]) -> std::io::Result<usize> {
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

/// The DISCONNECT a v5 client gets before the server closes; 3.1.1 has none.
pub fn disconnect(version: ProtocolVersion, reason: ReasonCode) -> Option<Packet> {
    (version == ProtocolVersion::V5).then(|| {
        Packet::Disconnect(shardhub_net::mqtt::Disconnect {
            reason_code: reason,
            properties: Default::default(),
        })
    })
}
