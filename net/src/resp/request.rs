//! Request framing: RESP multibulk arrays (framed by `redis-protocol`) and inline commands,
//! with Redis's limits and the exact protocol-error texts Redis answers with.
//!
//! After a protocol error Redis replies and closes the connection, because the stream can no
//! longer be re-synchronised; the connection driver does the same.

use bytes::{Bytes, BytesMut};
use redis_protocol::resp2::types::RangeFrame;

/// Bounds on what one request may hold.
#[derive(Clone, Copy, Debug)]
pub struct RequestLimits {
    /// Most arguments in one multibulk request (Redis: 1048576 before auth, INT_MAX after).
    pub args_max: usize,
    /// Longest single argument (Redis's `proto-max-bulk-len`).
    pub bulk_bytes_max: usize,
    /// Longest inline command line (Redis: 64 KiB).
    pub inline_bytes_max: usize,
    /// Most bytes one unfinished request may buffer before the connection is refused.
    pub request_bytes_max: usize,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            args_max: 1024 * 1024,
            bulk_bytes_max: 512 * 1024 * 1024,
            inline_bytes_max: 64 * 1024,
            request_bytes_max: 1024 * 1024 * 1024,
        }
    }
}

/// One command: the name and its arguments, each a slice of the read buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub args: Vec<Bytes>,
}

impl Request {
    pub fn name(&self) -> &[u8] {
        &self.args[0]
    }
}

/// A request that breaks the protocol. Display gives Redis's reply text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("ERR Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    #[error("ERR Protocol error: invalid bulk length")]
    InvalidBulkLength,
    #[error("ERR Protocol error: expected '$', got '{0}'")]
    ExpectedBulk(char),
    #[error("ERR Protocol error: too big mbulk count string")]
    TooBigMultibulkCount,
    #[error("ERR Protocol error: too big bulk count string")]
    TooBigBulkCount,
    #[error("ERR Protocol error: too big inline request")]
    TooBigInline,
    #[error("ERR Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    #[error("ERR Protocol error: request larger than {0} bytes")]
    TooBigRequest(usize),
}

/// Longest count line (`*N` or `$N`) Redis accepts before giving up on finding its end.
const COUNT_LINE_BYTES_MAX: usize = 64 * 1024;

/// Splits a byte stream into requests.
#[derive(Clone, Debug)]
pub struct RequestParser {
    limits: RequestLimits,
}

impl RequestParser {
    pub fn new(limits: RequestLimits) -> Self {
        Self { limits }
    }

    pub fn set_limits(&mut self, limits: RequestLimits) {
        self.limits = limits;
    }

    /// Takes the next complete request off the front of `buf`. `Ok(None)` means more bytes
    /// are needed. Empty requests (`*0`, blank inline lines) are consumed silently.
    pub fn next(&self, buf: &mut BytesMut) -> Result<Option<Request>, ParseError> {
        loop {
            if buf.is_empty() {
                return Ok(None);
            }
            let parsed = if buf[0] == b'*' {
                self.next_multibulk(buf)?
            } else {
                self.next_inline(buf)?
            };
            match parsed {
                Parsed::Request(r) => return Ok(Some(r)),
                Parsed::Empty => continue,
                Parsed::Incomplete => {
                    if buf.len() > self.limits.request_bytes_max {
                        return Err(ParseError::TooBigRequest(self.limits.request_bytes_max));
                    }
                    return Ok(None);
                }
            }
        }
    }

