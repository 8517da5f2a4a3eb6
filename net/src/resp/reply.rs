//! Replies and their encoding in RESP2 and RESP3.

use std::borrow::Cow;

use bytes::{BufMut, Bytes, BytesMut};

/// The protocol version a connection speaks, switched by `HELLO 2|3`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    Resp2,
    Resp3,
}

impl Protocol {
    pub fn number(self) -> i64 {
        match self {
            Protocol::Resp2 => 2,
            Protocol::Resp3 => 3,
        }
    }
}

/// A reply, independent of protocol version until it is encoded.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// A status line such as `+OK` or `+PONG`.
    Status(Cow<'static, str>),
    /// An error line: the text carries its code first, e.g. `ERR syntax error`.
    Error(Cow<'static, str>),
    Int(i64),
    Bulk(Bytes),
    /// A missing value: `$-1` in RESP2, `_` in RESP3.
    Null,
    /// A missing array: `*-1` in RESP2, `_` in RESP3.
    NullArray,
    Array(Vec<Reply>),
    /// A map in RESP3; a flat key, value, key, value array in RESP2.
    Map(Vec<(Reply, Reply)>),
    /// A set in RESP3; an array in RESP2.
    Set(Vec<Reply>),
    /// A verbatim string (`=`) in RESP3 with its three-letter format; a bulk string in RESP2.
    Verbatim(&'static str, Bytes),
}

impl Reply {
    pub const OK: Reply = Reply::Status(Cow::Borrowed("OK"));

    pub fn status(text: &'static str) -> Reply {
        Reply::Status(Cow::Borrowed(text))
    }

    pub fn error(text: impl Into<Cow<'static, str>>) -> Reply {
        Reply::Error(text.into())
    }

    pub fn bulk(data: impl Into<Bytes>) -> Reply {
        Reply::Bulk(data.into())
    }

    pub fn bulk_str(text: &'static str) -> Reply {
        Reply::Bulk(Bytes::from_static(text.as_bytes()))
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// Appends the encoding of this reply to `out`.
    pub fn encode(&self, protocol: Protocol, out: &mut BytesMut) {
        match self {
            Reply::Status(s) => line(out, b'+', s.as_bytes()),
            Reply::Error(e) => line(out, b'-', sanitize(e).as_bytes()),
            Reply::Int(i) => {
                let mut num = itoa::Buffer::new();
                line(out, b':', num.format(*i).as_bytes());
            }
            Reply::Bulk(b) => bulk(out, b'$', b),
            Reply::Null => match protocol {
                Protocol::Resp2 => out.put_slice(b"$-1\r\n"),
                Protocol::Resp3 => out.put_slice(b"_\r\n"),
            },
            Reply::NullArray => match protocol {
                Protocol::Resp2 => out.put_slice(b"*-1\r\n"),
                Protocol::Resp3 => out.put_slice(b"_\r\n"),
            },
            Reply::Array(items) => {
                header(out, b'*', items.len());
                items.iter().for_each(|i| i.encode(protocol, out));
            }
            Reply::Set(items) => {
                let kind = if protocol == Protocol::Resp3 { b'~' } else { b'*' };
                header(out, kind, items.len());
                items.iter().for_each(|i| i.encode(protocol, out));
            }
            Reply::Map(pairs) => {
                match protocol {
                    Protocol::Resp2 => header(out, b'*', pairs.len() * 2),
                    Protocol::Resp3 => header(out, b'%', pairs.len()),
                }
                for (k, v) in pairs {
                    k.encode(protocol, out);
                    v.encode(protocol, out);
                }
            }
            Reply::Verbatim(format, text) => match protocol {
                Protocol::Resp2 => bulk(out, b'$', text),
                Protocol::Resp3 => {
                    header(out, b'=', text.len() + 4);
                    out.put_slice(format.as_bytes());
                    out.put_u8(b':');
                    out.put_slice(text);
                    out.put_slice(b"\r\n");
                }
            },
        }
    }
}

/// An error or status line must not carry CR or LF: Redis replaces them with spaces.
fn sanitize(text: &str) -> Cow<'_, str> {
    if text.contains(['\r', '\n']) {
        Cow::Owned(text.replace(['\r', '\n'], " "))
    } else {
        Cow::Borrowed(text)
    }
}

fn line(out: &mut BytesMut, kind: u8, text: &[u8]) {
    out.reserve(text.len() + 3);
    out.put_u8(kind);
    out.put_slice(text);
    out.put_slice(b"\r\n");
}

fn header(out: &mut BytesMut, kind: u8, len: usize) {
    let mut num = itoa::Buffer::new();
    line(out, kind, num.format(len).as_bytes());
}

fn bulk(out: &mut BytesMut, kind: u8, data: &[u8]) {
    header(out, kind, data.len());
    out.reserve(data.len() + 2);
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use redis_protocol::resp2::types::OwnedFrame as F2;
    use redis_protocol::resp3::types::OwnedFrame as F3;

    fn enc(r: &Reply, p: Protocol) -> Vec<u8> {
        let mut out = BytesMut::new();
        r.encode(p, &mut out);
        out.to_vec()
    }

    #[test]
    fn nulls_and_maps_downgrade_in_resp2() {
        assert_eq!(enc(&Reply::Null, Protocol::Resp2), b"$-1\r\n");
        assert_eq!(enc(&Reply::Null, Protocol::Resp3), b"_\r\n");
        let m = Reply::Map(vec![(Reply::bulk_str("a"), Reply::Int(1))]);
        assert_eq!(enc(&m, Protocol::Resp2), b"*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&m, Protocol::Resp3), b"%1\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&Reply::error("ERR a\r\nb"), Protocol::Resp2), b"-ERR a  b\r\n");
    }

    fn reply() -> impl Strategy<Value = Reply> {
        let leaf = prop_oneof![
            any::<i64>().prop_map(Reply::Int),
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(|v| Reply::Bulk(v.into())),
            "[a-zA-Z ]{0,20}".prop_map(|s| Reply::Status(s.into())),
            "[a-zA-Z ]{1,20}".prop_map(|s| Reply::Error(format!("ERR {s}").into())),
            Just(Reply::Null),
        ];
        leaf.prop_recursive(3, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Reply::Array),
                // RESP3 map keys must be distinct for the decoder's hash map.
                proptest::collection::hash_map("[a-z]{1,6}", inner, 0..4)
                    .prop_map(|m| Reply::Map(m.into_iter().map(|(k, v)| (Reply::Bulk(k.into()), v)).collect())),
            ]
        })
    }

    fn to_f2(r: &Reply) -> F2 {
        match r {
            Reply::Status(s) => F2::SimpleString(s.as_bytes().to_vec()),
            Reply::Error(e) => F2::Error(e.to_string()),
            Reply::Int(i) => F2::Integer(*i),
            Reply::Bulk(b) => F2::BulkString(b.to_vec()),
            Reply::Null | Reply::NullArray => F2::Null,
            Reply::Array(a) | Reply::Set(a) => F2::Array(a.iter().map(to_f2).collect()),
            Reply::Map(m) => F2::Array(m.iter().flat_map(|(k, v)| [to_f2(k), to_f2(v)]).collect()),
            Reply::Verbatim(_, b) => F2::BulkString(b.to_vec()),
        }
    }

    proptest! {
        /// Our encoder and redis-protocol's decoder agree, byte for byte, in both versions.
        #[test]
        fn encoding_round_trips_through_redis_protocol(r in reply()) {
            let bytes = enc(&r, Protocol::Resp2);
            let (frame, used) = redis_protocol::resp2::decode::decode(&bytes).unwrap().unwrap();
            prop_assert_eq!(used, bytes.len());
            prop_assert_eq!(frame, to_f2(&r));

            let bytes = enc(&r, Protocol::Resp3);
            let (frame, used) = redis_protocol::resp3::decode::complete::decode(&bytes).unwrap().unwrap();
            prop_assert_eq!(used, bytes.len());
            let is_map = matches!(r, Reply::Map(_));
            prop_assert_eq!(matches!(frame, F3::Map { .. }), is_map);
        }
    }
}
