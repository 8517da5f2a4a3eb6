//! The body of the cargo-fuzz target `http_request` (`net/fuzz/`), kept in the crate so that
//! the crate's tests drive it with proptest on stable Rust. Built only for tests and for the
//! `fuzzing` feature.
//!
//! The connection driver calls [`parse`] on everything read so far after each read, so the
//! requests it finds, and the refusal that ends a stream, must not depend on how the stream
//! was cut; and [`progress`] (which picks the head or body timeout) must agree with it.

use bytes::BytesMut;

use super::request::{parse, progress, HttpError, HttpLimits, HttpRequest, Progress};
use crate::fuzzing::{read_alike_however_cut, read_in_pieces, Reading};

/// Small bounds, so that short inputs reach every refusal.
const LIMITS: HttpLimits = HttpLimits {
    head_bytes_max: 512,
    headers_max: 8,
    body_bytes_max: 256,
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
        assert!(error.status().code() >= 400 && error.status().code() < 500, "{error}");
    }
}

/// The parser taking `stream` in pieces of `piece` bytes, as the connection driver does after
/// each read; whenever it waits, [`progress`] must say where the request stands.
fn read(stream: &[u8], piece: usize) -> Reading<HttpRequest, HttpError> {
    let waiting = |buf: &BytesMut| assert_eq!(progress(buf, &LIMITS), expected_progress(buf), "on {buf:?}");
    read_in_pieces(stream, piece, |buf| parse(buf, &LIMITS), waiting)
}

/// Where a request that [`parse`] waits on stands, worked out apart from it: nothing yet, or
/// a head that has not reached its empty line yet, or a whole head waiting for its body.
/// (Empty lines before a request line do not count, as RFC 9112 section 2.2 allows.)
fn expected_progress(buf: &[u8]) -> Progress {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n');
    let Some(start) = start else {
        return if buf.is_empty() { Progress::Idle } else { Progress::Head };
    };
    let head = &buf[start..];
    let ended = [&b"\r\n\r\n"[..], b"\r\n\n", b"\n\r\n", b"\n\n"]
        .iter()
        .any(|end| head.windows(end.len()).any(|w| w == *end));
    if ended {
        Progress::Body
    } else {
        Progress::Head
    }
}

/// A request keeps the body bound, and written back out as a client would write it, it
/// parses to the same request with nothing left over.
pub fn check_request(request: &HttpRequest) {
    assert!(request.body.len() <= LIMITS.body_bytes_max);
    let head = &request.head;
    let mut bytes = Vec::new();
    bytes.extend_from_slice(head.method.as_bytes());
    bytes.push(b' ');
    bytes.extend_from_slice(head.path.as_bytes());
    if let Some(query) = &head.query {
        bytes.push(b'?');
        bytes.extend_from_slice(query.as_bytes());
    }
    bytes.extend_from_slice(b" HTTP/1.1\r\n");
    if let Some(authorization) = &head.authorization {
        bytes.extend_from_slice(format!("Authorization: {authorization}\r\n").as_bytes());
    }
    let connection = if head.keep_alive { "keep-alive" } else { "close" };
    bytes.extend_from_slice(format!("Connection: {connection}\r\n").as_bytes());
    bytes.extend_from_slice(format!("Content-Length: {}\r\n\r\n", request.body.len()).as_bytes());
    bytes.extend_from_slice(&request.body);
    let mut buf = BytesMut::from(&bytes[..]);
    let limits = HttpLimits::default();
    assert_eq!(
        parse(&mut buf, &limits),
        Ok(Some(request.clone())),
        "round trip changed it"
    );
    assert!(buf.is_empty(), "the re-encoded request was not consumed whole");
}

#[cfg(test)]
mod tests {
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;
    use crate::fuzzing::strategies::damaged_stream;

    /// One request as clients write them, and as smugglers do: varied methods, targets,
    /// header sets (duplicate and conflicting lengths, Transfer-Encoding, folding), bodies
    /// shorter or longer than declared.
    fn request_bytes() -> impl Strategy<Value = Vec<u8>> {
        let header = prop_oneof![
            Just("Host: a".to_string()),
            (0usize..300).prop_map(|n| format!("Content-Length: {n}")),
            Just("Content-Length: +3".to_string()),
            Just("Transfer-Encoding: chunked".to_string()),
            Just("Connection: close".to_string()),
            Just("Connection: keep-alive".to_string()),
            Just("Authorization: Bearer k".to_string()),
            Just(" folded".to_string()),
            "[A-Za-z-]{1,8}: [ -~]{0,12}".prop_map(String::from),
        ];
        (
            prop_oneof![Just("GET".to_string()), Just("POST".to_string()), "[A-Z]{1,7}"],
            "/[a-z0-9/]{0,10}(\\?[a-z=&]{0,8})?",
            prop_oneof![
                Just("HTTP/1.1".to_string()),
                Just("HTTP/1.0".to_string()),
                Just("HTTP/2.0".to_string())
            ],
            vec(header, 0..6),
            vec(any::<u8>(), 0..40),
        )
            .prop_map(|(method, target, version, headers, body)| {
                let mut bytes = format!("{method} {target} {version}\r\n").into_bytes();
                for h in headers {
                    bytes.extend_from_slice(h.as_bytes());
                    bytes.extend_from_slice(b"\r\n");
                }
                bytes.extend_from_slice(b"\r\n");
                bytes.extend_from_slice(&body);
                bytes
            })
    }

    /// Inputs the fuzzer found, kept among the seeds and read here on every test run.
    #[test]
    fn what_the_fuzzer_found_reads_alike_however_cut() {
        // A byte that breaks a header just past head_bytes_max: 400 whole, 431 in pieces.
        parse_stream(include_bytes!(
            "../../fuzz/seeds/http_request/found-bad-byte-past-the-head-bound"
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn arbitrary_bytes_read_alike_however_cut(data in vec(any::<u8>(), 0..300)) {
            parse_stream(&data);
        }

        #[test]
        fn damaged_request_streams_read_alike_however_cut(data in damaged_stream(request_bytes(), 4)) {
            parse_stream(&data);
        }
    }
}
