//! A TLS session after its handshake, for drivers that do their own socket I/O (MQTT's
//! readiness-style reads and batched writes): ciphertext in, plaintext out, and back. No
//! buffers of its own beyond rustls's: records to send are appended to the caller's.

use std::cell::RefCell;
use std::io::{self, BufRead, Write};

use bytes::{BufMut, BytesMut};
use rustls::ServerConnection;

pub struct TlsSession {
    conn: RefCell<ServerConnection>,
}

/// What one `open` found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Opened {
    /// Plaintext bytes appended.
    pub plaintext: usize,
    /// The peer ended the session (close_notify).
    pub closed: bool,
}

impl TlsSession {
    pub fn new(conn: ServerConnection) -> TlsSession {
        TlsSession {
            conn: RefCell::new(conn),
        }
    }

    /// Whether the handshake is still going on.
    pub fn is_handshaking(&self) -> bool {
        self.conn.borrow().is_handshaking()
    }

    /// Decrypts `ciphertext` (what one `recv` got), appending the plaintext to `plain` and
    /// any records the session answers with (alerts, key updates) to `records`. A bad
    /// record is an error, with its alert in `records`.
    pub fn open(&self, mut ciphertext: &[u8], plain: &mut BytesMut, records: &mut BytesMut) -> io::Result<Opened> {
        let mut conn = self.conn.borrow_mut();
        let mut opened = Opened::default();
        // rustls takes at most what its buffers hold: feed, decrypt, drain, repeat.
        while !ciphertext.is_empty() {
            conn.read_tls(&mut ciphertext)?;
            let processed = conn.process_new_packets();
            drain_records(&mut conn, records)?;
            processed.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let (moved, closed) = drain_plaintext(&mut conn, plain)?;
            opened.plaintext += moved;
            opened.closed |= closed;
        }
        Ok(opened)
    }

    /// Encrypts `plain`, appending its records to `records`.
    pub fn seal(&self, mut plain: &[u8], records: &mut BytesMut) -> io::Result<()> {
        let mut conn = self.conn.borrow_mut();
        while !plain.is_empty() {
            // rustls encrypts up to its buffer limit per call; drained at once, it never fills.
            let n = conn.writer().write(plain)?;
            plain = &plain[n..];
            drain_records(&mut conn, records)?;
        }
        Ok(())
    }
}

/// Moves every record rustls has ready to `records`.
fn drain_records(conn: &mut ServerConnection, records: &mut BytesMut) -> io::Result<()> {
    let mut out = records.writer();
    while conn.wants_write() {
        conn.write_tls(&mut out)?;
    }
    Ok(())
}

/// Moves the plaintext rustls holds to `buf`. Returns the bytes moved and whether the peer
/// closed the session (a close_notify, or a TCP end without one).
fn drain_plaintext(conn: &mut ServerConnection, buf: &mut BytesMut) -> io::Result<(usize, bool)> {
    let mut moved = 0;
    loop {
        let mut reader = conn.reader();
        match reader.fill_buf() {
            Ok([]) => return Ok((moved, true)),
            Ok(chunk) => {
                let n = chunk.len();
                buf.extend_from_slice(chunk);
                reader.consume(n);
                moved += n;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok((moved, false)),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok((moved, true)),
            Err(e) => return Err(e),
        }
    }
}
