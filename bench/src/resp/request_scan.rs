//! The reference ping server's request framer: just enough RESP to find where each request
//! ends and whether it is a bare `PING`, without allocating.
//!
//! It is deliberately minimal (the point of the reference server is the cost of the runtime,
//! not of a parser), but honest: it frames multibulk arrays and inline commands fully, the
//! way Redis does, rather than counting `PING`s by pattern.

/// Longest count line (`*N\r\n`, `$N\r\n`) accepted: 20 digits of i64 and change.
const COUNT_LINE_BYTES_MAX: usize = 32;
/// Most arguments in one request (Redis's limit before authentication).
const ARGS_MAX: i64 = 1024 * 1024;
/// Longest argument (Redis's default `proto-max-bulk-len`).
const BULK_BYTES_MAX: i64 = 512 * 1024 * 1024;
/// Longest inline command line (Redis: 64 KiB).
pub const INLINE_BYTES_MAX: usize = 64 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    /// `PING` without arguments (any case): answered `+PONG`.
    Ping,
    /// Any other command: answered with an error.
    Other,
    /// `*0`, `*-1` or a blank inline line: consumed without a reply, as Redis does.
    Empty,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestScan {
    /// The buffer ends inside the first request.
    Incomplete,
    /// The first request is `len` bytes long.
    Complete { len: usize, kind: RequestKind },
    /// The stream breaks the protocol; the text follows `-ERR Protocol error: `.
    Invalid(&'static str),
}

/// Frames the first request in `buf`.
pub fn scan_request(buf: &[u8]) -> RequestScan {
    match buf.first() {
        None => RequestScan::Incomplete,
        Some(b'*') => scan_multibulk(buf),
        Some(_) => scan_inline(buf),
    }
}

fn scan_multibulk(buf: &[u8]) -> RequestScan {
    let (count, mut pos) = match count_line(buf, 0) {
        Ok(Some(line)) => line,
        Ok(None) => return RequestScan::Incomplete,
        Err(()) => return RequestScan::Invalid("invalid multibulk length"),
    };
    if count <= 0 {
        return RequestScan::Complete {
            len: pos,
            kind: RequestKind::Empty,
        };
    }
    if count > ARGS_MAX {
        return RequestScan::Invalid("invalid multibulk length");
    }
    let mut kind = RequestKind::Other;
    for arg_index in 0..count {
        match buf.get(pos) {
            None => return RequestScan::Incomplete,
            Some(b'$') => {}
            Some(_) => return RequestScan::Invalid("expected '$'"),
        }
        let (len, data_at) = match count_line(buf, pos) {
            Ok(Some(line)) => line,
            Ok(None) => return RequestScan::Incomplete,
            Err(()) => return RequestScan::Invalid("invalid bulk length"),
        };
        if !(0..=BULK_BYTES_MAX).contains(&len) {
            return RequestScan::Invalid("invalid bulk length");
        }
        let data_end = data_at + len as usize;
        let Some(terminator) = buf.get(data_end..data_end + 2) else {
            return RequestScan::Incomplete;
        };
        if terminator != b"\r\n" {
            return RequestScan::Invalid("bulk string not terminated by CRLF");
        }
        if arg_index == 0 && count == 1 && buf[data_at..data_end].eq_ignore_ascii_case(b"PING") {
            kind = RequestKind::Ping;
        }
        pos = data_end + 2;
    }
    RequestScan::Complete { len: pos, kind }
}

/// Parses `<prefix><integer>\r\n` at `start`; returns the integer and the offset after the
/// line, `Ok(None)` if the line is not complete yet, `Err` if it is malformed.
fn count_line(buf: &[u8], start: usize) -> Result<Option<(i64, usize)>, ()> {
    let window = &buf[start..buf.len().min(start + COUNT_LINE_BYTES_MAX)];
    let Some(cr) = window.iter().position(|&b| b == b'\r') else {
        return if window.len() == COUNT_LINE_BYTES_MAX {
            Err(())
        } else {
            Ok(None)
        };
    };
    match window.get(cr + 1) {
        None if start + cr + 1 == buf.len() => return Ok(None),
        Some(b'\n') => {}
        _ => return Err(()),
    }
    let digits = std::str::from_utf8(&window[1..cr]).map_err(|_| ())?;
    let value = digits.parse().map_err(|_| ())?;
    Ok(Some((value, start + cr + 2)))
}

fn scan_inline(buf: &[u8]) -> RequestScan {
    let Some(newline) = buf.iter().take(INLINE_BYTES_MAX).position(|&b| b == b'\n') else {
        return if buf.len() >= INLINE_BYTES_MAX {
            RequestScan::Invalid("too big inline request")
        } else {
            RequestScan::Incomplete
        };
    };
    let line = buf[..newline].strip_suffix(b"\r").unwrap_or(&buf[..newline]);
    let mut words = line.split(|b| b.is_ascii_whitespace()).filter(|word| !word.is_empty());
    let kind = match (words.next(), words.next()) {
        (None, _) => RequestKind::Empty,
        (Some(word), None) if word.eq_ignore_ascii_case(b"PING") => RequestKind::Ping,
        _ => RequestKind::Other,
    };
    RequestScan::Complete { len: newline + 1, kind }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(len: usize, kind: RequestKind) -> RequestScan {
        RequestScan::Complete { len, kind }
    }

    #[test]
    fn frames_multibulk_ping_and_others() {
        let ping = b"*1\r\n$4\r\nPING\r\n";
        assert_eq!(scan_request(ping), complete(ping.len(), RequestKind::Ping));
        assert_eq!(scan_request(b"*1\r\n$4\r\nping\r\n+"), complete(14, RequestKind::Ping));
        let set = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n";
        assert_eq!(scan_request(set), complete(set.len(), RequestKind::Other));
        let ping_arg = b"*2\r\n$4\r\nPING\r\n$2\r\nhi\r\n";
        assert_eq!(scan_request(ping_arg), complete(ping_arg.len(), RequestKind::Other));
    }

    #[test]
    fn every_prefix_of_a_request_is_incomplete() {
        let set = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10\r\n0123456789\r\n";
        for end in 0..set.len() {
            assert_eq!(scan_request(&set[..end]), RequestScan::Incomplete, "prefix {end}");
        }
    }

    #[test]
    fn empty_requests_are_consumed() {
        assert_eq!(scan_request(b"*0\r\n"), complete(4, RequestKind::Empty));
        assert_eq!(scan_request(b"*-1\r\n"), complete(5, RequestKind::Empty));
        assert_eq!(scan_request(b"\r\n"), complete(2, RequestKind::Empty));
    }

    #[test]
    fn frames_inline_commands() {
        assert_eq!(scan_request(b"PING\r\n"), complete(6, RequestKind::Ping));
        assert_eq!(scan_request(b"ping\n"), complete(5, RequestKind::Ping));
        assert_eq!(scan_request(b"GET k\r\n"), complete(7, RequestKind::Other));
        assert_eq!(scan_request(b"PING"), RequestScan::Incomplete);
    }

    #[test]
    fn rejects_broken_framing() {
        assert!(matches!(scan_request(b"*x\r\n"), RequestScan::Invalid(_)));
        assert!(matches!(scan_request(b"*1\r\n:4\r\n"), RequestScan::Invalid(_)));
        assert!(matches!(scan_request(b"*1\r\n$-5\r\n"), RequestScan::Invalid(_)));
        assert!(matches!(scan_request(b"*1\r\n$2\r\nabcd"), RequestScan::Invalid(_)));
        assert!(matches!(scan_request(b"*1\rX"), RequestScan::Invalid(_)));
        assert!(matches!(scan_request(&[b'*'; 64]), RequestScan::Invalid(_)));
        assert!(matches!(
            scan_request(&vec![b'a'; INLINE_BYTES_MAX]),
            RequestScan::Invalid(_)
        ));
    }
}
