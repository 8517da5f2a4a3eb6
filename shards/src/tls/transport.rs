//! A client connection's bytes, plain or TLS, behind the two calls the RESP and HTTP drivers
//! make: append what arrives to a buffer, write a buffer out.
//!
//! TLS reads are readiness-style: the task waits for the socket with no buffer of its own,
//! then `recv`s into the shard's scratch and hands the bytes to rustls, so a connection
//! waiting for its next request pins no read buffer beyond rustls's own (a 4 KiB deframer).
//! Writes are encrypted by rustls and the records sent before the call returns.

use std::cell::RefCell;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use bytes::BytesMut;
use monoio::buf::IoBuf;
use monoio::io::AsyncWriteRentExt;
use monoio::net::TcpStream;
use rustls::{ServerConfig, ServerConnection};

use super::session::{Opened, TlsSession};
use crate::runtime::read_buf::{read_append, recv_some};

/// Ciphertext one `recv` takes: a full record (16 KiB of plaintext plus its overhead).
const TLS_READ_BYTES: usize = 16 * 1024 + 512;

thread_local! {
    /// Where a shard's TLS connections receive ciphertext before rustls takes it.
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; TLS_READ_BYTES].into_boxed_slice());
}

pub enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

impl Transport {
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Transport::Plain(tcp) => tcp,
            Transport::Tls(tls) => &tls.tcp,
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, Transport::Tls(_))
    }

    /// Appends what arrives to `buf`; `Ok(0)` at the end of the stream. A plain read fills
    /// only `buf`'s spare capacity (reserve first); a TLS read appends one `recv`'s plaintext.
    pub async fn read_append(&mut self, buf: BytesMut) -> (io::Result<usize>, BytesMut) {
        match self {
            Transport::Plain(tcp) => read_append(tcp, buf).await,
            Transport::Tls(tls) => tls.read_append(buf).await,
        }
    }

    /// Writes all of `buf`.
    pub async fn write_all<T: IoBuf>(&mut self, buf: T) -> (io::Result<usize>, T) {
        match self {
            Transport::Plain(tcp) => tcp.write_all(buf).await,
            Transport::Tls(tls) => tls.write_all(buf).await,
        }
    }
}

pub struct TlsStream {
    tcp: TcpStream,
    session: TlsSession,
    /// Application data that arrived with the client's last handshake flight (a TLS 1.3
    /// client may send its first request right behind its Finished): the first read returns
    /// it. Empty (no allocation) otherwise.
    early: BytesMut,
}

impl TlsStream {
    /// Runs the server side of the handshake. The caller bounds it in time.
    pub async fn accept(tcp: TcpStream, config: Arc<ServerConfig>) -> io::Result<TlsStream> {
        let conn = ServerConnection::new(config).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let mut s = TlsStream {
            tcp,
            session: TlsSession::new(conn),
            early: BytesMut::new(),
        };
        let mut early = BytesMut::new();
        // Each flight the client sends is answered inside `receive`, the session tickets of
        // TLS 1.3 with the last one.
        while s.session.is_handshaking() {
            if s.receive(&mut early).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        s.early = early;
        Ok(s)
    }

    /// For drivers that do their own socket I/O: the socket, the session, and any
    /// application data that came with the handshake.
    pub fn into_parts(self) -> (TcpStream, TlsSession, BytesMut) {
        (self.tcp, self.session, self.early)
    }

    async fn read_append(&mut self, mut buf: BytesMut) -> (io::Result<usize>, BytesMut) {
        if !self.early.is_empty() {
            let early = std::mem::take(&mut self.early);
            buf.extend_from_slice(&early);
            return (Ok(early.len()), buf);
        }
        loop {
            match self.receive(&mut buf).await {
                Ok(0) => return (Ok(0), buf),
                // Only handshake or alert records arrived: wait for more.
                Ok(usize::MAX) => continue,
                Ok(n) => return (Ok(n), buf),
                Err(e) => return (Err(e), buf),
            }
        }
    }

    /// Waits for the socket, opens one `recv`'s records and appends the plaintext to `buf`;
    /// what the session answers goes out before this returns. Returns the plaintext bytes,
    /// 0 at the end of the stream (clean or not), or `usize::MAX` when the bytes carried no
    /// application data.
    async fn receive(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        loop {
            self.tcp.readable(false).await?;
            let fd = self.tcp.as_raw_fd();
            let mut records = BytesMut::new();
            let session = &self.session;
            let got = SCRATCH.with_borrow_mut(|scratch| -> io::Result<Option<Opened>> {
                match recv_some(fd, scratch)? {
                    None => Ok(None),
                    Some(0) => Ok(Some(Opened {
                        plaintext: 0,
                        closed: true,
                    })),
                    Some(n) => session.open(&scratch[..n], buf, &mut records).map(Some),
                }
            });
            // Handshake flights, key updates, or the alert that says why the records were bad.
            if !records.is_empty() {
                let (sent, _) = self.tcp.write_all(records).await;
                if got.is_ok() {
                    sent?;
                }
            }
            match got? {
                None => continue,
                Some(o) if o.plaintext > 0 => return Ok(o.plaintext),
                Some(o) if o.closed => return Ok(0),
                Some(_) => return Ok(usize::MAX),
            }
        }
    }

    async fn write_all<T: IoBuf>(&mut self, buf: T) -> (io::Result<usize>, T) {
        // SAFETY: `IoBuf` promises `bytes_init` initialised bytes at `read_ptr`, alive as long
        // as `buf`, which outlives this borrow.
        let plain = unsafe { std::slice::from_raw_parts(buf.read_ptr(), buf.bytes_init()) };
        let mut records = BytesMut::new();
        if let Err(e) = self.session.seal(plain, &mut records) {
            return (Err(e), buf);
        }
        let len = plain.len();
        let (sent, _) = self.tcp.write_all(records).await;
        (sent.map(|_| len), buf)
    }
}
