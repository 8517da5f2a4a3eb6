//! The payments consumer's way to the flash-sale owners: a RESP connection to this server, as
//! any client's. Its ORDER.PAYMENTs take the same route, admission and durability wait as a
//! client's ORDER.PAY, and each reply comes only once the owner's log holds the result.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::BytesMut;
use shardhub_net::resp::encode_request;

/// How long one batch's replies may take before the link is dropped and the batch retried.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

pub struct OwnerLink {
    addr: SocketAddr,
    conn: Option<(TcpStream, BufReader<TcpStream>)>,
    out: BytesMut,
}

/// One ORDER.PAYMENT.
pub struct PaymentCommand<'a> {
    pub order: String,
    pub payment_id: &'a str,
    pub succeeded: bool,
    pub amount: u64,
}

impl OwnerLink {
    pub fn new(addr: SocketAddr) -> OwnerLink {
        OwnerLink {
            addr,
            conn: None,
            out: BytesMut::new(),
        }
    }

    /// Sends the commands pipelined and returns each reply line (`+PAID`, `-BUSY ...`), in
    /// order. An I/O error drops the connection; the next call opens a new one.
    pub fn send(&mut self, commands: &[PaymentCommand<'_>]) -> io::Result<Vec<String>> {
        let result = self.exchange(commands);
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    fn exchange(&mut self, commands: &[PaymentCommand<'_>]) -> io::Result<Vec<String>> {
        if self.conn.is_none() {
            let stream = TcpStream::connect_timeout(&self.addr, REPLY_TIMEOUT)?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
            self.conn = Some((stream.try_clone()?, BufReader::new(stream)));
        }
        let (stream, reader) = self.conn.as_mut().expect("connected above");
        self.out.clear();
        for c in commands {
            let status = if c.succeeded { "succeeded" } else { "failed" };
            let amount = c.amount.to_string();
            encode_request(
                &["ORDER.PAYMENT", &c.order, c.payment_id, status, &amount],
                &mut self.out,
            );
        }
        stream.write_all(&self.out)?;
        let mut replies = Vec::with_capacity(commands.len());
        let mut line = String::new();
        for _ in commands {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            replies.push(line.trim_end().to_string());
        }
        Ok(replies)
    }
}

/// Whether a reply means "try again later" rather than "this event is wrong".
pub fn is_transient(reply: &str) -> bool {
    reply.starts_with("-BUSY")
        || reply.starts_with("-ERR seckill log")
        || reply.starts_with("-ERR server is shutting down")
}
