//! A record frame: `[payload length: u32 LE][CRC32C of length and payload: u32 LE][payload]`.
//!
//! The checksum covers the length too, so a torn length field is caught as well as a torn
//! payload. A reader stops at the first frame it cannot trust and says where that frame
//! starts: the log's owner decides whether that is a torn tail (cut it off) or damage in the
//! middle of the log (refuse to start).

/// Bytes before each payload.
pub const FRAME_HEADER_BYTES: usize = 8;

/// Appends one framed record holding `payload` to `out`.
pub fn encode_frame(payload: &[u8], out: &mut Vec<u8>) {
    encode_frame_with(out, |out| out.extend_from_slice(payload));
}

/// Appends one framed record whose payload `write` appends to `out` in place, so a record is
/// encoded straight into the log buffer with no copy.
pub fn encode_frame_with(out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER_BYTES]);
    write(out);
    let len = u32::try_from(out.len() - start - FRAME_HEADER_BYTES).expect("a record payload fits in u32");
    let len_bytes = len.to_le_bytes();
    let crc = crc32c::crc32c_append(crc32c::crc32c(&len_bytes), &out[start + FRAME_HEADER_BYTES..]);
    out[start..start + 4].copy_from_slice(&len_bytes);
    out[start + 4..start + FRAME_HEADER_BYTES].copy_from_slice(&crc.to_le_bytes());
}

/// Why a reader stopped before the end of its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The bytes end inside a frame: a write that did not finish.
    #[error("record at offset {offset} is cut short")]
    Truncated { offset: usize },
    /// A frame's checksum does not match, or its length is beyond the bound.
    #[error("record at offset {offset} is corrupt")]
    Corrupt { offset: usize },
}

impl FrameError {
    /// Where the untrusted frame starts: everything before it is good.
    pub fn offset(&self) -> usize {
        match self {
            FrameError::Truncated { offset } | FrameError::Corrupt { offset } => *offset,
        }
    }
}

/// Walks the frames of a byte slice in order.
pub struct FrameReader<'a> {
    bytes: &'a [u8],
    offset: usize,
    payload_bytes_max: usize,
}

impl<'a> FrameReader<'a> {
    /// `payload_bytes_max` bounds a frame's claimed length, so a corrupt length field cannot
    /// make the reader treat the rest of the file as one record.
    pub fn new(bytes: &'a [u8], payload_bytes_max: usize) -> Self {
        Self {
            bytes,
            offset: 0,
            payload_bytes_max,
        }
    }

    /// Offset of the next unread frame: the end of the good prefix so far.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

impl<'a> Iterator for FrameReader<'a> {
    type Item = Result<&'a [u8], FrameError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = &self.bytes[self.offset..];
        if rest.is_empty() {
            return None;
        }
        let offset = self.offset;
        if rest.len() < FRAME_HEADER_BYTES {
            return Some(Err(FrameError::Truncated { offset }));
        }
        let len_bytes: [u8; 4] = rest[..4].try_into().expect("four bytes");
        let len = u32::from_le_bytes(len_bytes) as usize;
        let crc = u32::from_le_bytes(rest[4..8].try_into().expect("four bytes"));
        if len > self.payload_bytes_max {
            return Some(Err(FrameError::Corrupt { offset }));
        }
        let Some(payload) = rest.get(FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + len) else {
            return Some(Err(FrameError::Truncated { offset }));
        };
        if crc32c::crc32c_append(crc32c::crc32c(&len_bytes), payload) != crc {
            return Some(Err(FrameError::Corrupt { offset }));
        }
        self.offset += FRAME_HEADER_BYTES + len;
        Some(Ok(payload))
    }
}

/// Whether any whole, checksummed frame starts after `from`. A bad frame with a good one
/// somewhere after it is damage in the middle of a log; a bad frame with nothing good after it
/// is a torn tail. Tries every offset, so it is slow on purpose: it runs only on a bad frame.
pub fn good_frame_after(bytes: &[u8], from: usize, payload_bytes_max: usize) -> bool {
    (from + 1..bytes.len()).any(|at| matches!(FrameReader::new(&bytes[at..], payload_bytes_max).next(), Some(Ok(_))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in payloads {
            encode_frame(p, &mut out);
        }
        out
    }

    #[test]
    fn frames_round_trip_in_order() {
        let bytes = framed(&[b"one", b"", b"three"]);
        let got: Vec<_> = FrameReader::new(&bytes, 64).collect::<Result<_, _>>().unwrap();
        assert_eq!(got, vec![&b"one"[..], b"", b"three"]);
    }

    #[test]
    fn crc32c_is_the_castagnoli_polynomial() {
        // RFC 3720 B.4: 32 bytes of zeros.
        assert_eq!(crc32c::crc32c(&[0u8; 32]), 0x8A91_36AA);
    }

    #[test]
    fn every_cut_of_the_last_frame_is_truncated_at_its_start() {
        let bytes = framed(&[b"first", b"second record"]);
        let second = FRAME_HEADER_BYTES + 5;
        for cut in second + 1..bytes.len() {
            let mut reader = FrameReader::new(&bytes[..cut], 64);
            assert_eq!(reader.next(), Some(Ok(&b"first"[..])));
            assert_eq!(reader.next(), Some(Err(FrameError::Truncated { offset: second })));
        }
    }

    #[test]
    fn a_flipped_bit_anywhere_is_caught() {
        let bytes = framed(&[b"payload"]);
        for byte in 0..bytes.len() {
            for bit in 0..8 {
                let mut damaged = bytes.clone();
                damaged[byte] ^= 1 << bit;
                let first = FrameReader::new(&damaged, 64).next().unwrap();
                assert!(first.is_err(), "byte {byte} bit {bit} went unnoticed");
            }
        }
    }

    #[test]
    fn a_bad_frame_is_told_apart_from_a_torn_tail() {
        let bytes = framed(&[b"first", b"second", b"third"]);
        let second = FRAME_HEADER_BYTES + 5;
        let mut damaged = bytes.clone();
        damaged[second + FRAME_HEADER_BYTES] ^= 1;
        assert!(good_frame_after(&damaged, second, 64), "the third record follows");
        let mut torn = bytes[..second + 10].to_vec();
        torn.extend_from_slice(&[0; 64]);
        assert!(!good_frame_after(&torn, second, 64), "zeros after a torn write");
    }

    #[test]
    fn an_oversized_length_is_corrupt_not_a_huge_read() {
        let mut bytes = framed(&[b"x"]);
        bytes[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            FrameReader::new(&bytes, 1024).next(),
            Some(Err(FrameError::Corrupt { offset: 0 }))
        );
    }
}
