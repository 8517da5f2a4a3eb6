//! One client connection that sends a batch of requests and reads back as many replies.
//!
//! Requests are framed by the caller with `shardhub_net::resp` encoders into [`write_buf`],
//! replies are framed with `shardhub_net::resp::reply_len`: the harness speaks the protocol
//! through the same codecs as the server (see DESIGN.md, `bench -> net`). Both buffers are
//! reused for the whole run.
//!
//! [`write_buf`]: ClientConnection::write_buf

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Instant;

use bytes::{Buf, BytesMut};
use shardhub_net::resp::reply_len;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::error::BenchError;

/// Bytes the read buffer grows by when it runs low. Large enough that a pipeline of small
/// replies arrives in one read, small enough that thousands of connections stay cheap.
const READ_CHUNK_BYTES: usize = 16 * 1024;

pub struct ClientConnection {
    addr: SocketAddr,
    stream: TcpStream,
    read_buf: BytesMut,
    write_buf: BytesMut,
}

impl ClientConnection {
    /// Resolves `addr` once, before the run, so that name lookups never land in a timing.
    pub fn resolve(addr: &str) -> Result<SocketAddr, BenchError> {
        let resolve_error = |source| BenchError::Resolve {
            addr: addr.to_string(),
            source,
        };
        addr.to_socket_addrs()
            .map_err(resolve_error)?
            .next()
            .ok_or_else(|| resolve_error(std::io::ErrorKind::NotFound.into()))
    }

    pub async fn connect(addr: SocketAddr) -> Result<Self, BenchError> {
        let stream = connect_nodelay(addr).await?;
        Ok(Self {
            addr,
            stream,
            read_buf: BytesMut::with_capacity(READ_CHUNK_BYTES),
            write_buf: BytesMut::with_capacity(READ_CHUNK_BYTES),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where the caller appends the requests of the next batch.
    pub fn write_buf(&mut self) -> &mut BytesMut {
        &mut self.write_buf
    }

    /// Sends the batch in the write buffer, then reads exactly `replies` replies, calling
    /// `on_reply(reply, arrived_at)` for each. All replies that came in one read share the
    /// read's arrival time: one clock read per read, not per reply.
    pub async fn round_trip<F>(&mut self, replies: usize, mut on_reply: F) -> Result<(), BenchError>
    where
        F: FnMut(&[u8], Instant),
    {
        let addr = self.addr;
        let io_error = |source| BenchError::Io { addr, source };
        self.stream.write_all(&self.write_buf).await.map_err(io_error)?;
        self.write_buf.clear();

        let mut pending = replies;
        while pending > 0 {
            if self.read_buf.capacity() - self.read_buf.len() < READ_CHUNK_BYTES / 4 {
                self.read_buf.reserve(READ_CHUNK_BYTES);
            }
            let read = self.stream.read_buf(&mut self.read_buf).await.map_err(io_error)?;
            if read == 0 {
                return Err(BenchError::ServerClosed {
                    addr,
                    replies_pending: pending,
                });
            }
            let arrived_at = Instant::now();
            let mut consumed = 0;
            while pending > 0 {
                let rest = &self.read_buf[consumed..];
                match reply_len(rest) {
                    Ok(Some(len)) => {
                        on_reply(&rest[..len], arrived_at);
                        consumed += len;
                        pending -= 1;
                    }
                    Ok(None) => break,
                    Err(e) => {
                        return Err(BenchError::Protocol {
                            addr,
                            message: format!("{e:?} in {}", BenchError::reply_text(rest)),
                        })
                    }
                }
            }
            self.read_buf.advance(consumed);
        }
        // More bytes than replies owed: the server answered something it was not asked, and
        // every later reply would be matched to the wrong request.
        if !self.read_buf.is_empty() {
            return Err(BenchError::UnexpectedReply {
                addr,
                reply: format!("extra bytes {}", BenchError::reply_text(&self.read_buf)),
            });
        }
        Ok(())
    }
}

/// A TCP connection to `addr` with Nagle off: the loads write each batch or request whole,
/// and Nagle would only hold its tail back.
pub async fn connect_nodelay(addr: SocketAddr) -> Result<TcpStream, BenchError> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|source| BenchError::Connect { addr, source })?;
    stream
        .set_nodelay(true)
        .map_err(|source| BenchError::Io { addr, source })?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_resp2_and_resp3_replies() {
        assert_eq!(reply_len(b"+OK\r\n:1").unwrap(), Some(5));
        assert_eq!(reply_len(b"$3\r\nab").unwrap(), None);
        assert_eq!(reply_len(b"_\r\n").unwrap(), Some(3));
    }

    #[test]
    fn frames_resp2_nulls_with_net_codec() {
        assert_eq!(reply_len(b"$-1\r\n$1\r\nv\r\n").unwrap(), Some(5));
        assert_eq!(reply_len(b"*-1\r\n").unwrap(), Some(5));
        let mget = b"*2\r\n$-1\r\n$1\r\nv\r\n";
        assert_eq!(reply_len(mget).unwrap(), Some(mget.len()));
        assert_eq!(reply_len(&mget[..8]).unwrap(), None);
        assert_eq!(reply_len(b"$-1\r").unwrap(), None);
    }

    #[test]
    fn rejects_garbage() {
        assert!(reply_len(b"?what\r\n").is_err());
    }
}
