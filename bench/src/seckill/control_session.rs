//! A connection for the commands around a measured run (stock setup before it, the audit
//! after it), one command at a time on a runtime of its own, so that none of it is timed or
//! shares a runtime with the load.

use std::net::SocketAddr;

use shardhub_net::resp::encode_request;
use tokio::runtime::Runtime;

use crate::common::client_connection::ClientConnection;
use crate::common::error::BenchError;

pub struct ControlSession {
    runtime: Runtime,
    conn: ClientConnection,
}

impl ControlSession {
    pub fn open(addr: SocketAddr) -> Result<Self, BenchError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(BenchError::Runtime)?;
        let conn = runtime.block_on(ClientConnection::connect(addr))?;
        Ok(Self { runtime, conn })
    }

    pub fn addr(&self) -> SocketAddr {
        self.conn.addr()
    }

    /// Sends one command and returns its complete reply frame.
    pub fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Vec<u8>, BenchError> {
        encode_request(args, self.conn.write_buf());
        let mut answer = Vec::new();
        self.runtime.block_on(self.conn.round_trip(1, |reply, _| {
            answer.extend_from_slice(reply);
        }))?;
        Ok(answer)
    }

    /// Sends one command that must answer `+OK`.
    pub fn call_ok<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<(), BenchError> {
        let reply = self.call(args)?;
        if reply == b"+OK\r\n" {
            Ok(())
        } else {
            Err(self.unexpected(args, &reply))
        }
    }

    /// The error for a reply of the wrong shape, naming the command that got it.
    pub fn unexpected<A: AsRef<[u8]>>(&self, args: &[A], reply: &[u8]) -> BenchError {
        let command: Vec<_> = args.iter().map(|a| String::from_utf8_lossy(a.as_ref())).collect();
        BenchError::UnexpectedReply {
            addr: self.addr(),
            reply: format!("{}: {}", command.join(" "), BenchError::reply_text(reply)),
        }
    }
}
