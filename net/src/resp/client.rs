//! The client side of RESP, used by `shardhub-bench` and tests: request encoding and reply
//! framing.

use bytes::{BufMut, BytesMut};

/// Appends a command as a RESP array of bulk strings, as every Redis client sends it.
pub fn encode_request<A: AsRef<[u8]>>(args: &[A], out: &mut BytesMut) {
    let mut num = itoa::Buffer::new();
    out.put_u8(b'*');
    out.put_slice(num.format(args.len()).as_bytes());
    out.put_slice(b"\r\n");
    for arg in args {
        let arg = arg.as_ref();
        out.put_u8(b'$');
        out.put_slice(num.format(arg.len()).as_bytes());
        out.put_slice(b"\r\n");
        out.put_slice(arg);
        out.put_slice(b"\r\n");
    }
}

/// The length of the first complete reply in `buf` (RESP2 or RESP3), or `None` if more bytes
/// are needed. RESP2 is tried first because RESP3 has no `$-1`/`*-1` nulls; a RESP3-only
/// type makes the RESP2 decoder fail, and then the RESP3 decoder decides.
pub fn reply_len(buf: &[u8]) -> Result<Option<usize>, redis_protocol::error::RedisProtocolError> {
    match redis_protocol::resp2::decode::decode_range(buf) {
        Ok(found) => Ok(found.map(|(_, len)| len)),
        Err(_) => Ok(redis_protocol::resp3::decode::complete::decode(buf)?.map(|(_, len)| len)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_frames() {
        let mut out = BytesMut::new();
        encode_request(&["SET", "k", "v"], &mut out);
        assert_eq!(&out[..], b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
        assert_eq!(reply_len(b"+OK\r\n:1").unwrap(), Some(5));
        assert_eq!(reply_len(b"$3\r\nab").unwrap(), None);
        assert_eq!(reply_len(b"*2\r\n$1\r\na\r\n_\r\n").unwrap(), Some(14));
        assert_eq!(reply_len(b"$-1\r\n*-1\r\n").unwrap(), Some(5));
        assert_eq!(reply_len(b"%1\r\n$1\r\na\r\n").unwrap(), None);
    }
}
