//! The one error type of the harness. A benchmark that hits any of these stops and says why:
//! a figure measured over a half-broken run would be worse than no figure.

use std::io;
use std::net::SocketAddr;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("bad argument: {0}")]
    Usage(String),

    #[error("cannot resolve {addr}: {source}")]
    Resolve { addr: String, source: io::Error },

    #[error("cannot connect to {addr}: {source}")]
    Connect { addr: SocketAddr, source: io::Error },

    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: io::Error },

    #[error("I/O error on a connection to {addr}: {source}")]
    Io { addr: SocketAddr, source: io::Error },

    /// The server hung up while replies were still owed: the run is not comparable with a
    /// complete one, so it is reported instead of silently counted as fewer requests.
    #[error("server {addr} closed a connection unexpectedly with {replies_pending} replies pending")]
    ServerClosed { addr: SocketAddr, replies_pending: usize },

    #[error("server {addr} sent bytes that are not RESP: {message}")]
    Protocol { addr: SocketAddr, message: String },

    /// Bytes that are not an HTTP/1.1 response this harness can read (the wallet loads).
    #[error("server {addr} sent a bad HTTP response: {message}")]
    Http { addr: SocketAddr, message: String },

    /// The wallet's secure channel failed on the client's side: S_B did not match, or an
    /// answer record did not open.
    #[error("secure channel with {addr}: {message}")]
    SecureChannel { addr: SocketAddr, message: String },

    /// shardhub-crypto refused one of the bench's own fixed wallet operations (`wallet
    /// --transport raw`, or the bench's set-up of its inputs).
    #[error("wallet operation failed in-process: {0}")]
    Crypto(String),

    /// A reply of the wrong shape for the command that was sent (for example a bulk string
    /// where `MESH PING` must answer an integer).
    #[error("unexpected reply from {addr}: {reply}")]
    UnexpectedReply { addr: SocketAddr, reply: String },

    #[error("cannot read CPU time of process {pid}: {message}")]
    ProcessCpu { pid: u32, message: String },

    #[error("cannot start a runtime thread: {0}")]
    Runtime(io::Error),

    /// No request was handed out for this long: the server stopped answering.
    #[error("no progress for {0:?}: the server stopped answering")]
    Stalled(std::time::Duration),

    #[error("a worker thread panicked")]
    WorkerPanicked,

    /// The server's counts disagree with themselves or with what the bench was handed: the
    /// figures of such a run describe a broken server.
    #[error("audit failed: {failed} of {checks} checks (see the FAIL lines)")]
    AuditFailed { failed: usize, checks: usize },
}

impl BenchError {
    /// Shows a reply for an error message: lossy UTF-8, the final CRLF dropped, inner CR and
    /// LF made visible, cut to a line.
    pub fn reply_text(reply: &[u8]) -> String {
        const SHOWN_BYTES_MAX: usize = 200;
        let reply = reply.strip_suffix(b"\r\n").unwrap_or(reply);
        let shown = &reply[..reply.len().min(SHOWN_BYTES_MAX)];
        String::from_utf8_lossy(shown).replace('\r', "\\r").replace('\n', "\\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_text_is_one_readable_line() {
        assert_eq!(BenchError::reply_text(b"-ERR x\r\n"), "-ERR x");
        assert_eq!(BenchError::reply_text(b"$1\r\na\r\n"), "$1\\r\\na");
        assert_eq!(BenchError::reply_text(&[b'a'; 300]).len(), 200);
    }
}
