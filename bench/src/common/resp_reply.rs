//! Values read out of single, complete RESP reply frames (as framed by
//! `shardhub_net::resp::reply_len`), for the replies the harness looks into.

/// The payload of a bulk string (`$`) or RESP3 verbatim string (`=`, whose payload starts
/// with a 3-letter format and a colon) reply; `reply` is one complete frame.
pub fn bulk_payload(reply: &[u8]) -> Option<&[u8]> {
    let kind = *reply.first()?;
    let header_end = reply.windows(2).position(|w| w == b"\r\n")?;
    let len: usize = std::str::from_utf8(&reply[1..header_end]).ok()?.parse().ok()?;
    let payload = reply.get(header_end + 2..header_end + 2 + len)?;
    match kind {
        b'$' => Some(payload),
        b'=' => payload.get(4..),
        _ => None,
    }
}

/// The value of an integer reply (`:<n>\r\n`); `None` for any other reply.
pub fn parse_integer_reply(reply: &[u8]) -> Option<i64> {
    let digits = reply.strip_prefix(b":")?.strip_suffix(b"\r\n")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_bulk_and_verbatim_payloads() {
        assert_eq!(bulk_payload(b"$5\r\nhello\r\n"), Some(&b"hello"[..]));
        assert_eq!(bulk_payload(b"=9\r\ntxt:hello\r\n"), Some(&b"hello"[..]));
        assert_eq!(bulk_payload(b"$-1\r\n"), None);
        assert_eq!(bulk_payload(b"+OK\r\n"), None);
        assert_eq!(bulk_payload(b"$10\r\nshort\r\n"), None);
    }

    #[test]
    fn parses_integer_replies_only() {
        assert_eq!(parse_integer_reply(b":0\r\n"), Some(0));
        assert_eq!(parse_integer_reply(b":48213\r\n"), Some(48_213));
        assert_eq!(parse_integer_reply(b":-1\r\n"), Some(-1));
        assert_eq!(parse_integer_reply(b"-ERR unknown command\r\n"), None);
        assert_eq!(parse_integer_reply(b"$2\r\n12\r\n"), None);
        assert_eq!(parse_integer_reply(b":12"), None);
    }
}