    fn next_multibulk(&self, buf: &mut BytesMut) -> Result<Parsed, ParseError> {
        // Check the count lines first: they give Redis's exact errors and refuse an
        // oversized argument before its bytes are buffered.
        match self.check_headers(buf)? {
            Headers::Incomplete => return Ok(Parsed::Incomplete),
            Headers::Empty(len) => {
                let _ = buf.split_to(len);
                return Ok(Parsed::Empty);
            }
            Headers::Complete => {}
        }
        let (frame, len) = match redis_protocol::resp2::decode::decode_range(buf) {
            Ok(Some(found)) => found,
            Ok(None) => return Ok(Parsed::Incomplete),
            Err(_) => return Err(ParseError::InvalidMultibulkLength),
        };
        let RangeFrame::Array(items) = frame else {
            return Err(ParseError::InvalidMultibulkLength);
        };
        let frame_bytes = buf.split_to(len).freeze();
        let mut args = Vec::with_capacity(items.len());
        for item in items {
            match item {
                RangeFrame::BulkString((start, end)) => args.push(frame_bytes.slice(start..end)),
                _ => return Err(ParseError::ExpectedBulk('?')),
            }
        }
        Ok(Parsed::Request(Request { args }))
    }

    /// Walks the `*N` and `$L` lines as far as `buf` goes, checking them against the limits.
    fn check_headers(&self, buf: &[u8]) -> Result<Headers, ParseError> {
        let Some((count, mut pos)) = count_line(buf, 0, ParseError::TooBigMultibulkCount)? else {
            return Ok(Headers::Incomplete);
        };
        let count = count.ok_or(ParseError::InvalidMultibulkLength)?;
        if count > self.limits.args_max as i64 {
            return Err(ParseError::InvalidMultibulkLength);
        }
        if count <= 0 {
            return Ok(Headers::Empty(pos));
        }
        for _ in 0..count {
            let Some(&kind) = buf.get(pos) else {
                return Ok(Headers::Incomplete);
            };
            if kind != b'$' {
                return Err(ParseError::ExpectedBulk(char::from(kind)));
            }
            let Some((len, after)) = count_line(buf, pos, ParseError::TooBigBulkCount)? else {
                return Ok(Headers::Incomplete);
            };
            let len = len.ok_or(ParseError::InvalidBulkLength)?;
            if len < 0 || len > self.limits.bulk_bytes_max as i64 {
                return Err(ParseError::InvalidBulkLength);
            }
            pos = after + len as usize + 2;
            if pos > buf.len() {
                return Ok(Headers::Incomplete);
            }
        }
        Ok(Headers::Complete)
    }

    fn next_inline(&self, buf: &mut BytesMut) -> Result<Parsed, ParseError> {
        let Some(newline) = buf.iter().position(|&b| b == b'\n') else {
            if buf.len() > self.limits.inline_bytes_max {
                return Err(ParseError::TooBigInline);
            }
            return Ok(Parsed::Incomplete);
        };
        if newline > self.limits.inline_bytes_max {
            return Err(ParseError::TooBigInline);
        }
        let line = buf.split_to(newline + 1);
        let text = line[..newline].strip_suffix(b"\r").unwrap_or(&line[..newline]);
        let args = split_args(text)?;
        if args.is_empty() {
            return Ok(Parsed::Empty);
        }
        Ok(Parsed::Request(Request { args }))
    }
}

enum Parsed {
    Request(Request),
    Empty,
    Incomplete,
}

enum Headers {
    Complete,
    Incomplete,
    /// A request with no arguments, this many bytes long.
    Empty(usize),
}

/// Reads the integer of a `*N` or `$L` line starting at `at`. Returns `None` when the line is
/// not complete yet; `Some((None, _))` when it is not an integer.
fn count_line(buf: &[u8], at: usize, too_big: ParseError) -> Result<Option<(Option<i64>, usize)>, ParseError> {
    let rest = &buf[at + 1..];
    let Some(cr) = rest.iter().position(|&b| b == b'\r') else {
        if rest.len() > COUNT_LINE_BYTES_MAX {
            return Err(too_big);
        }
        return Ok(None);
    };
    if rest.len() < cr + 2 {
        return Ok(None);
    }
    Ok(Some((redis_integer(&rest[..cr]), at + 1 + cr + 2)))
}

