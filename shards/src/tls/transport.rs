//! A client connection's bytes, plain or TLS, behind the two calls the RESP and HTTP drivers
//! make: append what arrives to a buffer, write a buffer out.
//!
//! TLS reads are readiness-style: the task waits for the socket with no buffer of its own,
//! then `recv`s into the shard's scratch and hands the bytes to rustls, so a connection
//! waiting for its next request pins no read buffer beyond rustls's own (a 4 KiB deframer).
//! Writes are encrypted by rustls and the records sent before the call returns.

use std::cell::RefCell;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::sync::Arc;

use bytes::BytesMut;
use monoio::buf::IoBuf;
use monoio::io::AsyncWriteRentExt;
use monoio::net::TcpStream;
use rustls::{ServerConfig, ServerConnection};

use super::session::{drain_plaintext, TlsSession};
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
    tls: ServerConnection,
    /// Application data that arrived with the client's last handshake flight (a TLS 1.3
    /// client may send its first request right behind its Finished): the first read returns
    /// it. Empty (no allocation) otherwise.
    early: BytesMut,
}

fn invalid(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl TlsStream {
    /// Runs the server side of the handshake. The caller bounds it in time.
    pub async fn accept(tcp: TcpStream, config: Arc<ServerConfig>) -> io::Result<TlsStream> {
        let tls = ServerConnection::new(config).map_err(invalid)?;
        let mut s = TlsStream {
            tcp,
            tls,
            early: BytesMut::new(),
        };
        let mut early = BytesMut::new();
        while s.tls.is_handshaking() {
            s.flush().await?;
            if s.tls.is_handshaking() && s.receive(&mut early).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        // TLS 1.3 session tickets, or the last flight of a 1.2 handshake.
        s.flush().await?;
        s.early = early;
        Ok(s)
    }

    /// The ALPN protocol the handshake agreed, if any.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.tls.alpn_protocol()
    }

    /// For drivers that do their own socket I/O: the socket, the session, and any
    /// application data that came with the handshake.
    pub fn into_parts(self) -> (TcpStream, TlsSession, BytesMut) {
        (self.tcp, TlsSession::new(self.tls), self.early)
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

    /// Waits for the socket, feeds one `recv` to rustls and appends the plaintext to `buf`.
    /// Returns the plaintext bytes, 0 at the end of the stream (clean or not), or
    /// `usize::MAX` when the bytes carried no application data.
    async fn receive(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        loop {
            self.tcp.readable(false).await?;
            let fd = self.tcp.as_raw_fd();
            let tls = &mut self.tls;
            let got = SCRATCH.with_borrow_mut(|scratch| -> io::Result<Option<(usize, bool)>> {
                let Some(n) = recv_some(fd, scratch)? else {
                    return Ok(None);
                };
                if n == 0 {
                    return Ok(Some((0, true)));
                }
                let mut ciphertext = &scratch[..n];
                let mut plain = 0;
                let mut closed = false;
                // rustls takes at most what its buffers hold: feed, decrypt, drain, repeat.
                while !ciphertext.is_empty() {
                    tls.read_tls(&mut ciphertext)?;
                    if let Err(e) = tls.process_new_packets() {
                        return Err(invalid(e));
                    }
                    let (taken, end) = drain_plaintext(tls, buf)?;
                    plain += taken;
                    closed |= end;
                }
                Ok(Some((plain, closed)))
            });
            let got = match got {
                Ok(got) => got,
                Err(e) => {
                    // rustls queued an alert that says why: send it before the close.
                    let _ = self.flush().await;
                    return Err(e);
                }
            };
            // Whatever rustls wants to answer (handshake flights, key updates) goes now.
            self.flush().await?;
            match got {
                None => continue,
                Some((0, true)) => return Ok(0),
                Some((0, false)) => return Ok(usize::MAX),
                Some((n, _)) => return Ok(n),
            }
        }
    }

    async fn write_all<T: IoBuf>(&mut self, buf: T) -> (io::Result<usize>, T) {
        // SAFETY: `IoBuf` promises `bytes_init` initialised bytes at `read_ptr`, alive as long
        // as `buf`, which outlives this borrow.
        let plain = unsafe { std::slice::from_raw_parts(buf.read_ptr(), buf.bytes_init()) };
        let mut at = 0;
        while at < plain.len() {
            // rustls encrypts up to its buffer limit (64 KiB) per call: send, then go on.
            match self.tls.writer().write(&plain[at..]) {
                Ok(n) => at += n,
                Err(e) => return (Err(e), buf),
            }
            if let Err(e) = self.flush().await {
                return (Err(e), buf);
            }
        }
        (Ok(plain.len()), buf)
    }

    /// Sends every record rustls has ready.
    async fn flush(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            let mut records = Vec::new();
            while self.tls.wants_write() {
                self.tls.write_tls(&mut records)?;
            }
            let (result, _) = self.tcp.write_all(records).await;
            result?;
        }
        Ok(())
    }
}
