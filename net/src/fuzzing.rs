//! What the request-stream fuzz bodies share (`resp::fuzzing`, `http::fuzzing`): reading a
//! stream whole or in pieces, as a connection does after each read, and, for the tests, the
//! damaged streams proptest feeds them. Built only for tests and the `fuzzing` feature.

use std::fmt::Debug;

use bytes::BytesMut;

/// What one reading of a stream gave: the requests, then the error that ended it or the
/// bytes left waiting for more.
#[derive(Debug, PartialEq, Eq)]
pub struct Reading<T, E> {
    pub requests: Vec<T>,
    pub end: Result<usize, E>,
}

/// Feeds `stream` to `next` `piece` bytes at a time, taking every request it can after each
/// piece; `waiting` sees the buffer whenever `next` asks for more.
pub fn read_in_pieces<T, E>(
    stream: &[u8],
    piece: usize,
    mut next: impl FnMut(&mut BytesMut) -> Result<Option<T>, E>,
    mut waiting: impl FnMut(&BytesMut),
) -> Reading<T, E> {
    let mut buf = BytesMut::new();
    let mut requests = Vec::new();
    for chunk in stream.chunks(piece) {
        buf.extend_from_slice(chunk);
        loop {
            match next(&mut buf) {
                Ok(Some(request)) => requests.push(request),
                Ok(None) => {
                    waiting(&buf);
                    break;
                }
                Err(error) => {
                    return Reading {
                        requests,
                        end: Err(error),
                    }
                }
            }
        }
    }
    Reading {
        requests,
        end: Ok(buf.len()),
    }
}

/// Reads fuzz input's stream (its bytes after the first, which sets the piece size: 1 to 256
/// bytes) with `read`, whole and in pieces, and checks that both readings agree; returns the
/// reading, or `None` for empty input.
pub fn read_alike_however_cut<T: PartialEq + Debug, E: PartialEq + Debug>(
    data: &[u8],
    read: impl Fn(&[u8], usize) -> Reading<T, E>,
) -> Option<Reading<T, E>> {
    let (&piece, stream) = data.split_first()?;
    let whole = read(stream, stream.len().max(1));
    let pieces = read(stream, usize::from(piece) + 1);
    assert_eq!(whole, pieces, "the reading depends on how the stream was cut");
    Some(whole)
}

#[cfg(test)]
pub mod strategies {
    use proptest::collection::vec;
    use proptest::prelude::*;

    /// Fuzz input from requests back to back: a piece size first, then the requests with a few
    /// bytes overwritten and the end sometimes cut.
    pub fn damaged_stream(
        request: impl Strategy<Value = Vec<u8>>,
        requests_max: usize,
    ) -> impl Strategy<Value = Vec<u8>> {
        (
            any::<u8>(),
            vec(request, 1..requests_max),
            vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
            any::<Option<prop::sample::Index>>(),
        )
            .prop_map(|(piece, requests, writes, cut)| {
                let mut bytes = requests.concat();
                for (at, byte) in writes {
                    if !bytes.is_empty() {
                        let at = at.index(bytes.len());
                        bytes[at] = byte;
                    }
                }
                if let Some(at) = cut {
                    bytes.truncate(at.index(bytes.len() + 1));
                }
                bytes.insert(0, piece);
                bytes
            })
    }
}
