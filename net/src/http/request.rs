//! Parsing one HTTP/1.1 request off the front of a buffer.

use bytes::{Bytes, BytesMut};

/// Bounds on one request.
#[derive(Clone, Copy, Debug)]
pub struct HttpLimits {
    pub head_bytes_max: usize,
    pub headers_max: usize,
    pub body_bytes_max: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            head_bytes_max: 16 * 1024,
            headers_max: 64,
            body_bytes_max: 1024 * 1024,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    /// The path without the query string.
    pub path: String,
    pub query: Option<String>,
    /// Whether the connection stays open after the response (HTTP/1.1 default).
    pub keep_alive: bool,
    /// The `Authorization` header's value, if any (the wallet API's bearer keys).
    pub authorization: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    pub head: RequestHead,
    pub body: Bytes,
}

/// A request that cannot be served; each maps to a status code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("request head larger than {0} bytes")]
    HeadTooLarge(usize),
    #[error("request body larger than {0} bytes")]
    BodyTooLarge(usize),
    #[error("chunked request bodies are not supported; send Content-Length")]
    ChunkedUnsupported,
}

impl HttpError {
    pub fn status(&self) -> super::Status {
        match self {
            HttpError::Malformed(_) => super::Status::BadRequest,
            HttpError::HeadTooLarge(_) => super::Status::HeaderFieldsTooLarge,
            HttpError::BodyTooLarge(_) => super::Status::PayloadTooLarge,
            HttpError::ChunkedUnsupported => super::Status::LengthRequired,
        }
    }
}

/// How far the request at the front of a buffer has come, for the timeouts of the head and
/// of the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Nothing of a request yet: the connection is idle.
    Idle,
    /// Part of a head.
    Head,
    /// A whole head, part of its body.
    Body,
}

/// Where the request at the front of `buf` stands (call it when [`parse`] wanted more).
pub fn progress(buf: &[u8], limits: &HttpLimits) -> Progress {
    if buf.is_empty() {
        return Progress::Idle;
    }
    let mut headers = vec![httparse::EMPTY_HEADER; limits.headers_max];
    match httparse::Request::new(&mut headers).parse(buf) {
        Ok(httparse::Status::Complete(_)) => Progress::Body,
        _ => Progress::Head,
    }
}

