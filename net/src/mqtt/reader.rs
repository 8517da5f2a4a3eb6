//! A bounds-checked cursor over one packet's bytes.
//!
//! Every read checks its length first and reports what it was reading, so the decoder has
//! no indexing that could panic and its errors say where a packet broke. Variable-length
//! fields come out as slices of the packet's `Bytes`, not copies.

use bytes::Bytes;

use super::error::DecodeError;
use super::packet::{PacketId, PacketType};
use super::string::MqttStr;
use super::varint::{self, VarInt};

pub(crate) struct Reader<'a> {
    bytes: &'a Bytes,
    /// Invariant: `pos <= end <= bytes.len()`.
    pos: usize,
    end: usize,
    packet: PacketType,
}

impl<'a> Reader<'a> {
    /// Reads `bytes[start..]`; a `start` past the end reads nothing.
    pub(crate) fn new(bytes: &'a Bytes, start: usize, packet: PacketType) -> Self {
        let end = bytes.len();
        Self {
            bytes,
            pos: start.min(end),
            end,
            packet,
        }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.end.saturating_sub(self.pos)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    fn truncated(&self, what: &'static str) -> DecodeError {
        DecodeError::Truncated {
            packet: self.packet,
            what,
        }
    }

    /// Moves past `n` bytes and returns where they start.
    fn advance(&mut self, n: usize, what: &'static str) -> Result<usize, DecodeError> {
        if n > self.remaining() {
            return Err(self.truncated(what));
        }
        let at = self.pos;
        self.pos = at + n;
        Ok(at)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let at = self.advance(N, what)?;
        let mut out = [0; N];
        match self.bytes.get(at..at + N) {
            Some(src) => out.copy_from_slice(src),
            None => return Err(self.truncated(what)),
        }
        Ok(out)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn varint(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let window = self.bytes.get(self.pos..self.end).unwrap_or_default();
        match varint::decode(window) {
            VarInt::Complete { value, len } => {
                self.advance(len, what)?;
                Ok(value)
            }
            VarInt::Incomplete => Err(self.truncated(what)),
            VarInt::TooLong => Err(DecodeError::VarIntTooLong { what }),
        }
    }

    /// The next `n` bytes, sharing the packet's buffer.
    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<Bytes, DecodeError> {
        let at = self.advance(n, what)?;
        Ok(self.bytes.slice(at..at + n))
    }

    /// Everything left.
    pub(crate) fn rest(&mut self) -> Bytes {
        let at = self.pos;
        self.pos = self.end;
        self.bytes.slice(at..self.end)
    }

    /// A reader over the next `n` bytes, which this one skips.
    pub(crate) fn sub(&mut self, n: usize, what: &'static str) -> Result<Reader<'a>, DecodeError> {
        let at = self.advance(n, what)?;
        Ok(Reader {
            bytes: self.bytes,
            pos: at,
            end: at + n,
            packet: self.packet,
        })
    }

    /// Binary Data: a two-byte length, then that many bytes.
    pub(crate) fn binary(&mut self, what: &'static str) -> Result<Bytes, DecodeError> {
        let len = self.u16(what)?;
        self.take(usize::from(len), what)
    }

    /// A UTF-8 Encoded String.
    pub(crate) fn string(&mut self, what: &'static str) -> Result<MqttStr, DecodeError> {
        let bytes = self.binary(what)?;
        MqttStr::from_bytes(bytes).map_err(|error| DecodeError::InvalidString { what, error })
    }

    /// A Packet Identifier, which is never 0 ([MQTT-2.2.1-3]).
    pub(crate) fn packet_id(&mut self) -> Result<PacketId, DecodeError> {
        let raw = self.u16("the packet identifier")?;
        PacketId::new(raw).ok_or(DecodeError::PacketIdZero(self.packet))
    }

    /// Fails if anything is left: every field is accounted for.
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            extra => Err(DecodeError::TrailingBytes {
                packet: self.packet,
                extra,
            }),
        }
    }
}
