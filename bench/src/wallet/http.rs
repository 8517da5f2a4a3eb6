//! A minimal HTTP/1.1 keep-alive client for the wallet loads: one request in flight per
//! connection, answers framed by Content-Length (shardhub sends it on every answer).
//!
//! Why not an HTTP client crate: the bench shares two cores with the server it measures, and
//! all it needs is "write a request, read the head, read Content-Length bytes" on one
//! connection. Chunked answers, read-until-close bodies and redirects are refused as
//! protocol errors rather than half supported: shardhub never sends them.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::client_connection::connect_nodelay;
use crate::common::error::BenchError;
use crate::wallet::client_wait::ClientWait;

/// Largest response head read; shardhub's are about 100 bytes.
const HEAD_BYTES_MAX: usize = 16 * 1024;
/// Largest response body read; a signed transaction is a few hundred bytes.
const BODY_BYTES_MAX: usize = 1024 * 1024;
/// Bytes asked of the socket per read.
const READ_CHUNK_BYTES: usize = 4096;

/// What the head of a response says about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    /// Bytes of the head, up to and including the blank line.
    pub head_len: usize,
    pub content_length: usize,
    /// The server closes the connection after this response.
    pub close: bool,
}

impl ResponseHead {
    /// Bytes of the whole response: head and body.
    pub fn total_len(&self) -> usize {
        self.head_len + self.content_length
    }
}

/// Reads a response head off the front of `buf`: `Ok(None)` if the blank line that ends it
/// has not arrived yet.
pub fn parse_response_head(buf: &[u8]) -> Result<Option<ResponseHead>, String> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > HEAD_BYTES_MAX {
            return Err(format!("no end of the response head in {HEAD_BYTES_MAX} bytes"));
        }
        return Ok(None);
    };
    let head_len = end + 4;
    if head_len > HEAD_BYTES_MAX {
        return Err(format!("response head of {head_len} bytes (at most {HEAD_BYTES_MAX})"));
    }
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| "response head is not UTF-8".to_string())?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let (version, rest) = status_line
        .split_once(' ')
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut close = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err(format!("bad status line {status_line:?}")),
    };
    let code = rest.split(' ').next().unwrap_or("");
    let status = match code.parse::<u16>() {
        Ok(status) if code.len() == 3 && (100..=599).contains(&status) => status,
        _ => return Err(format!("bad status line {status_line:?}")),
    };
    let mut content_length = None;
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("bad header line {line:?}"))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let n: usize = value.parse().map_err(|_| format!("bad content-length {value:?}"))?;
            if content_length.is_some_and(|previous| previous != n) {
                return Err("two different content-length headers".to_string());
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(format!("transfer-encoding {value:?} is not supported"));
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    close = true;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    close = false;
                }
            }
        }
    }
    let bodiless = matches!(status, 100..=199 | 204 | 304);
    let content_length = match content_length {
        Some(n) if bodiless && n != 0 => return Err(format!("a {status} answer with content-length {n}")),
        Some(n) => n,
        None if bodiless => 0,
        None => return Err(format!("a {status} answer without content-length")),
    };
    if content_length > BODY_BYTES_MAX {
        return Err(format!("body of {content_length} bytes (at most {BODY_BYTES_MAX})"));
    }
    Ok(Some(ResponseHead {
        status,
        head_len,
        content_length,
        close,
    }))
}

/// A response: its status and its body, borrowed from the client's read buffer until the
/// next request.
#[derive(Debug)]
pub struct HttpAnswer<'a> {
    pub status: u16,
    pub body: &'a [u8],
}

/// One keep-alive connection. Its buffers are reused from request to request.
pub struct HttpClient {
    addr: SocketAddr,
    stream: TcpStream,
    out: Vec<u8>,
    input: Vec<u8>,
    /// Bytes at the front of `input` that belong to the last answer handed out.
    consumed: usize,
    /// The last answer said `connection: close`.
    closing: bool,
    wait: ClientWait,
}

