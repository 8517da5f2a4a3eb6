//! The body of the cargo-fuzz target `resp_request` (`net/fuzz/`), kept in the crate so that
//! the crate's tests drive it with proptest on stable Rust. Built only for tests and for the
//! `fuzzing` feature.
//!
//! A connection reads a request stream in whatever pieces the kernel hands over, so the
//! parser must read the same requests, and stop at the same error, however the stream is cut.

use bytes::BytesMut;

use super::client::encode_request;
use super::request::{ParseError, Request, RequestLimits, RequestParser};
use crate::fuzzing::{read_alike_however_cut, read_in_pieces, Reading};

/// Small bounds, so that short inputs reach every refusal. `request_bytes_max` stays out of
/// reach: it refuses by how much is buffered, which depends on how the stream was cut.
const LIMITS: RequestLimits = RequestLimits {
    args_max: 16,
    bulk_bytes_max: 64,
    inline_bytes_max: 128,
    request_bytes_max: usize::MAX,
};

/// The first byte sets the piece size (1 to 256 bytes) and the rest is the stream. Reads it
/// whole and in pieces, checks both readings agree, that every request keeps the bounds and
/// that each re-encodes to itself. Panics on any violation.
pub fn parse_stream(data: &[u8]) {
    let Some(whole) = read_alike_however_cut(data, read) else {
        return;
    };
    for request in &whole.requests {
        check_request(request);
    }
    if let Err(error) = &whole.end {
        assert!(error.to_string().starts_with("ERR Protocol error: "), "{error}");
    }
}

/// One parser taking `stream` in pieces of `piece` bytes, as a connection does after each read.
fn read(stream: &[u8], piece: usize) -> Reading<Request, ParseError> {
    let parser = RequestParser::new(LIMITS);
    read_in_pieces(stream, piece, |buf| parser.next(buf), |_| {})
}

/// A request holds a name, no argument longer than the bounds allow, and reads back the same
/// once encoded as a multibulk array (what a client library would send).
pub fn check_request(request: &Request) {
    assert!(!request.args.is_empty(), "a request without a name");
    let arg_bytes_max = LIMITS.bulk_bytes_max.max(LIMITS.inline_bytes_max);
    assert!(request.args.iter().all(|a| a.len() <= arg_bytes_max), "{request:?}");
    let mut bytes = BytesMut::new();
    encode_request(&request.args, &mut bytes);
    let parser = RequestParser::new(RequestLimits::default());
    assert_eq!(
        parser.next(&mut bytes),
        Ok(Some(request.clone())),
        "round trip changed it"
    );
    assert!(bytes.is_empty(), "the re-encoded request was not consumed whole");
}

#[cfg(test)]
mod tests {
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;
    use crate::fuzzing::strategies::damaged_stream;

    /// One request as a client would write it: multibulk, or an inline line with quotes and
    /// escapes; its arguments sometimes past the bounds.
    fn request_bytes() -> impl Strategy<Value = Vec<u8>> {
        let arg = prop_oneof![
            4 => vec(any::<u8>(), 0..8),
            1 => vec(any::<u8>(), 60..70),
            1 => Just(b"a \"b\\x41\" 'c\\'d'".to_vec()),
        ];
        (vec(arg, 0..20), any::<bool>()).prop_map(|(args, inline)| {
            if inline {
                let mut line = args.join(&b' ');
                line.extend_from_slice(b"\r\n");
                line
            } else {
                let mut bytes = BytesMut::new();
                encode_request(&args, &mut bytes);
                bytes.to_vec()
            }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn arbitrary_bytes_read_alike_however_cut(data in vec(any::<u8>(), 0..300)) {
            parse_stream(&data);
        }

        #[test]
        fn damaged_request_streams_read_alike_however_cut(data in damaged_stream(request_bytes(), 5)) {
            parse_stream(&data);
        }
    }

    #[test]
    fn the_lengths_redis_refuses_are_refused_in_every_cut() {
        for stream in [
            &b"\x00*+1\r\n"[..],
            b"\x02*01\r\n",
            b"\x00*1\r\n$+4\r\nPING\r\n",
            b"\x03*1\r\n$04\r\nPING\r\n",
        ] {
            parse_stream(stream);
            assert!(read(&stream[1..], 1).end.is_err(), "{stream:?}");
        }
    }
}
