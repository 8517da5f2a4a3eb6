//! The command a `resp` run sends, with redis-benchmark's `__rand_int__` placeholders.
//!
//! The template is parsed once; per request only the arguments that hold a placeholder are
//! rewritten, in place, in buffers owned by the connection, so the hot loop allocates
//! nothing once the buffers have grown to their final size (the first request).

use bytes::BytesMut;
use shardhub_net::resp::encode_request;

use crate::common::error::BenchError;
use crate::common::fast_rng::FastRng;

/// The placeholder redis-benchmark replaces with a random key number.
pub const RAND_INT_PLACEHOLDER: &[u8] = b"__rand_int__";

/// Digits a random number is zero-padded to, as redis-benchmark's `%012zu` does: keys then
/// have one fixed length, so their size does not vary with the number drawn.
pub const RAND_INT_DIGITS: usize = 12;

/// Largest keyspace whose numbers fit in [`RAND_INT_DIGITS`] digits.
pub const KEYSPACE_MAX: u64 = 1_000_000_000_000;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Literal(Vec<u8>),
    RandInt,
}

#[derive(Clone, Debug)]
pub struct CommandTemplate {
    /// One entry per argument; an argument without placeholders is a single literal.
    args: Vec<Vec<Piece>>,
    keyspace: u64,
}

impl CommandTemplate {
    /// Splits `command` on whitespace (no quoting: the templates this harness needs have no
    /// spaces inside arguments) and finds every `__rand_int__`.
    pub fn parse(command: &str, keyspace: u64) -> Result<Self, BenchError> {
        if keyspace == 0 || keyspace > KEYSPACE_MAX {
            return Err(BenchError::Usage(format!(
                "--keyspace must be in 1..={KEYSPACE_MAX}, got {keyspace}"
            )));
        }
        let args: Vec<Vec<Piece>> = command
            .split_whitespace()
            .map(|arg| split_placeholders(arg.as_bytes()))
            .collect();
        if args.is_empty() {
            return Err(BenchError::Usage("--command is empty".into()));
        }
        Ok(Self { args, keyspace })
    }

    /// Per-connection argument buffers, pre-filled with the literal arguments.
    pub fn new_scratch(&self) -> Vec<Vec<u8>> {
        self.args
            .iter()
            .map(|pieces| match pieces.as_slice() {
                [Piece::Literal(bytes)] => bytes.clone(),
                _ => Vec::with_capacity(64),
            })
            .collect()
    }

    /// Draws fresh numbers for every placeholder (each occurrence its own number, as
    /// redis-benchmark does) and writes the arguments into `scratch`.
    pub fn fill(&self, rng: &mut FastRng, scratch: &mut [Vec<u8>]) {
        debug_assert_eq!(scratch.len(), self.args.len());
        for (pieces, arg) in self.args.iter().zip(scratch.iter_mut()) {
            if let [Piece::Literal(_)] = pieces.as_slice() {
                continue; // Filled once by new_scratch.
            }
            arg.clear();
            for piece in pieces {
                match piece {
                    Piece::Literal(bytes) => arg.extend_from_slice(bytes),
                    Piece::RandInt => push_padded(arg, rng.below(self.keyspace)),
                }
            }
        }
    }

    /// Appends one request, with fresh random numbers, to `out` as a RESP array.
    pub fn encode(&self, rng: &mut FastRng, scratch: &mut [Vec<u8>], out: &mut BytesMut) {
        self.fill(rng, scratch);
        encode_request(scratch, out);
    }
}

fn split_placeholders(arg: &[u8]) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut rest = arg;
    while let Some(at) = find(rest, RAND_INT_PLACEHOLDER) {
        if at > 0 {
            pieces.push(Piece::Literal(rest[..at].to_vec()));
        }
        pieces.push(Piece::RandInt);
        rest = &rest[at + RAND_INT_PLACEHOLDER.len()..];
    }
    if !rest.is_empty() || pieces.is_empty() {
        pieces.push(Piece::Literal(rest.to_vec()));
    }
    pieces
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Appends `value` as exactly [`RAND_INT_DIGITS`] decimal digits, without formatting
/// machinery (it runs per request).
fn push_padded(out: &mut Vec<u8>, mut value: u64) {
    debug_assert!(value < KEYSPACE_MAX);
    let mut digits = [b'0'; RAND_INT_DIGITS];
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
    out.extend_from_slice(&digits);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(command: &str, keyspace: u64, seed: u64) -> Vec<String> {
        let template = CommandTemplate::parse(command, keyspace).unwrap();
        let mut scratch = template.new_scratch();
        template.fill(&mut FastRng::new(seed), &mut scratch);
        scratch.into_iter().map(|a| String::from_utf8(a).unwrap()).collect()
    }

    #[test]
    fn literal_command_is_unchanged() {
        assert_eq!(filled("  PING ", 10, 1), ["PING"]);
    }

    #[test]
    fn placeholder_becomes_twelve_digits_below_keyspace() {
        for seed in 0..200 {
            let args = filled("SET key:__rand_int__ v", 5000, seed);
            assert_eq!(args[0], "SET");
            assert_eq!(args[2], "v");
            let number = args[1].strip_prefix("key:").unwrap();
            assert_eq!(number.len(), RAND_INT_DIGITS);
            assert!(number.parse::<u64>().unwrap() < 5000);
        }
    }

    #[test]
    fn every_occurrence_gets_its_own_number() {
        let args = filled("MSET __rand_int__:__rand_int__ x", KEYSPACE_MAX, 3);
        let (a, b) = args[1].split_once(':').unwrap();
        assert_eq!((a.len(), b.len()), (12, 12));
        assert_ne!(a, b);
    }

    #[test]
    fn keyspace_of_one_always_gives_zero() {
        assert_eq!(filled("GET k__rand_int__", 1, 99)[1], "k000000000000");
    }

    #[test]
    fn encodes_as_resp_array() {
        let template = CommandTemplate::parse("GET __rand_int__", 1).unwrap();
        let mut scratch = template.new_scratch();
        let mut out = BytesMut::new();
        template.encode(&mut FastRng::new(0), &mut scratch, &mut out);
        assert_eq!(&out[..], b"*2\r\n$3\r\nGET\r\n$12\r\n000000000000\r\n");
    }

    #[test]
    fn rejects_empty_command_and_bad_keyspace() {
        assert!(CommandTemplate::parse(" ", 10).is_err());
        assert!(CommandTemplate::parse("PING", 0).is_err());
        assert!(CommandTemplate::parse("PING", KEYSPACE_MAX + 1).is_err());
    }

    #[test]
    fn padding_keeps_leading_zeros() {
        let mut out = Vec::new();
        push_padded(&mut out, 4242);
        assert_eq!(out, b"000000004242");
        out.clear();
        push_padded(&mut out, KEYSPACE_MAX - 1);
        assert_eq!(out, b"999999999999");
    }
}