/// An integer as Redis's `string2ll` reads a count: an optional `-`, then digits with no
/// leading zero (but `0` itself); no `+`, no blanks. Anything else is not a count.
fn redis_integer(text: &[u8]) -> Option<i64> {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    let canonical = match digits {
        [b'0'] => digits.len() == text.len(),
        [b'1'..=b'9', rest @ ..] => rest.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    if !canonical {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// Splits an inline command line the way Redis's `sdssplitargs` does: blanks separate
/// arguments; "double quotes" understand `\n \r \t \b \a \\ \"` and `\xHH`; 'single quotes'
/// understand only `\'`; a closing quote must be followed by a blank or the end.
fn split_args(line: &[u8]) -> Result<Vec<Bytes>, ParseError> {
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == line.len() {
            return Ok(args);
        }
        let mut current = Vec::new();
        let mut in_double = false;
        let mut in_single = false;
        loop {
            let c = line.get(i).copied();
            if in_double {
                match c {
                    None => return Err(ParseError::UnbalancedQuotes),
                    Some(b'\\') if line.get(i + 1) == Some(&b'x') && hex_pair(line, i + 2).is_some() => {
                        current.push(hex_pair(line, i + 2).expect("checked"));
                        i += 3;
                    }
                    Some(b'\\') if i + 1 < line.len() => {
                        i += 1;
                        current.push(match line[i] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 0x08,
                            b'a' => 0x07,
                            other => other,
                        });
                    }
                    Some(b'"') => {
                        if line.get(i + 1).is_some_and(|n| !n.is_ascii_whitespace()) {
                            return Err(ParseError::UnbalancedQuotes);
                        }
                        in_double = false;
                        i += 1;
                        break;
                    }
                    Some(other) => current.push(other),
                }
            } else if in_single {
                match c {
                    None => return Err(ParseError::UnbalancedQuotes),
                    Some(b'\\') if line.get(i + 1) == Some(&b'\'') => {
                        i += 1;
                        current.push(b'\'');
                    }
                    Some(b'\'') => {
                        if line.get(i + 1).is_some_and(|n| !n.is_ascii_whitespace()) {
                            return Err(ParseError::UnbalancedQuotes);
                        }
                        in_single = false;
                        i += 1;
                        break;
                    }
                    Some(other) => current.push(other),
                }
            } else {
                match c {
                    None => break,
                    Some(b) if b.is_ascii_whitespace() => break,
                    Some(b'"') => in_double = true,
                    Some(b'\'') => in_single = true,
                    Some(other) => current.push(other),
                }
            }
            i += 1;
        }
        debug_assert!(!in_double && !in_single);
        args.push(Bytes::from(current));
    }
}

fn hex_pair(line: &[u8], at: usize) -> Option<u8> {
    let hi = (*line.get(at)? as char).to_digit(16)?;
    let lo = (*line.get(at + 1)? as char).to_digit(16)?;
    Some((hi * 16 + lo) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse_all(input: &[u8], limits: RequestLimits) -> Result<Vec<Vec<Vec<u8>>>, ParseError> {
        let parser = RequestParser::new(limits);
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(r) = parser.next(&mut buf)? {
            out.push(r.args.iter().map(|a| a.to_vec()).collect());
        }
        Ok(out)
    }

    fn args(list: &[&str]) -> Vec<Vec<u8>> {
        list.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn pipelined_multibulk_and_inline() {
        let got = parse_all(
            b"*1\r\n$4\r\nPING\r\nSET a \"b c\"\r\n*0\r\n\r\nGET 'x\\'y'\n",
            RequestLimits::default(),
        );
        assert_eq!(
            got.unwrap(),
            vec![args(&["PING"]), args(&["SET", "a", "b c"]), args(&["GET", "x'y"])]
        );
    }

    #[test]
    fn partial_requests_wait_for_more() {
        let parser = RequestParser::new(RequestLimits::default());
        let whole = b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n";
        for cut in 0..whole.len() {
            let mut buf = BytesMut::from(&whole[..cut]);
            assert_eq!(parser.next(&mut buf), Ok(None), "cut at {cut}");
            buf.extend_from_slice(&whole[cut..]);
            assert_eq!(parser.next(&mut buf).unwrap().unwrap().args.len(), 2);
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn redis_protocol_errors() {
        let l = RequestLimits {
            args_max: 4,
            bulk_bytes_max: 10,
            ..RequestLimits::default()
        };
        assert_eq!(parse_all(b"*5\r\n", l), Err(ParseError::InvalidMultibulkLength));
        assert_eq!(parse_all(b"*x\r\n", l), Err(ParseError::InvalidMultibulkLength));
        assert_eq!(parse_all(b"*1\r\n$11\r\n", l), Err(ParseError::InvalidBulkLength));
        assert_eq!(parse_all(b"*1\r\n$-1\r\n", l), Err(ParseError::InvalidBulkLength));
        assert_eq!(parse_all(b"*1\r\n:1\r\n", l), Err(ParseError::ExpectedBulk(':')));
        // Counts as Redis reads them: no sign but `-`, no leading zero.
        for bad in [&b"*+1\r\n"[..], b"*01\r\n", b"*-0\r\n", b"* 1\r\n"] {
            assert_eq!(parse_all(bad, l), Err(ParseError::InvalidMultibulkLength), "{bad:?}");
        }
        for bad in [
            &b"*1\r\n$+4\r\nPING\r\n"[..],
            b"*1\r\n$04\r\nPING\r\n",
            b"*1\r\n$+5\r\nPING\r\n",
        ] {
            assert_eq!(parse_all(bad, l), Err(ParseError::InvalidBulkLength), "{bad:?}");
        }
        assert_eq!(parse_all(b"GET \"abc\n", l), Err(ParseError::UnbalancedQuotes));
        assert_eq!(parse_all(b"GET \"a\"b\n", l), Err(ParseError::UnbalancedQuotes));
        assert_eq!(
            ParseError::ExpectedBulk(':').to_string(),
            "ERR Protocol error: expected '$', got ':'"
        );
        let tiny = RequestLimits {
            inline_bytes_max: 8,
            ..l
        };
        assert_eq!(parse_all(b"123456789", tiny), Err(ParseError::TooBigInline));
    }

    #[test]
    fn inline_escapes() {
        let got = parse_all(b"SET k \"\\x41\\n\\\"\"\r\n", RequestLimits::default()).unwrap();
        assert_eq!(got[0][2], b"A\n\"".to_vec());
    }

    proptest! {
        /// Any request, encoded as a client does and split at any point, comes back whole.
        #[test]
        fn encoded_requests_round_trip(reqs in proptest::collection::vec(
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 1..6), 1..5),
            cut in any::<proptest::sample::Index>()) {
            let mut wire = BytesMut::new();
            for r in &reqs { crate::resp::encode_request(r, &mut wire); }
            let cut = cut.index(wire.len());
            let parser = RequestParser::new(RequestLimits::default());
            let mut buf = BytesMut::from(&wire[..cut]);
            let mut got = Vec::new();
            while let Some(r) = parser.next(&mut buf).unwrap() { got.push(r); }
            buf.extend_from_slice(&wire[cut..]);
            while let Some(r) = parser.next(&mut buf).unwrap() { got.push(r); }
            let got: Vec<Vec<Vec<u8>>> = got.iter().map(|r| r.args.iter().map(|a| a.to_vec()).collect()).collect();
            prop_assert_eq!(got, reqs);
        }

        /// Arbitrary bytes never panic the parser.
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let parser = RequestParser::new(RequestLimits::default());
            let mut buf = BytesMut::from(&data[..]);
            while let Ok(Some(_)) = parser.next(&mut buf) {}
        }
    }
}