/// Takes one whole request off `buf`, or `Ok(None)` if more bytes are needed. What would let
/// two parsers read one stream differently is refused (RFC 9112 6.3): two different
/// `Content-Length`s, `Content-Length` with `Transfer-Encoding`, obsolete line folding.
pub fn parse(buf: &mut BytesMut, limits: &HttpLimits) -> Result<Option<HttpRequest>, HttpError> {
    let mut headers = vec![httparse::EMPTY_HEADER; limits.headers_max];
    let mut req = httparse::Request::new(&mut headers);
    // Only the first `head_bytes_max` bytes can hold a head: past them the answer is 431
    // whatever comes next, so it does not depend on how much has arrived (found by fuzzing:
    // a bad byte just past the bound made it 400 or 431 by how the stream was cut).
    let window = &buf[..buf.len().min(limits.head_bytes_max)];
    let head_len = match req.parse(window) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() > limits.head_bytes_max {
                return Err(HttpError::HeadTooLarge(limits.head_bytes_max));
            }
            return Ok(None);
        }
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::HeadTooLarge(limits.head_bytes_max)),
        Err(e) => return Err(HttpError::Malformed(e.to_string())),
    };
    debug_assert!(head_len <= limits.head_bytes_max, "the head came from the window");
    let mut content_length: Option<usize> = None;
    let mut chunked = false;
    let mut keep_alive = req.version == Some(1);
    let mut authorization = None;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let length = std::str::from_utf8(h.value)
                .ok()
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| HttpError::Malformed("invalid Content-Length".into()))?;
            if content_length.is_some_and(|seen| seen != length) {
                return Err(HttpError::Malformed("two different Content-Length headers".into()));
            }
            content_length = Some(length);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = true;
        } else if h.name.eq_ignore_ascii_case("authorization") {
            authorization = Some(String::from_utf8_lossy(h.value).into_owned());
        } else if h.name.eq_ignore_ascii_case("connection") {
            let v = String::from_utf8_lossy(h.value).to_ascii_lowercase();
            if v.contains("close") {
                keep_alive = false;
            } else if v.contains("keep-alive") {
                keep_alive = true;
            }
        }
    }
    if chunked && content_length.is_some() {
        return Err(HttpError::Malformed("Content-Length with Transfer-Encoding".into()));
    }
    if chunked {
        return Err(HttpError::ChunkedUnsupported);
    }
    let content_length = content_length.unwrap_or(0);
    if content_length > limits.body_bytes_max {
        return Err(HttpError::BodyTooLarge(limits.body_bytes_max));
    }
    let target = req.path.unwrap_or("/");
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (target.to_string(), None),
    };
    let head = RequestHead {
        method: req.method.unwrap_or("GET").to_string(),
        path,
        query,
        keep_alive,
        authorization,
    };
    if buf.len() < head_len + content_length {
        return Ok(None);
    }
    let _ = buf.split_to(head_len);
    let body = buf.split_to(content_length).freeze();
    Ok(Some(HttpRequest { head, body }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pipelined_requests_with_bodies() {
        let mut buf = BytesMut::from(
            &b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer k\r\n\r\nPOST /v HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc"[..],
        );
        let l = HttpLimits::default();
        let a = parse(&mut buf, &l).unwrap().unwrap();
        assert_eq!(
            (a.head.path.as_str(), a.head.query.as_deref(), a.head.keep_alive),
            ("/metrics", Some("x=1"), true)
        );
        assert_eq!(a.head.authorization.as_deref(), Some("Bearer k"));
        let b = parse(&mut buf, &l).unwrap().unwrap();
        assert_eq!(b.head.authorization, None);
        assert_eq!(
            (b.head.method.as_str(), &b.body[..], b.head.keep_alive),
            ("POST", &b"abc"[..], false)
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn refuses_what_two_parsers_could_read_differently() {
        let l = HttpLimits::default();
        let malformed = |raw: &[u8]| {
            let mut buf = BytesMut::from(raw);
            matches!(parse(&mut buf, &l), Err(HttpError::Malformed(_)))
        };
        assert!(malformed(
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"
        ));
        assert!(malformed(
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc"
        ));
        assert!(malformed(
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
        ));
        assert!(
            malformed(b"GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n"),
            "obsolete line folding"
        );
        assert!(malformed(b"POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc"));
        // The same length twice is one length.
        let mut buf = BytesMut::from(&b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc"[..]);
        assert_eq!(&parse(&mut buf, &l).unwrap().unwrap().body[..], b"abc");
        let mut buf = BytesMut::from(&b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"[..]);
        assert_eq!(parse(&mut buf, &l), Err(HttpError::ChunkedUnsupported));
    }

    #[test]
    fn progress_tells_the_head_from_the_body() {
        let l = HttpLimits::default();
        assert_eq!(progress(b"", &l), Progress::Idle);
        assert_eq!(progress(b"GET / HT", &l), Progress::Head);
        assert_eq!(
            progress(b"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nab", &l),
            Progress::Body
        );
    }

    #[test]
    fn refuses_oversized_and_garbage() {
        let l = HttpLimits {
            body_bytes_max: 2,
            ..HttpLimits::default()
        };
        let mut buf = BytesMut::from(&b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n"[..]);
        assert_eq!(parse(&mut buf, &l), Err(HttpError::BodyTooLarge(2)));
        let mut buf = BytesMut::from(&b"\x00\x01 garbage\r\n\r\n"[..]);
        assert!(matches!(parse(&mut buf, &l), Err(HttpError::Malformed(_))));
        let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\nHost: a\r\n"[..]);
        assert_eq!(parse(&mut buf, &l), Ok(None));
    }
}