impl HttpClient {
    pub async fn connect(addr: SocketAddr, wait: ClientWait) -> Result<HttpClient, BenchError> {
        let stream = connect_nodelay(addr).await?;
        Ok(HttpClient {
            addr,
            stream,
            out: Vec::with_capacity(1024),
            input: Vec::with_capacity(READ_CHUNK_BYTES),
            consumed: 0,
            closing: false,
            wait,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends one request and reads its whole answer. `body`, if any, is sent as JSON.
    pub async fn call(
        &mut self,
        method: &str,
        target: &str,
        bearer: Option<&str>,
        body: Option<&[u8]>,
    ) -> Result<HttpAnswer<'_>, BenchError> {
        let addr = self.addr;
        if self.closing {
            return Err(BenchError::Http {
                addr,
                message: "the server ended the keep-alive connection (its last answer said `connection: close`; \
                          is it shutting down?)"
                    .to_string(),
            });
        }
        self.input.drain(..self.consumed);
        self.consumed = 0;
        write_request(&mut self.out, method, target, addr, bearer, body);
        self.stream
            .write_all(&self.out)
            .await
            .map_err(|source| BenchError::Io { addr, source })?;
        let head = loop {
            let parsed = parse_response_head(&self.input).map_err(|message| BenchError::Http { addr, message })?;
            if let Some(head) = parsed {
                break head;
            }
            self.read_more().await?;
        };
        while self.input.len() < head.total_len() {
            self.read_more().await?;
        }
        self.consumed = head.total_len();
        self.closing = head.close;
        Ok(HttpAnswer {
            status: head.status,
            body: &self.input[head.head_len..head.total_len()],
        })
    }

    async fn read_more(&mut self) -> Result<(), BenchError> {
        let addr = self.addr;
        self.input.reserve(READ_CHUNK_BYTES);
        let n = match self.wait {
            ClientWait::Sleep => self.stream.read_buf(&mut self.input).await,
            ClientWait::Spin => loop {
                match self.stream.try_read_buf(&mut self.input) {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => tokio::task::yield_now().await,
                    read => break read,
                }
            },
        }
        .map_err(|source| BenchError::Io { addr, source })?;
        if n == 0 {
            return Err(BenchError::ServerClosed {
                addr,
                replies_pending: 1,
            });
        }
        Ok(())
    }
}

/// Writes a request into `out` (cleared first).
fn write_request(
    out: &mut Vec<u8>,
    method: &str,
    target: &str,
    host: SocketAddr,
    bearer: Option<&str>,
    body: Option<&[u8]>,
) {
    use std::io::Write as _;
    out.clear();
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{method} {target} HTTP/1.1\r\nhost: {host}\r\n");
    if let Some(key) = bearer {
        let _ = write!(out, "authorization: Bearer {key}\r\n");
    }
    match body {
        Some(body) => {
            let _ = write!(
                out,
                "content-type: application/json\r\ncontent-length: {}\r\n\r\n",
                body.len()
            );
            out.extend_from_slice(body);
        }
        None => out.extend_from_slice(b"\r\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 7\r\nconnection: keep-alive\r\n\r\n{\"a\":1}";

    #[test]
    fn parses_a_whole_response() {
        let head = parse_response_head(OK).unwrap().unwrap();
        assert_eq!(
            head,
            ResponseHead {
                status: 200,
                head_len: OK.len() - 7,
                content_length: 7,
                close: false,
            }
        );
        assert_eq!(head.total_len(), OK.len());
        assert_eq!(&OK[head.head_len..head.total_len()], b"{\"a\":1}");
    }

    #[test]
    fn waits_for_the_end_of_the_head_at_any_cut() {
        let head_len = OK.len() - 7;
        for cut in 0..head_len {
            assert_eq!(parse_response_head(&OK[..cut]), Ok(None), "cut at {cut}");
        }
        // The head is complete even while the body is still on its way.
        assert!(parse_response_head(&OK[..head_len]).unwrap().is_some());
    }

    #[test]
    fn headers_are_case_insensitive_and_close_is_seen() {
        let text = b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\nConnection: Close\r\n\r\n{}";
        let head = parse_response_head(text).unwrap().unwrap();
        assert_eq!((head.status, head.content_length, head.close), (404, 2, true));
        let old = b"HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert!(parse_response_head(old).unwrap().unwrap().close);
        let old_kept = b"HTTP/1.0 200 OK\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n";
        assert!(!parse_response_head(old_kept).unwrap().unwrap().close);
    }

    #[test]
    fn no_content_needs_no_length() {
        let head = parse_response_head(b"HTTP/1.1 204 No Content\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!((head.status, head.content_length), (204, 0));
        let with_zero = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(parse_response_head(with_zero).unwrap().unwrap().content_length, 0);
        assert!(parse_response_head(b"HTTP/1.1 204 No Content\r\ncontent-length: 3\r\n\r\n").is_err());
    }

    #[test]
    fn refuses_what_it_cannot_frame() {
        let refused: [&[u8]; 9] = [
            b"HTTP/1.1 200 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 99999999\r\n\r\n",
            b"HTTP/1.1 2000 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/2 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"-ERR not http\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        ];
        for text in refused {
            assert!(
                parse_response_head(text).is_err(),
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
        let same_twice = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(parse_response_head(same_twice).unwrap().unwrap().content_length, 2);
    }

    #[test]
    fn an_endless_head_is_refused() {
        let mut text = b"HTTP/1.1 200 OK\r\n".to_vec();
        text.resize(HEAD_BYTES_MAX + 1, b'a');
        assert!(parse_response_head(&text).is_err());
    }

    #[test]
    fn requests_carry_length_and_bearer() {
        let host: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let mut out = Vec::new();
        write_request(&mut out, "POST", "/v1/wallets", host, Some("k1"), Some(b"{}"));
        assert_eq!(
            out,
            b"POST /v1/wallets HTTP/1.1\r\nhost: 127.0.0.1:8080\r\nauthorization: Bearer k1\r\n\
              content-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
        );
        write_request(&mut out, "GET", "/x?y=1", host, None, None);
        assert_eq!(out, b"GET /x?y=1 HTTP/1.1\r\nhost: 127.0.0.1:8080\r\n\r\n");
    }
}
